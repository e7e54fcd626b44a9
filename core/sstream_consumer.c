/*  =========================================================================
    sstream_consumer - the receiving end of a stream

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The actor owns the link to the gateway. Each data message becomes an
    sstream_message_t, whose pointer goes to the caller over an inproc data
    pipe; the payload frame is never copied. The caller reports the bytes
    it has taken back over the same pipe, and only then does the actor give
    the gateway that much credit: the consumer holds at most its window.
*/

#include "sstream_classes.h"

#include <pthread.h>
#include <stdatomic.h>

struct _sstream_message_t {
    zframe_t *payload;
    uint64_t seq;
    byte *meta;
    size_t meta_size;
};

//  What travels from actor to caller on the data pipe, with a pointer
typedef enum {
    DELIVER_MESSAGE = 0,
    DELIVER_END = 1,
    DELIVER_FAILURE = 2
} s_deliver_t;

struct _sstream_consumer_t {
    zactor_t *actor;
    zsock_t *data;              //  Caller's end of the data pipe
    sstream_client_options_t options;
    uint64_t messages;          //  Taken by the caller
    uint64_t bytes;
    uint64_t unreported;        //  Taken but not yet reported to the actor
    bool end_received;
    bool closed;
    atomic_int failed;
    pthread_mutex_t lock;
    char error [1024];
};

const void *
sstream_message_data (sstream_message_t *self)
{
    return self? zframe_data (self->payload): NULL;
}

size_t
sstream_message_size (sstream_message_t *self)
{
    return self? zframe_size (self->payload): 0;
}

uint64_t
sstream_message_seq (sstream_message_t *self)
{
    return self? self->seq: 0;
}

const void *
sstream_message_meta (sstream_message_t *self, size_t *size)
{
    if (size)
        *size = self? self->meta_size: 0;
    return self? self->meta: NULL;
}

void
sstream_message_destroy (sstream_message_t **self_p)
{
    if (self_p && *self_p) {
        sstream_message_t *self = *self_p;
        zframe_destroy (&self->payload);
        free (self->meta);
        free (self);
        *self_p = NULL;
    }
}

static int
s_consumer_error (sstream_consumer_t *self, int code)
{
    pthread_mutex_lock (&self->lock);
    sstream_error_restore (code, self->error);
    pthread_mutex_unlock (&self->lock);
    return code;
}


//  --------------------------------------------------------------------------
//  The actor

typedef enum {
    STAGE_STREAMING,
    STAGE_ENDED,                //  end received, caller not yet done
    STAGE_ACKING,               //  end-ack sent, waiting for the echo
    STAGE_DONE
} s_stage_t;

typedef struct {
    zsock_t *pipe;
    zsock_t *data;
    sstream_consumer_t *consumer;
    sstream_client_t *client;
    s_stage_t stage;
    uint64_t next_seq;
    uint64_t received;          //  Payload bytes received
    int64_t outstanding;        //  Bytes the gateway may still send us
    bool failed;
    bool reported_open;
    bool ack_waiting;           //  The caller waits for close's result
    bool terminated;
} self_t;

static void
s_self_fail (self_t *self, int code)
{
    if (self->failed)
        return;
    self->failed = true;
    self->stage = STAGE_DONE;
    pthread_mutex_lock (&self->consumer->lock);
    snprintf (self->consumer->error, sizeof (self->consumer->error), "%s", sstream_errmsg ());
    pthread_mutex_unlock (&self->consumer->lock);
    atomic_store (&self->consumer->failed, code);
    if (!self->reported_open) {
        zsock_send (self->pipe, "i", code);
        self->reported_open = true;
        return;
    }
    if (self->ack_waiting) {
        zsock_send (self->pipe, "i", code);
        self->ack_waiting = false;
    }
    //  Wake a caller waiting in recv
    zsock_send (self->data, "ip", DELIVER_FAILURE, NULL);
}

static self_t *
s_self_new (zsock_t *pipe, sstream_consumer_t *consumer)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->consumer = consumer;
    self->data = zsock_new (ZMQ_PAIR);
    assert (self->data);
    int rc = zsock_connect (self->data, "inproc://sstream-consumer-%p", (void *) consumer);
    assert (rc == 0);
    (void) rc;
    self->outstanding = (int64_t) consumer->options.window;
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    if (*self_p) {
        self_t *self = *self_p;
        sstream_client_destroy (&self->client);
        zsock_destroy (&self->data);
        free (self);
        *self_p = NULL;
    }
}

