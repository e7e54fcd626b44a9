/*  =========================================================================
    sstream_outbox - records on their way from a producer's caller to its
    actor, in batches (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The caller copies each record into the open batch; a batch is closed
    when the next record would not fit, when it has waited client/linger
    since its first record (the actor closes it then), at once with a
    linger of 0, and at the end. Closed batches queue for the actor, which
    takes them as its credit allows. The queue holds client/pipe batches at
    most: when it is full, the caller waits. That is the backpressure.

    One lock guards it all; the caller takes it once per record, the actor
    once per batch. Each side has an eventfd to be woken by the other, and
    is woken only when it waits or has something new to look at.
*/

#ifndef SSTREAM_OUTBOX_H_INCLUDED
#define SSTREAM_OUTBOX_H_INCLUDED

typedef struct _sstream_outbox_t sstream_outbox_t;

typedef struct {
    uint64_t batch;             //  Bytes a batch holds, at most
    int64_t linger;             //  msecs
    uint64_t depth;             //  Closed batches queued, at most
} sstream_outbox_config_t;

sstream_outbox_t *
    sstream_outbox_new (const sstream_outbox_config_t *config);

void
    sstream_outbox_destroy (sstream_outbox_t **self_p);

//  The caller's side
//  -----------------

//  Once the stream is open: a batch may cost at most window (the gateway's
//  window), so batches hold at most a quarter of it.
int
    sstream_outbox_start (sstream_outbox_t *self, uint64_t window);

//  Add a record, copying it, with sequence number seq (the caller counts).
//  Waits while the queue is full, at most timeout_ms (SSTREAM_FOREVER: no
//  limit): SSTREAM_ETIMEDOUT, or SSTREAM_EINTR when a signal came, and
//  then the record was not added. failure is checked while waiting:
//  SSTREAM_ECLOSED once the actor has failed.
int
    sstream_outbox_add (sstream_outbox_t *self, uint64_t seq, const void *data, size_t size,
                        const void *meta, size_t meta_size, int timeout_ms,
                        sstream_failure_t *failure);

//  Add a record that travels in the caller's buffer: data is released with
//  release (data, arg) once the library is done with it, only if this
//  returns SSTREAM_OK. Records that fit a batch are copied into it and
//  released at once.
int
    sstream_outbox_give (sstream_outbox_t *self, uint64_t seq, void *data, size_t size,
                         const void *meta, size_t meta_size, sstream_release_fn *release,
                         void *arg, int timeout_ms, sstream_failure_t *failure);

//  Close the open batch and queue the end of the stream behind it.
int
    sstream_outbox_end (sstream_outbox_t *self);

//  The actor's side
//  ----------------

//  Bytes a batch holds at most (of records, and as much of index), once
//  started.
uint64_t
    sstream_outbox_capacity (sstream_outbox_t *self);

//  Readable when there is something new: a closed batch, the end, or an
//  open batch whose linger the actor must time. Read it with
//  sstream_outbox_woken before looking.
int
    sstream_outbox_fd (sstream_outbox_t *self);
void
    sstream_outbox_woken (sstream_outbox_t *self);

//  Close the open batch if its linger has passed; the msecs until the
//  next one will have (-1: none open).
int64_t
    sstream_outbox_linger (sstream_outbox_t *self);

//  The next closed batch if it costs no more than credit (it is removed:
//  the caller destroys it), or NULL; *end is set when the end of the
//  stream is next (and nothing is removed).
sstream_batch_t *
    sstream_outbox_take (sstream_outbox_t *self, uint64_t credit, bool *end);

//  Wake a caller that waits: the actor failed, so it should look.
void
    sstream_outbox_wake_caller (sstream_outbox_t *self);

#endif
