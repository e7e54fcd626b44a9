/*  =========================================================================
    sstream_stream - what a gateway holds for one stream

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The queue is a ring of batches (their two frames, as received), grown
    by doubling: no allocation per batch once it has its size.
*/

#include "sstream_gateway_classes.h"

//  The test seam (sstream_fault.h): NULL but in tests that set it
sstream_fault_fn *sstream_fault_forward = NULL;

//  Samples of the bytes forwarded, for the rate: at least SAMPLE_EVERY
//  msecs apart, enough of them to reach back over the rate window
#define SAMPLES      16
#define SAMPLE_EVERY 500
//  A batch that waits this long for credit makes the stream stalled
#define STALLED_AFTER 1000

static const char *s_state_names [SSTREAM_STREAM_STATES] = {
    "waiting_for_producer", "waiting_for_consumer", "flowing", "idle", "stalled", "ending"
};

//  A batch, or a key message (forwarded in order with the batches, as it
//  came: its cost is 0)
typedef struct {
    zmq_msg_t frame0;
    zmq_msg_t frame1;
    uint64_t cost;
    uint64_t bytes;
    uint32_t records;
    bool key;
} s_entry_t;

struct _sstream_stream_t {
    char name [SSTREAM_STREAM_NAME_MAX + 1];
    uint32_t sid;
    sstream_stream_stats_t *stats;
    int64_t created;

    //  From the source
    sstream_party_t *source;    //  NULL until a producer or peer opens it
    uint32_t source_sid;
    uint64_t window;            //  Bytes we hold at most
    uint64_t source_credit;     //  What the source may still send
    uint64_t to_grant;          //  Freed, not yet granted back
    uint64_t next_seq;          //  Expected next
    uint64_t received;          //  Payload bytes
    uint64_t records_in;
    s_entry_t *ring;
    size_t ring_size;           //  A power of two
    size_t head;                //  Oldest
    size_t count;
    uint64_t queued;            //  Payload bytes in the ring
    bool end_queued;            //  After what the ring holds
    bool sealed;                //  Its batches are sealed end to end
    uint64_t end_seq;
    uint64_t end_bytes;
    char end_seal [2 * SSTREAM_WIRE_SEAL_TAG + 1];
    char end_checksum [33];
    zhashx_t *readers;          //  Sealed: the readers' keys, once said
    uint64_t epoch;             //  The producer's run, as its open said
    bool awaits_resume;         //  The source resumes: it sends nothing
                                //  until told where to (PROTOCOL.md 3.10)
    bool resumed;               //  It started at a record past 0

    //  To the sink
    bool to_peer;
    sstream_party_t *sink;      //  NULL until known
    bool sink_open;
    uint32_t sink_sid;
    uint64_t sink_credit;
    uint64_t sink_window;
    bool end_sent;
    uint64_t forwarded;
    uint64_t records_out;
    int64_t starved_since;      //  A batch waits for the sink's credit (0: none)
    int64_t starved_ms;         //  Such waits before that one
    struct {
        int64_t at;
        uint64_t forwarded;
    } samples [SAMPLES];        //  A ring, oldest at sample_first
    size_t sample_first;
    size_t sample_count;
    sstream_party_t *unreachable;
    bool sink_resumes;          //  The consumer resumes, from sink_seq of
    uint64_t sink_seq;          //  the run sink_epoch
    uint64_t sink_epoch;
    bool met;                   //  Source and consumer were told of each other
};

sstream_stream_t *
sstream_stream_new (const char *name, uint32_t sid, uint64_t window, sstream_stream_stats_t *stats)
{
    sstream_stream_t *self = (sstream_stream_t *) zmalloc (sizeof (sstream_stream_t));
    if (!self)
        return NULL;
    snprintf (self->name, sizeof (self->name), "%s", name);
    self->sid = sid;
    self->stats = stats;
    self->window = window;
    self->source_credit = window;
    self->created = zclock_mono ();
    self->samples [0].at = self->created;
    self->sample_count = 1;
    self->ring_size = 16;
    self->ring = (s_entry_t *) malloc (self->ring_size * sizeof (s_entry_t));
    if (!self->ring) {
        free (self);
        return NULL;
    }
    return self;
}

