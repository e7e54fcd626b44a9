/*  =========================================================================
    sstream_router - a gateway's dispatch

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The hot path is sstream_link_recv and sstream_streams_data: a batch arrives as
    frames (zmq_msg_t), its 32-byte header is read, and the frames move on
    to the stream, which sends them to the next link as they are.
*/

#include "sstream_gateway_classes.h"

//  Messages taken from one link in one turn
#define TURN_BUDGET 256

struct _sstream_router_t {
    char name [65];
    int64_t heartbeat;
    int64_t peer_timeout;
    sstream_link_t *local;
    zhashx_t *clients;          //  Routing id (hex) -> sstream_party_t, owned
    sstream_link_t *wan;        //  NULL without a peer
    bool wan_bind;
    sstream_peering_t *peering; //  NULL without a peer
    sstream_streams_t *streams;
    sstream_tunnels_t *tunnels; //  Borrowed from the gateway
    sstream_access_t *access;   //  Borrowed from the gateway
    uint64_t handshake_failures;
    int64_t probe_at;           //  Check who is gone after a disconnect
    int64_t peer_down_since;    //  When the peer was last seen up, or 0 (up)
    int64_t peer_down_told;     //  When the waiting were told last
    bool recheck;               //  A send failed: read the links, then probe
    int64_t next_tick;
    sstream_replies_t *replies; //  Errors we answer with, within a budget
    size_t local_items;         //  Bulk path poll items, last poll
    size_t wan_items;
};

typedef sstream_router_t self_t;

//  A message as read from a link
typedef sstream_link_msg_t s_message_t;

static void
s_party_destructor (void **item_p)
{
    sstream_party_destroy ((sstream_party_t **) item_p);
}

sstream_router_t *
sstream_router_new (const sstream_router_config_t *config)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    if (!self)
        return NULL;
    snprintf (self->name, sizeof (self->name), "%s", config->name);
    self->heartbeat = config->heartbeat;
    self->peer_timeout = config->peer_timeout;
    self->local = config->local;
    self->wan = config->wan;
    self->wan_bind = config->wan_bind;
    self->replies = sstream_replies_new (config->name);
    self->clients = zhashx_new ();
    if (self->wan) {
        sstream_peering_config_t peering = {
            .gateway = config->name,
            .peer_name = config->peer_name,
            .peer_key = config->peer_key,
            .wan = config->wan,
            .bind = config->wan_bind,
            .secure = config->wan_secure,
            .heartbeat = config->heartbeat,
            .peer_timeout = config->peer_timeout,
            .connect_timeout = config->wan_connect_timeout,
            .handshake_timeout = config->wan_handshake_timeout
        };
        self->peering = sstream_peering_new (&peering);
    }
    sstream_streams_config_t streams = {
        .gateway = config->name,
        .buffer = config->buffer,
        .max_streams = config->max_streams,
        .client_streams_max = config->client_streams_max,
        .heartbeat = config->heartbeat,
        .peering = self->peering,
        .replies = self->replies
    };
    self->streams = sstream_streams_new (&streams);
    if (!self->replies || !self->clients || !self->streams || (self->wan && !self->peering)) {
        sstream_router_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->clients, s_party_destructor);
    self->next_tick = zclock_mono ();
    return self;
}

