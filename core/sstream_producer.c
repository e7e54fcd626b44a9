/*  =========================================================================
    sstream_producer - the sending end of a stream

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The caller's thread encodes each header and copies the payload into a
    frame; an inproc data pipe carries [header][payload] to the actor,
    which owns the link to the gateway and sends only as far as its credit
    goes (PROTOCOL.md section 4). The data pipe is short (client/pipe
    messages), so a full path makes the caller's send wait: that is the
    backpressure. Commands and results travel on the actor's own pipe, never
    behind data.
*/

#include "sstream_classes.h"

#include <pthread.h>
#include <stdatomic.h>

struct _sstream_producer_t {
    zactor_t *actor;
    zsock_t *data;              //  Caller's end of the data pipe
    sstream_client_options_t options;
    atomic_llong window;        //  Gateway's window: no message may cost more
    uint64_t messages;          //  Sent by the caller
    uint64_t bytes;
    bool end_sent;              //  close () put the end marker in the pipe
    bool closed;                //  The stream completed
    atomic_int failed;          //  Error code, once the actor failed
    pthread_mutex_t lock;       //  Guards error
    char error [1024];
};

//  Caller side: record the actor's error as this thread's errmsg.
static int
s_producer_error (sstream_producer_t *self, int code)
{
    pthread_mutex_lock (&self->lock);
    sstream_error_restore (code, self->error);
    pthread_mutex_unlock (&self->lock);
    return code;
}


//  --------------------------------------------------------------------------
//  The actor

typedef struct {
    zsock_t *pipe;
    zsock_t *data;              //  Actor's end of the data pipe
    sstream_producer_t *producer;
    sstream_client_t *client;
    int64_t credit;             //  Payload bytes we may still send
    int64_t window;
    zmsg_t *pending;            //  Read from the pipe, waiting for credit
    uint64_t sent_messages;     //  To the gateway
    uint64_t sent_bytes;
    bool end_read;              //  The caller's end marker came through
    bool end_sent;              //  ... and went to the gateway
    bool done;                  //  end-ack received, or failed
    bool reported_open;
    bool terminated;
} self_t;

//  Record a failure for the caller, once.
static void
s_self_fail (self_t *self, int code)
{
    if (self->done)
        return;
    self->done = true;
    pthread_mutex_lock (&self->producer->lock);
    snprintf (self->producer->error, sizeof (self->producer->error), "%s", sstream_errmsg ());
    pthread_mutex_unlock (&self->producer->lock);
    atomic_store (&self->producer->failed, code);
    if (!self->reported_open) {
        zsock_send (self->pipe, "i", code);
        self->reported_open = true;
    }
    else
    if (self->end_read)
        zsock_send (self->pipe, "i", code);
    zmsg_destroy (&self->pending);
}

static void
s_self_destroy (self_t **self_p)
{
    if (*self_p) {
        self_t *self = *self_p;
        zmsg_destroy (&self->pending);
        sstream_client_destroy (&self->client);
        zsock_destroy (&self->data);
        free (self);
        *self_p = NULL;
    }
}

static self_t *
s_self_new (zsock_t *pipe, sstream_producer_t *producer)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->producer = producer;
    self->data = zsock_new (ZMQ_PAIR);
    assert (self->data);
    zsock_set_rcvhwm (self->data, 1);
    int rc = zsock_connect (self->data, "inproc://sstream-producer-%p", (void *) producer);
    assert (rc == 0);
    (void) rc;
    return self;
}

//  Send what is pending, as far as credit allows.

static void
s_self_flush (self_t *self)
{
    if (!self->pending || self->done
    ||  sstream_client_state (self->client) != SSTREAM_CLIENT_OPEN)
        return;
    zframe_t *header = zmsg_pop (self->pending);
    zframe_t *payload = zmsg_pop (self->pending);
    if (!payload) {
        //  The end marker: needs no credit, follows all data
        int rc = sstream_client_send (self->client, &header, NULL);
        zmsg_destroy (&self->pending);
        if (rc)
            s_self_fail (self, rc);
        else
            self->end_sent = true;
        return;
    }
    size_t size = zframe_size (payload);
    int64_t cost = sstream_wire_cost (size);
    if (self->credit >= cost) {
        int rc = sstream_client_send (self->client, &header, &payload);
        zmsg_destroy (&self->pending);
        if (rc) {
            s_self_fail (self, rc);
            return;
        }
        self->credit -= cost;
        self->sent_messages++;
        self->sent_bytes += size;
    }
    else {
        zmsg_prepend (self->pending, &payload);
        zmsg_prepend (self->pending, &header);
    }
}