static int
s_self_deliver (self_t *self, zmsg_t *message, sstream_wire_t *header)
{
    const char *endpoint = sstream_client_endpoint (self->client);
    if (header->type == SSTREAM_WIRE_DATA) {
        if (self->stage != STAGE_STREAMING)
            return sstream_error_set (SSTREAM_EPROTO,
                "gateway at %s sent data after the end of the stream", endpoint);
        zframe_t *payload = zmsg_last (message);
        if (header->seq != self->next_seq)
            return sstream_error_set (SSTREAM_EPROTO,
                "gateway at %s sent message %" PRIu64 " where %" PRIu64 " was due",
                endpoint, header->seq, self->next_seq);
        if (header->len != zframe_size (payload))
            return sstream_error_set (SSTREAM_EPROTO,
                "message %" PRIu64 " says %" PRIu64 " bytes but carries %zu",
                header->seq, header->len, zframe_size (payload));
        int64_t cost = sstream_wire_cost (header->len);
        if (cost > self->outstanding)
            return sstream_error_set (SSTREAM_EPROTO,
                "gateway at %s sent beyond the consumer's window", endpoint);
        self->outstanding -= cost;
        sstream_message_t *delivered = (sstream_message_t *) zmalloc (sizeof (sstream_message_t));
        if (!delivered)
            return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
        zframe_t *head = zmsg_pop (message);
        zframe_destroy (&head);
        delivered->payload = zmsg_pop (message);
        delivered->seq = header->seq;
        delivered->meta = header->meta;
        delivered->meta_size = header->meta_size;
        header->meta = NULL;
        if (zsock_send (self->data, "ip", DELIVER_MESSAGE, delivered) != 0) {
            sstream_message_destroy (&delivered);
            return sstream_error_set (SSTREAM_EINTERNAL, "cannot hand a message over");
        }
        self->next_seq++;
        self->received += header->len;
        return SSTREAM_OK;
    }
    if (header->type == SSTREAM_WIRE_END && self->stage == STAGE_STREAMING) {
        if (header->seq != self->next_seq || header->bytes != self->received)
            return sstream_error_set (SSTREAM_EPROTO,
                "stream ended after %" PRIu64 " messages and %" PRIu64 " bytes, but %"
                PRIu64 " and %" PRIu64 " arrived: data was lost on the way",
                header->seq, header->bytes, self->next_seq, self->received);
        self->stage = STAGE_ENDED;
        zsock_send (self->data, "ip", DELIVER_END, NULL);
        return SSTREAM_OK;
    }
    if (header->type == SSTREAM_WIRE_END_ACK && self->stage == STAGE_ACKING) {
        self->stage = STAGE_DONE;
        if (self->ack_waiting) {
            zsock_send (self->pipe, "i", SSTREAM_OK);
            self->ack_waiting = false;
        }
        return SSTREAM_OK;
    }
    return sstream_error_set (SSTREAM_EPROTO, "gateway at %s sent an unexpected %s message",
                              endpoint, sstream_wire_type_name (header->type));
}

static void
s_self_handle_link (self_t *self)
{
    while (!self->failed && (zsock_events (sstream_link_sock (sstream_client_link (self->client)))
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
            zsock_send (self->pipe, "i", SSTREAM_OK);
            self->reported_open = true;
        }
        if (message) {
            rc = s_self_deliver (self, message, &header);
            sstream_wire_reset (&header);
            zmsg_destroy (&message);
            if (rc)
                s_self_fail (self, rc);
        }
    }
}

//  The caller took bytes: pass the credit on to the gateway

static void
s_self_handle_data (self_t *self)
{
    uint64_t bytes = 0;
    //  After the end, the gateway wants no credit: the stream is over there
    if (zsock_recv (self->data, "8", &bytes) != 0 || self->failed
    ||  self->stage != STAGE_STREAMING)
        return;
    self->outstanding += (int64_t) bytes;
    zframe_t *credit = sstream_wire_credit (self->consumer->options.stream, bytes);
    int rc = credit? sstream_client_send (self->client, &credit, NULL): SSTREAM_ENOMEM;
    if (rc)
        s_self_fail (self, rc);
}