void
sstream_stream_destroy (sstream_stream_t **self_p)
{
    if (self_p && *self_p) {
        sstream_stream_t *self = *self_p;
        size_t index;
        for (index = 0; index < self->count; index++) {
            s_entry_t *entry = &self->ring [(self->head + index) & (self->ring_size - 1)];
            zmq_msg_close (&entry->frame0);
            zmq_msg_close (&entry->frame1);
        }
        self->stats->buffered -= self->queued;
        zhashx_destroy (&self->readers);
        free (self->ring);
        free (self);
        *self_p = NULL;
    }
}

const char *
sstream_stream_name (sstream_stream_t *self)
{
    return self->name;
}

uint32_t
sstream_stream_sid (sstream_stream_t *self)
{
    return self->sid;
}

uint64_t
sstream_stream_window (sstream_stream_t *self)
{
    return self->window;
}

int64_t
sstream_stream_age (sstream_stream_t *self)
{
    return zclock_mono () - self->created;
}

void
sstream_stream_set_source (sstream_stream_t *self, sstream_party_t *source, uint32_t source_sid)
{
    self->source = source;
    self->source_sid = source_sid;
}

sstream_party_t *
sstream_stream_source (sstream_stream_t *self)
{
    return self->source;
}

void
sstream_stream_set_sink (sstream_stream_t *self, sstream_party_t *sink)
{
    self->sink = sink;
}

void
sstream_stream_open_sink (sstream_stream_t *self, uint32_t sink_sid, uint64_t window)
{
    //  What we send sits in the sink's socket until it reads: no more than
    //  our own buffer, whatever window it asks for
    self->sink_open = true;
    self->sink_sid = sink_sid;
    self->sink_credit = self->sink_window = window < self->window? window: self->window;
}

//  Whether a batch waits for the sink's credit: the clock starts and
//  stops as that changes, so that the data path reads it only then
static void
s_starved (sstream_stream_t *self, bool starved)
{
    if (starved && !self->starved_since)
        self->starved_since = zclock_mono ();
    else
    if (!starved && self->starved_since) {
        self->starved_ms += zclock_mono () - self->starved_since;
        self->starved_since = 0;
    }
}

void
sstream_stream_drop_sink (sstream_stream_t *self)
{
    s_starved (self, false);
    self->sink = NULL;
    self->sink_open = false;
    self->sink_credit = self->sink_window = 0;
    self->sink_resumes = self->met = false;
}

void
sstream_stream_set_epoch (sstream_stream_t *self, uint64_t epoch, bool resumes)
{
    self->epoch = epoch;
    self->awaits_resume = resumes;
}

uint64_t
sstream_stream_epoch (sstream_stream_t *self)
{
    return self->epoch;
}

bool
sstream_stream_awaits_resume (sstream_stream_t *self)
{
    return self->awaits_resume;
}

int
sstream_stream_resume_at (sstream_stream_t *self, uint64_t seq)
{
    if (!self->awaits_resume || self->count || self->received)
        return sstream_error_set (SSTREAM_EPROTO, "stream '%s': told where to resume, and it "
                                  "was not resuming", self->name);
    self->awaits_resume = false;
    self->resumed = seq > 0;
    self->next_seq = seq;
    return SSTREAM_OK;
}

void
sstream_stream_sink_resumes (sstream_stream_t *self, uint64_t seq, uint64_t epoch)
{
    self->sink_resumes = true;
    self->sink_seq = seq;
    self->sink_epoch = epoch;
}

bool
sstream_stream_sink_resume (sstream_stream_t *self, uint64_t *seq, uint64_t *epoch)
{
    *seq = self->sink_resumes? self->sink_seq: 0;
    *epoch = self->sink_epoch;
    return self->sink_resumes;
}

bool
sstream_stream_meet (sstream_stream_t *self)
{
    if (self->met || !self->source || !self->sink || !self->sink_open)
        return false;
    self->met = true;
    return true;
}

sstream_party_t *
sstream_stream_sink (sstream_stream_t *self)
{
    return self->sink;
}

bool
sstream_stream_sink_is_open (sstream_stream_t *self)
{
    return self->sink_open;
}

void
sstream_stream_route_to_peer (sstream_stream_t *self)
{
    self->to_peer = true;
}

bool
sstream_stream_to_peer (sstream_stream_t *self)
{
    return self->to_peer;
}

sstream_party_t *
sstream_stream_unreachable (sstream_stream_t *self)
{
    return self->unreachable;
}

uint64_t
sstream_stream_records (sstream_stream_t *self)
{
    return self->end_seq;
}