static void
s_self_handle_data (self_t *self)
{
    zmsg_t *message = zmsg_recv (self->data);
    if (!message)
        return;
    bool is_end = zmsg_size (message) == 1;
    if (is_end)
        self->end_read = true;
    if (self->done) {
        //  Failed: drain, so the caller never blocks; answer its close
        zmsg_destroy (&message);
        if (is_end)
            zsock_send (self->pipe, "i", atomic_load (&self->producer->failed));
        return;
    }
    assert (!self->pending);
    self->pending = message;
    s_self_flush (self);
}

static void
s_self_handle_link (self_t *self)
{
    //  Drain what is there without going back to poll (as zproxy does)
    while (!self->done && (zsock_events (sstream_link_sock (sstream_client_link (self->client)))
                           & ZMQ_POLLIN)) {
        sstream_client_state_t before = sstream_client_state (self->client);
        zmsg_t *message;
        sstream_wire_t header;
        int rc = sstream_client_recv (self->client, &message, &header);
        if (rc) {
            s_self_fail (self, rc);
            return;
        }
        if (before == SSTREAM_CLIENT_OPENING
        &&  sstream_client_state (self->client) == SSTREAM_CLIENT_OPEN) {
            self->window = self->credit = (int64_t) sstream_client_window (self->client);
            atomic_store (&self->producer->window, self->window);
            zsock_send (self->pipe, "i", SSTREAM_OK);
            self->reported_open = true;
        }
        if (!message)
            continue;
        if (header.type == SSTREAM_WIRE_CREDIT) {
            if ((int64_t) header.bytes > self->window - self->credit) {
                s_self_fail (self, sstream_error_set (SSTREAM_EPROTO,
                    "gateway granted more credit than its window of %" PRId64 " bytes",
                    self->window));
            }
            else {
                self->credit += (int64_t) header.bytes;
                s_self_flush (self);
            }
        }
        else
        if (header.type == SSTREAM_WIRE_END_ACK && self->end_sent) {
            if (header.seq != self->sent_messages || header.bytes != self->sent_bytes)
                s_self_fail (self, sstream_error_set (SSTREAM_EPROTO,
                    "the consumer acknowledged %" PRIu64 " messages and %" PRIu64
                    " bytes, but we sent %" PRIu64 " and %" PRIu64,
                    header.seq, header.bytes, self->sent_messages, self->sent_bytes));
            else {
                self->done = true;
                zsock_send (self->pipe, "i", SSTREAM_OK);
            }
        }
        else
            s_self_fail (self, sstream_error_set (SSTREAM_EPROTO,
                "gateway sent an unexpected %s message", sstream_wire_type_name (header.type)));
        sstream_wire_reset (&header);
        zmsg_destroy (&message);
    }
}

//  Destroyed, or the process is exiting: tell the gateway at once rather
//  than leave it to notice.

static void
s_self_terminate (self_t *self, const char *why)
{
    self->terminated = true;
    if (!self->done && self->client) {
        zframe_t *error = sstream_wire_error (SSTREAM_EABORTED,
                                              self->producer->options.stream, why);
        if (error)
            sstream_client_send (self->client, &error, NULL);
        zsock_set_linger (sstream_link_sock (sstream_client_link (self->client)), 200);
    }
}

static void
s_self_handle_pipe (self_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command) {
        self->terminated = true;
        return;
    }
    if (streq (command, "$TERM"))
        s_self_terminate (self, "the producer went away without ending the stream");
    zstr_free (&command);
}

