/*  =========================================================================
    sstream_replay - a producer's batches until they are acknowledged

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A ring of batches, oldest first: those before the cursor have gone on
    the current link, those after wait for credit. Key messages are kept
    apart, by generation, from the oldest a held batch needs.
*/

#include "sstream_client_classes.h"

typedef struct {
    uint64_t seq;
    uint32_t count;
    uint32_t generation;
    zmq_msg_t frame0;
    zmq_msg_t frame1;
    uint64_t cost;              //  In credit, as the wire counts it
    uint64_t sends;             //  Times it went on a link
} s_entry_t;

typedef struct {
    uint32_t generation;
    zframe_t *header;
    zframe_t *payload;
} s_key_t;

struct _sstream_replay_t {
    uint64_t capacity;
    uint64_t bytes;
    s_entry_t *ring;
    size_t ring_size;           //  A power of two
    size_t head;
    size_t count;
    size_t sent;                //  Of count, from head: gone on this link
    zlistx_t *keys;             //  s_key_t, oldest first
    uint32_t link_generation;   //  The last key sent on this link (0: none)
    zframe_t *end;              //  Once the stream has ended
    uint32_t end_generation;
    bool end_sent;              //  On this link
    sstream_replay_next_t given;    //  What next gave
    uint32_t given_key;
};

static void
s_key_destructor (void **item_p)
{
    s_key_t *key = (s_key_t *) *item_p;
    if (key) {
        zframe_destroy (&key->header);
        zframe_destroy (&key->payload);
        free (key);
        *item_p = NULL;
    }
}

sstream_replay_t *
sstream_replay_new (uint64_t capacity)
{
    sstream_replay_t *self = (sstream_replay_t *) zmalloc (sizeof (sstream_replay_t));
    if (!self)
        return NULL;
    self->capacity = capacity;
    self->ring_size = 16;
    self->ring = (s_entry_t *) malloc (self->ring_size * sizeof (s_entry_t));
    self->keys = zlistx_new ();
    if (!self->ring || !self->keys) {
        sstream_replay_destroy (&self);
        return NULL;
    }
    zlistx_set_destructor (self->keys, s_key_destructor);
    return self;
}

static s_entry_t *
s_at (sstream_replay_t *self, size_t index)
{
    return &self->ring [(self->head + index) & (self->ring_size - 1)];
}

void
sstream_replay_destroy (sstream_replay_t **self_p)
{
    if (self_p && *self_p) {
        sstream_replay_t *self = *self_p;
        size_t index;
        for (index = 0; index < self->count; index++) {
            zmq_msg_close (&s_at (self, index)->frame0);
            zmq_msg_close (&s_at (self, index)->frame1);
        }
        free (self->ring);
        zlistx_destroy (&self->keys);
        zframe_destroy (&self->end);
        free (self);
        *self_p = NULL;
    }
}

bool
sstream_replay_has_room (sstream_replay_t *self, uint64_t bytes)
{
    return self->count == 0 || self->bytes + bytes <= self->capacity;
}

