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
       its credit from the gateway goes and its replay buffer has room,
       seals each into a data message whose
       payload frame is the batch's own buffer (or the sealed copy), and
       keeps it there (sstream_replay) until the consumer acknowledges its
       records; it sends from the replay buffer as the gateway's credit
       allows (PROTOCOL.md section 4, sstream_client_send_batch).
    4. When the gateway, or anything on the path, is lost, the actor
       connects again (sstream_resumer), and, once told from which record
       the consumer needs the stream, sends again from there what it kept
       (PROTOCOL.md section 3.10).

    Commands and results travel on the actor's pipe, never behind data.
*/

#include "sstream_client_classes.h"

#include <stdatomic.h>

struct _sstream_producer_t {
    zactor_t *actor;
    sstream_outbox_t *outbox;
    sstream_client_options_t options;
    uint64_t epoch;             //  This run of the stream
    atomic_llong window;        //  Gateway's window: no record may cost more
    atomic_ullong resumes;      //  Times the stream resumed
    uint64_t records;           //  Sent by the caller
    uint64_t bytes;
    bool end_sent;              //  close () queued the end
    bool closed;                //  The stream completed
    sstream_checksum_t *checksum;   //  Of the caller's payload bytes
    char checksum_hex [SSTREAM_CHECKSUM_HEX];   //  Once the end is queued
                                //  (the caller's: it computes it as it sends)
    sstream_failure_t failure;  //  Once the actor failed
};


//  --------------------------------------------------------------------------
//  The actor

typedef struct {
    zsock_t *pipe;
    sstream_producer_t *producer;
    sstream_outbox_t *outbox;
    sstream_client_t *client;   //  NULL while it waits to connect again
    sstream_sealer_t *sealer;   //  Sealed streams: the key, and sealing
    sstream_replay_t *replay;   //  Batches until acknowledged
    sstream_resumer_t *resumer;
    bool key_due;               //  Its key message goes before the next batch
    uint64_t credit;            //  Bytes we may still send on this link
    uint64_t window;
    uint64_t made_records;      //  Into batches, so far
    uint64_t made_bytes;
    uint64_t acked;             //  Records the consumer's application took
    bool accepted;              //  The stream was accepted, once
    bool awaits_resume;         //  Reconnected: from where, the gateway says
    bool end_made;
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

//  Where the stream stands, for a stream that could not resume
static void
s_self_position (self_t *self, char *text, size_t size)
{
    if (self->acked)
        snprintf (text, size, "the last record the consumer acknowledged is %" PRIu64
                  " (of %" PRIu64 " sent)", self->acked - 1, self->made_records);
    else
        snprintf (text, size, "the consumer acknowledged none of the %" PRIu64 " records sent",
                  self->made_records);
}

//  The link failed: resume if the stream may (a loss, once accepted),
//  else fail with the error.
static void
s_self_broken (self_t *self, int code)
{
    if (self->done)
        return;
    if (self->accepted && sstream_resumer_lost (self->resumer, code)) {
        sstream_client_destroy (&self->client);
        return;
    }
    char position [128];
    s_self_position (self, position, sizeof (position));
    if (sstream_resumer_expired (self->resumer, position))
        code = SSTREAM_ELOST;
    s_self_fail (self, code);
}

static self_t *
s_self_new (zsock_t *pipe, sstream_producer_t *producer)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->producer = producer;
    self->outbox = producer->outbox;
    self->replay = sstream_replay_new (producer->options.replay_buffer);
    self->resumer = sstream_resumer_new (producer->options.stream, "producer",
                                         producer->options.resume_timeout);
    assert (self->replay && self->resumer);
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    if (*self_p) {
        self_t *self = *self_p;
        sstream_client_destroy (&self->client);
        sstream_replay_destroy (&self->replay);
        sstream_sealer_destroy (&self->sealer);
        sstream_resumer_destroy (&self->resumer);
        free (self);
        *self_p = NULL;
    }
}