static void
s_producer_actor (zsock_t *pipe, void *args)
{
    sstream_signals_refuse ();
    int exiting = sstream_actor_enter ();
    sstream_producer_t *producer = (sstream_producer_t *) args;
    self_t *self = s_self_new (pipe, producer);
    zsock_signal (pipe, 0);

    int rc = sstream_client_new (&self->client, &producer->options);
    if (rc)
        s_self_fail (self, rc);

    while (!self->terminated) {
        zmq_pollitem_t items [5];
        int count = 0;
        items [count++] = (zmq_pollitem_t) { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { NULL, exiting, ZMQ_POLLIN, 0 };
        int64_t timeout = -1;
        //  Once done, the link is not read: what still comes on it (events of
        //  a gateway going away) must not keep the poll awake
        bool linked = self->client && !self->done;
        if (linked) {
            sstream_link_t *link = sstream_client_link (self->client);
            items [count++] = (zmq_pollitem_t) { sstream_link_handle (link), 0, ZMQ_POLLIN, 0 };
            items [count++] = (zmq_pollitem_t) {
                zsock_resolve (sstream_link_monitor (link)), 0, ZMQ_POLLIN, 0 };
            timeout = sstream_client_next_tick (self->client);
        }
        //  Take data from the caller only when there is room to send it on
        bool want_data = self->done
            || (!self->pending && !self->end_read && self->reported_open);
        if (want_data)
            items [count++] = (zmq_pollitem_t) { zsock_resolve (self->data), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (items, count, timeout) == -1) {
            if (zmq_errno () == EINTR)
                continue;       //  A signal for the application: not ours
            s_self_fail (self, sstream_error_set (SSTREAM_EINTERNAL, "producer: poll failed: %s",
                                                  zmq_strerror (zmq_errno ())));
            break;
        }              //  Context terminated
        if (items [0].revents & ZMQ_POLLIN)
            s_self_handle_pipe (self);
        if (items [1].revents & ZMQ_POLLIN)
            s_self_terminate (self, "the producer's process is exiting");
        if (self->terminated)
            break;
        if (linked && (items [3].revents & ZMQ_POLLIN) && !self->done) {
            rc = sstream_client_on_monitor (self->client);
            if (rc)
                s_self_fail (self, rc);
        }
        if (linked && (items [2].revents & ZMQ_POLLIN))
            s_self_handle_link (self);
        if (want_data && (items [count - 1].revents & ZMQ_POLLIN))
            s_self_handle_data (self);
        if (self->client && !self->done) {
            rc = sstream_client_on_tick (self->client);
            if (rc)
                s_self_fail (self, rc);
        }
    }
    s_self_destroy (&self);
    sstream_actor_leave ();
}


//  --------------------------------------------------------------------------
//  The caller's side

int
sstream_producer_new (sstream_producer_t **self_p, const char *endpoint,
                      const char *stream, sstream_config_t *options)
{
    if (!self_p)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_producer_new: no handle pointer");
    *self_p = NULL;
    sstream_producer_t *self = (sstream_producer_t *) zmalloc (sizeof (sstream_producer_t));
    if (!self)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    pthread_mutex_init (&self->lock, NULL);
    int rc = sstream_client_options_read (&self->options, options, endpoint, stream,
                                          SSTREAM_ROLE_PRODUCE);
    if (rc) {
        pthread_mutex_destroy (&self->lock);
        free (self);
        return rc;
    }
    sigset_t saved;
    sstream_signals_hold (&saved);
    self->data = zsock_new (ZMQ_PAIR);
    assert (self->data);
    zsock_set_sndhwm (self->data, (int) self->options.pipe);
    rc = zsock_bind (self->data, "inproc://sstream-producer-%p", (void *) self);
    assert (rc == 0);
    (void) rc;
    self->actor = zactor_new (s_producer_actor, self);
    assert (self->actor);

    //  The actor answers once: accepted, or why not
    //  Signals stay held meanwhile: the wait is bounded by connect-timeout,
    //  and an interrupted open could not be resumed, only started again
    int result = SSTREAM_EINTERNAL;
    if (zsock_recv (self->actor, "i", &result) != 0)
        result = sstream_error_set (SSTREAM_EINTERNAL, "the producer's thread did not answer");
    sstream_signals_release (&saved);
    if (result != SSTREAM_OK) {
        if (atomic_load (&self->failed))
            s_producer_error (self, result);
        char detail [1024];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        sstream_producer_destroy (&self);
        return sstream_error_restore (result, detail);
    }
    *self_p = self;
    return SSTREAM_OK;
}

void
sstream_producer_destroy (sstream_producer_t **self_p)
{
    if (self_p && *self_p) {
        sstream_producer_t *self = *self_p;
        sigset_t saved;
        sstream_signals_hold (&saved);
        zactor_destroy (&self->actor);
        zsock_destroy (&self->data);
        sstream_signals_release (&saved);
        sstream_client_options_clear (&self->options);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

//  Put a message in the data pipe, waiting for room at most timeout_ms.

static int
s_producer_push (sstream_producer_t *self, zmsg_t **message_p, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0? INT64_MAX: zclock_mono () + timeout_ms;
    while (true) {
        int code = atomic_load (&self->failed);
        if (code) {
            zmsg_destroy (message_p);
            return s_producer_error (self, code);
        }
        int64_t now = zclock_mono ();
        if (now >= deadline && timeout_ms >= 0) {
            zmsg_destroy (message_p);
            return sstream_error_set (SSTREAM_ETIMEDOUT,
                "the path to the consumer stayed full for %d ms", timeout_ms);
        }
        //  Wake up now and then to notice a failure of the actor
        long slice = deadline - now < 200? (long) (deadline - now): 200;
        sigset_t saved;
        sstream_signals_hold (&saved);
        int rc = sstream_signals_wait (zsock_resolve (self->data), ZMQ_POLLOUT, slice, &saved);
        int sent = rc == 1? zmsg_send (message_p, self->data): -1;
        sstream_signals_release (&saved);
        if (rc < 0) {
            zmsg_destroy (message_p);
            return sstream_error_set (SSTREAM_EINTR, "interrupted while sending");
        }
        if (sent == 0)
            return SSTREAM_OK;
        if (!*message_p)
            return sstream_error_set (SSTREAM_EINTERNAL, "lost a message handing it over");
    }
}

int
sstream_producer_send (sstream_producer_t *self, const void *data, size_t size,
                       const void *meta, size_t meta_size, int timeout_ms)
{
    if (!self)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_producer_send: no producer");
    if (self->end_sent)
        return sstream_error_set (SSTREAM_ECLOSED, "stream '%s' is already closed",
                                  self->options.stream);
    if (!data && size)
        return sstream_error_set (SSTREAM_EINVAL, "no data for a message of %zu bytes", size);
    if (size > SSTREAM_MESSAGE_MAX)
        return sstream_error_set (SSTREAM_ETOOBIG,
            "message of %zu bytes is over the limit of %llu: split it", size,
            SSTREAM_MESSAGE_MAX);
    int64_t window = atomic_load (&self->window);
    if (sstream_wire_cost (size) > window)
        return sstream_error_set (SSTREAM_ETOOBIG,
            "message of %zu bytes does not fit the gateway's window of %" PRId64
            " bytes (its gateway/buffer, less %d bytes a message)", size, window,
            SSTREAM_WIRE_MESSAGE_COST);
    int rc = sstream_wire_check_meta (meta, meta_size);
    if (rc)
        return rc;
    int code = atomic_load (&self->failed);
    if (code)
        return s_producer_error (self, code);

    sstream_wire_t header = {
        .type = SSTREAM_WIRE_DATA,
        .seq = self->messages,
        .len = size
    };
    snprintf (header.stream, sizeof (header.stream), "%s", self->options.stream);
    zmsg_t *message = zmsg_new ();
    zframe_t *frame = sstream_wire_encode (&header, meta, meta_size);
    zframe_t *payload = zframe_new (data, size);
    if (!message || !frame || !payload) {
        zmsg_destroy (&message);
        zframe_destroy (&frame);
        zframe_destroy (&payload);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory for a message of %zu bytes", size);
    }
    zmsg_append (message, &frame);
    zmsg_append (message, &payload);
    rc = s_producer_push (self, &message, timeout_ms);
    if (rc == SSTREAM_OK) {
        self->messages++;
        self->bytes += size;
    }
    return rc;
}

int
sstream_producer_close (sstream_producer_t *self, int timeout_ms)
{
    if (!self)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_producer_close: no producer");
    if (self->closed)
        return SSTREAM_OK;
    int64_t deadline = timeout_ms < 0? INT64_MAX: zclock_mono () + timeout_ms;
    if (!self->end_sent) {
        int code = atomic_load (&self->failed);
        if (code)
            return s_producer_error (self, code);
        sstream_wire_t header = {
            .type = SSTREAM_WIRE_END,
            .seq = self->messages,
            .bytes = self->bytes
        };
        snprintf (header.stream, sizeof (header.stream), "%s", self->options.stream);
        zmsg_t *message = zmsg_new ();
        zframe_t *frame = sstream_wire_encode (&header, NULL, 0);
        if (!message || !frame) {
            zmsg_destroy (&message);
            zframe_destroy (&frame);
            return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
        }
        zmsg_append (message, &frame);
        int rc = s_producer_push (self, &message, timeout_ms);
        if (rc)
            return rc;
        self->end_sent = true;
    }
    //  Wait for the actor's verdict: the consumer's end-ack, or a failure
    while (true) {
        int64_t now = zclock_mono ();
        if (timeout_ms >= 0 && now >= deadline)
            return sstream_error_set (SSTREAM_ETIMEDOUT,
                "the consumer had not acknowledged the end of stream '%s' after %d ms",
                self->options.stream, timeout_ms);
        long slice = deadline - now < 200? (long) (deadline - now): 200;
        sigset_t saved;
        sstream_signals_hold (&saved);
        int rc = sstream_signals_wait (zsock_resolve (self->actor), ZMQ_POLLIN, slice, &saved);
        int result = SSTREAM_EINTERNAL;
        if (rc == 1)
            zsock_recv (self->actor, "i", &result);
        sstream_signals_release (&saved);
        if (rc < 0)
            return sstream_error_set (SSTREAM_EINTR, "interrupted while closing");
        if (rc == 1) {
            if (result != SSTREAM_OK)
                return s_producer_error (self, result);
            self->closed = true;
            return SSTREAM_OK;
        }
    }
}

uint64_t
sstream_producer_messages (sstream_producer_t *self)
{
    return self? self->messages: 0;
}

uint64_t
sstream_producer_bytes (sstream_producer_t *self)
{
    return self? self->bytes: 0;
}
