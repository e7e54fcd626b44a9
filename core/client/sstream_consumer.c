/*  =========================================================================
    sstream_consumer - the receiving end of a stream

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    How a record arrives (core/README.md tells the whole journey):

    1. The actor owns the link to the gateway. It reads each batch's two
       frames, checks the binary header, the index and the sequence, and
       puts the batch, whole and uncopied, into the inbox (sstream_inbox).
    2. sstream_consumer_recv, in the caller's thread, hands out the inbox's
       records one by one, each a message pointing into its batch.
    3. When the caller has taken a batch's last record, its cost goes back
       to the gateway as credit: the consumer holds at most its window.
       What the caller has taken is acknowledged to the producer, which
       keeps every batch until then.
    4. When the gateway, or anything on the path, is lost, the actor
       connects again (sstream_resumer) and asks for the stream from the
       first record it does not have; a record it has already is dropped
       (PROTOCOL.md section 3.10).
*/

//  Acknowledgements of what the caller took go at least this often
#define ACK_EVERY 100

#include "sstream_client_classes.h"

struct _sstream_consumer_t {
    zactor_t *actor;
    _Atomic uint64_t resumes;   //  Times the stream resumed
    char checksum [SSTREAM_CHECKSUM_HEX];   //  Written before the end is
    sstream_inbox_t *inbox;
    sstream_client_options_t options;
    bool end_received;
    bool closed;
    sstream_failure_t failure;
};


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
    sstream_consumer_t *consumer;
    sstream_inbox_t *inbox;
    sstream_client_t *client;   //  NULL while it waits to connect again
    sstream_opener_t *opener;   //  Keys, and opening sealed batches
    sstream_resumer_t *resumer;
    s_stage_t stage;
    uint64_t next_seq;
    uint64_t received;          //  Payload bytes received
    uint64_t outstanding;       //  Bytes the gateway may still send us
    uint64_t epoch;             //  The producer's run, once said (0: not yet)
    bool accepted;              //  The stream was accepted, once
    bool started;               //  Its producer is there (resume came)
    int64_t accepted_at;
    uint64_t acked;             //  Records acknowledged to the producer
    int64_t acked_at;
    uint64_t duplicates;        //  Records that came again, dropped
    sstream_checksum_t *checksum;   //  Of the payload bytes, in order
    bool may_repeat;            //  Resumed, and no new record since: what
                                //  comes again is dropped (else it is a
                                //  replay, and refused)
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
    sstream_failure_set (&self->consumer->failure, code);
    if (!self->reported_open) {
        zsock_send (self->pipe, "i", code);
        self->reported_open = true;
        return;
    }
    if (self->ack_waiting) {
        zsock_send (self->pipe, "i", code);
        self->ack_waiting = false;
    }
    sstream_inbox_wake_caller (self->inbox);
}

static self_t *
s_self_new (zsock_t *pipe, sstream_consumer_t *consumer)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->consumer = consumer;
    self->inbox = consumer->inbox;
    self->outstanding = consumer->options.window;
    self->opener = sstream_opener_new (consumer->options.stream, consumer->options.cert,
                                       consumer->options.sealed);
    self->resumer = sstream_resumer_new (consumer->options.stream, "consumer",
                                         consumer->options.resume_timeout);
    self->checksum = sstream_checksum_new ();
    assert (self->opener && self->resumer && self->checksum);
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    if (*self_p) {
        self_t *self = *self_p;
        sstream_client_destroy (&self->client);
        sstream_opener_destroy (&self->opener);
        sstream_resumer_destroy (&self->resumer);
        sstream_checksum_destroy (&self->checksum);
        free (self);
        *self_p = NULL;
    }
}