//  A batch the outbox closed: sealed end to end or for the hops alone (its
//  key message kept first when one is due), into the replay buffer.
//  Destroys the batch.
static int
s_self_make_batch (self_t *self, sstream_batch_t *batch)
{
    int rc = SSTREAM_OK;
    if (self->key_due) {
        zframe_t *header, *payload;
        rc = sstream_sealer_key_message (self->sealer, &header, &payload);
        if (!rc)
            rc = sstream_replay_add_key (self->replay, sstream_sealer_generation (self->sealer),
                                         &header, &payload);
        if (!rc)
            self->key_due = false;
    }
    zmq_msg_t frame0, frame1;
    uint32_t generation = self->sealer? sstream_sealer_generation (self->sealer): 0;
    if (!rc)
        rc = self->sealer? sstream_sealer_seal (self->sealer, batch, &frame0, &frame1)
                         : sstream_batch_seal (batch, &frame0, &frame1);
    if (!rc)
        rc = sstream_replay_add (self->replay, sstream_batch_first_seq (batch),
                                 (uint32_t) sstream_batch_count (batch), generation,
                                 &frame0, &frame1);
    if (!rc) {
        self->made_records += sstream_batch_count (batch);
        self->made_bytes += sstream_batch_bytes (batch);
        if (self->sealer && sstream_sealer_rotate (self->sealer))
            self->key_due = true;
    }
    sstream_batch_destroy (&batch);
    return rc;
}

//  After all data, and needing no credit; sealed over its totals
static int
s_self_make_end (self_t *self)
{
    sstream_wire_t header = {
        .type = SSTREAM_WIRE_END,
        .seq = self->made_records,
        .bytes = self->made_bytes
    };
    snprintf (header.stream, sizeof (header.stream), "%s", self->producer->options.stream);
    //  The caller wrote it before it queued the end (the outbox's lock
    //  orders the two)
    snprintf (header.checksum, sizeof (header.checksum), "%s", self->producer->checksum_hex);
    int rc = self->sealer? sstream_sealer_end (self->sealer, header.seq, header.bytes, header.seal)
                         : SSTREAM_OK;
    if (!rc && self->key_due) {
        //  A stream of no records still says who may read it
        zframe_t *key, *payload;
        rc = sstream_sealer_key_message (self->sealer, &key, &payload);
        if (!rc)
            rc = sstream_replay_add_key (self->replay, sstream_sealer_generation (self->sealer),
                                         &key, &payload);
        self->key_due = false;
    }
    zframe_t *frame = rc? NULL: sstream_wire_encode (&header);
    if (!rc && !frame)
        rc = SSTREAM_ENOMEM;
    if (!rc)
        sstream_replay_set_end (self->replay, self->sealer? sstream_sealer_generation (self->sealer)
                                                          : 0, &frame);
    return rc;
}

//  Send from the replay buffer what credit allows on this link
static int
s_self_send (self_t *self)
{
    if (!self->client || sstream_client_state (self->client) != SSTREAM_CLIENT_OPEN
    ||  self->awaits_resume)
        return SSTREAM_OK;
    while (true) {
        zframe_t *header, *payload;
        zmq_msg_t frame0, frame1;
        uint64_t cost = 0;
        int rc = SSTREAM_OK;
        switch (sstream_replay_next (self->replay, self->credit, &header, &payload, &frame0,
                                     &frame1, &cost)) {
            case SSTREAM_REPLAY_NOTHING:
                return SSTREAM_OK;
            case SSTREAM_REPLAY_KEY:
            case SSTREAM_REPLAY_END:
                rc = sstream_client_send (self->client, &header, &payload);
                break;
            case SSTREAM_REPLAY_BATCH:
                rc = sstream_client_send_batch (self->client, &frame0, &frame1);
                if (!rc)
                    self->credit -= cost;
                break;
        }
        zframe_destroy (&header);
        zframe_destroy (&payload);
        if (rc)
            return rc;
        sstream_replay_sent (self->replay);
    }
}

//  Make batches of what the outbox holds, as far as the replay buffer has
//  room, and send what credit allows; then the end.

