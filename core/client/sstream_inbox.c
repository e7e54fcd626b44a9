/*  =========================================================================
    sstream_inbox - batches on their way from a consumer's actor to its
    caller, handed out record by record

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The caller walks the batch it is on without a lock; it takes the lock
    only to fetch the next batch, and when it has finished one.
*/

#include "sstream_client_classes.h"

#include <stdatomic.h>

struct _sstream_received_t {
    atomic_uint refs;           //  Its messages, and the inbox while it hands
                                //  records out
    zmq_msg_t frame0;           //  Header (and a plain batch's index)
    zmq_msg_t frame1;           //  Payloads (a sealed batch's everything)
    sstream_wire_batch_t header;
    sstream_batch_view_t view;  //  Where its records lie, once checked
    uint64_t cost;
    sstream_received_t *next;   //  In the inbox's queue
};

struct _sstream_inbox_t {
    pthread_mutex_t lock;
    sstream_received_t *head;   //  Queued, oldest first
    sstream_received_t *tail;
    bool ended;                 //  No batch follows the queued ones
    bool caller_waits;
    int caller_fd;              //  Wakes the caller
    int actor_fd;               //  Wakes the actor: credit to give
    uint64_t freed;             //  Cost of batches the caller finished
    uint64_t threshold;         //  Wake the actor when freed reaches it
    //  The caller's alone
    sstream_received_t *current;
    sstream_batch_cursor_t cursor;
    uint64_t records;
    uint64_t bytes;
};


//  --------------------------------------------------------------------------
//  Received batches

void
sstream_received_hold (sstream_received_t *batch)
{
    atomic_fetch_add_explicit (&batch->refs, 1, memory_order_relaxed);
}

void
sstream_received_release (sstream_received_t *batch)
{
    if (atomic_fetch_sub_explicit (&batch->refs, 1, memory_order_acq_rel) == 1) {
        zmq_msg_close (&batch->frame0);
        zmq_msg_close (&batch->frame1);
        free (batch);
    }
}


//  --------------------------------------------------------------------------

sstream_inbox_t *
sstream_inbox_new (uint64_t window)
{
    sstream_inbox_t *self = (sstream_inbox_t *) zmalloc (sizeof (sstream_inbox_t));
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    self->threshold = window / 4? window / 4: 1;
    self->caller_fd = sstream_wakeup_new ();
    self->actor_fd = sstream_wakeup_new ();
    if (self->caller_fd < 0 || self->actor_fd < 0)
        sstream_inbox_destroy (&self);
    return self;
}

