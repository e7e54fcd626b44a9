/*  =========================================================================
    sstream_inbox - batches on their way from a consumer's actor to its
    caller, handed out record by record (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The actor puts each batch it receives here, whole. The caller takes
    records one at a time, each a message that points into its batch (no
    copy); a batch lives until the last of its messages is destroyed.
    Once the caller has taken a batch's last record, the batch's cost is
    freed for credit: the actor gives it to the gateway (a quarter of the
    window at a time, or all of it when the caller is about to wait).
*/

#ifndef SSTREAM_INBOX_H_INCLUDED
#define SSTREAM_INBOX_H_INCLUDED

typedef struct _sstream_inbox_t sstream_inbox_t;
typedef struct _sstream_received_t sstream_received_t;

//  window: the consumer's, for when to ask the actor for credit.
sstream_inbox_t *
    sstream_inbox_new (uint64_t window);

void
    sstream_inbox_destroy (sstream_inbox_t **self_p);

//  The actor's side
//  ----------------

//  A received batch: its frames move in (they are left empty), with the
//  header read from them and what the batch takes of the window. Open a
//  sealed one in place (sstream_received_payload), then check it, with the
//  size of its plaintext: then it can go to the inbox (which takes it), or
//  be released.
sstream_received_t *
    sstream_received_new (const sstream_wire_batch_t *header, zmq_msg_t *frame0,
                          zmq_msg_t *frame1, uint64_t cost);
byte *
    sstream_received_payload (sstream_received_t *batch, size_t *size);
int
    sstream_received_check (sstream_received_t *batch, size_t size);
//  Its records' payloads, one after another, once checked.
const byte *
    sstream_received_payloads (sstream_received_t *batch, size_t *size);
//  Payload bytes of its records, once checked.
uint64_t
    sstream_received_bytes (sstream_received_t *batch);
void
    sstream_inbox_put (sstream_inbox_t *self, sstream_received_t *batch);

//  Every batch is in: the caller gets SSTREAM_EEND after the last record.
void
    sstream_inbox_end (sstream_inbox_t *self);

//  The actor failed: a waiting caller looks at the failure.
void
    sstream_inbox_wake_caller (sstream_inbox_t *self);

//  Readable when the caller has freed enough for credit; then take what it
//  freed (bytes), which resets it.
int
    sstream_inbox_fd (sstream_inbox_t *self);
uint64_t
    sstream_inbox_freed (sstream_inbox_t *self);

//  The caller's side
//  -----------------

//  The next record, waiting at most timeout_ms (SSTREAM_FOREVER: no
//  limit). Returns SSTREAM_OK with *message_p, SSTREAM_EEND after the last
//  one, SSTREAM_ETIMEDOUT, SSTREAM_EINTR when a signal came, or the
//  failure's code once the actor has failed (its message made the
//  caller's error).
int
    sstream_inbox_take (sstream_inbox_t *self, sstream_message_t **message_p, int timeout_ms,
                        sstream_failure_t *failure, const char *stream);

//  Records and payload bytes taken so far.
uint64_t
    sstream_inbox_records (sstream_inbox_t *self);
uint64_t
    sstream_inbox_bytes (sstream_inbox_t *self);

//  The messages' side
//  ------------------

//  A message viewing record index of a received batch (sstream_message.c).

sstream_message_t *
    sstream_message_new (sstream_received_t *batch, const byte *data, size_t size,
                         uint64_t seq, const byte *meta, size_t meta_size);

//  One more, or one fewer, message of a batch; the last one frees it.
void
    sstream_received_hold (sstream_received_t *batch);
void
    sstream_received_release (sstream_received_t *batch);

#endif