uint64_t
sstream_stream_bytes (sstream_stream_t *self)
{
    return self->end_bytes;
}

void
sstream_stream_moved (sstream_stream_t *self, uint64_t *records, uint64_t *bytes_in,
                      uint64_t *bytes_out)
{
    *records = self->next_seq;
    *bytes_in = self->received;
    *bytes_out = self->forwarded;
}


//  --------------------------------------------------------------------------
//  From the source

static int
s_ring_grow (sstream_stream_t *self)
{
    size_t size = self->ring_size * 2;
    s_entry_t *ring = (s_entry_t *) malloc (size * sizeof (s_entry_t));
    if (!ring)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory queueing stream '%s'", self->name);
    size_t index;
    for (index = 0; index < self->count; index++) {
        s_entry_t *from = &self->ring [(self->head + index) & (self->ring_size - 1)];
        zmq_msg_init (&ring [index].frame0);
        zmq_msg_init (&ring [index].frame1);
        zmq_msg_move (&ring [index].frame0, &from->frame0);
        zmq_msg_move (&ring [index].frame1, &from->frame1);
        ring [index].cost = from->cost;
        ring [index].bytes = from->bytes;
        ring [index].records = from->records;
        ring [index].key = from->key;
        zmq_msg_close (&from->frame0);
        zmq_msg_close (&from->frame1);
    }
    free (self->ring);
    self->ring = ring;
    self->ring_size = size;
    self->head = 0;
    return SSTREAM_OK;
}

int
sstream_stream_push (sstream_stream_t *self, const sstream_wire_batch_t *header,
                     zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    int rc = SSTREAM_OK;
    uint64_t cost = sstream_wire_batch_cost (zmq_msg_size (frame0), zmq_msg_size (frame1));
    if (self->end_queued)
        rc = sstream_error_set (SSTREAM_EPROTO, "data after the end of stream '%s'", self->name);
    else
    if (self->awaits_resume)
        rc = sstream_error_set (SSTREAM_EPROTO, "stream '%s': data before it was told where "
                                "to resume", self->name);
    else
    if (header->seq != self->next_seq)
        rc = sstream_error_set (SSTREAM_EPROTO,
            "stream '%s': records from %" PRIu64 " arrived where %" PRIu64 " was due",
            self->name, header->seq, self->next_seq);
    else
    if (cost > self->window)
        rc = sstream_error_set (SSTREAM_ETOOBIG,
            "stream '%s': a batch of %zu bytes costs %" PRIu64 " bytes of window (its frames "
            "and %d bytes of bookkeeping), more than this gateway's buffer of %" PRIu64 " bytes",
            self->name, zmq_msg_size (frame0) + zmq_msg_size (frame1), cost,
            SSTREAM_WIRE_BATCH_OVERHEAD, self->window);
    else
    if (cost > self->source_credit)
        rc = sstream_error_set (SSTREAM_EPROTO,
            "stream '%s': a batch of %" PRIu64 " bytes exceeds the %" PRIu64
            " bytes of credit granted", self->name, cost, self->source_credit);
    else
    if (self->count == self->ring_size)
        rc = s_ring_grow (self);
    if (rc) {
        zmq_msg_close (frame0);
        zmq_msg_close (frame1);
        return rc;
    }
    s_entry_t *entry = &self->ring [(self->head + self->count) & (self->ring_size - 1)];
    zmq_msg_init (&entry->frame0);
    zmq_msg_init (&entry->frame1);
    zmq_msg_move (&entry->frame0, frame0);
    zmq_msg_move (&entry->frame1, frame1);
    entry->cost = cost;
    entry->bytes = header->length;
    entry->records = header->count;
    entry->key = false;
    if (header->flags & SSTREAM_WIRE_SEALED)
        self->sealed = true;
    self->count++;
    self->source_credit -= cost;
    self->next_seq += header->count;
    self->received += header->length;
    self->records_in += header->count;
    self->queued += header->length;
    self->stats->bytes_in += header->length;
    self->stats->buffered += header->length;
    if (self->queued > self->stats->buffered_peak)
        self->stats->buffered_peak = self->queued;
    return sstream_stream_pump (self);
}

