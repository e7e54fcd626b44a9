/*  =========================================================================
    sstream_producer - the sending end of a stream

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    How a record leaves (core/README.md tells the whole journey):

    1. sstream_producer_send, in the caller's thread, copies the record
       into the open batch of the outbox (sstream_outbox), under one lock
       and with no system call, and counts it.
    2. The batch closes when full, when its linger has passed, or at close;
       closed batches queue in the outbox (client/pipe of them at most: a
       full queue makes send wait, which is the backpressure).
    3. The actor, woken through an eventfd, takes closed batches as far as
       its credit from the gateway goes (PROTOCOL.md section 4), seals each
       into a data message whose payload frame is the batch's own buffer,
       and sends it on the link (sstream_client_send_batch).

    Commands and results travel on the actor's pipe, never behind data.
*/

#include "sstream_client_classes.h"

#include <stdatomic.h>

struct _sstream_producer_t {
    zactor_t *actor;
    sstream_outbox_t *outbox;
    sstream_client_options_t options;
    atomic_llong window;        //  Gateway's window: no record may cost more
    uint64_t records;           //  Sent by the caller
    uint64_t bytes;
    bool end_sent;              //  close () queued the end
    bool closed;                //  The stream completed
    sstream_failure_t failure;  //  Once the actor failed
};


//  --------------------------------------------------------------------------
//  The actor

typedef struct {
    zsock_t *pipe;
    sstream_producer_t *producer;
    sstream_outbox_t *outbox;
    sstream_client_t *client;
    sstream_sealer_t *sealer;   //  Sealed streams: the key, and sealing
    bool key_due;               //  Its key message goes before the next batch
    uint64_t credit;            //  Bytes we may still send
    uint64_t window;
    uint64_t sent_records;      //  To the gateway
    uint64_t sent_bytes;
    bool end_sent;
    bool done;                  //  end-ack received, or failed
    bool reported_open;
    bool close_waits;           //  The caller waits for close's verdict
    bool terminated;
} self_t;

//  Record a failure for the caller, once, and wake it wherever it waits.
static void
s_self_fail (self_t *self, int code)
{
    if (self->done)
        return;
    self->done = true;
    sstream_failure_set (&self->producer->failure, code);
    if (!self->reported_open) {
        zsock_send (self->pipe, "i", code);
        self->reported_open = true;
    }
    if (self->close_waits) {
        zsock_send (self->pipe, "i", code);
        self->close_waits = false;
    }
    sstream_outbox_wake_caller (self->outbox);
}

static self_t *
s_self_new (zsock_t *pipe, sstream_producer_t *producer)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->producer = producer;
    self->outbox = producer->outbox;
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    if (*self_p) {
        self_t *self = *self_p;
        sstream_client_destroy (&self->client);
        sstream_sealer_destroy (&self->sealer);
        free (self);
        *self_p = NULL;
    }
}

//  One batch, sealed end to end or for the hops alone; its key message
//  first when one is due. Destroys the batch.
static int
s_self_send_batch (self_t *self, sstream_batch_t *batch, uint64_t cost)
{
    int rc = SSTREAM_OK;
    if (self->key_due) {
        zframe_t *header, *payload;
        rc = sstream_sealer_key_message (self->sealer, &header, &payload);
        if (!rc)
            rc = sstream_client_send (self->client, &header, &payload);
        if (!rc)
            self->key_due = false;
    }
    zmq_msg_t frame0, frame1;
    if (!rc)
        rc = self->sealer? sstream_sealer_seal (self->sealer, batch, &frame0, &frame1)
                         : sstream_batch_seal (batch, &frame0, &frame1);
    if (!rc)
        rc = sstream_client_send_batch (self->client, &frame0, &frame1);
    if (!rc) {
        self->credit -= cost;
        self->sent_records += sstream_batch_count (batch);
        self->sent_bytes += sstream_batch_bytes (batch);
        if (self->sealer && sstream_sealer_rotate (self->sealer))
            self->key_due = true;
    }
    sstream_batch_destroy (&batch);
    return rc;
}

