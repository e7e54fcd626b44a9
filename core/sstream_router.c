/*  =========================================================================
    sstream_router - a gateway's protocol engine: its parties, its streams,
    and every message between them

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The hot path is sstream_router_handle_local/_wan: drain the socket
    without going back to poll (as zproxy does), queue each data message's
    frames as they came (the header is forwarded as received, never
    re-encoded), and pump the stream.
*/

#include "sstream_classes.h"

struct _sstream_router_t {
    char name [65];
    uint64_t buffer;
    uint64_t max_streams;
    int64_t heartbeat;
    int64_t peer_timeout;

    sstream_link_t *local;
    sstream_keyring_t *local_trust;     //  Keys admitted on the local link
    zhashx_t *clients;          //  Routing id hex -> sstream_peer_t

    sstream_link_t *wan;        //  NULL without a peer
    bool wan_bind;
    bool wan_secure;
    char peer_name [65];
    char peer_key [41];
    sstream_peer_t *peer;       //  The peer gateway, once known
    int64_t next_hello;
    uint64_t session;           //  Connecting side: our session with the peer
    bool peer_refused;          //  Last handshake failed (log once)

    zhashx_t *streams;          //  Name -> sstream_stream_t
    sstream_stream_stats_t stats;
    uint64_t malformed;
    uint64_t aborted;
    uint64_t completed;
    uint64_t handshake_failures;
    int64_t probe_at;           //  Check who is gone after a disconnect
    int64_t next_tick;
    uint64_t client_streams_max;
    sstream_access_t *access;   //  Borrowed from the gateway
    sstream_tunnels_t *tunnels; //  Borrowed from the gateway
    int error_budget;           //  Error replies left until the next tick
    uint64_t errors_withheld;   //  Replies not sent for want of budget
};

//  Error replies per half heartbeat, at most: a party that sends junk and
//  never reads must not make the gateway queue answers without end
#define ERROR_BUDGET 64

typedef sstream_router_t self_t;

static void
s_peer_destroy (void **item_p)
{
    sstream_peer_t *peer = (sstream_peer_t *) *item_p;
    if (peer) {
        zframe_destroy (&peer->routing_id);
        free (peer);
        *item_p = NULL;
    }
}

static void
s_stream_destructor (void **item_p)
{
    sstream_stream_destroy ((sstream_stream_t **) item_p);
}

sstream_router_t *
sstream_router_new (const sstream_router_config_t *config)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    if (!self)
        return NULL;
    snprintf (self->name, sizeof (self->name), "%s", config->name);
    self->buffer = config->buffer;
    self->max_streams = config->max_streams;
    self->heartbeat = config->heartbeat;
    self->peer_timeout = config->peer_timeout;
    self->client_streams_max = config->client_streams_max? config->client_streams_max: 8;
    self->error_budget = ERROR_BUDGET;
    self->local = config->local;
    self->local_trust = config->local_trust;
    self->wan = config->wan;
    self->wan_bind = config->wan_bind;
    self->wan_secure = config->wan_secure;
    snprintf (self->peer_name, sizeof (self->peer_name), "%s", config->peer_name? config->peer_name: "peer");
    snprintf (self->peer_key, sizeof (self->peer_key), "%s", config->peer_key? config->peer_key: "");
    self->clients = zhashx_new ();
    self->streams = zhashx_new ();
    if (!self->clients || !self->streams) {
        sstream_router_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->clients, s_peer_destroy);
    zhashx_set_destructor (self->streams, s_stream_destructor);
    if (self->wan && !self->wan_bind) {
        //  We connect: the peer exists from the start, not yet ready
        self->peer = (sstream_peer_t *) zmalloc (sizeof (sstream_peer_t));
        if (!self->peer) {
            sstream_router_destroy (&self);
            return NULL;
        }
        self->peer->kind = SSTREAM_PEER_GATEWAY;
        self->peer->link = self->wan;
        snprintf (self->peer->name, sizeof (self->peer->name), "peer %s", self->peer_name);
        snprintf (self->peer->key, sizeof (self->peer->key), "%s", self->peer_key);
        self->peer->last_heard = zclock_mono ();
        self->peer->timeout = self->peer_timeout;
        randombytes_buf (&self->session, sizeof (self->session));
    }
    self->next_tick = zclock_mono ();
    return self;
}