int
sstream_stream_push_end (sstream_stream_t *self, const sstream_wire_t *header)
{
    if (self->end_queued)
        return sstream_error_set (SSTREAM_EPROTO, "stream '%s' ended twice", self->name);
    //  Sealed batches hide how many of their bytes are records: their
    //  consumer checks the sealed totals, we the records
    //  nor does a stream resumed mid-way have all of them here
    if (header->seq != self->next_seq
    ||  (!self->sealed && !self->resumed && header->bytes != self->received))
        return sstream_error_set (SSTREAM_EPROTO,
            "stream '%s' ended after %" PRIu64 " records and %" PRIu64 " bytes, but %" PRIu64
            " and %" PRIu64 " arrived", self->name, header->seq, header->bytes,
            self->next_seq, self->received);
    self->end_queued = true;
    self->end_seq = header->seq;
    self->end_bytes = header->bytes;
    snprintf (self->end_seal, sizeof (self->end_seal), "%s", header->seal);
    snprintf (self->end_checksum, sizeof (self->end_checksum), "%s", header->checksum);
    return sstream_stream_pump (self);
}

//  The readers a key message names, as a set
static int
s_readers (const byte *payload, size_t size, zhashx_t **readers_p)
{
    zlistx_t *rows;
    int rc = sstream_wire_list_decode (payload, size, &rows);
    if (rc)
        return rc;
    zhashx_t *readers = zhashx_new ();
    zhashx_t *row;
    for (row = (zhashx_t *) zlistx_first (rows); row && readers;
         row = (zhashx_t *) zlistx_next (rows)) {
        const char *reader = (const char *) zhashx_lookup (row, "reader");
        if (reader)
            zhashx_update (readers, reader, (void *) "");
    }
    zlistx_destroy (&rows);
    *readers_p = readers;
    return readers? SSTREAM_OK: sstream_error_set (SSTREAM_ENOMEM, "out of memory");
}

int
sstream_stream_push_key (sstream_stream_t *self, zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    int rc = SSTREAM_OK;
    zhashx_t *readers = NULL;
    if (self->end_queued)
        rc = sstream_error_set (SSTREAM_EPROTO, "a key after the end of stream '%s'", self->name);
    else
        rc = s_readers ((const byte *) zmq_msg_data (frame1), zmq_msg_size (frame1), &readers);
    if (!rc && self->count == self->ring_size)
        rc = s_ring_grow (self);
    if (rc) {
        zhashx_destroy (&readers);
        zmq_msg_close (frame0);
        zmq_msg_close (frame1);
        return rc;
    }
    zhashx_destroy (&self->readers);
    self->readers = readers;
    s_entry_t *entry = &self->ring [(self->head + self->count) & (self->ring_size - 1)];
    zmq_msg_init (&entry->frame0);
    zmq_msg_init (&entry->frame1);
    zmq_msg_move (&entry->frame0, frame0);
    zmq_msg_move (&entry->frame1, frame1);
    entry->cost = entry->bytes = 0;
    entry->records = 0;
    entry->key = true;
    self->count++;
    return SSTREAM_OK;
}

bool
sstream_stream_admits_reader (sstream_stream_t *self, const char *key)
{
    //  Until a key message said who may read, and without a key to check
    //  (no security on the link), the consumer's own check decides
    return !self->readers || !key || !*key || zhashx_lookup (self->readers, key);
}


//  --------------------------------------------------------------------------
//  To the sink

int
sstream_stream_credit (sstream_stream_t *self, uint64_t bytes)
{
    if (bytes > self->sink_window - self->sink_credit)
        return sstream_error_set (SSTREAM_EPROTO,
            "%s granted more credit than its window on stream '%s'",
            sstream_party_name (self->sink), self->name);
    self->sink_credit += bytes;
    return sstream_stream_pump (self);
}

//  A test made this gateway misbehave (sstream_fault.h): the end goes on
//  as often as the test says, as it left it
static int
s_send_end_faulty (sstream_stream_t *self, sstream_wire_t *end)
{
    sstream_fault_t fault = {
        .kind = SSTREAM_FAULT_END,
        .stream = self->name,
        .to_peer = self->to_peer,
        .end = end
    };
    int copies = sstream_fault_forward (&fault);
    int rc = SSTREAM_OK;
    for (; copies > 0 && rc == SSTREAM_OK; copies--) {
        zframe_t *frame = sstream_wire_encode (end);
        rc = frame? sstream_party_send (self->sink, &frame, NULL): SSTREAM_ENOMEM;
    }
    return rc;
}

