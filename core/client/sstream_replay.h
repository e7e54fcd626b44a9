/*  =========================================================================
    sstream_replay - a producer's batches from the moment they are made
    until the consumer's application has taken them: what is sent, what is
    sent again after the stream resumes, and the keys they need (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Every batch, sealed (or not), goes in here before it goes anywhere, and
    out of here to the link as credit allows. It stays, as the frames that
    were sent, until the consumer acknowledges its records (PROTOCOL.md
    section 3.10): then it goes. When the stream resumes, the batches from
    the record the consumer needs next are sent again exactly as they were
    (a sealed batch is never sealed twice: its nonce is used once), each
    after the key message of its key, once per link.

    Holds at most capacity bytes of batches: a producer whose consumer is
    slow to acknowledge waits for room (the backpressure of a stream that
    may resume). A batch larger than that still goes, alone.
*/

#ifndef SSTREAM_REPLAY_H_INCLUDED
#define SSTREAM_REPLAY_H_INCLUDED

typedef struct _sstream_replay_t sstream_replay_t;

sstream_replay_t *
    sstream_replay_new (uint64_t capacity);

void
    sstream_replay_destroy (sstream_replay_t **self_p);

//  Room for a batch of this many bytes (frames) now.
bool
    sstream_replay_has_room (sstream_replay_t *self, uint64_t bytes);

//  The key message of a key generation (sealed streams), kept while a
//  batch under it is kept: takes the frames.
int
    sstream_replay_add_key (sstream_replay_t *self, uint32_t generation, zframe_t **header,
                            zframe_t **payload);

//  A batch, as its two frames (taken), of records seq to seq + count - 1,
//  sealed under key generation (0: not sealed).
int
    sstream_replay_add (sstream_replay_t *self, uint64_t seq, uint32_t count,
                        uint32_t generation, zmq_msg_t *frame0, zmq_msg_t *frame1);

//  The end of the stream, after the last batch: its message (taken), and
//  the key generation it is sealed under (0: not sealed).
void
    sstream_replay_set_end (sstream_replay_t *self, uint32_t generation, zframe_t **end);

//  What to send next on this link, as credit allows (each after the key
//  message of its key, when that has not gone on this link yet):
typedef enum {
    SSTREAM_REPLAY_NOTHING,     //  Nothing waits, or the next batch costs
                                //  more than credit
    SSTREAM_REPLAY_KEY,         //  *header and *payload: a key message
    SSTREAM_REPLAY_BATCH,       //  *frame0, *frame1: a batch (copies), *cost
    SSTREAM_REPLAY_END          //  *header: the end
} sstream_replay_next_t;

//  The caller sends what it got (and destroys what it did not send),
//  then calls sstream_replay_sent.
sstream_replay_next_t
    sstream_replay_next (sstream_replay_t *self, uint64_t credit, zframe_t **header,
                         zframe_t **payload, zmq_msg_t *frame0, zmq_msg_t *frame1,
                         uint64_t *cost);
void
    sstream_replay_sent (sstream_replay_t *self);

//  The consumer's application has taken the records before seq: their
//  batches go.
void
    sstream_replay_ack (sstream_replay_t *self, uint64_t seq);

//  The first record held (the next one to make, when none is held).
uint64_t
    sstream_replay_first (sstream_replay_t *self, uint64_t next);

//  A new link: nothing has gone on it. Send again from record seq (a
//  batch boundary: what the consumer needs next); the batches before go.
//  SSTREAM_EPROTO when seq is not where a batch held starts (or next,
//  the record after the last held).
int
    sstream_replay_rewind (sstream_replay_t *self, uint64_t seq, uint64_t next);

//  True when everything held has gone on this link.
bool
    sstream_replay_all_sent (sstream_replay_t *self);

//  Bytes held.
uint64_t
    sstream_replay_bytes (sstream_replay_t *self);

#endif