//  A batch whose records are not the next ones: some were lost on the
//  way, or these came before
static int
s_self_out_of_sequence (self_t *self, const sstream_wire_batch_t *header)
{
    const char *stream = self->consumer->options.stream;
    const char *endpoint = sstream_client_endpoint (self->client);
    uint64_t last = header->seq + header->count - 1;
    if (last >= self->next_seq)
        last = self->next_seq - 1;      //  What came again of them
    if (header->seq > self->next_seq)
        return sstream_error_set (SSTREAM_EPROTO,
            "stream '%s': records %" PRIu64 " to %" PRIu64 " never came: gateway at %s sent "
            "records from %" PRIu64 " where %" PRIu64 " was due (a batch was dropped on the way)",
            stream, self->next_seq, header->seq - 1, endpoint, header->seq, self->next_seq);
    return sstream_error_set (SSTREAM_EPROTO,
        "stream '%s': records %" PRIu64 " to %" PRIu64 " came again: gateway at %s sent "
        "records from %" PRIu64 " where %" PRIu64 " was due (a batch was replayed)",
        stream, header->seq, last, endpoint, header->seq, self->next_seq);
}

//  Give the gateway room for bytes more (no more than our window)
static int
s_self_grant (self_t *self, uint64_t bytes)
{
    uint64_t window = self->consumer->options.window;
    if (bytes > window - self->outstanding)
        bytes = window - self->outstanding;
    if (!bytes || !self->client)
        return SSTREAM_OK;
    self->outstanding += bytes;
    zframe_t *credit = sstream_wire_credit (sstream_client_gateway_sid (self->client), bytes);
    return credit? sstream_client_send (self->client, &credit, NULL): SSTREAM_ENOMEM;
}

static int
s_self_take_batch (self_t *self, sstream_client_msg_t *message)
{
    const char *endpoint = sstream_client_endpoint (self->client);
    const sstream_wire_batch_t *header = &message->batch;
    uint64_t cost = sstream_wire_batch_cost (zmq_msg_size (&message->frame0),
                                             zmq_msg_size (&message->frame1));
    //  What we have already (sent again after the stream resumed) is
    //  dropped, and its room given back at once
    if (self->may_repeat && header->seq + header->count <= self->next_seq
    &&  cost <= self->outstanding) {
        self->duplicates += header->count;
        self->outstanding -= cost;
        return s_self_grant (self, cost);
    }
    if (self->stage != STAGE_STREAMING)
        return sstream_error_set (SSTREAM_EPROTO,
            "gateway at %s sent data after the end of the stream", endpoint);
    if (header->seq != self->next_seq)
        return s_self_out_of_sequence (self, header);
    self->may_repeat = false;
    if (cost > self->outstanding)
        return sstream_error_set (SSTREAM_EPROTO,
            "gateway at %s sent beyond the consumer's window", endpoint);
    //  Opened and checked whole before a record of it reaches the caller
    sstream_received_t *batch = sstream_received_new (header, &message->frame0, &message->frame1,
                                                      cost);
    if (!batch)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    int rc = sstream_opener_open (self->opener, batch, header);
    if (rc) {
        sstream_received_release (batch);
        return rc;
    }
    self->received += sstream_received_bytes (batch);
    size_t size;
    const byte *payloads = sstream_received_payloads (batch, &size);
    sstream_checksum_update (self->checksum, payloads, size);
    sstream_inbox_put (self->inbox, batch);
    self->outstanding -= cost;
    self->next_seq += header->count;
    return SSTREAM_OK;
}

//  The gateway says the producer is there: its run, and the record the
//  stream goes on from (ours, when we resume)
static int
s_self_started (self_t *self, const sstream_wire_t *header)
{
    const char *stream = self->consumer->options.stream;
    if (self->epoch && header->epoch != self->epoch)
        return sstream_error_set (SSTREAM_EPROTO, "stream '%s' was started over by its producer "
                                  "(another run): it cannot go on from record %" PRIu64,
                                  stream, self->next_seq);
    if (header->seq != self->next_seq)
        return sstream_error_set (SSTREAM_EPROTO, "stream '%s': the gateway resumed it from "
                                  "record %" PRIu64 ", where %" PRIu64 " is due", stream,
                                  header->seq, self->next_seq);
    self->epoch = header->epoch;
    self->started = true;
    sstream_resumer_resumed (self->resumer);
    self->consumer->resumes = sstream_resumer_count (self->resumer);
    return SSTREAM_OK;
}

static int
s_self_send_end_ack (self_t *self)
{
    sstream_wire_t ack = {
        .type = SSTREAM_WIRE_END_ACK,
        .seq = self->next_seq,
        .bytes = self->received
    };
    snprintf (ack.stream, sizeof (ack.stream), "%s", self->consumer->options.stream);
    zframe_t *frame = sstream_wire_encode (&ack);
    return frame? sstream_client_send (self->client, &frame, NULL): SSTREAM_ENOMEM;
}