static int
s_send_end (sstream_stream_t *self)
{
    sstream_wire_t end = { .type = SSTREAM_WIRE_END, .seq = self->end_seq, .bytes = self->end_bytes };
    snprintf (end.stream, sizeof (end.stream), "%s", self->name);
    snprintf (end.seal, sizeof (end.seal), "%s", self->end_seal);
    snprintf (end.checksum, sizeof (end.checksum), "%s", self->end_checksum);
    int rc;
    if (sstream_fault_forward)          //  Tests only
        rc = s_send_end_faulty (self, &end);
    else {
        zframe_t *frame = sstream_wire_encode (&end);
        rc = frame? sstream_party_send (self->sink, &frame, NULL): SSTREAM_ENOMEM;
    }
    if (rc == SSTREAM_OK)
        self->end_sent = true;
    return rc;
}

//  A copy of a frame of its own (a test's second sending of a message)
static int
s_copy_frame (zmq_msg_t *copy, zmq_msg_t *frame)
{
    if (zmq_msg_init_size (copy, zmq_msg_size (frame)) != 0)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    memcpy (zmq_msg_data (copy), zmq_msg_data (frame), zmq_msg_size (frame));
    return SSTREAM_OK;
}

//  A test made this gateway misbehave (sstream_fault.h): the entry goes
//  on as often as the test says (0: dropped), as it left it
static int
s_send_entry_faulty (sstream_stream_t *self, s_entry_t *entry)
{
    sstream_wire_batch_t header = { 0 };
    if (!entry->key)
        sstream_wire_batch_read (&header, (const byte *) zmq_msg_data (&entry->frame0),
                                 zmq_msg_size (&entry->frame0),
                                 (int64_t) zmq_msg_size (&entry->frame1));
    sstream_fault_t fault = {
        .kind = entry->key? SSTREAM_FAULT_KEY: SSTREAM_FAULT_BATCH,
        .stream = self->name,
        .to_peer = self->to_peer,
        .batch = entry->key? NULL: &header,
        .frame0 = &entry->frame0,
        .frame1 = &entry->frame1
    };
    int copies = sstream_fault_forward (&fault);
    if (!entry->key)
        sstream_wire_batch_set_sid ((byte *) zmq_msg_data (&entry->frame0), self->sink_sid);
    int rc = SSTREAM_OK;
    if (copies > 1) {
        zmq_msg_t frame0, frame1;
        rc = s_copy_frame (&frame0, &entry->frame0);
        if (rc == SSTREAM_OK && (rc = s_copy_frame (&frame1, &entry->frame1)) != SSTREAM_OK)
            zmq_msg_close (&frame0);
        if (rc == SSTREAM_OK)
            rc = sstream_party_send_data (self->sink, &frame0, &frame1);
    }
    if (rc == SSTREAM_OK && copies > 0)
        return sstream_party_send_data (self->sink, &entry->frame0, &entry->frame1);
    zmq_msg_close (&entry->frame0);
    zmq_msg_close (&entry->frame1);
    return rc;
}

//  The batch or key at the head goes on as it came: only a batch's
//  stream number changes
static int
s_send_entry (sstream_stream_t *self, s_entry_t *entry)
{
    if (sstream_fault_forward)          //  Tests only
        return s_send_entry_faulty (self, entry);
    if (!entry->key)
        sstream_wire_batch_set_sid ((byte *) zmq_msg_data (&entry->frame0), self->sink_sid);
    return sstream_party_send_data (self->sink, &entry->frame0, &entry->frame1);
}

