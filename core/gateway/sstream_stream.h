/*  =========================================================================
    sstream_stream - what a gateway holds for one stream: its batches on
    the way, and the credit on both sides (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A stream has a source (the producer, or the peer gateway that brought
    it) and a sink (the peer gateway it goes to, or the local consumer).
    Between them sits a queue of batches, bounded in bytes by the stream's
    window: the credit this gateway grants the source (PROTOCOL.md section
    4). The sink's credit bounds what goes on. Batches are forwarded as
    they came, their payload never copied; only the header's stream number
    is rewritten for the next link.

    Functions that send return what happened: SSTREAM_OK, SSTREAM_ELOST
    (the party sstream_stream_unreachable names could not be reached) or
    SSTREAM_ETOOBIG (a batch does not fit the sink's window); the caller,
    which owns the stream table, decides what follows.
*/

#ifndef SSTREAM_STREAM_H_INCLUDED
#define SSTREAM_STREAM_H_INCLUDED

//  Gateway-wide counters the streams add to
typedef struct {
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t buffered;          //  Now, all streams
    uint64_t buffered_peak;     //  Most ever held by one stream
} sstream_stream_stats_t;

typedef struct _sstream_stream_t sstream_stream_t;

//  Where a stream stands, for people (sstream_stream_row)
typedef enum {
    SSTREAM_STREAM_WAITING_FOR_PRODUCER,    //  No source yet, or it has to resume
    SSTREAM_STREAM_WAITING_FOR_CONSUMER,    //  No open sink yet
    SSTREAM_STREAM_FLOWING,
    SSTREAM_STREAM_IDLE,        //  Both ends there, nothing moved in the rate window
    SSTREAM_STREAM_STALLED,     //  A batch waits, and the sink's credit has not
                                //  covered it for a second or more
    SSTREAM_STREAM_ENDING,      //  The end came from the source
    SSTREAM_STREAM_STATES
} sstream_stream_state_t;

//  Its name: "waiting_for_producer", "flowing", ...
const char *
    sstream_stream_state_name (int state);

//  Key names: as long as a key file's name may usefully be
#define SSTREAM_STREAM_PARTY_MAX 72

//  One stream as it is now: what status and metrics show
typedef struct {
    char name [SSTREAM_STREAM_NAME_MAX + 1];
    char producer [SSTREAM_STREAM_PARTY_MAX];   //  Filled by sstream_streams_rows
    char consumer [SSTREAM_STREAM_PARTY_MAX];
    int state;                  //  sstream_stream_state_t
    uint64_t records_in;        //  From the source
    uint64_t records_out;       //  To the sink
    uint64_t bytes_in;          //  Payload bytes
    uint64_t bytes_out;
    uint64_t buffered;          //  Payload bytes held now
    uint64_t stalled_ms;        //  Time a batch waited for the sink's credit
    uint64_t rate;              //  Payload bytes per second out, over the
                                //  last SSTREAM_STREAM_RATE_WINDOW msecs
    uint64_t age_ms;
} sstream_stream_row_t;

#define SSTREAM_STREAM_RATE_WINDOW 5000

//  A stream named name, numbered sid on both of our links (what the source
//  puts in its data, and the sink in its credit), holding at most window
//  bytes.
sstream_stream_t *
    sstream_stream_new (const char *name, uint32_t sid, uint64_t window,
                        sstream_stream_stats_t *stats);

void
    sstream_stream_destroy (sstream_stream_t **self_p);

const char *
    sstream_stream_name (sstream_stream_t *self);
uint32_t
    sstream_stream_sid (sstream_stream_t *self);
uint64_t
    sstream_stream_window (sstream_stream_t *self);
int64_t
    sstream_stream_age (sstream_stream_t *self);

//  The source, and the number it gave the stream (in credit we send it).
void
    sstream_stream_set_source (sstream_stream_t *self, sstream_party_t *source, uint32_t source_sid);
sstream_party_t *
    sstream_stream_source (sstream_stream_t *self);

//  The sink: known (for the peer, once it is up and asked), then open
//  (the peer accepted, or a consumer attached) with its number for the
//  stream and the window it gives, capped at ours.
void
    sstream_stream_set_sink (sstream_stream_t *self, sstream_party_t *sink);