static void
s_self_send_error (self_t *self, int code, const char *text)
{
    zframe_t *error = sstream_wire_error (code, self->consumer->options.stream, text);
    if (error)
        sstream_client_send (self->client, &error, NULL);
}

//  Destroyed, or the process is exiting: tell the gateway at once.

static void
s_self_terminate (self_t *self, const char *why)
{
    self->terminated = true;
    if (self->client && !self->failed && self->stage != STAGE_DONE) {
        s_self_send_error (self, SSTREAM_EABORTED, why);
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
        s_self_terminate (self, "the consumer went away before acknowledging the end of the stream");
    else
    if (streq (command, "ACK")) {
        if (self->failed)
            zsock_send (self->pipe, "i", atomic_load (&self->consumer->failed));
        else
        if (self->stage == STAGE_DONE)
            zsock_send (self->pipe, "i", SSTREAM_OK);       //  Asked again
        else
        if (self->stage == STAGE_ACKING)
            self->ack_waiting = true;                       //  Still on its way
        else {
            self->ack_waiting = true;
            sstream_wire_t ack = {
                .type = SSTREAM_WIRE_END_ACK,
                .seq = self->next_seq,
                .bytes = self->received
            };
            snprintf (ack.stream, sizeof (ack.stream), "%s", self->consumer->options.stream);
            zframe_t *frame = sstream_wire_encode (&ack, NULL, 0);
            int rc = frame? sstream_client_send (self->client, &frame, NULL): SSTREAM_ENOMEM;
            if (rc)
                s_self_fail (self, rc);
            else
                self->stage = STAGE_ACKING;
        }
    }
    else
    if (streq (command, "ABORT")) {
        char *reason = zstr_recv (self->pipe);
        if (!self->failed && self->client) {
            char text [SSTREAM_WIRE_TEXT_MAX];
            snprintf (text, sizeof (text), "the consumer gave up: %s",
                      reason && *reason? reason: "no reason given");
            s_self_send_error (self, SSTREAM_EABORTED, text);
            sstream_error_set (SSTREAM_EABORTED, "%s", text);
            self->ack_waiting = true;
            s_self_fail (self, SSTREAM_EABORTED);
        }
        else
            zsock_send (self->pipe, "i", atomic_load (&self->consumer->failed));
        zstr_free (&reason);
    }
    zstr_free (&command);
}

static void
s_consumer_actor (zsock_t *pipe, void *args)
{
    sstream_signals_refuse ();
    int exiting = sstream_actor_enter ();
    sstream_consumer_t *consumer = (sstream_consumer_t *) args;
    self_t *self = s_self_new (pipe, consumer);
    zsock_signal (pipe, 0);

    int rc = sstream_client_new (&self->client, &consumer->options);
    if (rc)
        s_self_fail (self, rc);

    while (!self->terminated) {
        zmq_pollitem_t items [5];
        int count = 0;
        items [count++] = (zmq_pollitem_t) { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { zsock_resolve (self->data), 0, ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { NULL, exiting, ZMQ_POLLIN, 0 };
        int64_t timeout = -1;
        //  Once failed, the link is not read: what still comes on it (events
        //  of a gateway going away) must not keep the poll awake
        bool linked = self->client && !self->failed;
        if (linked) {
            sstream_link_t *link = sstream_client_link (self->client);
            items [count++] = (zmq_pollitem_t) { sstream_link_handle (link), 0, ZMQ_POLLIN, 0 };
            items [count++] = (zmq_pollitem_t) {
                zsock_resolve (sstream_link_monitor (link)), 0, ZMQ_POLLIN, 0 };
            if (self->stage != STAGE_DONE)
                timeout = sstream_client_next_tick (self->client);
        }
        if (zmq_poll (items, count, timeout) == -1) {
            if (zmq_errno () == EINTR)
                continue;       //  A signal for the application: not ours
            s_self_fail (self, sstream_error_set (SSTREAM_EINTERNAL, "consumer: poll failed: %s",
                                                  zmq_strerror (zmq_errno ())));
            break;
        }
        if (items [0].revents & ZMQ_POLLIN)
            s_self_handle_pipe (self);
        if (items [2].revents & ZMQ_POLLIN)
            s_self_terminate (self, "the consumer's process is exiting");
        if (self->terminated)
            break;
        if (items [1].revents & ZMQ_POLLIN)
            s_self_handle_data (self);
        if (linked && (items [4].revents & ZMQ_POLLIN) && !self->failed) {
            rc = sstream_client_on_monitor (self->client);
            //  Once done, the gateway may hang up: that is no failure
            if (rc && self->stage != STAGE_DONE)
                s_self_fail (self, rc);
        }
        if (linked && (items [3].revents & ZMQ_POLLIN))
            s_self_handle_link (self);
        if (self->client && !self->failed && self->stage != STAGE_DONE) {
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
sstream_consumer_new (sstream_consumer_t **self_p, const char *endpoint,
                      const char *stream, sstream_config_t *options)
{
    if (!self_p)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_consumer_new: no handle pointer");
    *self_p = NULL;
    sstream_consumer_t *self = (sstream_consumer_t *) zmalloc (sizeof (sstream_consumer_t));
    if (!self)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    pthread_mutex_init (&self->lock, NULL);
    int rc = sstream_client_options_read (&self->options, options, endpoint, stream,
                                          SSTREAM_ROLE_CONSUME);
    if (rc) {
        pthread_mutex_destroy (&self->lock);
        free (self);
        return rc;
    }
    sigset_t saved;
    sstream_signals_hold (&saved);
    self->data = zsock_new (ZMQ_PAIR);
    assert (self->data);
    zsock_set_sndhwm (self->data, 0);
    zsock_set_rcvhwm (self->data, 0);
    rc = zsock_bind (self->data, "inproc://sstream-consumer-%p", (void *) self);
    assert (rc == 0);
    (void) rc;
    self->actor = zactor_new (s_consumer_actor, self);
    assert (self->actor);

    //  Signals stay held meanwhile: the wait is bounded by connect-timeout,
    //  and an interrupted open could not be resumed, only started again
    int result = SSTREAM_EINTERNAL;
    if (zsock_recv (self->actor, "i", &result) != 0)
        result = sstream_error_set (SSTREAM_EINTERNAL, "the consumer's thread did not answer");
    sstream_signals_release (&saved);
    if (result != SSTREAM_OK) {
        if (atomic_load (&self->failed))
            s_consumer_error (self, result);
        char detail [1024];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        sstream_consumer_destroy (&self);
        return sstream_error_restore (result, detail);
    }
    *self_p = self;
    return SSTREAM_OK;
}

void
sstream_consumer_destroy (sstream_consumer_t **self_p)
{
    if (self_p && *self_p) {
        sstream_consumer_t *self = *self_p;
        sigset_t saved;
        sstream_signals_hold (&saved);
        zactor_destroy (&self->actor);
        //  Free messages the caller never took
        if (self->data) {
            int kind;
            void *pointer;
            while (zsock_events (self->data) & ZMQ_POLLIN) {
                if (zsock_recv (self->data, "ip", &kind, &pointer) != 0)
                    break;
                if (kind == DELIVER_MESSAGE && pointer) {
                    sstream_message_t *message = (sstream_message_t *) pointer;
                    sstream_message_destroy (&message);
                }
            }
        }
        zsock_destroy (&self->data);
        sstream_signals_release (&saved);
        sstream_client_options_clear (&self->options);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

//  Tell the actor what the caller took, so it gives the gateway credit.
//  With the caller's signals held.

static void
s_consumer_report (sstream_consumer_t *self)
{
    if (self->unreported) {
        zsock_send (self->data, "8", self->unreported);
        self->unreported = 0;
    }
}

int
sstream_consumer_recv (sstream_consumer_t *self, sstream_message_t **message_p, int timeout_ms)
{
    if (!self || !message_p)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_consumer_recv: no consumer");
    *message_p = NULL;
    if (self->end_received)
        return sstream_error_set (SSTREAM_EEND, "stream '%s' has ended", self->options.stream);
    int64_t deadline = timeout_ms < 0? INT64_MAX: zclock_mono () + timeout_ms;
    sigset_t saved;
    sstream_signals_hold (&saved);
    int rc = SSTREAM_OK;
    while (true) {
        bool ready = (zsock_events (self->data) & ZMQ_POLLIN) != 0;
        if (!ready) {
            //  About to wait: let the gateway send what we have room for
            s_consumer_report (self);
            int64_t now = zclock_mono ();
            if (timeout_ms >= 0 && now >= deadline) {
                rc = sstream_error_set (SSTREAM_ETIMEDOUT, "no message on stream '%s' within %d ms",
                                        self->options.stream, timeout_ms);
                break;
            }
            long slice = deadline - now < 1000? (long) (deadline - now): 1000;
            int waited = sstream_signals_wait (zsock_resolve (self->data), ZMQ_POLLIN, slice, &saved);
            if (waited < 0) {
                rc = sstream_error_set (SSTREAM_EINTR, "interrupted while receiving");
                break;
            }
            if (waited == 0)
                continue;
        }
        int kind = DELIVER_FAILURE;
        void *pointer = NULL;
        if (zsock_recv (self->data, "ip", &kind, &pointer) != 0) {
            rc = sstream_error_set (SSTREAM_EINTERNAL, "lost the data pipe");
            break;
        }
        if (kind == DELIVER_MESSAGE) {
            sstream_message_t *message = (sstream_message_t *) pointer;
            self->messages++;
            self->bytes += zframe_size (message->payload);
            self->unreported += (uint64_t) sstream_wire_cost (zframe_size (message->payload));
            if (self->unreported >= self->options.window / 4)
                s_consumer_report (self);
            *message_p = message;
            break;
        }
        if (kind == DELIVER_END) {
            self->end_received = true;
            rc = sstream_error_set (SSTREAM_EEND, "stream '%s' has ended", self->options.stream);
            break;
        }
        int code = atomic_load (&self->failed);
        rc = s_consumer_error (self, code? code: SSTREAM_EINTERNAL);
        break;
    }
    sstream_signals_release (&saved);
    return rc;
}

//  Send the actor a command, then wait for its one answer on its pipe.

static int
s_consumer_ask (sstream_consumer_t *self, const char *command, const char *argument,
                int timeout_ms, const char *what)
{
    int64_t deadline = timeout_ms < 0? INT64_MAX: zclock_mono () + timeout_ms;
    sigset_t saved;
    sstream_signals_hold (&saved);
    zstr_sendx (self->actor, command, argument, NULL);
    int rc = SSTREAM_OK;
    while (true) {
        int64_t now = zclock_mono ();
        if (timeout_ms >= 0 && now >= deadline) {
            rc = sstream_error_set (SSTREAM_ETIMEDOUT, "gateway did not confirm %s within %d ms",
                                    what, timeout_ms);
            break;
        }
        long slice = deadline - now < 200? (long) (deadline - now): 200;
        int waited = sstream_signals_wait (zsock_resolve (self->actor), ZMQ_POLLIN, slice, &saved);
        if (waited < 0) {
            rc = sstream_error_set (SSTREAM_EINTR, "interrupted");
            break;
        }
        if (waited == 1) {
            int result = SSTREAM_EINTERNAL;
            zsock_recv (self->actor, "i", &result);
            rc = result == SSTREAM_OK? SSTREAM_OK: s_consumer_error (self, result);
            break;
        }
    }
    sstream_signals_release (&saved);
    return rc;
}

int
sstream_consumer_close (sstream_consumer_t *self, int timeout_ms)
{
    if (!self)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_consumer_close: no consumer");
    if (self->closed)
        return SSTREAM_OK;
    if (!self->end_received)
        return sstream_error_set (SSTREAM_EINVAL,
            "stream '%s' has not ended yet: receive until the end before closing, or abort",
            self->options.stream);
    int code = atomic_load (&self->failed);
    if (code)
        return s_consumer_error (self, code);
    int rc = s_consumer_ask (self, "ACK", NULL, timeout_ms, "the end-of-stream acknowledgement");
    if (rc == SSTREAM_OK)
        self->closed = true;
    return rc;
}

int
sstream_consumer_abort (sstream_consumer_t *self, const char *reason)
{
    if (!self)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_consumer_abort: no consumer");
    if (self->closed)
        return sstream_error_set (SSTREAM_ECLOSED, "stream '%s' is already closed",
                                  self->options.stream);
    int rc = s_consumer_ask (self, "ABORT", reason? reason: "", 2000, "the abort");
    return rc == SSTREAM_EABORTED? SSTREAM_OK: rc;
}

uint64_t
sstream_consumer_messages (sstream_consumer_t *self)
{
    return self? self->messages: 0;
}

uint64_t
sstream_consumer_bytes (sstream_consumer_t *self)
{
    return self? self->bytes: 0;
}
