/*  =========================================================================
    sstream_outbox - records on their way from a producer's caller to its
    actor, in batches

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_client_classes.h"


#define POOL_SPARE 2            //  Buffers kept beyond the queue's depth

struct _sstream_outbox_t {
    pthread_mutex_t lock;
    sstream_outbox_config_t config;
    uint64_t capacity;          //  Bytes a batch of ours holds
    sstream_pool_t *pool;       //  Their buffers
    sstream_batch_t *open;      //  Being filled, or NULL
    int64_t opened;             //  zclock_mono of its first record
    size_t index_hint;          //  The last batch's index, to make room at once
    zlistx_t *closed;           //  sstream_batch_t, oldest first
    bool ended;                 //  The end follows the closed batches
    int actor_fd;               //  Wakes the actor
    int caller_fd;              //  Wakes the caller
    bool caller_waits;
};

//  Frees a record's own copy (a sstream_release_fn)
static void
s_free_copy (void *data, void *arg)
{
    (void) arg;
    free (data);
}

static void
s_batch_destructor (void **item_p)
{
    sstream_batch_destroy ((sstream_batch_t **) item_p);
}

sstream_outbox_t *
sstream_outbox_new (const sstream_outbox_config_t *config)
{
    sstream_outbox_t *self = (sstream_outbox_t *) zmalloc (sizeof (sstream_outbox_t));
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    self->config = *config;
    self->closed = zlistx_new ();
    self->actor_fd = sstream_wakeup_new ();
    self->caller_fd = sstream_wakeup_new ();
    if (!self->closed || self->actor_fd < 0 || self->caller_fd < 0) {
        sstream_outbox_destroy (&self);
        return NULL;
    }
    zlistx_set_destructor (self->closed, s_batch_destructor);
    return self;
}

void
sstream_outbox_destroy (sstream_outbox_t **self_p)
{
    if (self_p && *self_p) {
        sstream_outbox_t *self = *self_p;
        sstream_batch_destroy (&self->open);
        zlistx_destroy (&self->closed);
        sstream_pool_release (&self->pool);
        if (self->actor_fd >= 0)
            close (self->actor_fd);
        if (self->caller_fd >= 0)
            close (self->caller_fd);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}


int
sstream_outbox_start (sstream_outbox_t *self, uint64_t window)
{
    //  A batch's cost is its bytes plus a fixed part; a quarter of the
    //  window keeps several in flight
    uint64_t capacity = self->config.batch;
    if (capacity > window / 4)
        capacity = window / 4;
    if (capacity < 1024)
        capacity = 1024;
    self->capacity = capacity;
    self->pool = sstream_pool_new (capacity, self->config.depth + POOL_SPARE);
    return self->pool? SSTREAM_OK: sstream_error_set (SSTREAM_ENOMEM, "out of memory");
}


//  --------------------------------------------------------------------------
//  The caller's side

//  Queue a closed batch; the actor hears of it when the queue was empty
//  (otherwise it is due to look anyway). With the lock held.
static void
s_queue (sstream_outbox_t *self, sstream_batch_t *batch)
{
    bool was_empty = zlistx_size (self->closed) == 0;
    zlistx_add_end (self->closed, batch);
    if (was_empty)
        sstream_wakeup_send (self->actor_fd);
}

static void
s_close_open (sstream_outbox_t *self)
{
    if (self->open) {
        self->index_hint = sstream_batch_index_size (self->open);
        s_queue (self, self->open);
        self->open = NULL;
    }
}

//  How long a call may wait: its deadline is read from the clock only
//  once it has to wait, not for every record
typedef struct {
    int timeout_ms;             //  SSTREAM_FOREVER: no limit
    int64_t deadline;           //  0 until known
} s_wait_t;

//  Wait, with the lock held and given back meanwhile, until the queue has
//  room for one more batch.
static int
s_wait_for_room (sstream_outbox_t *self, s_wait_t *wait, sstream_failure_t *failure)
{
    int timeout_ms = wait->timeout_ms;
    while (zlistx_size (self->closed) >= self->config.depth) {
        if (sstream_failure_code (failure))
            return SSTREAM_ECLOSED;
        int64_t now = zclock_mono ();
        if (!wait->deadline)
            wait->deadline = timeout_ms < 0? INT64_MAX: now + timeout_ms;
        int64_t deadline = wait->deadline;
        if (timeout_ms >= 0 && now >= deadline)
            return sstream_error_set (SSTREAM_ETIMEDOUT,
                "the path to the consumer stayed full for %d ms", timeout_ms);
        self->caller_waits = true;
        pthread_mutex_unlock (&self->lock);
        int waited = sstream_signals_wait_fd (self->caller_fd,
                                              timeout_ms < 0? -1: (long) (deadline - now));
        if (waited == 1)
            sstream_wakeup_clear (self->caller_fd);
        pthread_mutex_lock (&self->lock);
        self->caller_waits = false;
        if (waited < 0)
            return sstream_error_set (SSTREAM_EINTR, "interrupted while sending");
    }
    return SSTREAM_OK;
}

//  Make room in the open batch for a record, closing it and opening
//  another as needed. With the lock held.
static int
s_make_room (sstream_outbox_t *self, uint64_t seq, size_t size, size_t meta_size,
             s_wait_t *wait, sstream_failure_t *failure)
{
    if (self->open && sstream_batch_fits (self->open, size, meta_size))
        return SSTREAM_OK;
    int rc = s_wait_for_room (self, wait, failure);
    if (rc)
        return rc;
    s_close_open (self);
    self->open = sstream_batch_new (self->pool, seq, self->index_hint);
    if (!self->open)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory for a batch");
    self->opened = zclock_mono ();
    //  The actor times its linger
    if (self->config.linger > 0)
        sstream_wakeup_send (self->actor_fd);
    return SSTREAM_OK;
}

static bool
s_travels_alone (sstream_outbox_t *self, size_t size, size_t meta_size)
{
    return size + meta_size + 8 > self->capacity;
}

int
sstream_outbox_add (sstream_outbox_t *self, uint64_t seq, const void *data, size_t size,
                    const void *meta, size_t meta_size, int timeout_ms,
                    sstream_failure_t *failure)
{
    s_wait_t wait = { timeout_ms, 0 };
    pthread_mutex_lock (&self->lock);
    int rc;
    if (s_travels_alone (self, size, meta_size)) {
        //  Its own buffer, of its size: the one copy
        void *copy = malloc (size? size: 1);
        rc = copy? SSTREAM_OK: sstream_error_set (SSTREAM_ENOMEM,
                                                  "out of memory for a record of %zu bytes", size);
        if (!rc)
            rc = s_wait_for_room (self, &wait, failure);
        sstream_batch_t *single = NULL;
        if (!rc) {
            memcpy (copy, data, size);
            single = sstream_batch_new_single (seq, copy, size, meta, meta_size,
                                               s_free_copy, NULL);
            rc = single? SSTREAM_OK: sstream_error_set (SSTREAM_ENOMEM, "out of memory");
        }
        if (!rc) {
            s_close_open (self);
            s_queue (self, single);
        }
        else
            free (copy);
    }
    else {
        rc = s_make_room (self, seq, size, meta_size, &wait, failure);
        if (!rc)
            rc = sstream_batch_add (self->open, data, size, meta, meta_size);
        if (!rc && self->config.linger == 0)
            s_close_open (self);
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
sstream_outbox_give (sstream_outbox_t *self, uint64_t seq, void *data, size_t size,
                     const void *meta, size_t meta_size, sstream_release_fn *release,
                     void *arg, int timeout_ms, sstream_failure_t *failure)
{
    if (!s_travels_alone (self, size, meta_size)) {
        int rc = sstream_outbox_add (self, seq, data, size, meta, meta_size, timeout_ms, failure);
        if (rc == SSTREAM_OK && release)
            release (data, arg);
        return rc;
    }
    s_wait_t wait = { timeout_ms, 0 };
    pthread_mutex_lock (&self->lock);
    int rc = s_wait_for_room (self, &wait, failure);
    sstream_batch_t *single = NULL;
    if (!rc) {
        single = sstream_batch_new_single (seq, data, size, meta, meta_size, release, arg);
        rc = single? SSTREAM_OK: sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    if (!rc) {
        s_close_open (self);
        s_queue (self, single);
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
sstream_outbox_end (sstream_outbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    s_close_open (self);
    self->ended = true;
    sstream_wakeup_send (self->actor_fd);
    pthread_mutex_unlock (&self->lock);
    return SSTREAM_OK;
}


//  --------------------------------------------------------------------------
//  The actor's side

uint64_t
sstream_outbox_capacity (sstream_outbox_t *self)
{
    return self->capacity;
}

int
sstream_outbox_fd (sstream_outbox_t *self)
{
    return self->actor_fd;
}

void
sstream_outbox_woken (sstream_outbox_t *self)
{
    sstream_wakeup_clear (self->actor_fd);
}

int64_t
sstream_outbox_linger (sstream_outbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    int64_t wait = -1;
    if (self->open) {
        int64_t due = self->opened + self->config.linger;
        int64_t now = zclock_mono ();
        if (now >= due)
            s_close_open (self);
        else
            wait = due - now;
    }
    pthread_mutex_unlock (&self->lock);
    return wait;
}

sstream_batch_t *
sstream_outbox_take (sstream_outbox_t *self, uint64_t credit, bool *end)
{
    pthread_mutex_lock (&self->lock);
    sstream_batch_t *batch = (sstream_batch_t *) zlistx_first (self->closed);
    *end = !batch && self->ended;
    if (batch && sstream_batch_cost (batch) <= credit) {
        zlistx_detach_cur (self->closed);
        if (self->caller_waits)
            sstream_wakeup_send (self->caller_fd);
    }
    else
        batch = NULL;
    pthread_mutex_unlock (&self->lock);
    return batch;
}

void
sstream_outbox_wake_caller (sstream_outbox_t *self)
{
    pthread_mutex_lock (&self->lock);
    if (self->caller_waits)
        sstream_wakeup_send (self->caller_fd);
    pthread_mutex_unlock (&self->lock);
}