static int
s_self_deliver (self_t *self, sstream_client_msg_t *message)
{
    const char *endpoint = sstream_client_endpoint (self->client);
    if (message->binary && message->batch.type == SSTREAM_WIRE_DATA)
        return s_self_take_batch (self, message);
    const sstream_wire_t *header = &message->control;
    if (!message->binary && header->type == SSTREAM_WIRE_RESUME)
        return s_self_started (self, header);
    if (!message->binary && header->type == SSTREAM_WIRE_KEY && self->stage != STAGE_STREAMING)
        return SSTREAM_OK;      //  Sent again, after the stream resumed
    if (!message->binary && header->type == SSTREAM_WIRE_END && self->stage != STAGE_STREAMING) {
        //  Sent again, after the stream resumed: our end-ack may be lost
        if (self->stage == STAGE_ACKING)
            return s_self_send_end_ack (self);
        return SSTREAM_OK;
    }
    if (!message->binary && header->type == SSTREAM_WIRE_KEY && self->stage == STAGE_STREAMING)
        return sstream_opener_key (self->opener, header,
                                   (const byte *) zmq_msg_data (&message->frame1),
                                   zmq_msg_size (&message->frame1));
    if (!message->binary && header->type == SSTREAM_WIRE_END && self->stage == STAGE_STREAMING) {
        if (header->seq != self->next_seq || header->bytes != self->received)
            return sstream_error_set (SSTREAM_EPROTO,
                "stream '%s' ended after %" PRIu64 " records and %" PRIu64 " bytes, but %"
                PRIu64 " and %" PRIu64 " arrived: data was lost on the way",
                self->consumer->options.stream, header->seq, header->bytes, self->next_seq,
                self->received);
        int rc = sstream_opener_check_end (self->opener, header);
        if (rc)
            return rc;
        char checksum [SSTREAM_CHECKSUM_HEX];
        sstream_checksum_hex (self->checksum, checksum);
        if (*header->checksum && !streq (header->checksum, checksum))
            return sstream_error_set (SSTREAM_EPROTO,
                "stream '%s': its %" PRIu64 " bytes arrived with checksum %s, and its producer "
                "sent bytes with checksum %s (XXH3-128): they were changed on the way",
                self->consumer->options.stream, self->received, checksum, header->checksum);
        snprintf (self->consumer->checksum, sizeof (self->consumer->checksum), "%s", checksum);
        self->stage = STAGE_ENDED;
        sstream_inbox_end (self->inbox);
        return SSTREAM_OK;
    }
    if (!message->binary && header->type == SSTREAM_WIRE_END_ACK && self->stage == STAGE_ACKING) {
        self->stage = STAGE_DONE;
        if (self->ack_waiting) {
            zsock_send (self->pipe, "i", SSTREAM_OK);
            self->ack_waiting = false;
        }
        return SSTREAM_OK;
    }
    return sstream_error_set (SSTREAM_EPROTO, "gateway at %s sent an unexpected %s message",
                              endpoint, sstream_wire_type_name (message->binary
                              ? message->batch.type: header->type));
}

static void
s_self_send_error (self_t *self, int code, const char *text);

//  What came is not the producer's stream as it sent it (a batch that does
//  not open, records missing or repeated, an end that does not add up):
//  the stream fails here, and the producer hears why, at once, rather
//  than only that its consumer went away
static void
s_self_refuse (self_t *self, int code)
{
    char text [SSTREAM_WIRE_TEXT_MAX];
    snprintf (text, sizeof (text), "the consumer refused the stream: %s", sstream_errmsg ());
    s_self_fail (self, code);
    s_self_send_error (self, code, text);
}

//  Where the stream stands, for a stream that could not resume
static void
s_self_position (self_t *self, char *text, size_t size)
{
    if (self->next_seq)
        snprintf (text, size, "the last record that arrived is %" PRIu64, self->next_seq - 1);
    else
        snprintf (text, size, "no record arrived");
}