void
sstream_inbox_destroy (sstream_inbox_t **self_p)
{
    if (self_p && *self_p) {
        sstream_inbox_t *self = *self_p;
        if (self->current)
            sstream_received_release (self->current);
        while (self->head) {
            sstream_received_t *batch = self->head;
            self->head = batch->next;
            sstream_received_release (batch);
        }
        if (self->caller_fd >= 0)
            close (self->caller_fd);
        if (self->actor_fd >= 0)
            close (self->actor_fd);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}



//  --------------------------------------------------------------------------
//  The actor's side

sstream_received_t *
sstream_received_new (const sstream_wire_batch_t *header, zmq_msg_t *frame0, zmq_msg_t *frame1,
                      uint64_t cost)
{
    sstream_received_t *batch = (sstream_received_t *) zmalloc (sizeof (sstream_received_t));
    if (!batch)
        return NULL;
    atomic_init (&batch->refs, 1);
    zmq_msg_init (&batch->frame0);
    zmq_msg_init (&batch->frame1);
    zmq_msg_move (&batch->frame0, frame0);
    zmq_msg_move (&batch->frame1, frame1);
    batch->header = *header;
    batch->cost = cost;
    return batch;
}

byte *
sstream_received_payload (sstream_received_t *batch, size_t *size)
{
    *size = zmq_msg_size (&batch->frame1);
    return (byte *) zmq_msg_data (&batch->frame1);
}

int
sstream_received_check (sstream_received_t *batch, size_t size)
{
    return sstream_batch_view (&batch->header, (const byte *) zmq_msg_data (&batch->frame0),
                               (const byte *) zmq_msg_data (&batch->frame1), size, &batch->view);
}

const byte *
sstream_received_payloads (sstream_received_t *batch, size_t *size)
{
    *size = (size_t) batch->view.bytes;
    return batch->view.payloads;
}

uint64_t
sstream_received_bytes (sstream_received_t *batch)
{
    return batch->view.bytes;
}

void
sstream_inbox_put (sstream_inbox_t *self, sstream_received_t *batch)
{
    pthread_mutex_lock (&self->lock);
    if (self->tail)
        self->tail->next = batch;
    else
        self->head = batch;
    self->tail = batch;
    if (self->caller_waits)
        sstream_wakeup_send (self->caller_fd);
    pthread_mutex_unlock (&self->lock);
}

void
sstream_inbox_end (sstream_inbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->ended = true;
    if (self->caller_waits)
        sstream_wakeup_send (self->caller_fd);
    pthread_mutex_unlock (&self->lock);
}

void
sstream_inbox_wake_caller (sstream_inbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    if (self->caller_waits)
        sstream_wakeup_send (self->caller_fd);
    pthread_mutex_unlock (&self->lock);
}

int
sstream_inbox_fd (sstream_inbox_t *self)
{
    return self->actor_fd;
}

uint64_t
sstream_inbox_freed (sstream_inbox_t *self)
{
    sstream_wakeup_clear (self->actor_fd);
    pthread_mutex_lock (&self->lock);
    uint64_t freed = self->freed;
    self->freed = 0;
    pthread_mutex_unlock (&self->lock);
    return freed;
}


//  --------------------------------------------------------------------------
//  The caller's side

//  The caller is done with its batch: its cost goes back as credit.
static void
s_finish_current (sstream_inbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool below = self->freed < self->threshold;
    self->freed += self->current->cost;
    if (below && self->freed >= self->threshold)
        sstream_wakeup_send (self->actor_fd);
    pthread_mutex_unlock (&self->lock);
    sstream_received_release (self->current);
    self->current = NULL;
}

int
sstream_inbox_take (sstream_inbox_t *self, sstream_message_t **message_p, int timeout_ms,
                    sstream_failure_t *failure, const char *stream)
{
    *message_p = NULL;
    int64_t deadline = 0;               //  Read from the clock once it must wait
    while (!self->current) {
        pthread_mutex_lock (&self->lock);
        if (self->head) {
            self->current = self->head;
            self->head = self->current->next;
            if (!self->head)
                self->tail = NULL;
            memset (&self->cursor, 0, sizeof (self->cursor));
            pthread_mutex_unlock (&self->lock);
            break;
        }
        if (self->ended) {
            pthread_mutex_unlock (&self->lock);
            return sstream_error_set (SSTREAM_EEND, "stream '%s' has ended", stream);
        }
        if (sstream_failure_code (failure)) {
            pthread_mutex_unlock (&self->lock);
            return sstream_failure_report (failure);
        }
        int64_t now = zclock_mono ();
        if (!deadline)
            deadline = timeout_ms < 0? INT64_MAX: now + timeout_ms;
        if (timeout_ms >= 0 && now >= deadline) {
            pthread_mutex_unlock (&self->lock);
            return sstream_error_set (SSTREAM_ETIMEDOUT, "no message on stream '%s' within %d ms",
                                      stream, timeout_ms);
        }
        //  About to wait: let the gateway send what we have room for
        if (self->freed)
            sstream_wakeup_send (self->actor_fd);
        self->caller_waits = true;
        pthread_mutex_unlock (&self->lock);
        int waited = sstream_signals_wait_fd (self->caller_fd,
                                              timeout_ms < 0? -1: (long) (deadline - now));
        if (waited == 1)
            sstream_wakeup_clear (self->caller_fd);
        pthread_mutex_lock (&self->lock);
        self->caller_waits = false;
        pthread_mutex_unlock (&self->lock);
        if (waited < 0)
            return sstream_error_set (SSTREAM_EINTR, "interrupted while receiving");
    }
    sstream_received_t *batch = self->current;
    size_t size, meta_size;
    const byte *data, *meta;
    uint64_t seq = batch->header.seq + self->cursor.next;
    sstream_batch_cursor_t before = self->cursor;
    sstream_batch_next (&batch->view, &self->cursor, &data, &size, &meta, &meta_size);
    sstream_message_t *message = sstream_message_new (batch, data, size, seq, meta, meta_size);
    if (!message) {
        self->cursor = before;          //  Taken again next time
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    self->records++;
    self->bytes += size;
    if (self->cursor.next == batch->header.count)
        s_finish_current (self);
    *message_p = message;
    return SSTREAM_OK;
}

uint64_t
sstream_inbox_records (sstream_inbox_t *self)
{
    return self->records;
}

uint64_t
sstream_inbox_bytes (sstream_inbox_t *self)
{
    return self->bytes;
}
