/*  =========================================================================
    sstream_batch - a batch of records: built by a producer, read by a
    consumer, forwarded whole by gateways

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"

#include <stdatomic.h>


//  --------------------------------------------------------------------------
//  The pool

struct _sstream_pool_t {
    pthread_mutex_t lock;
    size_t buffer_size;
    size_t keep;                //  Free buffers kept, at most
    void **free;                //  Buffers kept for reuse
    size_t free_count;
    size_t out;                 //  Buffers taken and not yet given back
    bool released;              //  Its owner let go
};

sstream_pool_t *
sstream_pool_new (size_t buffer_size, size_t keep)
{
    sstream_pool_t *self = (sstream_pool_t *) zmalloc (sizeof (sstream_pool_t));
    if (!self)
        return NULL;
    self->free = (void **) calloc (keep? keep: 1, sizeof (void *));
    if (!self->free) {
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    self->buffer_size = buffer_size;
    self->keep = keep;
    return self;
}

static void
s_pool_free (sstream_pool_t *self)
{
    size_t index;
    for (index = 0; index < self->free_count; index++)
        free (self->free [index]);
    free (self->free);
    pthread_mutex_destroy (&self->lock);
    free (self);
}

void
sstream_pool_release (sstream_pool_t **self_p)
{
    if (self_p && *self_p) {
        sstream_pool_t *self = *self_p;
        pthread_mutex_lock (&self->lock);
        self->released = true;
        bool last = self->out == 0;
        pthread_mutex_unlock (&self->lock);
        if (last)
            s_pool_free (self);
        *self_p = NULL;
    }
}

size_t
sstream_pool_buffer_size (sstream_pool_t *self)
{
    return self->buffer_size;
}

void *
sstream_pool_take (sstream_pool_t *self)
{
    pthread_mutex_lock (&self->lock);
    void *buffer = self->free_count? self->free [--self->free_count]: NULL;
    self->out++;
    pthread_mutex_unlock (&self->lock);
    if (!buffer) {
        buffer = malloc (self->buffer_size);
        if (!buffer) {
            pthread_mutex_lock (&self->lock);
            self->out--;
            pthread_mutex_unlock (&self->lock);
        }
    }
    return buffer;
}

void
sstream_pool_give (void *buffer, void *pool)
{
    sstream_pool_t *self = (sstream_pool_t *) pool;
    pthread_mutex_lock (&self->lock);
    bool kept = !self->released && self->free_count < self->keep;
    if (kept)
        self->free [self->free_count++] = buffer;
    self->out--;
    bool last = self->released && self->out == 0;
    pthread_mutex_unlock (&self->lock);
    if (!kept)
        free (buffer);
    if (last)
        s_pool_free (self);
}


//  --------------------------------------------------------------------------
//  Building

struct _sstream_batch_t {
    uint64_t first_seq;
    uint32_t count;
    //  Payloads: a pool buffer we copy into, or the caller's own
    sstream_pool_t *pool;
    byte *payload;
    size_t payload_size;
    size_t capacity;
    sstream_release_fn *release;    //  For a caller's buffer
    void *release_arg;
    //  Frame 0 in the making: room for the header, then the entries; the
    //  metadata, kept apart, joins them at sealing
    byte *entries;
    size_t entries_size;        //  Of entries, after the header's room
    size_t entries_capacity;
    byte *metas;
    size_t metas_size;
    size_t metas_capacity;
};

static inline void
s_put32 (byte *out, uint32_t value)
{
    out [0] = (byte) value;
    out [1] = (byte) (value >> 8);
    out [2] = (byte) (value >> 16);
    out [3] = (byte) (value >> 24);
}

static inline uint32_t
s_get32 (const byte *in)
{
    return (uint32_t) in [0] | (uint32_t) in [1] << 8 | (uint32_t) in [2] << 16
         | (uint32_t) in [3] << 24;
}

//  Make room for more bytes in a growing buffer
static bool
s_grow (byte **data, size_t *capacity, size_t needed)
{
    if (needed <= *capacity)
        return true;
    size_t larger = *capacity? *capacity * 2: 512;
    while (larger < needed)
        larger *= 2;
    byte *grown = (byte *) realloc (*data, larger);
    if (!grown)
        return false;
    *data = grown;
    *capacity = larger;
    return true;
}

//  Room for the header and hint bytes of entries
static bool
s_entries_new (sstream_batch_t *self, size_t hint)
{
    self->entries_capacity = SSTREAM_WIRE_BATCH_HEADER + (hint > 64? hint: 64);
    self->entries = (byte *) malloc (self->entries_capacity);
    return self->entries != NULL;
}

sstream_batch_t *
sstream_batch_new (sstream_pool_t *pool, uint64_t first_seq, size_t index_hint)
{
    sstream_batch_t *self = (sstream_batch_t *) zmalloc (sizeof (sstream_batch_t));
    if (!self)
        return NULL;
    self->first_seq = first_seq;
    self->pool = pool;
    self->capacity = sstream_pool_buffer_size (pool);
    self->payload = (byte *) sstream_pool_take (pool);
    if (!self->payload || !s_entries_new (self, index_hint)) {
        sstream_batch_destroy (&self);
        return NULL;
    }
    return self;
}

sstream_batch_t *
sstream_batch_new_single (uint64_t seq, void *data, size_t size, const void *meta,
                          size_t meta_size, sstream_release_fn *release, void *arg)
{
    sstream_batch_t *self = (sstream_batch_t *) zmalloc (sizeof (sstream_batch_t));
    if (!self)
        return NULL;
    self->first_seq = seq;
    self->payload = (byte *) data;
    self->capacity = size;
    self->release = release;
    self->release_arg = arg;
    if (!s_entries_new (self, 8) || sstream_batch_add (self, NULL, size, meta, meta_size)) {
        self->payload = NULL;       //  Still the caller's: its send failed
        sstream_batch_destroy (&self);
    }
    return self;
}

void
sstream_batch_destroy (sstream_batch_t **self_p)
{
    if (self_p && *self_p) {
        sstream_batch_t *self = *self_p;
        if (self->payload) {
            if (self->pool)
                sstream_pool_give (self->payload, self->pool);
            else
            if (self->release)
                self->release (self->payload, self->release_arg);
        }
        free (self->entries);
        free (self->metas);
        free (self);
        *self_p = NULL;
    }
}

bool
sstream_batch_fits (sstream_batch_t *self, size_t size, size_t meta_size)
{
    //  The index (entries and metadata) stays within the batch's capacity
    //  and the protocol's limit; no sum here can wrap around
    size_t index = self->entries_size + self->metas_size + 8;
    size_t limit = self->capacity < SSTREAM_WIRE_INDEX_MAX? self->capacity: SSTREAM_WIRE_INDEX_MAX;
    return self->count < SSTREAM_WIRE_BATCH_RECORDS_MAX
        && size <= self->capacity - self->payload_size
        && index <= limit && meta_size <= limit - index;
}

int
sstream_batch_add (sstream_batch_t *self, const void *data, size_t size, const void *meta,
                   size_t meta_size)
{
    if (!s_grow (&self->entries, &self->entries_capacity,
                 SSTREAM_WIRE_BATCH_HEADER + self->entries_size + 8)
    ||  (meta_size && !s_grow (&self->metas, &self->metas_capacity, self->metas_size + meta_size)))
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory for a batch's index");
    if (data && size)
        memcpy (self->payload + self->payload_size, data, size);
    self->payload_size += size;
    byte *entry = self->entries + SSTREAM_WIRE_BATCH_HEADER + self->entries_size;
    s_put32 (entry, (uint32_t) size);
    s_put32 (entry + 4, (uint32_t) meta_size);
    self->entries_size += 8;
    if (meta_size) {
        memcpy (self->metas + self->metas_size, meta, meta_size);
        self->metas_size += meta_size;
    }
    self->count++;
    return SSTREAM_OK;
}

uint32_t
sstream_batch_count (sstream_batch_t *self)
{
    return self->count;
}

uint64_t
sstream_batch_first_seq (sstream_batch_t *self)
{
    return self->first_seq;
}

uint64_t
sstream_batch_bytes (sstream_batch_t *self)
{
    return self->payload_size;
}

size_t
sstream_batch_index_size (sstream_batch_t *self)
{
    return self->entries_size + self->metas_size;
}

uint64_t
sstream_batch_cost (sstream_batch_t *self)
{
    return sstream_wire_batch_cost (SSTREAM_WIRE_BATCH_HEADER + self->entries_size
                                    + self->metas_size, self->payload_size);
}

//  Frees frame 0's buffer once libzmq is done with it (a zmq_free_fn)
static void
s_free_index (void *data, void *hint)
{
    (void) hint;
    free (data);
}

int
sstream_batch_seal (sstream_batch_t *self, zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    //  Frame 0 is the entries' own buffer, the metadata joined behind them
    size_t index = self->entries_size + self->metas_size;
    if (!s_grow (&self->entries, &self->entries_capacity, SSTREAM_WIRE_BATCH_HEADER + index))
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory sealing a batch");
    if (self->metas_size)
        memcpy (self->entries + SSTREAM_WIRE_BATCH_HEADER + self->entries_size, self->metas,
                self->metas_size);
    sstream_wire_batch_t header = {
        .type = SSTREAM_WIRE_DATA,
        .seq = self->first_seq,
        .count = self->count,
        .index = (uint32_t) index,
        .length = self->payload_size
    };
    sstream_wire_batch_write (&header, self->entries);
    if (zmq_msg_init_data (frame0, self->entries, SSTREAM_WIRE_BATCH_HEADER + index,
                           s_free_index, NULL) != 0)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory sealing a batch");
    self->entries = NULL;               //  frame0's now
    //  The payload travels as it is; libzmq frees it through our function
    int rc;
    if (self->payload_size == 0)
        rc = zmq_msg_init (frame1);         //  The buffer stays with the batch
    else
    if (self->pool)
        rc = zmq_msg_init_data (frame1, self->payload, self->payload_size,
                                sstream_pool_give, self->pool);
    else
        rc = zmq_msg_init_data (frame1, self->payload, self->payload_size,
                                self->release, self->release_arg);
    if (rc != 0) {
        zmq_msg_close (frame0);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory sealing a batch");
    }
    if (self->payload_size)
        self->payload = NULL;           //  frame1's now
    return SSTREAM_OK;
}


int
sstream_batch_seal_with (sstream_batch_t *self, sstream_seal_t *seal, sstream_pool_t *pool,
                         zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    size_t entries = self->entries_size, total = entries + self->metas_size + self->payload_size;
    size_t size = total + SSTREAM_SEAL_TAG_SIZE;
    //  Into a pool buffer when it fits one, else one of its own
    bool pooled = size <= sstream_pool_buffer_size (pool);
    byte *out = pooled? (byte *) sstream_pool_take (pool): (byte *) malloc (size);
    if (!out)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory sealing a batch");
    sstream_seal_part_t parts [3] = {
        { self->entries + SSTREAM_WIRE_BATCH_HEADER, entries },
        { self->metas, self->metas_size },
        { self->payload, self->payload_size }
    };
    int rc = sstream_seal_batch (seal, self->first_seq, self->count, SSTREAM_WIRE_SEALED,
                                 parts, 3, out);
    if (rc == SSTREAM_OK && zmq_msg_init_size (frame0, SSTREAM_WIRE_BATCH_HEADER) != 0)
        rc = sstream_error_set (SSTREAM_ENOMEM, "out of memory sealing a batch");
    if (rc) {
        if (pooled)
            sstream_pool_give (out, pool);
        else
            free (out);
        return rc;
    }
    sstream_wire_batch_t header = {
        .type = SSTREAM_WIRE_DATA,
        .flags = SSTREAM_WIRE_SEALED,
        .seq = self->first_seq,
        .count = self->count,
        .length = size
    };
    sstream_wire_batch_write (&header, (byte *) zmq_msg_data (frame0));
    if ((pooled? zmq_msg_init_data (frame1, out, size, sstream_pool_give, pool)
               : zmq_msg_init_data (frame1, out, size, s_free_index, NULL)) != 0) {
        zmq_msg_close (frame0);
        if (pooled)
            sstream_pool_give (out, pool);
        else
            free (out);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory sealing a batch");
    }
    return SSTREAM_OK;
}


//  --------------------------------------------------------------------------
//  Reading

int
sstream_batch_view (const sstream_wire_batch_t *header, const byte *frame0, const byte *frame1,
                    size_t frame1_size, sstream_batch_view_t *view)
{
    memset (view, 0, sizeof (*view));
    uint64_t count = header->count;
    //  Sealed, opened in place: entries, metadata and payloads all in
    //  frame 1
    view->entries = (header->flags & SSTREAM_WIRE_SEALED)? frame1
                  : frame0 + SSTREAM_WIRE_BATCH_HEADER;
    //  Never read entries past the frame, whoever the caller
    if ((header->flags & SSTREAM_WIRE_SEALED) && 8 * count > frame1_size)
        return sstream_error_set (SSTREAM_EPROTO, "malformed batch: its index runs past it");
    uint64_t payloads = 0, metas = 0;
    uint32_t record;
    for (record = 0; record < count; record++) {
        payloads += s_get32 (view->entries + 8 * record);
        metas += s_get32 (view->entries + 8 * record + 4);
    }
    view->metas = view->entries + 8 * count;
    view->count = header->count;
    if (header->flags & SSTREAM_WIRE_SEALED) {
        if (8 * count + metas + payloads != frame1_size)
            return sstream_error_set (SSTREAM_EPROTO,
                "malformed batch: its index and records add up to %" PRIu64 " bytes, not the %zu "
                "it opened to", 8 * count + metas + payloads, frame1_size);
        view->payloads = view->metas + metas;
        view->bytes = payloads;
        return SSTREAM_OK;
    }
    if (payloads != frame1_size)
        return sstream_error_set (SSTREAM_EPROTO,
            "malformed batch: its records' payloads add up to %" PRIu64 " bytes, not the %zu"
            " it carries", payloads, frame1_size);
    if (metas != header->index - 8 * count)
        return sstream_error_set (SSTREAM_EPROTO,
            "malformed batch: its records' metadata add up to %" PRIu64 " bytes, not the %"
            PRIu64 " its index holds", metas, (uint64_t) header->index - 8 * count);
    view->payloads = frame1;
    view->bytes = payloads;
    return SSTREAM_OK;
}

void
sstream_batch_next (const sstream_batch_view_t *view, sstream_batch_cursor_t *cursor,
                    const byte **data, size_t *size, const byte **meta, size_t *meta_size)
{
    const byte *entry = view->entries + 8 * (size_t) cursor->next;
    *size = s_get32 (entry);
    *meta_size = s_get32 (entry + 4);
    *data = view->payloads + cursor->payload_at;
    *meta = *meta_size? view->metas + cursor->meta_at: NULL;
    cursor->payload_at += *size;
    cursor->meta_at += *meta_size;
    cursor->next++;
}