//  The link failed: resume if the stream may (a loss, once accepted),
//  else fail with the error.
static void
s_self_broken (self_t *self, int code)
{
    if (self->failed || self->stage == STAGE_DONE)
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

static void
s_self_handle_link (self_t *self)
{
    while (!self->failed && self->client) {
        sstream_client_state_t before = sstream_client_state (self->client);
        sstream_client_msg_t message;
        bool got;
        int rc = sstream_client_recv (self->client, &message, &got);
        //  Accepted, even when what came right after it failed the link
        //  (then the stream resumes, as one accepted)
        if (before == SSTREAM_CLIENT_OPENING && sstream_client_accepted (self->client)) {
            //  A new link: the gateway may send us a whole window
            self->outstanding = self->consumer->options.window;
            if (!self->accepted) {
                self->accepted = true;
                self->accepted_at = zclock_mono ();
                zsock_send (self->pipe, "i", SSTREAM_OK);
                self->reported_open = true;
            }
        }
        if (rc) {
            s_self_broken (self, rc);
            return;
        }
        if (!got)
            return;
        rc = s_self_deliver (self, &message);
        sstream_client_msg_close (&message);
        if (rc)
            s_self_refuse (self, rc);
    }
}

//  Tell the producer what the caller has taken, when it took more: with
//  credit, and every ACK_EVERY msecs while it takes
static int
s_self_ack (self_t *self, bool now)
{
    uint64_t taken = sstream_inbox_records (self->inbox);
    if (taken <= self->acked || !self->client || self->stage != STAGE_STREAMING
    ||  sstream_client_state (self->client) != SSTREAM_CLIENT_OPEN
    ||  (!now && zclock_mono () - self->acked_at < ACK_EVERY))
        return SSTREAM_OK;
    sstream_wire_t ack = { .type = SSTREAM_WIRE_ACK, .seq = taken };
    snprintf (ack.stream, sizeof (ack.stream), "%s", self->consumer->options.stream);
    zframe_t *frame = sstream_wire_encode (&ack);
    int rc = frame? sstream_client_send (self->client, &frame, NULL): SSTREAM_ENOMEM;
    if (!rc) {
        self->acked = taken;
        self->acked_at = zclock_mono ();
    }
    return rc;
}

//  The caller freed room: pass the credit on to the gateway

static void
s_self_give_credit (self_t *self)
{
    uint64_t bytes = sstream_inbox_freed (self->inbox);
    //  After the end, the gateway wants no credit: the stream is over there
    if (!bytes || self->failed || self->stage != STAGE_STREAMING || !self->client
    ||  sstream_client_state (self->client) != SSTREAM_CLIENT_OPEN)
        return;
    int rc = s_self_grant (self, bytes);
    if (!rc)
        rc = s_self_ack (self, true);
    if (rc)
        s_self_broken (self, rc);
}

//  Connect again, asking for the records from the first we do not have
static void
s_self_reconnect (self_t *self)
{
    if (self->failed || self->stage == STAGE_DONE || !sstream_resumer_stalled (self->resumer))
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
    sstream_client_open_t open = { .epoch = self->epoch, .resumes = true, .seq = self->next_seq };
    self->may_repeat = true;
    int rc = sstream_client_new (&self->client, &self->consumer->options, &open);
    if (rc)
        s_self_broken (self, rc);
}

//  A producer that never came, within client/wait
static void
s_self_check_wait (self_t *self)
{
    int64_t wait = self->consumer->options.wait;
    if (wait > 0 && self->accepted && !self->started && !self->failed
    &&  zclock_mono () - self->accepted_at >= wait)
        s_self_fail (self, sstream_error_set (SSTREAM_ETIMEDOUT,
            "no producer started stream '%s' within %g s (client/wait)",
            self->consumer->options.stream, wait / 1000.0));
}

static void
s_self_send_error (self_t *self, int code, const char *text)
{
    if (!self->client)
        return;
    zframe_t *error = sstream_wire_error (code, self->consumer->options.stream, text);
    if (error)
        sstream_client_send (self->client, &error, NULL);
    //  The application may close at once: let the words leave first
    zsock_set_linger (sstream_link_sock (sstream_client_link (self->client)), 200);
}

//  Destroyed, or the process is exiting: tell the gateway at once.

static void
s_self_terminate (self_t *self, const char *why)
{
    self->terminated = true;
    if (self->client && !self->failed && self->stage != STAGE_DONE) {
        s_self_send_error (self, SSTREAM_EABORTED, why);
    }
}

static void
s_self_acknowledge (self_t *self)
{
    if (self->failed)
        zsock_send (self->pipe, "i", sstream_failure_code (&self->consumer->failure));
    else
    if (self->stage == STAGE_DONE)
        zsock_send (self->pipe, "i", SSTREAM_OK);       //  Asked again
    else
    if (self->stage == STAGE_ACKING)
        self->ack_waiting = true;                       //  Still on its way
    else {
        //  Without a link (it resumes), the end-ack goes when the end comes
        //  again; with one, now
        self->ack_waiting = true;
        self->stage = STAGE_ACKING;
        int rc = self->client? s_self_send_end_ack (self): SSTREAM_OK;
        if (rc)
            s_self_broken (self, rc);
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
    if (streq (command, "ACK"))
        s_self_acknowledge (self);
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
            zsock_send (self->pipe, "i", sstream_failure_code (&self->consumer->failure));
        zstr_free (&reason);
    }
    zstr_free (&command);
}

//  How long the poll may wait: the link's next tick, the next
//  acknowledgement, the next attempt to connect again, the wait for a
//  producer
static int64_t
s_self_timeout (self_t *self, bool linked)
{
    int64_t timeout = linked && self->stage != STAGE_DONE? sstream_client_next_tick (self->client)
                                                        : -1;
    if (linked && self->stage == STAGE_STREAMING
    &&  sstream_client_state (self->client) == SSTREAM_CLIENT_OPEN
    &&  sstream_inbox_records (self->inbox) > self->acked) {
        int64_t due = self->acked_at + ACK_EVERY - zclock_mono ();
        due = due < 0? 0: due;
        if (timeout < 0 || due < timeout)
            timeout = due;
    }
    if (!self->failed && self->consumer->options.wait > 0 && self->accepted && !self->started) {
        int64_t due = self->accepted_at + self->consumer->options.wait - zclock_mono ();
        due = due < 0? 0: due;
        if (timeout < 0 || due < timeout)
            timeout = due;
    }
    if (!self->failed && self->stage != STAGE_DONE && sstream_resumer_stalled (self->resumer)) {
        int64_t due = self->client? 1000: sstream_resumer_due (self->resumer) - zclock_mono ();
        due = due < 0? 0: due > 1000? 1000: due;
        if (timeout < 0 || due < timeout)
            timeout = due;
    }
    return timeout;
}

static void
s_consumer_actor (zsock_t *pipe, void *args)
{
    sstream_signals_refuse ();
    int exiting = sstream_actor_enter ();
    sstream_consumer_t *consumer = (sstream_consumer_t *) args;
    self_t *self = s_self_new (pipe, consumer);
    zsock_signal (pipe, 0);

    int rc = sstream_client_new (&self->client, &consumer->options, NULL);
    if (rc)
        s_self_fail (self, rc);

    enum { PIPE, EXITING, CREDIT, LINK, MONITOR, BULK };
    while (!self->terminated) {
        size_t bulk_items = 0;
        zmq_pollitem_t items [BULK + SSTREAM_CLIENT_BULK_ITEMS] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { NULL, exiting, ZMQ_POLLIN, 0 },
            { NULL, sstream_inbox_fd (self->inbox), ZMQ_POLLIN, 0 },
            { NULL, -1, 0, 0 }, { NULL, -1, 0, 0 }
        };
        //  Once failed, the link is not read: what still comes on it (events
        //  of a gateway going away) must not keep the poll awake
        bool linked = self->client && !self->failed;
        if (linked) {
            sstream_link_t *link = sstream_client_link (self->client);
            items [LINK] = (zmq_pollitem_t) { sstream_link_handle (link), 0, ZMQ_POLLIN, 0 };
            items [MONITOR] = (zmq_pollitem_t) {
                zsock_resolve (sstream_link_monitor (link)), 0, ZMQ_POLLIN, 0 };
            bulk_items = sstream_client_poll_items (self->client, items + BULK);
        }
        int64_t timeout = s_self_timeout (self, linked);
        if (zmq_poll (items, (int) (BULK + bulk_items), timeout) == -1) {
            if (zmq_errno () == EINTR)
                continue;       //  A signal for the application: not ours
            s_self_fail (self, sstream_error_set (SSTREAM_EINTERNAL, "consumer: poll failed: %s",
                                                  zmq_strerror (zmq_errno ())));
            break;
        }
        if (items [PIPE].revents & ZMQ_POLLIN)
            s_self_handle_pipe (self);
        if (items [EXITING].revents & ZMQ_POLLIN)
            s_self_terminate (self, "the consumer's process is exiting");
        if (self->terminated)
            break;
        if (items [CREDIT].revents & ZMQ_POLLIN)
            s_self_give_credit (self);
        //  Once done, the gateway may hang up: that is no failure
        if ((items [MONITOR].revents & ZMQ_POLLIN) && linked && self->client && !self->failed) {
            rc = sstream_client_on_monitor (self->client);
            if (rc)
                s_self_broken (self, rc);
        }
        if (bulk_items && self->client && !self->failed) {
            rc = sstream_client_handle_poll (self->client, items + BULK, bulk_items);
            if (rc)
                s_self_broken (self, rc);
        }
        //  Payloads that came on the bulk path make their messages whole
        if (((items [LINK].revents & ZMQ_POLLIN) || sstream_client_readable (self->client))
        &&  linked && !self->failed)
            s_self_handle_link (self);
        if (self->client && !self->failed && self->stage != STAGE_DONE) {
            rc = sstream_client_on_tick (self->client);
            if (!rc)
                rc = s_self_ack (self, false);
            if (rc)
                s_self_broken (self, rc);
        }
        s_self_check_wait (self);
        s_self_reconnect (self);
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
    sstream_failure_init (&self->failure);
    int rc = sstream_client_options_read (&self->options, options, endpoint, stream,
                                          SSTREAM_ROLE_CONSUME);
    if (rc) {
        sstream_failure_fini (&self->failure);
        free (self);
        return rc;
    }
    self->inbox = sstream_inbox_new (self->options.window);
    if (!self->inbox) {
        sstream_consumer_destroy (&self);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    int result = sstream_client_actor_start (&self->actor, s_consumer_actor, self,
                                             &self->failure, "consumer");
    if (result != SSTREAM_OK) {
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
        sstream_client_actor_stop (&self->actor);
        //  Records never taken go with their batches; messages the caller
        //  still holds keep theirs alive
        sstream_inbox_destroy (&self->inbox);
        sstream_client_options_clear (&self->options);
        sstream_failure_fini (&self->failure);
        free (self);
        *self_p = NULL;
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
    int rc = sstream_inbox_take (self->inbox, message_p, timeout_ms, &self->failure,
                                 self->options.stream);
    if (rc == SSTREAM_EEND)
        self->end_received = true;
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
    if (sstream_failure_code (&self->failure))
        return sstream_failure_report (&self->failure);
    int rc = sstream_client_actor_ask (self->actor, "ACK", NULL, timeout_ms, &self->failure,
                                       "gateway did not confirm the end-of-stream acknowledgement");
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
    int rc = sstream_client_actor_ask (self->actor, "ABORT", reason? reason: "", 2000,
                                       &self->failure, "gateway did not confirm the abort");
    return rc == SSTREAM_EABORTED? SSTREAM_OK: rc;
}

uint64_t
sstream_consumer_messages (sstream_consumer_t *self)
{
    return self? sstream_inbox_records (self->inbox): 0;
}

const char *
sstream_consumer_checksum (sstream_consumer_t *self)
{
    return self && self->end_received? self->checksum: NULL;
}

int
sstream_consumer_failure (sstream_consumer_t *self)
{
    return self? sstream_failure_code (&self->failure): SSTREAM_EINVAL;
}

uint64_t
sstream_consumer_resumes (sstream_consumer_t *self)
{
    return self? self->resumes: 0;
}

uint64_t
sstream_consumer_bytes (sstream_consumer_t *self)
{
    return self? sstream_inbox_bytes (self->inbox): 0;
}