int
sstream_stream_pump (sstream_stream_t *self)
{
    int rc = SSTREAM_OK;
    while (self->sink && self->sink_open && self->count && rc == SSTREAM_OK) {
        s_entry_t *entry = &self->ring [self->head];
        if (entry->cost > self->sink_window)
            return sstream_error_set (SSTREAM_ETOOBIG,
                "stream '%s': a batch costs %" PRIu64 " bytes of window (its frames and %d "
                "bytes of bookkeeping; a record alone costs its bytes, its metadata and 72), "
                "more than the window of %" PRIu64 " bytes that %s gives (raise its buffer or "
                "window, or send smaller batches)", self->name, entry->cost,
                SSTREAM_WIRE_BATCH_OVERHEAD, self->sink_window, sstream_party_name (self->sink));
        if (entry->cost > self->sink_credit)
            break;
        rc = s_send_entry (self, entry);
        self->head = (self->head + 1) & (self->ring_size - 1);
        self->count--;
        self->queued -= entry->bytes;
        self->stats->buffered -= entry->bytes;
        self->to_grant += entry->cost;
        if (rc == SSTREAM_OK) {
            self->sink_credit -= entry->cost;
            self->forwarded += entry->bytes;
            self->records_out += entry->records;
            self->stats->bytes_out += entry->bytes;
        }
        else
            self->unreachable = self->sink;
    }
    s_starved (self, rc == SSTREAM_OK && self->sink && self->sink_open && self->count);
    if (rc == SSTREAM_OK && self->end_queued && !self->end_sent && !self->count
    &&  self->sink && self->sink_open) {
        rc = s_send_end (self);
        if (rc)
            self->unreachable = self->sink;
    }
    //  Give the source back what was freed, a quarter window at a time, or
    //  all of it when the queue ran dry
    if (rc == SSTREAM_OK && self->source && !self->end_queued && self->to_grant
    &&  (self->to_grant >= self->window / 4 || self->count == 0)) {
        zframe_t *credit = sstream_wire_credit (self->source_sid, self->to_grant);
        rc = credit? sstream_party_send (self->source, &credit, NULL): SSTREAM_ENOMEM;
        if (rc == SSTREAM_OK) {
            self->source_credit += self->to_grant;
            self->to_grant = 0;
        }
        else
            self->unreachable = self->source;
    }
    return rc;
}

int
sstream_stream_check_end_ack (sstream_stream_t *self, uint64_t seq, uint64_t bytes)
{
    if (!self->end_sent || seq != self->end_seq || bytes != self->end_bytes)
        return sstream_error_set (SSTREAM_EPROTO,
            "end-ack for stream '%s' does not match its end", self->name);
    return SSTREAM_OK;
}


//  --------------------------------------------------------------------------
//  For people: status and metrics

const char *
sstream_stream_state_name (int state)
{
    return state >= 0 && state < SSTREAM_STREAM_STATES? s_state_names [state]: "unknown";
}

void
sstream_stream_sample (sstream_stream_t *self, int64_t now)
{
    size_t newest = (self->sample_first + self->sample_count - 1) % SAMPLES;
    if (now - self->samples [newest].at < SAMPLE_EVERY)
        return;
    size_t next = (newest + 1) % SAMPLES;
    if (self->sample_count == SAMPLES)
        self->sample_first = (self->sample_first + 1) % SAMPLES;
    else
        self->sample_count++;
    self->samples [next].at = now;
    self->samples [next].forwarded = self->forwarded;
}

//  Bytes per second forwarded since the newest sample at least a window
//  old (or, in a younger stream, since it began): a window that slides
static uint64_t
s_rate (sstream_stream_t *self, int64_t now)
{
    size_t base = self->sample_first, index;
    for (index = 0; index < self->sample_count; index++) {
        size_t at = (self->sample_first + index) % SAMPLES;
        if (now - self->samples [at].at >= SSTREAM_STREAM_RATE_WINDOW)
            base = at;
    }
    int64_t span = now - self->samples [base].at;
    return span > 0? (self->forwarded - self->samples [base].forwarded) * 1000 / (uint64_t) span: 0;
}

void
sstream_stream_row (sstream_stream_t *self, sstream_stream_row_t *row, int64_t now)
{
    memset (row, 0, sizeof (*row));
    snprintf (row->name, sizeof (row->name), "%s", self->name);
    row->records_in = self->records_in;
    row->records_out = self->records_out;
    row->bytes_in = self->received;
    row->bytes_out = self->forwarded;
    row->buffered = self->queued;
    int64_t starved = self->starved_since? now - self->starved_since: 0;
    row->stalled_ms = (uint64_t) (self->starved_ms + (starved > 0? starved: 0));
    row->rate = s_rate (self, now);
    row->age_ms = (uint64_t) (now - self->created);
    if (self->end_queued)
        row->state = SSTREAM_STREAM_ENDING;
    else
    if (!self->source || self->awaits_resume)
        row->state = SSTREAM_STREAM_WAITING_FOR_PRODUCER;
    else
    if (!self->sink || !self->sink_open)
        row->state = SSTREAM_STREAM_WAITING_FOR_CONSUMER;
    else
    if (starved >= STALLED_AFTER)
        row->state = SSTREAM_STREAM_STALLED;
    else
    if (row->rate == 0 && self->count == 0)
        row->state = SSTREAM_STREAM_IDLE;
    else
        row->state = SSTREAM_STREAM_FLOWING;
}