void
    sstream_stream_open_sink (sstream_stream_t *self, uint32_t sink_sid, uint64_t window);
sstream_party_t *
    sstream_stream_sink (sstream_stream_t *self);
//  A consumer that may not have the stream lets go of it, before anything
//  went to it: it waits for the next.
void
    sstream_stream_drop_sink (sstream_stream_t *self);
bool
    sstream_stream_sink_is_open (sstream_stream_t *self);

//  Resuming (PROTOCOL.md section 3.10). The producer's run (its open's
//  epoch), and whether the source resumes: then it sends nothing until
//  resume_at says from which record (an error if it was not waiting).
void
    sstream_stream_set_epoch (sstream_stream_t *self, uint64_t epoch, bool resumes);
uint64_t
    sstream_stream_epoch (sstream_stream_t *self);
bool
    sstream_stream_awaits_resume (sstream_stream_t *self);
int
    sstream_stream_resume_at (sstream_stream_t *self, uint64_t seq);
//  A consumer that resumes: the first record it needs, of run epoch; true
//  (and those) if the sink resumes.
void
    sstream_stream_sink_resumes (sstream_stream_t *self, uint64_t seq, uint64_t epoch);
bool
    sstream_stream_sink_resume (sstream_stream_t *self, uint64_t *seq, uint64_t *epoch);
//  True once, when the stream has both a source and an open sink: the
//  moment to tell them of each other (a dropped sink makes it due again).
bool
    sstream_stream_meet (sstream_stream_t *self);

//  Goes to the peer gateway (a stream a local producer opened when no
//  consumer waited here).
void
    sstream_stream_route_to_peer (sstream_stream_t *self);
bool
    sstream_stream_to_peer (sstream_stream_t *self);

//  A batch from the source: checks sequence and credit, queues it, and
//  pumps. Takes the frames. EPROTO names a fault of the source; the rest
//  as sstream_stream_pump.
int
    sstream_stream_push (sstream_stream_t *self, const sstream_wire_batch_t *header,
                         zmq_msg_t *frame0, zmq_msg_t *frame1);

//  The end from the source: checks its counts, and pumps.
int
    sstream_stream_push_end (sstream_stream_t *self, const sstream_wire_t *header);

//  A key message from the source (a sealed stream): forwarded in order
//  with the batches, as it came. Takes the frames; learns the readers.
//  It is queued, not sent: the caller first sends away a sink that is no
//  reader (which must not take the key from the queue), then pumps.
int
    sstream_stream_push_key (sstream_stream_t *self, zmq_msg_t *frame0, zmq_msg_t *frame1);

//  False when the stream is sealed for readers that do not include key.
bool
    sstream_stream_admits_reader (sstream_stream_t *self, const char *key);

//  Credit from the sink: checks it against the window, and pumps.
int
    sstream_stream_credit (sstream_stream_t *self, uint64_t bytes);

//  Forward what the sink's credit allows (the end after all data), then
//  grant the source what was freed.
int
    sstream_stream_pump (sstream_stream_t *self);

//  Who could not be reached, after SSTREAM_ELOST.
sstream_party_t *
    sstream_stream_unreachable (sstream_stream_t *self);

//  What it looks like now (all but the party names).
void
    sstream_stream_row (sstream_stream_t *self, sstream_stream_row_t *row, int64_t now);

//  Note its counters for the rate (at most every half second); call it
//  now and then (every tick of the gateway).
void
    sstream_stream_sample (sstream_stream_t *self, int64_t now);

//  An end-ack from the sink: EPROTO unless the end went out and its counts
//  match. Records and bytes of the stream, for the log.
int
    sstream_stream_check_end_ack (sstream_stream_t *self, uint64_t seq, uint64_t bytes);
uint64_t
    sstream_stream_records (sstream_stream_t *self);
uint64_t
    sstream_stream_bytes (sstream_stream_t *self);
//  What has moved so far, for the log of a stream cut short: records (the
//  next one due) and payload bytes from the source, payload bytes to the
//  sink.
void
    sstream_stream_moved (sstream_stream_t *self, uint64_t *records, uint64_t *bytes_in,
                          uint64_t *bytes_out);

#endif