static void
s_self_flush (self_t *self)
{
    uint64_t overhead = self->sealer? sstream_sealer_overhead (): 0;
    while (!self->done && self->accepted) {
        int rc = s_self_send (self);
        if (rc) {
            s_self_broken (self, rc);
            return;
        }
        if (self->end_made)
            return;
        //  A new batch when what is made has gone, and the credit of this
        //  link and the room in the replay buffer (all of it when empty)
        //  take it: a producer whose path is full, or down, waits
        if (!self->client || self->awaits_resume || !sstream_replay_all_sent (self->replay))
            return;
        uint64_t held = sstream_replay_bytes (self->replay);
        uint64_t room = held == 0? UINT64_MAX
                      : self->producer->options.replay_buffer > held
                      ? self->producer->options.replay_buffer - held: 0;
        uint64_t most = room < self->credit? room: self->credit;
        bool end;
        sstream_batch_t *batch = sstream_outbox_take (self->outbox, most > overhead? most - overhead: 0,
                                                      &end);
        if (batch)
            rc = s_self_make_batch (self, batch);
        else
        if (end) {
            rc = s_self_make_end (self);
            if (!rc)
                self->end_made = true;
        }
        else
            return;
        if (rc) {
            s_self_fail (self, rc);
            return;
        }
    }
}
static void
s_self_handle_message (self_t *self, sstream_client_msg_t *message)
{
    const sstream_wire_t *header = &message->control;
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
    if (!message->binary && header->type == SSTREAM_WIRE_ACK) {
        //  What the consumer's application has taken goes
        if (header->seq > self->acked && header->seq <= self->made_records) {
            self->acked = header->seq;
            sstream_replay_ack (self->replay, header->seq);
            s_self_flush (self);
        }
    }
    else
    if (!message->binary && header->type == SSTREAM_WIRE_RESUME) {
        //  Where the consumer stands: from there on, again
        if (!self->awaits_resume)
            return;             //  A stream that starts: nothing to do
        int rc = sstream_replay_rewind (self->replay, header->seq, self->made_records);
        if (rc) {
            s_self_fail (self, rc);
            return;
        }
        if (header->seq > self->acked)
            self->acked = header->seq;
        self->awaits_resume = false;
        sstream_resumer_resumed (self->resumer);
        atomic_store (&self->producer->resumes, sstream_resumer_count (self->resumer));
        s_self_flush (self);
    }
    else
    if (!message->binary && header->type == SSTREAM_WIRE_END_ACK && self->end_made) {
        if (header->seq != self->made_records || header->bytes != self->made_bytes)
            s_self_fail (self, sstream_error_set (SSTREAM_EPROTO,
                "the consumer acknowledged %" PRIu64 " records and %" PRIu64
                " bytes, but we sent %" PRIu64 " and %" PRIu64,
                header->seq, header->bytes, self->made_records, self->made_bytes));
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
            : sstream_wire_type_name (header->type)));
}

//  The stream was accepted: the first time, the outbox and the sealer
//  are made for the gateway's window; after a loss, it waits to be told
//  where to resume from
static int
s_self_accepted (self_t *self)
{
    self->window = self->credit = sstream_client_window (self->client);
    if (self->accepted)
        return SSTREAM_OK;
    self->accepted = true;
    atomic_store (&self->producer->window, (long long) self->window);
    int rc = sstream_outbox_start (self->outbox, self->window);
    const sstream_client_options_t *options = &self->producer->options;
    if (!rc && options->sealed) {
        self->sealer = sstream_sealer_new (options->stream, self->producer->epoch, options->readers,
                                           options->rekey, sstream_outbox_capacity (self->outbox));
        rc = self->sealer? SSTREAM_OK: sstream_error_set (SSTREAM_ENOMEM, "out of memory");
        self->key_due = true;
    }
    if (!rc) {
        zsock_send (self->pipe, "i", SSTREAM_OK);
        self->reported_open = true;
    }
    return rc;
}