int
sstream_replay_add_key (sstream_replay_t *self, uint32_t generation, zframe_t **header,
                        zframe_t **payload)
{
    s_key_t *key = (s_key_t *) zmalloc (sizeof (s_key_t));
    if (!key) {
        zframe_destroy (header);
        zframe_destroy (payload);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    key->generation = generation;
    key->header = *header;
    key->payload = *payload;
    *header = *payload = NULL;
    zlistx_add_end (self->keys, key);
    return SSTREAM_OK;
}

static int
s_grow (sstream_replay_t *self)
{
    size_t size = self->ring_size * 2;
    s_entry_t *ring = (s_entry_t *) malloc (size * sizeof (s_entry_t));
    if (!ring)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    size_t index;
    for (index = 0; index < self->count; index++) {
        s_entry_t *from = s_at (self, index);
        ring [index] = *from;
        zmq_msg_init (&ring [index].frame0);
        zmq_msg_init (&ring [index].frame1);
        zmq_msg_move (&ring [index].frame0, &from->frame0);
        zmq_msg_move (&ring [index].frame1, &from->frame1);
    }
    free (self->ring);
    self->ring = ring;
    self->ring_size = size;
    self->head = 0;
    return SSTREAM_OK;
}

int
sstream_replay_add (sstream_replay_t *self, uint64_t seq, uint32_t count, uint32_t generation,
                    zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    int rc = self->count == self->ring_size? s_grow (self): SSTREAM_OK;
    if (rc) {
        zmq_msg_close (frame0);
        zmq_msg_close (frame1);
        return rc;
    }
    s_entry_t *entry = s_at (self, self->count++);
    entry->seq = seq;
    entry->count = count;
    entry->generation = generation;
    entry->sends = 0;
    entry->cost = sstream_wire_batch_cost (zmq_msg_size (frame0), zmq_msg_size (frame1));
    zmq_msg_init (&entry->frame0);
    zmq_msg_init (&entry->frame1);
    zmq_msg_move (&entry->frame0, frame0);
    zmq_msg_move (&entry->frame1, frame1);
    self->bytes += entry->cost;
    return SSTREAM_OK;
}

static s_key_t *
s_key (sstream_replay_t *self, uint32_t generation)
{
    s_key_t *key;
    for (key = (s_key_t *) zlistx_first (self->keys); key; key = (s_key_t *) zlistx_next (self->keys))
        if (key->generation == generation)
            return key;
    return NULL;
}

void
sstream_replay_set_end (sstream_replay_t *self, uint32_t generation, zframe_t **end)
{
    zframe_destroy (&self->end);
    self->end = *end;
    *end = NULL;
    self->end_generation = generation;
    self->end_sent = false;
}

//  The key message of generation, when it has not gone on this link yet
static bool
s_key_due (sstream_replay_t *self, uint32_t generation, zframe_t **header, zframe_t **payload)
{
    if (!generation || generation == self->link_generation)
        return false;
    s_key_t *key = s_key (self, generation);
    if (!key)
        return false;
    *header = zframe_dup (key->header);
    *payload = zframe_dup (key->payload);
    self->given_key = generation;
    return true;
}

sstream_replay_next_t
sstream_replay_next (sstream_replay_t *self, uint64_t credit, zframe_t **header,
                     zframe_t **payload, zmq_msg_t *frame0, zmq_msg_t *frame1, uint64_t *cost)
{
    *header = *payload = NULL;
    self->given = SSTREAM_REPLAY_NOTHING;
    if (self->sent == self->count) {
        if (!self->end || self->end_sent)
            return SSTREAM_REPLAY_NOTHING;
        //  A stream of no records still says who may read it
        if (s_key_due (self, self->end_generation, header, payload))
            return self->given = SSTREAM_REPLAY_KEY;
        *header = zframe_dup (self->end);
        return self->given = SSTREAM_REPLAY_END;
    }
    s_entry_t *entry = s_at (self, self->sent);
    if (s_key_due (self, entry->generation, header, payload))
        return self->given = SSTREAM_REPLAY_KEY;
    if (entry->cost > credit)
        return SSTREAM_REPLAY_NOTHING;
    zmq_msg_init (frame1);
    zmq_msg_copy (frame1, &entry->frame1);
    if (entry->sends == 0) {
        zmq_msg_init (frame0);
        zmq_msg_copy (frame0, &entry->frame0);
    }
    else {
        //  Sent before, on a link since gone: its header gets a new stream
        //  number, in a copy of its own (the old link's socket may still
        //  hold the first)
        zmq_msg_init_size (frame0, zmq_msg_size (&entry->frame0));
        memcpy (zmq_msg_data (frame0), zmq_msg_data (&entry->frame0), zmq_msg_size (frame0));
        byte *bytes = (byte *) zmq_msg_data (frame0);
        sstream_wire_batch_set_flags (bytes, sstream_wire_batch_flags (bytes) & ~SSTREAM_WIRE_BULK);
    }
    *cost = entry->cost;
    return self->given = SSTREAM_REPLAY_BATCH;
}

void
sstream_replay_sent (sstream_replay_t *self)
{
    if (self->given == SSTREAM_REPLAY_KEY)
        self->link_generation = self->given_key;
    else
    if (self->given == SSTREAM_REPLAY_END)
        self->end_sent = true;
    else
    if (self->given == SSTREAM_REPLAY_BATCH) {
        s_at (self, self->sent)->sends++;
        self->sent++;
    }
    self->given = SSTREAM_REPLAY_NOTHING;
}

//  Keys no batch held needs go; the newest stays, for batches still to come
static void
s_trim_keys (sstream_replay_t *self)
{
    uint32_t oldest = self->count? s_at (self, 0)->generation: 0;
    s_key_t *key = (s_key_t *) zlistx_first (self->keys);
    while (key && zlistx_size (self->keys) > 1 && (!oldest || key->generation < oldest)) {
        zlistx_delete (self->keys, zlistx_cursor (self->keys));
        key = (s_key_t *) zlistx_first (self->keys);
    }
}

static void
s_drop_head (sstream_replay_t *self)
{
    s_entry_t *entry = s_at (self, 0);
    self->bytes -= entry->cost;
    zmq_msg_close (&entry->frame0);
    zmq_msg_close (&entry->frame1);
    self->head = (self->head + 1) & (self->ring_size - 1);
    self->count--;
    if (self->sent)
        self->sent--;
}

void
sstream_replay_ack (sstream_replay_t *self, uint64_t seq)
{
    while (self->count && self->sent && s_at (self, 0)->seq + s_at (self, 0)->count <= seq)
        s_drop_head (self);
    s_trim_keys (self);
}

uint64_t
sstream_replay_first (sstream_replay_t *self, uint64_t next)
{
    return self->count? s_at (self, 0)->seq: next;
}

int
sstream_replay_rewind (sstream_replay_t *self, uint64_t seq, uint64_t next)
{
    self->link_generation = 0;
    self->given = SSTREAM_REPLAY_NOTHING;
    self->end_sent = false;
    self->sent = 0;
    while (self->count && s_at (self, 0)->seq + s_at (self, 0)->count <= seq)
        s_drop_head (self);
    s_trim_keys (self);
    uint64_t first = self->count? s_at (self, 0)->seq: next;
    if (first != seq)
        return sstream_error_set (SSTREAM_EPROTO, "the consumer needs the records from %" PRIu64
                                  ", and the producer has them from %" PRIu64 " (up to %" PRIu64
                                  ")", seq, first, next);
    return SSTREAM_OK;
}

bool
sstream_replay_all_sent (sstream_replay_t *self)
{
    return self->sent == self->count;
}

uint64_t
sstream_replay_bytes (sstream_replay_t *self)
{
    return self->bytes;
}