//  After all data, and needing no credit; sealed over its totals
static int
s_self_send_end (self_t *self)
{
    sstream_wire_t header = {
        .type = SSTREAM_WIRE_END,
        .seq = self->sent_records,
        .bytes = self->sent_bytes
    };
    snprintf (header.stream, sizeof (header.stream), "%s", self->producer->options.stream);
    int rc = self->sealer? sstream_sealer_end (self->sealer, header.seq, header.bytes, header.seal)
                         : SSTREAM_OK;
    zframe_t *frame = rc? NULL: sstream_wire_encode (&header);
    if (!rc && self->key_due) {
        //  A stream of no records still says who may read it
        zframe_t *key, *payload;
        rc = sstream_sealer_key_message (self->sealer, &key, &payload);
        if (!rc)
            rc = sstream_client_send (self->client, &key, &payload);
        self->key_due = false;
    }
    if (!rc)
        rc = frame? sstream_client_send (self->client, &frame, NULL): SSTREAM_ENOMEM;
    zframe_destroy (&frame);
    return rc;
}

//  Send what the outbox holds, as far as credit goes; then the end.

static void
s_self_flush (self_t *self)
{
    uint64_t overhead = self->sealer? sstream_sealer_overhead (): 0;
    while (!self->done && !self->end_sent) {
        bool end;
        uint64_t credit = self->credit > overhead? self->credit - overhead: 0;
        sstream_batch_t *batch = sstream_outbox_take (self->outbox, credit, &end);
        int rc = SSTREAM_OK;
        if (batch)
            rc = s_self_send_batch (self, batch, sstream_batch_cost (batch) + overhead);
        else
        if (end) {
            rc = s_self_send_end (self);
            if (!rc)
                self->end_sent = true;
        }
        else
            break;
        if (rc)
            s_self_fail (self, rc);
    }
}

static void
s_self_handle_message (self_t *self, sstream_client_msg_t *message)
{
    if (message->binary && message->batch.type == SSTREAM_WIRE_CREDIT) {
        if (message->batch.length > self->window - self->credit)
            s_self_fail (self, sstream_error_set (SSTREAM_EPROTO,
                "gateway granted more credit than its window of %" PRIu64 " bytes",
                self->window));
        else {
            self->credit += message->batch.length;
            s_self_flush (self);
        }
    }
    else
    if (!message->binary && message->control.type == SSTREAM_WIRE_END_ACK && self->end_sent) {
        const sstream_wire_t *header = &message->control;
        if (header->seq != self->sent_records || header->bytes != self->sent_bytes)
            s_self_fail (self, sstream_error_set (SSTREAM_EPROTO,
                "the consumer acknowledged %" PRIu64 " records and %" PRIu64
                " bytes, but we sent %" PRIu64 " and %" PRIu64,
                header->seq, header->bytes, self->sent_records, self->sent_bytes));
        else {
            self->done = true;
            if (self->close_waits) {
                zsock_send (self->pipe, "i", SSTREAM_OK);
                self->close_waits = false;
            }
        }
    }
    else
        s_self_fail (self, sstream_error_set (SSTREAM_EPROTO,
            "gateway sent an unexpected %s message", message->binary
            ? sstream_wire_type_name (message->batch.type)
            : sstream_wire_type_name (message->control.type)));
}