static void
s_self_handle_link (self_t *self)
{
    //  Drain what is there without going back to poll (as zproxy does)
    while (!self->done && self->client) {
        sstream_client_state_t before = sstream_client_state (self->client);
        sstream_client_msg_t message;
        bool got;
        int rc = sstream_client_recv (self->client, &message, &got);
        //  Accepted, even when what came right after it failed the link
        //  (then the stream resumes, as one accepted)
        if (before == SSTREAM_CLIENT_OPENING && sstream_client_accepted (self->client)) {
            int accepted = s_self_accepted (self);
            if (accepted) {
                if (!rc && got)
                    sstream_client_msg_close (&message);
                s_self_fail (self, accepted);
                return;
            }
        }
        if (rc) {
            s_self_broken (self, rc);
            return;
        }
        if (!got)
            return;         //  Nothing more waiting
        s_self_handle_message (self, &message);
        sstream_client_msg_close (&message);
    }
}

//  Connect again, saying what we hold, when the time has come
static void
s_self_reconnect (self_t *self)
{
    if (self->done || !sstream_resumer_stalled (self->resumer))
        return;
    //  Connected again or not, the time is up
    char position [128];
    s_self_position (self, position, sizeof (position));
    if (sstream_resumer_expired (self->resumer, position)) {
        s_self_fail (self, SSTREAM_ELOST);
        return;
    }
    if (self->client || zclock_mono () < sstream_resumer_due (self->resumer))
        return;
    sstream_resumer_attempted (self->resumer);
    sstream_client_open_t open = {
        .epoch = self->producer->epoch,
        .resumes = true,
        .seq = sstream_replay_first (self->replay, self->made_records)
    };
    self->awaits_resume = true;
    int rc = sstream_client_new (&self->client, &self->producer->options, &open);
    if (rc)
        s_self_broken (self, rc);
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

//  How long the poll may wait: the link's next tick, the outbox's linger,
//  the next attempt to connect again
static int64_t
s_self_timeout (self_t *self, bool linked)
{
    int64_t timeout = linked? sstream_client_next_tick (self->client): -1;
    if (linked && self->accepted) {
        int64_t linger = sstream_outbox_linger (self->outbox);
        if (linger >= 0 && (timeout < 0 || linger < timeout))
            timeout = linger;
    }
    if (!self->done && sstream_resumer_stalled (self->resumer)) {
        int64_t due = (self->client? INT64_MAX: sstream_resumer_due (self->resumer))
                    - zclock_mono ();
        if (due < 0)
            due = 0;
        if (due < INT64_MAX / 2 && (timeout < 0 || due < timeout))
            timeout = due;
        if (timeout < 0 || timeout > 1000)
            timeout = 1000;     //  Its deadline is looked at, at least
    }
    return timeout;
}

static void
s_producer_actor (zsock_t *pipe, void *args)
{
    sstream_signals_refuse ();
    int exiting = sstream_actor_enter ();
    sstream_producer_t *producer = (sstream_producer_t *) args;
    self_t *self = s_self_new (pipe, producer);
    zsock_signal (pipe, 0);

    sstream_client_open_t open = { .epoch = producer->epoch };
    int rc = sstream_client_new (&self->client, &producer->options, &open);
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
        //  Once done, the link is not read: what still comes on it (events of
        //  a gateway going away) must not keep the poll awake
        bool linked = self->client && !self->done;
        if (linked) {
            sstream_link_t *link = sstream_client_link (self->client);
            items [LINK] = (zmq_pollitem_t) { sstream_link_handle (link), 0, ZMQ_POLLIN, 0 };
            items [MONITOR] = (zmq_pollitem_t) {
                zsock_resolve (sstream_link_monitor (link)), 0, ZMQ_POLLIN, 0 };
            bulk_items = sstream_client_poll_items (self->client, items + BULK);
        }
        //  Records come in while the stream resumes, as far as there is room
        if (self->accepted && !self->done)
            items [OUTBOX] = (zmq_pollitem_t) { NULL, sstream_outbox_fd (self->outbox), ZMQ_POLLIN, 0 };
        int64_t timeout = s_self_timeout (self, linked);
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
        if ((items [MONITOR].revents & ZMQ_POLLIN) && linked && self->client && !self->done) {
            rc = sstream_client_on_monitor (self->client);
            if (rc)
                s_self_broken (self, rc);
        }
        if (bulk_items && self->client && !self->done) {
            rc = sstream_client_handle_poll (self->client, items + BULK, bulk_items);
            if (rc)
                s_self_broken (self, rc);
        }
        if (((items [LINK].revents & ZMQ_POLLIN) || sstream_client_readable (self->client))
        &&  linked && !self->done)
            s_self_handle_link (self);
        if (items [OUTBOX].revents & ZMQ_POLLIN)
            sstream_outbox_woken (self->outbox);
        if (self->accepted && !self->done) {
            sstream_outbox_linger (self->outbox);
            s_self_flush (self);
        }
        if (self->client && !self->done) {
            rc = sstream_client_on_tick (self->client);
            if (rc)
                s_self_broken (self, rc);
        }
        s_self_reconnect (self);
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
    randombytes_buf (&self->epoch, sizeof (self->epoch));
    if (rc) {
        sstream_failure_fini (&self->failure);
        free (self);
        return rc;
    }
    self->checksum = sstream_checksum_new ();
    if (!self->checksum) {
        sstream_producer_destroy (&self);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
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
        sstream_checksum_destroy (&self->checksum);
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
    if (cost > window) {
        //  Say what the cost is made of (PROTOCOL.md section 4)
        char metadata [64] = "", seal [64] = "";
        if (meta_size)
            snprintf (metadata, sizeof (metadata), ", %zu bytes of metadata", meta_size);
        if (self->options.sealed)
            snprintf (seal, sizeof (seal), ", %zu-byte seal tag", sstream_sealer_overhead ());
        return sstream_error_set (SSTREAM_ETOOBIG,
            "a record of %zu bytes costs %zu + %" PRIu64 " bytes of window (its %d-byte header, "
            "%d-byte index entry%s%s and %d bytes of bookkeeping), more than the gateway's "
            "window of %" PRIu64 " bytes (its gateway/buffer): send smaller records, or give "
            "the gateway a larger buffer", size, size, cost - size, SSTREAM_WIRE_BATCH_HEADER, 8,
            metadata, seal, SSTREAM_WIRE_BATCH_OVERHEAD, window);
    }
    if (sstream_failure_code (&self->failure))
        return sstream_failure_report (&self->failure);
    return SSTREAM_OK;
}

//  The outbox's verdict: a failure of the actor is reported as its own
static int
s_producer_result (sstream_producer_t *self, int rc, const void *data, size_t size)
{
    if (rc == SSTREAM_OK) {
        self->records++;
        self->bytes += size;
        if (data)           //  Given records counted before they went
            sstream_checksum_update (self->checksum, data, size);
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
    return s_producer_result (self, rc, data, size);
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
    //  The buffer may be the library's to release once given: its bytes
    //  count first, and are taken back if it was not taken
    sstream_checksum_t *before = sstream_checksum_copy (self->checksum);
    if (!before)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    sstream_checksum_update (self->checksum, data, size);
    rc = sstream_outbox_give (self->outbox, self->records, data, size, meta,
                              meta? meta_size: 0, release, arg, timeout_ms, &self->failure);
    if (rc) {
        sstream_checksum_destroy (&self->checksum);
        self->checksum = before;
    }
    else
        sstream_checksum_destroy (&before);
    return s_producer_result (self, rc, NULL, size);
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
        sstream_checksum_hex (self->checksum, self->checksum_hex);
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

const char *
sstream_producer_checksum (sstream_producer_t *self)
{
    return self && self->end_sent? self->checksum_hex: NULL;
}

int
sstream_producer_failure (sstream_producer_t *self)
{
    return self? sstream_failure_code (&self->failure): SSTREAM_EINVAL;
}

uint64_t
sstream_producer_resumes (sstream_producer_t *self)
{
    return self? (uint64_t) atomic_load (&self->resumes): 0;
}

uint64_t
sstream_producer_bytes (sstream_producer_t *self)
{
    return self? self->bytes: 0;
}