void
sstream_router_destroy (sstream_router_t **self_p)
{
    if (self_p && *self_p) {
        self_t *self = *self_p;
        zhashx_destroy (&self->streams);
        zhashx_destroy (&self->clients);
        if (self->peer) {
            void *peer = self->peer;
            s_peer_destroy (&peer);
        }
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Talking to parties

static void
s_send_error (self_t *self, sstream_link_t *link, zframe_t *routing_id, int code,
              const char *stream, const char *format, ...)
{
    if (self->error_budget <= 0) {
        self->errors_withheld++;
        return;
    }
    self->error_budget--;
    char text [SSTREAM_WIRE_TEXT_MAX];
    int used = snprintf (text, sizeof (text), "%s: ", self->name);
    va_list args;
    va_start (args, format);
    vsnprintf (text + used, sizeof (text) - used, format, args);
    va_end (args);
    zframe_t *frame = sstream_wire_error (code, stream, text);
    if (frame)
        sstream_link_send (link, routing_id, &frame, NULL);
}

//  Text from another party, made safe to log: no control characters.

static const char *
s_printable (const char *text, char *buffer, size_t size)
{
    size_t index;
    for (index = 0; text [index] && index + 1 < size; index++)
        buffer [index] = (unsigned char) text [index] < 0x20 || text [index] == 0x7f
                       ? '?': text [index];
    buffer [index] = 0;
    return buffer;
}

//  End a stream: tell its parties (but not the one that caused it) why.

static void
s_stream_abort (self_t *self, sstream_stream_t *stream, sstream_peer_t *cause,
                int code, const char *text)
{
    char said [SSTREAM_WIRE_TEXT_MAX + 1];
    sstream_log_warning ("%s: stream '%s' aborted: %s", self->name, stream->name,
                         s_printable (text, said, sizeof (said)));
    sstream_peer_t *parties [2] = { stream->source, stream->sink };
    int index;
    for (index = 0; index < 2; index++) {
        sstream_peer_t *party = parties [index];
        if (!party)
            continue;
        if (party != cause) {
            zframe_t *frame = sstream_wire_error (code, stream->name, text);
            if (frame)
                sstream_peer_send (party, &frame, NULL);
        }
        party->streams--;
    }
    self->aborted++;
    zhashx_delete (self->streams, stream->name);
}

static void
s_stream_abortf (self_t *self, sstream_stream_t *stream, sstream_peer_t *cause,
                 int code, const char *format, ...)
{
    char text [SSTREAM_WIRE_TEXT_MAX];
    int used = snprintf (text, sizeof (text), "%s: ", self->name);
    va_list args;
    va_start (args, format);
    vsnprintf (text + used, sizeof (text) - used, format, args);
    va_end (args);
    s_stream_abort (self, stream, cause, code, text);
}

static void
    s_peer_lost (self_t *self, sstream_peer_t *peer, const char *why);

//  Pump a stream; on failure the stream, or the party that is gone, ends.
//  The stream may be destroyed on return.

static void
s_stream_pump (self_t *self, sstream_stream_t *stream)
{
    int rc = sstream_stream_pump (stream);
    if (rc == SSTREAM_ETOOBIG) {
        char detail [512];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        s_stream_abortf (self, stream, NULL, rc, "%s", detail);
    }
    else
    if (rc == SSTREAM_ELOST && stream->unreachable)
        //  Its connection is gone: everything through it goes too
        s_peer_lost (self, stream->unreachable, "its connection is gone");
    else
    if (rc) {
        char detail [512];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        s_stream_abortf (self, stream, NULL, SSTREAM_ELOST, "stream '%s': %s", stream->name, detail);
    }
}

static void
s_stream_complete (self_t *self, sstream_stream_t *stream)
{
    sstream_log_info ("%s: stream '%s' complete: %" PRIu64 " messages, %" PRIu64 " bytes in %.3f s",
                      self->name, stream->name, stream->end_seq, stream->end_bytes,
                      (zclock_mono () - stream->created) / 1000.0);
    if (stream->source)
        stream->source->streams--;
    if (stream->sink)
        stream->sink->streams--;
    self->completed++;
    zhashx_delete (self->streams, stream->name);
}

//  A party is gone: end every stream that passed through it.

static void
s_peer_lost (self_t *self, sstream_peer_t *peer, const char *why)
{
    if (peer->kind == SSTREAM_PEER_GATEWAY || peer->streams)
        sstream_log_warning ("%s: lost %s: %s", self->name, peer->name, why);
    zlistx_t *doomed = zlistx_new ();
    sstream_stream_t *stream;
    for (stream = (sstream_stream_t *) zhashx_first (self->streams); stream;
         stream = (sstream_stream_t *) zhashx_next (self->streams))
        if (stream->source == peer || stream->sink == peer)
            zlistx_add_end (doomed, stream);
    for (stream = (sstream_stream_t *) zlistx_first (doomed); stream;
         stream = (sstream_stream_t *) zlistx_next (doomed)) {
        const char *what = stream->source == peer
                         ? (peer->kind == SSTREAM_PEER_GATEWAY? "the producer's side": "the producer")
                         : (peer->kind == SSTREAM_PEER_GATEWAY? "the consumer's side": "the consumer");
        //  The lost party is told too, in case it is alive after all
        s_stream_abortf (self, stream, NULL, peer->kind == SSTREAM_PEER_GATEWAY? SSTREAM_ELOST: SSTREAM_EABORTED,
                         "lost %s of stream '%s' (%s: %s)", what, stream->name,
                         peer->name, why);
    }
    zlistx_destroy (&doomed);
    if (peer->kind == SSTREAM_PEER_GATEWAY) {
        if (self->tunnels)
            sstream_tunnels_peer_lost (self->tunnels, why);
        peer->ready = false;
        if (self->wan_bind && peer == self->peer) {
            void *item = self->peer;
            s_peer_destroy (&item);
            self->peer = NULL;
        }
        else {
            //  A new session: the other side must drop what it had with us
            randombytes_buf (&self->session, sizeof (self->session));
            self->next_hello = 0;       //  Say hello again at once
        }
    }
    //  A client's record goes when its last stream does (s_sweep_client)
}

//  Forget a client that has no stream left.

static void
s_sweep_client (self_t *self, sstream_peer_t *peer)
{
    if (peer && peer->kind == SSTREAM_PEER_CLIENT && peer->streams == 0)
        zhashx_delete (self->clients, peer->id);
}

//  The peer gateway is ready: open the streams routed to it.

static void
s_peer_ready (self_t *self)
{
    sstream_peer_t *peer = self->peer;
    peer->ready = true;
    self->peer_refused = false;
    sstream_log_info ("%s: %s is up", self->name, peer->name);
    zlistx_t *opening = zlistx_new ();
    sstream_stream_t *stream;
    for (stream = (sstream_stream_t *) zhashx_first (self->streams); stream;
         stream = (sstream_stream_t *) zhashx_next (self->streams))
        if (stream->to_peer && !stream->sink)
            zlistx_add_end (opening, stream);
    for (stream = (sstream_stream_t *) zlistx_first (opening); stream;
         stream = (sstream_stream_t *) zlistx_next (opening)) {
        sstream_wire_t open = { .type = SSTREAM_WIRE_OPEN, .role = SSTREAM_ROLE_PRODUCE };
        snprintf (open.stream, sizeof (open.stream), "%s", stream->name);
        zframe_t *frame = sstream_wire_encode (&open, NULL, 0);
        stream->sink = peer;
        peer->streams++;
        if (!frame || sstream_peer_send (peer, &frame, NULL) != SSTREAM_OK) {
            s_stream_abortf (self, stream, peer, SSTREAM_ELOST,
                             "cannot reach peer %s to open stream '%s'", peer->name, stream->name);
        }
    }
    zlistx_destroy (&opening);
}

static void
s_send_hello (self_t *self)
{
    sstream_wire_t hello = {
        .type = SSTREAM_WIRE_HELLO,
        .role = SSTREAM_ROLE_GATEWAY,
        .session = self->session,
        .heartbeat = (uint64_t) self->heartbeat
    };
    snprintf (hello.text, sizeof (hello.text), "%s", self->name);
    zframe_t *frame = sstream_wire_encode (&hello, NULL, 0);
    if (frame)
        sstream_peer_send (self->peer, &frame, NULL);
    self->next_hello = zclock_mono () + self->heartbeat;
}


//  --------------------------------------------------------------------------
//  Protocol handlers

static void
s_handle_open (self_t *self, sstream_peer_t *peer, zframe_t *routing_id,
               const sstream_wire_t *header)
{
    sstream_link_t *link = peer->link;
    sstream_stream_t *stream = (sstream_stream_t *) zhashx_lookup (self->streams, header->stream);
    bool produce = header->role == SSTREAM_ROLE_PRODUCE;
    if (peer->kind == SSTREAM_PEER_GATEWAY && !produce) {
        s_send_error (self, link, routing_id, SSTREAM_EPROTO, header->stream,
                      "consumers attach at their own gateway, not through a peer");
        return;
    }
    //  A client's own gateway decides what its key may do; a stream from
    //  the peer was checked at the producer's gateway
    if (peer->kind == SSTREAM_PEER_CLIENT && self->access
    &&  sstream_access_check (self->access, header->stream, peer->key, header->role) != SSTREAM_OK) {
        char detail [512];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        sstream_log_info ("%s: refused %s: %s", self->name, peer->name, detail);
        s_send_error (self, link, routing_id, SSTREAM_EDENIED, header->stream, "%s", detail);
        return;
    }
    //  A client with other gateways to try wants one whose peer is there
    if (peer->kind == SSTREAM_PEER_CLIENT && (header->flags & SSTREAM_WIRE_NEED_PEER)
    &&  self->wan && !(self->peer && self->peer->ready)) {
        s_send_error (self, link, routing_id, SSTREAM_ELOST, header->stream,
                      "its peer gateway %s is not connected", self->peer_name);
        return;
    }
    if (peer->kind == SSTREAM_PEER_CLIENT && peer->streams >= self->client_streams_max) {
        s_send_error (self, link, routing_id, SSTREAM_EDENIED, header->stream,
                      "this client has %zu streams open, the most one client may", peer->streams);
        return;
    }
    if (stream && produce && stream->source) {
        s_send_error (self, link, routing_id, SSTREAM_EDENIED, header->stream,
                      "stream '%s' is already being produced", header->stream);
        return;
    }
    if (stream && !produce && stream->sink && !stream->to_peer) {
        s_send_error (self, link, routing_id, SSTREAM_EDENIED, header->stream,
                      "stream '%s' already has a consumer", header->stream);
        return;
    }
    if (stream && !produce && stream->to_peer) {
        s_send_error (self, link, routing_id, SSTREAM_EDENIED, header->stream,
                      "stream '%s' is produced here and goes to %s: consume it there",
                      header->stream, self->peer_name);
        return;
    }
    if (!stream) {
        if (zhashx_size (self->streams) >= self->max_streams) {
            s_send_error (self, link, routing_id, SSTREAM_EDENIED, header->stream,
                          "%zu streams are open, the most this gateway takes (max-streams)",
                          zhashx_size (self->streams));
            return;
        }
        stream = sstream_stream_new (header->stream, self->buffer, &self->stats);
        if (!stream) {
            s_send_error (self, link, routing_id, SSTREAM_ENOMEM, header->stream, "out of memory");
            return;
        }
        zhashx_insert (self->streams, stream->name, stream);
    }
    peer->streams++;
    sstream_wire_t accepted = { .type = SSTREAM_WIRE_ACCEPTED, .heartbeat = (uint64_t) self->heartbeat };
    snprintf (accepted.stream, sizeof (accepted.stream), "%s", header->stream);
    snprintf (accepted.text, sizeof (accepted.text), "%s", self->name);
    if (produce) {
        stream->source = peer;
        accepted.window = stream->window;
        //  A consumer already waiting here takes it; else the peer does
        if (!stream->sink && self->wan && peer->kind == SSTREAM_PEER_CLIENT)
            stream->to_peer = true;
        sstream_log_info ("%s: stream '%s' opened by %s%s", self->name, stream->name,
                          peer->name, stream->to_peer? ", going to the peer": "");
    }
    else {
        stream->sink = peer;
        stream->sink_open = true;
        //  What we send sits in our socket until the consumer reads it: no
        //  more than our own buffer, whatever window it asks for
        stream->sink_credit = stream->sink_window =
            (int64_t) (header->window < self->buffer? header->window: self->buffer);
        sstream_log_info ("%s: stream '%s' consumed by %s", self->name, stream->name, peer->name);
    }
    zframe_t *frame = sstream_wire_encode (&accepted, NULL, 0);
    if (!frame || sstream_peer_send (peer, &frame, NULL) != SSTREAM_OK) {
        s_peer_lost (self, peer, "cannot answer it");
        return;
    }
    if (stream->to_peer && !stream->sink && self->peer && self->peer->ready) {
        sstream_wire_t open = { .type = SSTREAM_WIRE_OPEN, .role = SSTREAM_ROLE_PRODUCE };
        snprintf (open.stream, sizeof (open.stream), "%s", stream->name);
        frame = sstream_wire_encode (&open, NULL, 0);
        stream->sink = self->peer;
        self->peer->streams++;
        if (!frame || sstream_peer_send (self->peer, &frame, NULL) != SSTREAM_OK) {
            s_stream_abortf (self, stream, self->peer, SSTREAM_ELOST,
                             "cannot reach peer %s", self->peer->name);
            return;
        }
    }
    s_stream_pump (self, stream);
}

//  A message about an existing stream, from peer. Takes the frames.

static void
s_handle_stream_message (self_t *self, sstream_peer_t *peer, zframe_t *routing_id,
                         const sstream_wire_t *header, zmsg_t *message)
{
    sstream_stream_t *stream = (sstream_stream_t *) zhashx_lookup (self->streams, header->stream);
    //  Credit, accepted and end-ack may still be on their way when a
    //  stream ends: those are dropped. Data and end for a stream that is
    //  not there mean the sender has missed its end: tell it. Never answer
    //  an error with an error.
    bool stale_control = header->type == SSTREAM_WIRE_CREDIT
                      || header->type == SSTREAM_WIRE_ACCEPTED
                      || header->type == SSTREAM_WIRE_END_ACK;
    if (!stream) {
        if (header->type == SSTREAM_WIRE_DATA || header->type == SSTREAM_WIRE_END)
            s_send_error (self, peer->link, routing_id, SSTREAM_EPROTO, header->stream,
                          "no stream '%s' here (it ended, was aborted, or never opened)",
                          header->stream);
        return;
    }
    bool from_source = stream->source == peer;
    bool from_sink = stream->sink == peer;
    if (!from_source && !from_sink) {
        if (header->type != SSTREAM_WIRE_ERROR && !stale_control)
            s_send_error (self, peer->link, routing_id, SSTREAM_EDENIED, header->stream,
                          "stream '%s' is not yours", header->stream);
        return;
    }
    int rc = SSTREAM_OK;
    switch (header->type) {
        case SSTREAM_WIRE_DATA:
        case SSTREAM_WIRE_END: {
            if (!from_source) {
                rc = sstream_error_set (SSTREAM_EPROTO, "%s sent %s on stream '%s' it receives",
                                        peer->name, sstream_wire_type_name (header->type),
                                        stream->name);
                break;
            }
            zframe_t *header_frame = zmsg_pop (message);
            if (header->type == SSTREAM_WIRE_DATA) {
                zframe_t *payload = zmsg_pop (message);
                rc = sstream_stream_push (stream, header, &header_frame, &payload);
                zframe_destroy (&payload);
            }
            else
                rc = sstream_stream_push_end (stream, header, &header_frame);
            zframe_destroy (&header_frame);
            if (rc == SSTREAM_OK)
                s_stream_pump (self, stream);
            break;
        }
        case SSTREAM_WIRE_CREDIT:
            if (from_sink && !stream->sink_open)
                break;          //  For an earlier stream of that name
            if (!from_sink) {
                rc = sstream_error_set (SSTREAM_EPROTO, "unexpected credit for stream '%s' from %s",
                                        stream->name, peer->name);
                break;
            }
            if (header->bytes > (uint64_t) (stream->sink_window - stream->sink_credit))
                rc = sstream_error_set (SSTREAM_EPROTO,
                    "%s granted more credit than its window on stream '%s'", peer->name,
                    stream->name);
            else {
                stream->sink_credit += (int64_t) header->bytes;
                s_stream_pump (self, stream);
            }
            break;
        case SSTREAM_WIRE_ACCEPTED:
            if (!from_sink || peer->kind != SSTREAM_PEER_GATEWAY || stream->sink_open
            ||  header->window == 0) {
                rc = sstream_error_set (SSTREAM_EPROTO, "unexpected accepted for stream '%s'",
                                        stream->name);
                break;
            }
            stream->sink_open = true;
            stream->sink_credit = stream->sink_window =
                (int64_t) (header->window < self->buffer? header->window: self->buffer);
            s_stream_pump (self, stream);
            break;
        case SSTREAM_WIRE_END_ACK:
            if (!from_sink || !stream->end_sent
            ||  header->seq != stream->end_seq || header->bytes != stream->end_bytes) {
                rc = sstream_error_set (SSTREAM_EPROTO,
                    "end-ack for stream '%s' does not match its end", stream->name);
                break;
            }
            if (peer->kind == SSTREAM_PEER_CLIENT) {
                //  Let the consumer know its acknowledgement arrived
                zframe_t *echo = sstream_wire_encode (header, NULL, 0);
                if (echo)
                    sstream_peer_send (peer, &echo, NULL);
            }
            if (stream->source) {
                zframe_t *ack = sstream_wire_encode (header, NULL, 0);
                if (ack)
                    sstream_peer_send (stream->source, &ack, NULL);
            }
            s_stream_complete (self, stream);
            break;
        case SSTREAM_WIRE_ERROR: {
            //  Pass the party's own words on to the other side
            int code = header->code > 0 && header->code < SSTREAM_EINTERNAL
                     ? (int) header->code: SSTREAM_EABORTED;
            s_stream_abort (self, stream, peer, code, header->text);
            break;
        }
        default:
            rc = sstream_error_set (SSTREAM_EPROTO, "unexpected %s message on stream '%s'",
                                    sstream_wire_type_name (header->type), stream->name);
    }
    if (rc) {
        char detail [512];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        s_stream_abortf (self, stream, NULL, rc, "%s", detail);
    }
}

//  Routing id as hex, the key of a client or of the bound peer; false if
//  it is longer than we take (a client may choose its own).

static bool
s_routing_key (zframe_t *routing_id, char *key, size_t size)
{
    size_t length = zframe_size (routing_id);
    if (length == 0 || length > SSTREAM_ROUTING_ID_MAX || 2 * length + 1 > size)
        return false;
    sodium_bin2hex (key, size, zframe_data (routing_id), length);
    return true;
}

static void
s_handle_malformed (self_t *self, sstream_link_t *link, zframe_t *routing_id,
                    sstream_peer_t *peer, int code)
{
    char detail [512];
    snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
    self->malformed++;
    sstream_log_warning ("%s: dropped a message on %s from %s: %s", self->name,
                         sstream_link_name (link), peer? peer->name: "an unknown party", detail);
    //  Only a party we know hears about it: junk from strangers is dropped
    if (peer)
        s_send_error (self, link, routing_id, code, NULL, "%s", detail);
    if (peer && peer->kind == SSTREAM_PEER_CLIENT && peer->streams)
        s_peer_lost (self, peer, detail);
}

void
sstream_router_handle_local (sstream_router_t *self)
{
    zsock_t *sock = sstream_link_sock (self->local);
    int budget = 256;           //  Then give the other link a turn
    while (budget-- && (zsock_events (sock) & ZMQ_POLLIN)) {
        zmsg_t *message = zmsg_recv (sock);
        if (!message)
            break;
        zframe_t *routing_id = zmsg_pop (message);
        char id [SSTREAM_ROUTING_ID_MAX * 2 + 1];
        if (!routing_id || !s_routing_key (routing_id, id, sizeof (id))) {
            self->malformed++;
            sstream_log_warning ("%s: dropped a message from a client with a routing id of %zu bytes",
                                 self->name, routing_id? zframe_size (routing_id): 0);
            zframe_destroy (&routing_id);
            zmsg_destroy (&message);
            continue;
        }
        sstream_peer_t *peer = (sstream_peer_t *) zhashx_lookup (self->clients, id);
        if (peer)
            peer->last_heard = zclock_mono ();

        zframe_t *first = zmsg_first (message);
        sstream_wire_t header;
        int rc = first? sstream_wire_decode (&header, zframe_data (first), zframe_size (first), false)
                      : sstream_error_set (SSTREAM_EPROTO, "empty message");
        if (rc == SSTREAM_OK && zmsg_size (message) != (sstream_wire_has_payload (header.type)? 2u: 1u))
            rc = sstream_error_set (SSTREAM_EPROTO, "malformed message: %s with %zu frames",
                                    sstream_wire_type_name (header.type), zmsg_size (message));
        if (rc == SSTREAM_OK && peer && *peer->key) {
            //  A routing id is the connection's; its key must stay the same
            const char *key = zframe_meta (first, "User-Id");
            if (!key || !streq (key, peer->key))
                rc = sstream_error_set (SSTREAM_EAUTH, "message under another key");
        }
        if (rc) {
            s_handle_malformed (self, self->local, routing_id, peer, rc);
        }
        else
        if (header.type == SSTREAM_WIRE_OPEN) {
            if (!peer) {
                peer = (sstream_peer_t *) zmalloc (sizeof (sstream_peer_t));
                peer->kind = SSTREAM_PEER_CLIENT;
                peer->link = self->local;
                peer->routing_id = zframe_dup (routing_id);
                snprintf (peer->id, sizeof (peer->id), "%s", id);
                const char *key = zframe_meta (first, "User-Id");
                snprintf (peer->key, sizeof (peer->key), "%s", key? key: "");
                snprintf (peer->name, sizeof (peer->name), "%s %.8s%s",
                          header.role == SSTREAM_ROLE_PRODUCE? "producer": "consumer",
                          *peer->key? peer->key: id, *peer->key? "...": "");
                peer->last_heard = peer->last_sent = zclock_mono ();
                peer->timeout = self->peer_timeout;
                zhashx_insert (self->clients, peer->id, peer);
            }
            //  A client that pings less often than we expect is not lost
            if ((int64_t) header.heartbeat * 3 > peer->timeout)
                peer->timeout = (int64_t) header.heartbeat * 3;
            if (self->local_trust && !sstream_keyring_has (self->local_trust, peer->key))
                s_send_error (self, self->local, routing_id, SSTREAM_EAUTH, header.stream,
                              "key %s is not among this facility's trusted keys", peer->key);
            else
                s_handle_open (self, peer, routing_id, &header);
        }
        else
        if (header.type == SSTREAM_WIRE_PING) {
            //  Alive; nothing to say
        }
        else
        if (!peer) {
            if (header.type == SSTREAM_WIRE_DATA || header.type == SSTREAM_WIRE_END)
                s_send_error (self, self->local, routing_id, SSTREAM_EPROTO, header.stream,
                              "%s from a client that has opened no stream here",
                              sstream_wire_type_name (header.type));
        }
        else
        if (*header.stream)
            s_handle_stream_message (self, peer, routing_id, &header, message);
        else
        if (header.type != SSTREAM_WIRE_ERROR)
            s_send_error (self, self->local, routing_id, SSTREAM_EPROTO, NULL,
                          "unexpected %s message", sstream_wire_type_name (header.type));
        s_sweep_client (self, peer);
        sstream_wire_reset (&header);
        zframe_destroy (&routing_id);
        zmsg_destroy (&message);
    }
}

static void
s_handle_hello (self_t *self, zframe_t *routing_id, zframe_t *first, const sstream_wire_t *header)
{
    const char *key = zframe_meta (first, "User-Id");
    if (self->wan_secure && (!key || !streq (key, self->peer_key))) {
        char name [80];
        sstream_log_warning ("%s: refused hello from '%s': key %s is not the pinned key of %s",
                             self->name, s_printable (header->text, name, sizeof (name)),
                             key? key: "(none)", self->peer_name);
        s_send_error (self, self->wan, routing_id, SSTREAM_EAUTH, NULL,
                      "key %s is not the key this gateway pins for its peer", key? key: "(none)");
        return;
    }
    char id [SSTREAM_ROUTING_ID_MAX * 2 + 1];
    if (!s_routing_key (routing_id, id, sizeof (id)))
        return;
    if (self->peer && !streq (self->peer->id, id))
        s_peer_lost (self, self->peer, "it connected again");
    else
    if (self->peer && self->peer->ready && self->peer->session != header->session)
        //  Same connection, new session: it dropped what it had with us
        s_peer_lost (self, self->peer, "it started a new session");
    bool was_ready = self->peer && self->peer->ready;
    if (!self->peer) {
        self->peer = (sstream_peer_t *) zmalloc (sizeof (sstream_peer_t));
        self->peer->kind = SSTREAM_PEER_GATEWAY;
        self->peer->link = self->wan;
        self->peer->routing_id = zframe_dup (routing_id);
        snprintf (self->peer->id, sizeof (self->peer->id), "%s", id);
        snprintf (self->peer->key, sizeof (self->peer->key), "%s", key? key: "");
        snprintf (self->peer->name, sizeof (self->peer->name), "peer %s", self->peer_name);
        self->peer->timeout = self->peer_timeout;
    }
    self->peer->session = header->session;
    self->peer->last_heard = zclock_mono ();
    if ((int64_t) header->heartbeat * 3 > self->peer->timeout)
        self->peer->timeout = (int64_t) header->heartbeat * 3;
    sstream_wire_t welcome = { .type = SSTREAM_WIRE_WELCOME, .heartbeat = (uint64_t) self->heartbeat };
    snprintf (welcome.text, sizeof (welcome.text), "%s", self->name);
    zframe_t *frame = sstream_wire_encode (&welcome, NULL, 0);
    if (frame)
        sstream_peer_send (self->peer, &frame, NULL);
    if (!was_ready)
        s_peer_ready (self);
}

void
sstream_router_handle_wan (sstream_router_t *self)
{
    zsock_t *sock = sstream_link_sock (self->wan);
    int budget = 256;
    while (budget-- && (zsock_events (sock) & ZMQ_POLLIN)) {
        zmsg_t *message = zmsg_recv (sock);
        if (!message)
            break;
        zframe_t *routing_id = self->wan_bind? zmsg_pop (message): NULL;
        sstream_peer_t *peer = self->peer;
        if (self->wan_bind && peer) {
            char id [SSTREAM_ROUTING_ID_MAX * 2 + 1];
            if (!routing_id || !s_routing_key (routing_id, id, sizeof (id)) || !streq (id, peer->id))
                peer = NULL;
        }
        if (peer)
            peer->last_heard = zclock_mono ();
        zframe_t *first = zmsg_first (message);
        sstream_wire_t header;
        int rc = first? sstream_wire_decode (&header, zframe_data (first), zframe_size (first), false)
                      : sstream_error_set (SSTREAM_EPROTO, "empty message");
        if (rc == SSTREAM_OK && zmsg_size (message) != (sstream_wire_has_payload (header.type)? 2u: 1u))
            rc = sstream_error_set (SSTREAM_EPROTO, "malformed message: %s with %zu frames",
                                    sstream_wire_type_name (header.type), zmsg_size (message));
        if (rc)
            s_handle_malformed (self, self->wan, routing_id, NULL, rc);
        else
        if (header.type == SSTREAM_WIRE_HELLO && self->wan_bind)
            s_handle_hello (self, routing_id, first, &header);
        else
        if (!peer || (!peer->ready && header.type != SSTREAM_WIRE_WELCOME)) {
            //  The other side thinks we know it: we restarted, or it never
            //  said hello. Tell it, so that it starts over (never in answer
            //  to an error: two gateways must not trade errors forever).
            if (header.type != SSTREAM_WIRE_ERROR)
                s_send_error (self, self->wan, routing_id, SSTREAM_EPROTO, NULL, "say hello first");
        }
        else
        if (header.type == SSTREAM_WIRE_WELCOME && !self->wan_bind) {
            if ((int64_t) header.heartbeat * 3 > peer->timeout)
                peer->timeout = (int64_t) header.heartbeat * 3;
            if (!peer->ready)
                s_peer_ready (self);
        }
        else
        if (header.type == SSTREAM_WIRE_ERROR && !*header.stream) {
            char said [SSTREAM_WIRE_TEXT_MAX + 1];
            sstream_log_warning ("%s: peer %s says: %s", self->name, self->peer_name,
                                 s_printable (header.text, said, sizeof (said)));
            if (!self->wan_bind && peer->ready)
                s_peer_lost (self, peer, header.text);
        }
        else
        if (header.type == SSTREAM_WIRE_OPEN)
            s_handle_open (self, peer, routing_id, &header);
        else
        if (header.type == SSTREAM_WIRE_PING) {
            //  Alive
        }
        else
        if (header.type >= SSTREAM_WIRE_TUNNEL_OPEN && header.type <= SSTREAM_WIRE_TUNNEL_RESET) {
            zframe_t *frame = zmsg_pop (message);
            zframe_destroy (&frame);
            zframe_t *payload = zmsg_pop (message);
            if (self->tunnels)
                sstream_tunnels_handle (self->tunnels, &header, &payload);
            zframe_destroy (&payload);
        }
        else
        if (*header.stream)
            s_handle_stream_message (self, peer, routing_id, &header, message);
        else
            s_send_error (self, self->wan, routing_id, SSTREAM_EPROTO, NULL,
                          "unexpected %s message", sstream_wire_type_name (header.type));
        sstream_wire_reset (&header);
        zframe_destroy (&routing_id);
        zmsg_destroy (&message);
    }
}

void
sstream_router_handle_monitor (sstream_router_t *self, sstream_link_t *link)
{
    int value = 0;
    sstream_link_event_t event = sstream_link_event (link, &value, NULL);
    bool is_wan = link == self->wan;
    switch (event) {
        case SSTREAM_LINK_HANDSHAKE_AUTH:
        case SSTREAM_LINK_HANDSHAKE_FAILED:
            self->handshake_failures++;
            if (is_wan && !self->wan_bind && !self->peer_refused) {
                self->peer_refused = true;
                sstream_log_error ("%s: peer %s at %s %s", self->name, self->peer_name,
                    sstream_link_endpoint (link),
                    event == SSTREAM_LINK_HANDSHAKE_AUTH
                    ? "refused our key: its trusted keys must include this gateway's public key"
                    : "failed the security handshake: is peer/public-key that gateway's key?");
            }
            else
                sstream_log_info ("%s: a security handshake failed on %s (%s)", self->name,
                                  sstream_link_name (link),
                                  event == SSTREAM_LINK_HANDSHAKE_AUTH? "key not trusted"
                                                                      : "protocol");
            break;
        case SSTREAM_LINK_HANDSHAKE_OK:
            if (is_wan && !self->wan_bind && self->peer && !self->peer->ready)
                s_send_hello (self);
            break;
        case SSTREAM_LINK_DISCONNECTED:
            if (is_wan && !self->wan_bind && self->peer && self->peer->ready)
                s_peer_lost (self, self->peer, "disconnected");
            else {
                //  Which routing id went away is not said: probe them all
                int64_t soon = zclock_mono () + 20;
                if (!self->probe_at || self->probe_at > soon)
                    self->probe_at = soon;
            }
            break;
        default:
            break;
    }
}

//  Pings for idle parties, an end for silent ones.

static void
s_check_party (self_t *self, sstream_peer_t *peer, int64_t now, bool probe)
{
    if (now - peer->last_heard >= peer->timeout) {
        char why [64];
        snprintf (why, sizeof (why), "silent for %g s", peer->timeout / 1000.0);
        s_peer_lost (self, peer, why);
        return;
    }
    if (probe || now - peer->last_sent >= self->heartbeat) {
        zframe_t *ping = sstream_wire_ping ();
        if (ping && sstream_peer_send (peer, &ping, NULL) != SSTREAM_OK)
            s_peer_lost (self, peer, "its connection is gone");
    }
}

void
sstream_router_tick (sstream_router_t *self)
{
    int64_t now = zclock_mono ();
    bool probe = self->probe_at && now >= self->probe_at;
    if (probe)
        self->probe_at = 0;
    zlistx_t *clients = zlistx_new ();
    sstream_peer_t *peer;
    for (peer = (sstream_peer_t *) zhashx_first (self->clients); peer;
         peer = (sstream_peer_t *) zhashx_next (self->clients))
        zlistx_add_end (clients, peer);
    for (peer = (sstream_peer_t *) zlistx_first (clients); peer;
         peer = (sstream_peer_t *) zlistx_next (clients)) {
        s_check_party (self, peer, now, probe);
        s_sweep_client (self, peer);
    }
    zlistx_destroy (&clients);
    if (self->peer && self->peer->ready)
        s_check_party (self, self->peer, now, probe);
    else
    if (self->peer && !self->wan_bind && now >= self->next_hello)
        s_send_hello (self);
    //  Keys added to or removed from trusted folders take effect now: a
    //  client whose key went loses its streams
    if (self->local_trust && sstream_keyring_refresh (self->local_trust)) {
        zlistx_t *revoked = zlistx_new ();
        for (peer = (sstream_peer_t *) zhashx_first (self->clients); peer;
             peer = (sstream_peer_t *) zhashx_next (self->clients))
            if (!sstream_keyring_has (self->local_trust, peer->key))
                zlistx_add_end (revoked, peer);
        for (peer = (sstream_peer_t *) zlistx_first (revoked); peer;
             peer = (sstream_peer_t *) zlistx_next (revoked)) {
            s_peer_lost (self, peer, "its key is no longer trusted");
            s_sweep_client (self, peer);
        }
        zlistx_destroy (&revoked);
    }
    sstream_auth_refresh ();
    if (self->access)
        sstream_access_refresh (self->access);
    if (self->errors_withheld) {
        sstream_log_warning ("%s: withheld %" PRIu64 " error replies to parties sending junk",
                             self->name, self->errors_withheld);
        self->errors_withheld = 0;
    }
    self->error_budget = ERROR_BUDGET;
    self->next_tick = now + self->heartbeat / 2;
}


int
sstream_router_stat (sstream_router_t *self, const char *name, uint64_t *value)
{
    int rc = SSTREAM_OK;
    *value = 0;
    if (streq (name, "streams"))
        *value = zhashx_size (self->streams);
    else
    if (streq (name, "buffered"))
        *value = self->stats.buffered;
    else
    if (streq (name, "buffered-peak"))
        *value = self->stats.buffered_peak;
    else
    if (streq (name, "bytes-in"))
        *value = self->stats.bytes_in;
    else
    if (streq (name, "bytes-out"))
        *value = self->stats.bytes_out;
    else
    if (streq (name, "malformed"))
        *value = self->malformed;
    else
    if (streq (name, "aborted"))
        *value = self->aborted;
    else
    if (streq (name, "completed"))
        *value = self->completed;
    else
    if (streq (name, "peer-up"))
        *value = self->peer && self->peer->ready? 1: 0;
    else
    if (streq (name, "handshake-failures"))
        *value = self->handshake_failures;
    else
        rc = SSTREAM_EINVAL;
    return rc;
}

void
sstream_router_shutdown (sstream_router_t *self)
{
    zlistx_t *open = zlistx_new ();
    sstream_stream_t *stream;
    for (stream = (sstream_stream_t *) zhashx_first (self->streams); stream;
         stream = (sstream_stream_t *) zhashx_next (self->streams))
        zlistx_add_end (open, stream);
    for (stream = (sstream_stream_t *) zlistx_first (open); stream;
         stream = (sstream_stream_t *) zlistx_next (open))
        s_stream_abortf (self, stream, NULL, SSTREAM_EABORTED, "the gateway is shutting down");
    zlistx_destroy (&open);
}

void
sstream_router_set_tunnels (sstream_router_t *self, sstream_tunnels_t *tunnels)
{
    self->tunnels = tunnels;
}

int
sstream_router_tunnel_send (void *arg, zframe_t **header, zframe_t **payload)
{
    sstream_router_t *self = (sstream_router_t *) arg;
    if (!self->peer || !self->peer->ready) {
        zframe_destroy (header);
        zframe_destroy (payload);
        return sstream_error_set (SSTREAM_ELOST, "%s: the peer gateway is not connected", self->name);
    }
    return sstream_peer_send (self->peer, header, payload);
}

const char *
sstream_router_peer (sstream_router_t *self, bool *ready)
{
    if (ready)
        *ready = self->peer && self->peer->ready;
    return self->wan? self->peer_name: NULL;
}

void
sstream_router_set_access (sstream_router_t *self, sstream_access_t *access)
{
    self->access = access;
}

int64_t
sstream_router_next_wake (sstream_router_t *self)
{
    return self->probe_at && self->probe_at < self->next_tick? self->probe_at: self->next_tick;
}