void
sstream_router_destroy (sstream_router_t **self_p)
{
    if (self_p && *self_p) {
        self_t *self = *self_p;
        sstream_streams_destroy (&self->streams);
        zhashx_destroy (&self->clients);
        sstream_peering_destroy (&self->peering);
        sstream_replies_destroy (&self->replies);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Parties

static void
s_send_error (self_t *self, sstream_link_t *link, const s_message_t *message, int code,
              const char *format, ...)
{
    char text [SSTREAM_WIRE_TEXT_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof (text), format, args);
    va_end (args);
    zframe_t *frame = sstream_replies_error (self->replies, code, NULL, "%s", text);
    if (frame)
        sstream_link_send (link, message->routed? message->routing_id: NULL,
                           message->routing_id_size, &frame, NULL);
}

static void
s_client_key (const s_message_t *message, char *key, size_t size)
{
    sodium_bin2hex (key, size, message->routing_id, message->routing_id_size);
}

//  Forget a client that has no stream left.
static void
s_sweep_client (self_t *self, sstream_party_t *party, const s_message_t *message)
{
    if (party && sstream_party_kind (party) == SSTREAM_PARTY_CLIENT
    &&  sstream_party_streams (party) == 0) {
        char key [SSTREAM_ROUTING_ID_MAX * 2 + 1];
        s_client_key (message, key, sizeof (key));
        zhashx_delete (self->clients, key);
    }
}

//  A party is gone: end everything that went through it. A client's
//  record goes with its last stream; the peer starts over.
static void
s_party_ended (self_t *self, sstream_party_t *party, int code, const char *why)
{
    sstream_streams_party_lost (self->streams, party, code, why);
    if (sstream_party_kind (party) == SSTREAM_PARTY_GATEWAY) {
        if (self->tunnels)
            sstream_tunnels_peer_lost (self->tunnels, why);
        sstream_peering_lost (self->peering, why);
    }
}

//  A party is gone: its streams may resume (PROTOCOL.md section 3.10)
static void
s_party_lost (self_t *self, sstream_party_t *party, const char *why)
{
    s_party_ended (self, party, SSTREAM_ELOST, why);
}

//  A handler found a party gone (a send to it failed). What it said last
//  may still wait in its link, behind what is being handled now (a
//  consumer that gives up says why, then closes): the next tick reads the
//  links first, then probes every party, and the gone ones are lost then,
//  for the reason they gave if they gave one.
static void
s_check_gone (self_t *self, sstream_party_t *gone)
{
    if (gone) {
        self->recheck = true;
        self->probe_at = zclock_mono ();
    }
}


//  --------------------------------------------------------------------------
//  Reading

static void
s_malformed (self_t *self, sstream_link_t *link, const s_message_t *message,
             sstream_party_t *party, int code)
{
    char detail [512];
    snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
    sstream_link_count_malformed (link);
    //  Who sent it: the party, or else the key its connection was admitted
    //  with (ZAP's User-Id, which every message carries), by its name
    const char *key = party? sstream_party_key (party)
                    : message->frames? zmq_msg_gets (&message->frame0, "User-Id"): NULL;
    char key_name [80] = "", sender [128];
    if (key && *key)
        sstream_link_key_name (link, key, key_name, sizeof (key_name));
    if (party)
        snprintf (sender, sizeof (sender), "%s", sstream_party_name (party));
    else
    if (*key_name)
        snprintf (sender, sizeof (sender), "key %s (no stream open)", key_name);
    else
        snprintf (sender, sizeof (sender), "an unknown party");
    //  A party that sends junk may send much of it: logged once, then
    //  counted, per key whatever each message got wrong
    char kind [160];
    snprintf (kind, sizeof (kind), "junk on %s from %s", sstream_link_name (link),
              key && *key? key: sender);
    sstream_log_fields_t fields = { .key = *key_name? key_name: NULL };
    sstream_log_repeat_kind (SSTREAM_LOG_WARNING, &fields, kind,
                             "dropped a message on the %s link from %s: %s",
                             sstream_link_name (link), sender, detail);
    //  Only a party we know hears about it: junk from strangers is dropped
    if (party)
        s_send_error (self, link, message, code, "%s", detail);
    if (party && sstream_party_kind (party) == SSTREAM_PARTY_CLIENT && sstream_party_streams (party))
        s_party_ended (self, party, code, detail);
}

//  A data or credit message: read its header and pass it on.
static void
s_handle_batch (self_t *self, sstream_link_t *link, s_message_t *message, sstream_party_t *party)
{
    sstream_wire_batch_t header;
    const byte *data = (const byte *) zmq_msg_data (&message->frame0);
    size_t size = zmq_msg_size (&message->frame0);
    int rc = sstream_wire_batch_read (&header, data, size, message->frames == 2
                                      ? (int64_t) zmq_msg_size (&message->frame1): -1);
    if (!rc && message->frames > 2)
        rc = sstream_error_set (SSTREAM_EPROTO, "a data message of %zu frames", message->frames);
    if (rc) {
        //  A client we know hears about it
        if (!party && link == self->local) {
            char id [SSTREAM_ROUTING_ID_MAX * 2 + 1];
            s_client_key (message, id, sizeof (id));
            party = (sstream_party_t *) zhashx_lookup (self->clients, id);
        }
        s_malformed (self, link, message, party, rc);
        return;
    }
    if (header.type == SSTREAM_WIRE_TUNNEL_DATA) {
        //  Only the peer gateway has tunnels with us
        if (link != self->wan || !party || !sstream_peering_is_up (self->peering)) {
            sstream_error_set (SSTREAM_EPROTO, "a tunnel chunk from a party that is not "
                               "the peer gateway");
            s_malformed (self, link, message, party, SSTREAM_EPROTO);
        }
        else
        if (self->tunnels)
            sstream_tunnels_chunk (self->tunnels, &header, &message->frame1);
        return;
    }
    const char *key = zmq_msg_gets (&message->frame0, "User-Id");
    sstream_party_t *gone = sstream_streams_data (self->streams, link,
                                                  message->routed? message->routing_id: NULL,
                                                  message->routing_id_size, key, &header,
                                                  &message->frame0, &message->frame1);
    s_check_gone (self, gone);
}

//  Decode a msgpack message; false (after dealing with it) if malformed.
static bool
s_decode (self_t *self, sstream_link_t *link, s_message_t *message, sstream_party_t *party,
          sstream_wire_t *header)
{
    int rc = sstream_wire_decode (header, zmq_msg_data (&message->frame0),
                                  zmq_msg_size (&message->frame0));
    if (rc == SSTREAM_OK
    &&  message->frames != (sstream_wire_has_payload (header->type)? 2u: 1u))
        rc = sstream_error_set (SSTREAM_EPROTO, "malformed message: %s with %zu frames",
                                sstream_wire_type_name (header->type), message->frames);
    if (rc)
        s_malformed (self, link, message, party, rc);
    return rc == SSTREAM_OK;
}


//  --------------------------------------------------------------------------
//  The local link: this facility's producers and consumers

static void
s_handle_local_open (self_t *self, s_message_t *message, sstream_party_t *party,
                     const sstream_wire_t *header, const char *key)
{
    if (!party) {
        char key_name [80], name [120];
        snprintf (name, sizeof (name), "%s %s",
                  header->role == SSTREAM_ROLE_PRODUCE? "producer": "consumer",
                  sstream_link_key_name (self->local, key, key_name, sizeof (key_name)));
        party = sstream_party_new (SSTREAM_PARTY_CLIENT, self->local, message->routing_id,
                                   message->routing_id_size, key, name, self->peer_timeout);
        if (!party)
            return;
        char id [SSTREAM_ROUTING_ID_MAX * 2 + 1];
        s_client_key (message, id, sizeof (id));
        zhashx_insert (self->clients, id, party);
    }
    //  A client that pings less often than we expect is not lost
    sstream_party_expect_heartbeat (party, (int64_t) header->heartbeat);
    if (key && *key && !sstream_link_trusts (self->local, key)) {
        char text [SSTREAM_WIRE_TEXT_MAX];
        snprintf (text, sizeof (text), "%s: key %s is not among this facility's trusted keys",
                  self->name, key);
        zframe_t *frame = sstream_wire_error (SSTREAM_EAUTH, header->stream, text);
        if (frame)
            sstream_party_send (party, &frame, NULL);
    }
    else
        s_check_gone (self, sstream_streams_open (self->streams, party, header));
    s_sweep_client (self, party, message);
}

static void
s_handle_local (self_t *self, s_message_t *message)
{
    if (message->bad_routing_id || message->frames == 0) {
        sstream_link_count_malformed (self->local);
        sstream_log_repeat_kind (SSTREAM_LOG_WARNING, NULL, "bad routing ids",
                                 "dropped a message from a client with a routing id of %zu bytes",
                                 message->routing_id_size);
        return;
    }
    const byte *data = (const byte *) zmq_msg_data (&message->frame0);
    size_t size = zmq_msg_size (&message->frame0);
    if (sstream_wire_is_batch (data, size)) {
        s_handle_batch (self, self->local, message, NULL);
        return;
    }
    char id [SSTREAM_ROUTING_ID_MAX * 2 + 1];
    s_client_key (message, id, sizeof (id));
    sstream_party_t *party = (sstream_party_t *) zhashx_lookup (self->clients, id);
    if (party)
        sstream_party_heard (party, zclock_mono ());
    //  A routing id is the connection's; its key must stay the same
    const char *key = zmq_msg_gets (&message->frame0, "User-Id");
    if (party && *sstream_party_key (party) && (!key || !streq (key, sstream_party_key (party)))) {
        sstream_error_set (SSTREAM_EAUTH, "a message under another key");
        s_malformed (self, self->local, message, party, SSTREAM_EAUTH);
        return;
    }
    sstream_wire_t header;
    if (!s_decode (self, self->local, message, party, &header))
        return;
    if (header.type == SSTREAM_WIRE_OPEN)
        s_handle_local_open (self, message, party, &header, key);
    else
    if (header.type == SSTREAM_WIRE_PING)
        ;   //  Alive; nothing to say
    else
    if (!party) {
        if (header.type == SSTREAM_WIRE_END)
            s_send_error (self, self->local, message, SSTREAM_EPROTO,
                          "%s from a client that has opened no stream here",
                          sstream_wire_type_name (header.type));
    }
    else
    if (header.type == SSTREAM_WIRE_KEY) {
        s_check_gone (self, sstream_streams_key (self->streams, party, &header,
                                                 &message->frame0, &message->frame1));
        s_sweep_client (self, party, message);
    }
    else
    if (*header.stream) {
        s_check_gone (self, sstream_streams_control (self->streams, party, &header));
        s_sweep_client (self, party, message);
    }
    else
    if (header.type != SSTREAM_WIRE_ERROR)
        s_send_error (self, self->local, message, SSTREAM_EPROTO, "unexpected %s message",
                      sstream_wire_type_name (header.type));
}

void
sstream_router_handle_local (sstream_router_t *self)
{
    int budget = TURN_BUDGET;
    s_message_t message;
    while (budget-- && sstream_link_recv (self->local, &message)) {
        s_handle_local (self, &message);
        sstream_link_msg_close (&message);
    }
}


//  --------------------------------------------------------------------------
//  The WAN link: the peer gateway

static void
s_handle_hello (self_t *self, s_message_t *message, const sstream_wire_t *header)
{
    const char *key = zmq_msg_gets (&message->frame0, "User-Id");
    if (sstream_peering_is_stale (self->peering, header)) {
        //  From a connection the peer left: the one it uses now stays
        sstream_log_debug ("ignored a late hello from an earlier session of %s",
                           sstream_peering_name (self->peering));
        return;
    }
    const char *why = sstream_peering_replaces (self->peering, message->routing_id,
                                                message->routing_id_size, header);
    if (why)
        s_party_lost (self, sstream_peering_party (self->peering), why);
    bool came_up;
    if (sstream_peering_hello (self->peering, message->routing_id, message->routing_id_size,
                               key, header, &came_up) == SSTREAM_OK && came_up)
        s_check_gone (self, sstream_streams_peer_up (self->streams));
}

static void
s_handle_wan (self_t *self, s_message_t *message)
{
    if (message->bad_routing_id || message->frames == 0) {
        sstream_link_count_malformed (self->wan);
        return;
    }
    sstream_party_t *peer = sstream_peering_sender (self->peering,
                                                    message->routed? message->routing_id: NULL,
                                                    message->routing_id_size);
    if (peer)
        sstream_party_heard (peer, zclock_mono ());
    const byte *data = (const byte *) zmq_msg_data (&message->frame0);
    size_t size = zmq_msg_size (&message->frame0);
    if (sstream_wire_is_batch (data, size)) {
        s_handle_batch (self, self->wan, message, peer);
        return;
    }
    sstream_wire_t header;
    if (!s_decode (self, self->wan, message, peer, &header))
        return;
    if (header.type == SSTREAM_WIRE_HELLO && self->wan_bind)
        s_handle_hello (self, message, &header);
    else
    if (!self->wan_bind && !sstream_peering_is_up (self->peering)
    &&  header.type != SSTREAM_WIRE_WELCOME) {
        //  Until welcomed, what the binding gateway sends belongs to a
        //  session we left (our hello, on its way, says so) and needs no
        //  answer; an error may say why we are not welcome
        if (header.type == SSTREAM_WIRE_ERROR && !*header.stream)
            sstream_peering_refused (self->peering, &header);
    }
    else
    if (!peer || (!sstream_peering_is_up (self->peering) && header.type != SSTREAM_WIRE_WELCOME)) {
        //  The other side thinks we know it: we restarted, or it never
        //  said hello. Tell it, so that it starts over (never in answer
        //  to an error: two gateways must not trade errors forever).
        if (header.type != SSTREAM_WIRE_ERROR)
            s_send_error (self, self->wan, message, SSTREAM_EPROTO, "say hello first");
    }
    else
    if (header.type == SSTREAM_WIRE_WELCOME && !self->wan_bind) {
        if (sstream_peering_welcome (self->peering, &header))
            s_check_gone (self, sstream_streams_peer_up (self->streams));
    }
    else
    if (header.type == SSTREAM_WIRE_ERROR && !*header.stream) {
        //  In whatever words: counted together
        sstream_log_fields_t fields = { .peer = sstream_peering_name (self->peering) };
        sstream_log_repeat_kind (SSTREAM_LOG_WARNING, &fields, "the peer says",
                                 "peer %s says: %s", sstream_peering_name (self->peering),
                                 header.text);
        if (!self->wan_bind)
            s_party_lost (self, peer, header.text);
    }
    else
    if (header.type == SSTREAM_WIRE_OPEN)
        s_check_gone (self, sstream_streams_open (self->streams, peer, &header));
    else
    if (header.type == SSTREAM_WIRE_PING)
        ;   //  Alive
    else
    if ((header.type >= SSTREAM_WIRE_TUNNEL_OPEN && header.type <= SSTREAM_WIRE_TUNNEL_RESET)
    ||  header.type == SSTREAM_WIRE_TUNNEL_KEY) {
        if (self->tunnels)
            sstream_tunnels_handle (self->tunnels, &header);
    }
    else
    if (header.type == SSTREAM_WIRE_KEY)
        s_check_gone (self, sstream_streams_key (self->streams, peer, &header,
                                                 &message->frame0, &message->frame1));
    else
    if (*header.stream)
        s_check_gone (self, sstream_streams_control (self->streams, peer, &header));
    else
        s_send_error (self, self->wan, message, SSTREAM_EPROTO, "unexpected %s message",
                      sstream_wire_type_name (header.type));
}

void
sstream_router_handle_wan (sstream_router_t *self)
{
    int budget = TURN_BUDGET;
    s_message_t message;
    while (budget-- && sstream_link_recv (self->wan, &message)) {
        s_handle_wan (self, &message);
        sstream_link_msg_close (&message);
    }
}


//  --------------------------------------------------------------------------
//  The bulk paths beside the links

//  Parties whose bulk path failed are gone. First, what they said on
//  the link before: a consumer that gives up says why, then closes, and
//  its bulk connection may break before its words are read.
static void
s_bulk_lost (self_t *self, sstream_link_t *link)
{
    sstream_bulkpath_t *path = link? sstream_link_bulkpath (link): NULL;
    if (!path || !sstream_bulkpath_has_lost (path))
        return;
    if (link == self->local)
        sstream_router_handle_local (self);
    else
        sstream_router_handle_wan (self);
    byte routing_id [SSTREAM_ROUTING_ID_MAX];
    size_t size;
    char why [300];
    while (path && sstream_bulkpath_lost (path, routing_id, &size, why, sizeof (why))) {
        if (link == self->wan) {
            sstream_party_t *peer = sstream_peering_sender (self->peering,
                                                            self->wan_bind? routing_id: NULL, size);
            if (peer && sstream_peering_is_up (self->peering))
                s_party_lost (self, peer, why);
            continue;
        }
        s_message_t message = { .routing_id_size = size, .routed = true };
        memcpy (message.routing_id, routing_id, size);
        char id [SSTREAM_ROUTING_ID_MAX * 2 + 1];
        s_client_key (&message, id, sizeof (id));
        sstream_party_t *party = (sstream_party_t *) zhashx_lookup (self->clients, id);
        if (party) {
            s_party_lost (self, party, why);
            s_sweep_client (self, party, &message);
        }
    }
}

size_t
sstream_router_poll_count (sstream_router_t *self)
{
    sstream_bulkpath_t *local = sstream_link_bulkpath (self->local);
    sstream_bulkpath_t *wan = self->wan? sstream_link_bulkpath (self->wan): NULL;
    return (local? sstream_bulkpath_poll_count (local): 0)
         + (wan? sstream_bulkpath_poll_count (wan): 0);
}

size_t
sstream_router_poll_items (sstream_router_t *self, zmq_pollitem_t *items, size_t max)
{
    sstream_bulkpath_t *local = sstream_link_bulkpath (self->local);
    sstream_bulkpath_t *wan = self->wan? sstream_link_bulkpath (self->wan): NULL;
    self->local_items = local? sstream_bulkpath_poll_items (local, items, max): 0;
    self->wan_items = wan? sstream_bulkpath_poll_items (wan, items + self->local_items,
                                                         max - self->local_items): 0;
    return self->local_items + self->wan_items;
}

bool
sstream_router_readable (sstream_router_t *self)
{
    sstream_bulkpath_t *local = sstream_link_bulkpath (self->local);
    sstream_bulkpath_t *wan = self->wan? sstream_link_bulkpath (self->wan): NULL;
    return (local && sstream_bulkpath_readable (local)) || (wan && sstream_bulkpath_readable (wan));
}

void
sstream_router_handle_poll (sstream_router_t *self, const zmq_pollitem_t *items, size_t count)
{
    sstream_bulkpath_t *local = sstream_link_bulkpath (self->local);
    sstream_bulkpath_t *wan = self->wan? sstream_link_bulkpath (self->wan): NULL;
    if (count < self->local_items + self->wan_items)
        return;
    if (local)
        sstream_bulkpath_handle_poll (local, items, self->local_items);
    if (wan)
        sstream_bulkpath_handle_poll (wan, items + self->local_items, self->wan_items);
    s_bulk_lost (self, self->local);
    s_bulk_lost (self, self->wan);
    //  Payloads that came make their messages whole
    if (local && sstream_bulkpath_readable (local))
        sstream_router_handle_local (self);
    if (wan && sstream_bulkpath_readable (wan))
        sstream_router_handle_wan (self);
}


//  --------------------------------------------------------------------------
//  Events and time

void
sstream_router_handle_monitor (sstream_router_t *self, sstream_link_t *link)
{
    int value = 0;
    sstream_link_event_t event = sstream_link_event (link, &value, NULL);
    bool is_wan = link == self->wan;
    //  What the peer link's connections and handshakes do is the peering's
    if (is_wan)
        sstream_peering_event (self->peering, event, value);
    switch (event) {
        case SSTREAM_LINK_HANDSHAKE_AUTH:
        case SSTREAM_LINK_HANDSHAKE_FAILED:
            self->handshake_failures++;
            if (!is_wan) {
                //  Strangers may knock with any key: counted together
                char key [41] = "", kind [64];
                if (event == SSTREAM_LINK_HANDSHAKE_AUTH)
                    sstream_link_refused_key (link, key);
                snprintf (kind, sizeof (kind), "handshakes failed on %s", sstream_link_name (link));
                sstream_log_repeat_kind (SSTREAM_LOG_INFO, NULL, kind,
                                         "a security handshake failed on the %s link (%s%s%s)",
                                         sstream_link_name (link),
                                         event == SSTREAM_LINK_HANDSHAKE_AUTH? "key not trusted"
                                                                             : "protocol",
                                         *key? ": ": "", key);
            }
            break;
        case SSTREAM_LINK_DISCONNECTED:
            if (is_wan && !self->wan_bind && sstream_peering_is_up (self->peering))
                s_party_lost (self, sstream_peering_party (self->peering), "disconnected");
            else {
                //  Which routing id went away is not said: read what the
                //  links hold, then probe them all
                self->recheck = true;
                int64_t soon = zclock_mono () + 20;
                if (!self->probe_at || self->probe_at > soon)
                    self->probe_at = soon;
            }
            break;
        default:
            break;
    }
}

//  Pings for idle parties, an end for silent ones. False if it is gone.
static bool
s_check_party (self_t *self, sstream_party_t *party, int64_t now, bool probe)
{
    if (sstream_party_is_silent (party, now)) {
        char why [64];
        snprintf (why, sizeof (why), "silent for %g s", sstream_party_timeout (party) / 1000.0);
        s_party_lost (self, party, why);
        return false;
    }
    if (probe || sstream_party_needs_ping (party, now, self->heartbeat)) {
        zframe_t *ping = sstream_wire_ping ();
        if (ping && sstream_party_send (party, &ping, NULL) != SSTREAM_OK) {
            s_party_lost (self, party, "its connection is gone");
            return false;
        }
    }
    return true;
}

//  Clients whose stream count is zero go; the others are checked.
static void
s_check_clients (self_t *self, int64_t now, bool probe, bool revoked_only)
{
    zlistx_t *ids = zlistx_new ();
    zlistx_set_destructor (ids, (zlistx_destructor_fn *) zstr_free);
    sstream_party_t *party;
    for (party = (sstream_party_t *) zhashx_first (self->clients); party;
         party = (sstream_party_t *) zhashx_next (self->clients))
        zlistx_add_end (ids, strdup ((const char *) zhashx_cursor (self->clients)));
    const char *id;
    for (id = (const char *) zlistx_first (ids); id; id = (const char *) zlistx_next (ids)) {
        party = (sstream_party_t *) zhashx_lookup (self->clients, id);
        if (!party)
            continue;
        if (revoked_only) {
            if (*sstream_party_key (party) && !sstream_link_trusts (self->local, sstream_party_key (party)))
                s_party_ended (self, party, SSTREAM_EAUTH, "its key is no longer trusted");
        }
        else
            s_check_party (self, party, now, probe);
        if (sstream_party_streams (party) == 0)
            zhashx_delete (self->clients, id);
    }
    zlistx_destroy (&ids);
}

//  A peer that stays down: who waits for it is told why, every
//  peer-timeout, rather than left waiting without a word
static void
s_check_peer_down (self_t *self, int64_t now)
{
    if (!self->peering || sstream_peering_is_up (self->peering)) {
        self->peer_down_since = 0;
        return;
    }
    if (!self->peer_down_since)
        self->peer_down_since = self->peer_down_told = now;
    if (now - self->peer_down_told >= self->peer_timeout) {
        self->peer_down_told = now;
        sstream_streams_peer_down (self->streams);
    }
}

void
sstream_router_tick (sstream_router_t *self)
{
    if (self->recheck) {
        self->recheck = false;
        sstream_router_handle_local (self);
        if (self->wan)
            sstream_router_handle_wan (self);
    }
    int64_t now = zclock_mono ();
    bool probe = self->probe_at && now >= self->probe_at;
    if (probe)
        self->probe_at = 0;
    s_check_clients (self, now, probe, false);
    s_check_peer_down (self, now);
    if (self->peering) {
        if (sstream_peering_is_up (self->peering))
            s_check_party (self, sstream_peering_party (self->peering), now, probe);
        else
            sstream_peering_tick (self->peering, now);
    }
    //  Keys added to or removed from trusted folders take effect now: a
    //  client whose key went loses its streams. A key goes only once reads
    //  apart agree its file is gone (sstream_keyring.h): a file caught as
    //  it is rewritten, or a folder moved away for a moment, aborts nothing
    if (sstream_link_refresh_trust (self->local))
        s_check_clients (self, now, false, true);
    if (self->access)
        sstream_access_refresh (self->access);
    sstream_replies_tick (self->replies);
    sstream_streams_tick (self->streams, now);
    sstream_log_repeat_flush (false);
    sstream_link_t *links [2] = { self->local, self->wan };
    size_t index;
    for (index = 0; index < 2; index++)
        if (links [index] && sstream_link_bulkpath (links [index])) {
            sstream_bulkpath_tick (sstream_link_bulkpath (links [index]));
            s_bulk_lost (self, links [index]);
        }
    self->next_tick = now + self->heartbeat / 2;
}

int64_t
sstream_router_next_wake (sstream_router_t *self)
{
    int64_t wake = self->next_tick;
    if (self->probe_at && self->probe_at < wake)
        wake = self->probe_at;
    if (self->peering && sstream_peering_next_wake (self->peering) < wake)
        wake = sstream_peering_next_wake (self->peering);
    sstream_link_t *links [2] = { self->local, self->wan };
    size_t index;
    for (index = 0; index < 2; index++) {
        sstream_bulkpath_t *path = links [index]? sstream_link_bulkpath (links [index]): NULL;
        if (!path)
            continue;
        if (sstream_bulkpath_next_wake (path) < wake)
            wake = sstream_bulkpath_next_wake (path);
    }
    return wake;
}

sstream_streams_t *
sstream_router_streams (sstream_router_t *self)
{
    return self->streams;
}

int
sstream_router_stat (sstream_router_t *self, const char *name, uint64_t *value)
{
    *value = 0;
    if (streq (name, "malformed")) {
        //  Both data links'; the control link counts its own
        sstream_link_stats_t local, wan = { 0 };
        sstream_link_stats (self->local, &local);
        if (self->wan)
            sstream_link_stats (self->wan, &wan);
        *value = local.malformed + wan.malformed;
    }
    else
    if (streq (name, "peer-up"))
        *value = self->peering && sstream_peering_is_up (self->peering)? 1: 0;
    else
    if (streq (name, "handshake-failures"))
        *value = self->handshake_failures;
    else
    if (streq (name, "local-handshake-failures")) {
        sstream_link_stats_t local;
        sstream_link_stats (self->local, &local);
        *value = local.handshake_failures;
    }
    else
    if (streq (name, "peer-reconnects"))
        *value = self->peering? sstream_peering_reconnects (self->peering): 0;
    else
    if (streq (name, "peer-redials"))
        *value = self->peering? sstream_peering_redials (self->peering): 0;
    else
    if (streq (name, "tunnel-chunks-refused"))
        *value = self->tunnels? sstream_tunnels_refused (self->tunnels): 0;
    else
    if (strncmp (name, "local-bulk-", 11) == 0 || strncmp (name, "peer-bulk-", 10) == 0) {
        //  A link's bulk path: connections, refused, bytes-in, bytes-out
        bool local = name [0] == 'l';
        sstream_link_t *link = local? self->local: self->wan;
        sstream_bulkpath_t *path = link? sstream_link_bulkpath (link): NULL;
        const char *counter = name + (local? 11: 10);
        if (path && !sstream_bulkpath_stat (path, counter, value))
            return SSTREAM_EINVAL;
        if (!path && !streq (counter, "connections") && !streq (counter, "refused")
        &&  !streq (counter, "bytes-in") && !streq (counter, "bytes-out"))
            return SSTREAM_EINVAL;
    }
    else
        return sstream_streams_stat (self->streams, name, value);
    return SSTREAM_OK;
}


//  --------------------------------------------------------------------------
//  What the gateway gives and asks

void
sstream_router_set_tunnels (sstream_router_t *self, sstream_tunnels_t *tunnels)
{
    self->tunnels = tunnels;
}

//  The peer gateway, for tunnels: NULL (and the frames spent, the error
//  set) when it is not up
static sstream_party_t *
s_tunnel_peer (self_t *self)
{
    if (self->peering && sstream_peering_is_up (self->peering))
        return sstream_peering_party (self->peering);
    sstream_error_set (SSTREAM_ELOST, "%s: the peer gateway is not connected", self->name);
    return NULL;
}

int
sstream_router_tunnel_send (void *arg, zframe_t **header)
{
    sstream_party_t *peer = s_tunnel_peer ((self_t *) arg);
    if (!peer) {
        zframe_destroy (header);
        return SSTREAM_ELOST;
    }
    return sstream_party_send (peer, header, NULL);
}

int
sstream_router_tunnel_send_data (void *arg, zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    sstream_party_t *peer = s_tunnel_peer ((self_t *) arg);
    if (!peer) {
        zmq_msg_close (frame0);
        zmq_msg_close (frame1);
        return SSTREAM_ELOST;
    }
    return sstream_party_send_data (peer, frame0, frame1);
}

const char *
sstream_router_peer (sstream_router_t *self, bool *up)
{
    if (up)
        *up = self->peering && sstream_peering_is_up (self->peering);
    return self->peering? sstream_peering_name (self->peering): NULL;
}

const char *
sstream_router_peer_why_down (sstream_router_t *self)
{
    return self->peering? sstream_peering_why_down (self->peering): NULL;
}

void
sstream_router_set_access (sstream_router_t *self, sstream_access_t *access)
{
    self->access = access;
    sstream_streams_set_access (self->streams, access);
}

void
sstream_router_shutdown (sstream_router_t *self)
{
    sstream_streams_shutdown (self->streams);
}