static void
s_self_handle_link (self_t *self)
{
    //  Drain what is there without going back to poll (as zproxy does)
    while (!self->done) {
        sstream_client_state_t before = sstream_client_state (self->client);
        sstream_client_msg_t message;
        bool got;
        int rc = sstream_client_recv (self->client, &message, &got);
        if (rc) {
            s_self_fail (self, rc);
            return;
        }
        if (before == SSTREAM_CLIENT_OPENING
        &&  sstream_client_state (self->client) == SSTREAM_CLIENT_OPEN) {
            self->window = self->credit = sstream_client_window (self->client);
            atomic_store (&self->producer->window, (long long) self->window);
            rc = sstream_outbox_start (self->outbox, self->window);
            const sstream_client_options_t *options = &self->producer->options;
            if (!rc && options->sealed) {
                self->sealer = sstream_sealer_new (options->stream, options->readers, options->rekey,
                                                   sstream_outbox_capacity (self->outbox));
                rc = self->sealer? SSTREAM_OK: sstream_error_set (SSTREAM_ENOMEM, "out of memory");
                self->key_due = true;
            }
            if (rc) {
                s_self_fail (self, rc);
                return;
            }
            zsock_send (self->pipe, "i", SSTREAM_OK);
            self->reported_open = true;
        }
        if (!got)
            return;         //  Nothing more waiting
        s_self_handle_message (self, &message);
        sstream_client_msg_close (&message);
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
    else
    if (streq (command, "CLOSE")) {
        //  The end is queued: its acknowledgement, or a failure, answers
        int code = sstream_failure_code (&self->producer->failure);
        if (code)
            zsock_send (self->pipe, "i", code);
        else
        if (self->done)
            zsock_send (self->pipe, "i", SSTREAM_OK);
        else {
            self->close_waits = true;
            s_self_flush (self);
        }
    }
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

    enum { PIPE, EXITING, LINK, MONITOR, OUTBOX, BULK };
    while (!self->terminated) {
        zmq_pollitem_t items [BULK + SSTREAM_CLIENT_BULK_ITEMS] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { NULL, exiting, ZMQ_POLLIN, 0 },
            { NULL, -1, 0, 0 }, { NULL, -1, 0, 0 }, { NULL, -1, 0, 0 }
        };
        size_t bulk_items = 0;
        int64_t timeout = -1;
        //  Once done, the link is not read: what still comes on it (events of
        //  a gateway going away) must not keep the poll awake
        bool linked = self->client && !self->done;
        if (linked) {
            sstream_link_t *link = sstream_client_link (self->client);
            items [LINK] = (zmq_pollitem_t) { sstream_link_handle (link), 0, ZMQ_POLLIN, 0 };
            items [MONITOR] = (zmq_pollitem_t) {
                zsock_resolve (sstream_link_monitor (link)), 0, ZMQ_POLLIN, 0 };
            bulk_items = sstream_client_poll_items (self->client, items + BULK);
            timeout = sstream_client_next_tick (self->client);
        }
        bool open = linked && self->reported_open;
        if (open) {
            items [OUTBOX] = (zmq_pollitem_t) { NULL, sstream_outbox_fd (self->outbox), ZMQ_POLLIN, 0 };
            int64_t linger = sstream_outbox_linger (self->outbox);
            if (linger >= 0 && (timeout < 0 || linger < timeout))
                timeout = linger;
        }
        if (zmq_poll (items, (int) (BULK + bulk_items), timeout) == -1) {
            if (zmq_errno () == EINTR)
                continue;       //  A signal for the application: not ours
            s_self_fail (self, sstream_error_set (SSTREAM_EINTERNAL, "producer: poll failed: %s",
                                                  zmq_strerror (zmq_errno ())));
            break;
        }
        if (items [PIPE].revents & ZMQ_POLLIN)
            s_self_handle_pipe (self);
        if (items [EXITING].revents & ZMQ_POLLIN)
            s_self_terminate (self, "the producer's process is exiting");
        if (self->terminated)
            break;
        if ((items [MONITOR].revents & ZMQ_POLLIN) && !self->done) {
            rc = sstream_client_on_monitor (self->client);
            if (rc)
                s_self_fail (self, rc);
        }
        if (bulk_items && !self->done) {
            rc = sstream_client_handle_poll (self->client, items + BULK, bulk_items);
            if (rc)
                s_self_fail (self, rc);
        }
        if (((items [LINK].revents & ZMQ_POLLIN) || sstream_client_readable (self->client))
        &&  !self->done)
            s_self_handle_link (self);
        if (items [OUTBOX].revents & ZMQ_POLLIN)
            sstream_outbox_woken (self->outbox);
        if (open && !self->done) {
            sstream_outbox_linger (self->outbox);
            s_self_flush (self);
        }
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
    sstream_failure_init (&self->failure);
    int rc = sstream_client_options_read (&self->options, options, endpoint, stream,
                                          SSTREAM_ROLE_PRODUCE);
    if (rc) {
        sstream_failure_fini (&self->failure);
        free (self);
        return rc;
    }
    sstream_outbox_config_t outbox = {
        .batch = self->options.batch,
        .linger = self->options.linger,
        .depth = self->options.pipe
    };
    self->outbox = sstream_outbox_new (&outbox);
    if (!self->outbox) {
        sstream_producer_destroy (&self);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    int result = sstream_client_actor_start (&self->actor, s_producer_actor, self,
                                             &self->failure, "producer");
    if (result != SSTREAM_OK) {
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
        sstream_client_actor_stop (&self->actor);
        sstream_outbox_destroy (&self->outbox);
        sstream_client_options_clear (&self->options);
        sstream_failure_fini (&self->failure);
        free (self);
        *self_p = NULL;
    }
}

//  What every record must pass before it is taken

static int
s_producer_check (sstream_producer_t *self, const void *data, size_t size,
                  const void *meta, size_t meta_size)
{
    if (self->end_sent)
        return sstream_error_set (SSTREAM_ECLOSED, "stream '%s' is already closed",
                                  self->options.stream);
    if (!data && size)
        return sstream_error_set (SSTREAM_EINVAL, "no data for a record of %zu bytes", size);
    if (size > SSTREAM_MESSAGE_MAX)
        return sstream_error_set (SSTREAM_ETOOBIG,
            "record of %zu bytes is over the limit of %llu: split it", size,
            SSTREAM_MESSAGE_MAX);
    int rc = sstream_wire_check_meta (meta, meta_size);
    if (rc)
        return rc;
    if (!meta)
        meta_size = 0;
    uint64_t window = (uint64_t) atomic_load (&self->window);
    uint64_t cost = sstream_wire_record_cost (size, meta_size)
                  + (self->options.sealed? sstream_sealer_overhead (): 0);
    if (cost > window)
        return sstream_error_set (SSTREAM_ETOOBIG,
            "record of %zu bytes does not fit the gateway's window of %" PRIu64
            " bytes (its gateway/buffer, less %" PRIu64 " bytes a record)", size, window,
            cost - size);
    if (sstream_failure_code (&self->failure))
        return sstream_failure_report (&self->failure);
    return SSTREAM_OK;
}

//  The outbox's verdict: a failure of the actor is reported as its own
static int
s_producer_result (sstream_producer_t *self, int rc, size_t size)
{
    if (rc == SSTREAM_OK) {
        self->records++;
        self->bytes += size;
    }
    else
    if (rc == SSTREAM_ECLOSED && sstream_failure_code (&self->failure))
        rc = sstream_failure_report (&self->failure);
    return rc;
}

int
sstream_producer_send (sstream_producer_t *self, const void *data, size_t size,
                       const void *meta, size_t meta_size, int timeout_ms)
{
    if (!self)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_producer_send: no producer");
    int rc = s_producer_check (self, data, size, meta, meta_size);
    if (rc)
        return rc;
    rc = sstream_outbox_add (self->outbox, self->records, data, size, meta,
                             meta? meta_size: 0, timeout_ms, &self->failure);
    return s_producer_result (self, rc, size);
}

int
sstream_producer_give (sstream_producer_t *self, void *data, size_t size,
                       const void *meta, size_t meta_size,
                       sstream_release_fn *release, void *arg, int timeout_ms)
{
    if (!self)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_producer_give: no producer");
    int rc = s_producer_check (self, data, size, meta, meta_size);
    if (rc)
        return rc;
    rc = sstream_outbox_give (self->outbox, self->records, data, size, meta,
                              meta? meta_size: 0, release, arg, timeout_ms, &self->failure);
    return s_producer_result (self, rc, size);
}

int
sstream_producer_close (sstream_producer_t *self, int timeout_ms)
{
    if (!self)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_producer_close: no producer");
    if (self->closed)
        return SSTREAM_OK;
    if (sstream_failure_code (&self->failure))
        return sstream_failure_report (&self->failure);
    if (!self->end_sent) {
        sstream_outbox_end (self->outbox);
        self->end_sent = true;
    }
    //  Ask (again, after an interrupted or timed-out wait), then wait for
    //  the verdict: the consumer's end-ack, or a failure
    char waiting_for [256];
    snprintf (waiting_for, sizeof (waiting_for),
              "the consumer had not acknowledged the end of stream '%s'", self->options.stream);
    int rc = sstream_client_actor_ask (self->actor, "CLOSE", NULL, timeout_ms, &self->failure,
                                       waiting_for);
    if (rc == SSTREAM_OK)
        self->closed = true;
    return rc;
}

uint64_t
sstream_producer_messages (sstream_producer_t *self)
{
    return self? self->records: 0;
}

uint64_t
sstream_producer_bytes (sstream_producer_t *self)
{
    return self? self->bytes: 0;
}
