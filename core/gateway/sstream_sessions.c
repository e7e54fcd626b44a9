/*  =========================================================================
    sstream_sessions - a gateway's sessions

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_gateway_classes.h"

typedef struct {
    char id [SSTREAM_WIRE_ID_MAX + 1];
    char name [SSTREAM_STREAM_NAME_MAX + 1];
    int role;                   //  SSTREAM_ROLE_INBOUND or _OUTBOUND
    char kind [16];
    char target [SSTREAM_WIRE_ADDRESS_MAX + 1];     //  Inbound
    char listen [SSTREAM_WIRE_ADDRESS_MAX + 1];     //  Outbound
    uint64_t links;
    uint64_t rate;
    bool hold;
    char owner [SSTREAM_ROUTING_ID_MAX * 2 + 1];    //  Holder, when held
    char key [41];              //  Who opened it
    int64_t created;
} s_session_t;

struct _sstream_sessions_t {
    char gateway [65];
    sstream_link_t *control;    //  Where requests come; NULL: none
    char address [64];          //  An IP address
    sstream_tunnels_t *tunnels;
    sstream_router_t *router;
    sstream_access_t *access;
    int64_t idle_timeout;
    int64_t owner_timeout;
    uint64_t max_sessions;
    zhashx_t *sessions;         //  Id -> s_session_t
    zhashx_t *clients;          //  Control client -> last heard (int64_t *)
    //  Sessions that ended here, and why, the latest ENDED_MAX of them: a
    //  client asking after one learns that it ended (released, timed out),
    //  where one this gateway never knew (it was started again) is lost
    zhashx_t *ended;            //  Id -> why (a string)
    zlistx_t *ended_order;      //  Their ids, oldest first
};

#define ENDED_MAX 1024

static void
s_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

sstream_sessions_t *
sstream_sessions_new (const sstream_sessions_config_t *config)
{
    sstream_sessions_t *self = (sstream_sessions_t *) zmalloc (sizeof (sstream_sessions_t));
    if (!self)
        return NULL;
    snprintf (self->gateway, sizeof (self->gateway), "%s", config->gateway);
    snprintf (self->address, sizeof (self->address), "%s", config->address);
    self->control = config->control;
    self->tunnels = config->tunnels;
    self->router = config->router;
    self->idle_timeout = config->idle_timeout;
    //  Holders ping every second: give them a few
    self->owner_timeout = config->owner_timeout > 3000? config->owner_timeout: 3000;
    self->max_sessions = config->max_sessions;
    self->sessions = zhashx_new ();
    self->clients = zhashx_new ();
    self->ended = zhashx_new ();
    self->ended_order = zlistx_new ();
    if (!self->sessions || !self->clients || !self->ended || !self->ended_order) {
        sstream_sessions_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->sessions, s_free);
    zhashx_set_destructor (self->clients, s_free);
    zhashx_set_destructor (self->ended, s_free);
    zlistx_set_destructor (self->ended_order, (czmq_destructor *) zstr_free);
    return self;
}

static void
s_release (sstream_sessions_t *self, s_session_t *session, const char *why)
{
    sstream_log_info ("session %s (%s '%s') released: %s", session->id,
                      session->role == SSTREAM_ROLE_INBOUND? "inbound": "outbound",
                      session->name, why);
    sstream_tunnels_close (self->tunnels, session->name);
    if (zlistx_size (self->ended_order) >= ENDED_MAX) {
        char *oldest = (char *) zlistx_first (self->ended_order);
        zhashx_delete (self->ended, oldest);
        zlistx_delete (self->ended_order, zlistx_cursor (self->ended_order));
    }
    char *kept = strdup (why);
    if (kept && zhashx_insert (self->ended, session->id, kept) == 0)
        zlistx_add_end (self->ended_order, strdup (session->id));
    else
        free (kept);                    //  An id seen before (never: they are random)
    zhashx_delete (self->sessions, session->id);
}

void
sstream_sessions_destroy (sstream_sessions_t **self_p)
{
    if (self_p && *self_p) {
        sstream_sessions_t *self = *self_p;
        if (self->sessions) {
            zlistx_t *all = zlistx_new ();
            s_session_t *session;
            for (session = (s_session_t *) zhashx_first (self->sessions); session;
                 session = (s_session_t *) zhashx_next (self->sessions))
                zlistx_add_end (all, session);
            for (session = (s_session_t *) zlistx_first (all); session;
                 session = (s_session_t *) zlistx_next (all))
                s_release (self, session, "the gateway is stopping");
            zlistx_destroy (&all);
        }
        zhashx_destroy (&self->sessions);
        zhashx_destroy (&self->clients);
        zhashx_destroy (&self->ended);
        zlistx_destroy (&self->ended_order);
        free (self);
        *self_p = NULL;
    }
}

void
sstream_sessions_set_access (sstream_sessions_t *self, sstream_access_t *access)
{
    self->access = access;
}

size_t
sstream_sessions_size (sstream_sessions_t *self)
{
    return zhashx_size (self->sessions);
}

sstream_session_row_t *
sstream_sessions_rows (sstream_sessions_t *self, size_t *count)
{
    *count = 0;
    size_t size = zhashx_size (self->sessions);
    sstream_session_row_t *rows = size? (sstream_session_row_t *) calloc (size, sizeof (*rows)): NULL;
    s_session_t *session;
    for (session = rows? (s_session_t *) zhashx_first (self->sessions): NULL;
         session && *count < size; session = (s_session_t *) zhashx_next (self->sessions)) {
        sstream_session_row_t *row = &rows [(*count)++];
        snprintf (row->id, sizeof (row->id), "%s", session->id);
        snprintf (row->name, sizeof (row->name), "%s", session->name);
        row->inbound = session->role == SSTREAM_ROLE_INBOUND;
        sstream_tunnels_stats (self->tunnels, session->name, &row->tunnel);
    }
    return rows;
}

void
sstream_sessions_heard (sstream_sessions_t *self, const char *client)
{
    int64_t *heard = (int64_t *) zhashx_lookup (self->clients, client);
    if (!heard) {
        heard = (int64_t *) malloc (sizeof (int64_t));
        if (!heard)
            return;
        zhashx_insert (self->clients, client, heard);
    }
    *heard = zclock_mono ();
}


//  --------------------------------------------------------------------------
//  Replies

static void
s_list_session (sstream_sessions_t *self, sstream_wire_list_t *list, s_session_t *session)
{
    sstream_tunnel_stats_t stats = { 0 };
    sstream_tunnels_stats (self->tunnels, session->name, &stats);
    int64_t now = zclock_mono ();
    bool inbound = session->role == SSTREAM_ROLE_INBOUND;
    const char *peer = sstream_router_peer (self->router, NULL);
    sstream_wire_list_row (list, 16);
    sstream_wire_list_text (list, "id", session->id);
    sstream_wire_list_text (list, "name", session->name);
    sstream_wire_list_text (list, "role", inbound? "inbound": "outbound");
    sstream_wire_list_text (list, "kind", session->kind);
    sstream_wire_list_text (list, "gateway", self->gateway);
    sstream_wire_list_text (list, "peer", peer? peer: "");
    sstream_wire_list_text (list, "address", inbound? session->target: session->listen);
    sstream_wire_list_number (list, "links", session->links);
    sstream_wire_list_number (list, "rate", session->rate);
    sstream_wire_list_text (list, "hold", session->hold? "yes": "no");
    sstream_wire_list_number (list, "age-ms", (uint64_t) (now - session->created));
    sstream_wire_list_number (list, "idle-ms", (uint64_t) (now - stats.last_active));
    sstream_wire_list_number (list, "connections", stats.connections);
    sstream_wire_list_number (list, "connections-total", stats.connections_total);
    sstream_wire_list_number (list, "bytes-in", stats.bytes_in);
    sstream_wire_list_number (list, "bytes-out", stats.bytes_out);
}

//  A reply of type (sessions, streams) to request: a header that echoes the
//  request's number, and the list (spent) as its payload
static zframe_t *
s_list_reply (const sstream_wire_t *request, int type, sstream_wire_list_t **list_p,
              zframe_t **payload_p)
{
    *payload_p = *list_p? sstream_wire_list_frame (*list_p): NULL;
    sstream_wire_list_destroy (list_p);
    sstream_wire_t reply = { .type = type, .request = request->request };
    zframe_t *frame = *payload_p? sstream_wire_encode (&reply): NULL;
    if (!frame)
        zframe_destroy (payload_p);
    return frame;
}

//  A sessions reply with one session, or all (session NULL)
static zframe_t *
s_reply (sstream_sessions_t *self, const sstream_wire_t *request, s_session_t *session,
         zframe_t **payload_p)
{
    sstream_wire_list_t *list = sstream_wire_list_new ();
    if (list && session)
        s_list_session (self, list, session);
    else
    if (list)
        for (session = (s_session_t *) zhashx_first (self->sessions); session;
             session = (s_session_t *) zhashx_next (self->sessions))
            s_list_session (self, list, session);
    return s_list_reply (request, SSTREAM_WIRE_SESSIONS, &list, payload_p);
}

static zframe_t *
s_error (sstream_sessions_t *self, const sstream_wire_t *request, int code, const char *name,
         const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

//  A streams reply: every stream, or the one named
static zframe_t *
s_streams (sstream_sessions_t *self, const sstream_wire_t *request, zframe_t **payload_p)
{
    size_t count;
    sstream_stream_row_t *rows = sstream_streams_rows (sstream_router_streams (self->router),
                                                       &count);
    sstream_wire_list_t *list = sstream_wire_list_new ();
    size_t index, listed = 0;
    for (index = 0; list && index < count; index++) {
        const sstream_stream_row_t *row = &rows [index];
        if (*request->stream && !streq (request->stream, row->name))
            continue;
        listed++;
        sstream_wire_list_row (list, 13);
        sstream_wire_list_text (list, "name", row->name);
        sstream_wire_list_text (list, "gateway", self->gateway);
        sstream_wire_list_text (list, "state", sstream_stream_state_name (row->state));
        sstream_wire_list_text (list, "producer", row->producer);
        sstream_wire_list_text (list, "consumer", row->consumer);
        sstream_wire_list_number (list, "records-in", row->records_in);
        sstream_wire_list_number (list, "records-out", row->records_out);
        sstream_wire_list_number (list, "bytes-in", row->bytes_in);
        sstream_wire_list_number (list, "bytes-out", row->bytes_out);
        sstream_wire_list_number (list, "buffered", row->buffered);
        sstream_wire_list_number (list, "rate", row->rate);
        sstream_wire_list_number (list, "stalled-ms", row->stalled_ms);
        sstream_wire_list_number (list, "age-ms", row->age_ms);
    }
    free (rows);
    if (list && *request->stream && !listed) {
        sstream_wire_list_destroy (&list);
        return s_error (self, request, SSTREAM_ECLOSED, request->stream,
                        "no stream '%s' here (it ended, or has not begun)", request->stream);
    }
    return s_list_reply (request, SSTREAM_WIRE_STREAMS, &list, payload_p);
}

static zframe_t *
s_error (sstream_sessions_t *self, const sstream_wire_t *request, int code, const char *name,
         const char *format, ...)
{
    sstream_wire_t error = { .type = SSTREAM_WIRE_ERROR, .code = (uint32_t) code,
                             .request = request->request };
    if (name)
        snprintf (error.stream, sizeof (error.stream), "%s", name);
    int used = snprintf (error.text, sizeof (error.text), "%s: ", self->gateway);
    va_list args;
    va_start (args, format);
    vsnprintf (error.text + used, sizeof (error.text) - used, format, args);
    va_end (args);
    return sstream_wire_encode (&error);
}


//  --------------------------------------------------------------------------
//  Requests

static zframe_t *
s_open (sstream_sessions_t *self, const char *holder, const char *key, const sstream_wire_t *request,
        zframe_t **payload_p)
{
    const char *name = request->stream;
    bool inbound = request->role == SSTREAM_ROLE_INBOUND;
    if (!streq (request->kind, "tunnel"))
        return s_error (self, request, SSTREAM_EINVAL, name,
            "session kind '%s' is not supported: this version opens tunnel sessions", request->kind);
    if (request->links > 1)
        return s_error (self, request, SSTREAM_EINVAL, name,
            "%" PRIu64 " parallel links asked for: this version has one link a session", request->links);
    if (inbound && !*request->target)
        return s_error (self, request, SSTREAM_EINVAL, name,
            "an inbound tunnel session needs the target server, host:port");
    if (!inbound && *request->target)
        return s_error (self, request, SSTREAM_EINVAL, name,
            "an outbound tunnel session listens here; the target belongs to the inbound one");
    bool peer_ready;
    const char *peer = sstream_router_peer (self->router, &peer_ready);
    if (*request->peer && !(peer && streq (peer, request->peer)))
        return s_error (self, request, SSTREAM_EDENIED, name,
            "the session needs peer gateway %s, and this gateway's peer is %s",
            request->peer, peer? peer: "none");
    if ((request->flags & SSTREAM_WIRE_NEED_PEER) && peer && !peer_ready) {
        const char *why = sstream_router_peer_why_down (self->router);
        return s_error (self, request, SSTREAM_ELOST, name, "its peer gateway %s is not connected%s%s",
                        peer, why? ": ": "", why? why: "");
    }
    if (self->access
    &&  sstream_access_check (self->access, name, key,
                              inbound? SSTREAM_ROLE_PRODUCE: SSTREAM_ROLE_CONSUME) != SSTREAM_OK)
        return s_error (self, request, SSTREAM_EDENIED, name, "%s", sstream_errmsg ());
    if (zhashx_size (self->sessions) >= self->max_sessions)
        return s_error (self, request, SSTREAM_EDENIED, name,
            "%zu sessions are open, the most this gateway takes (sessions/max)",
            zhashx_size (self->sessions));
    s_session_t *session = (s_session_t *) zmalloc (sizeof (s_session_t));
    if (!session)
        return s_error (self, request, SSTREAM_ENOMEM, name, "out of memory");
    byte random [8];
    randombytes_buf (random, sizeof (random));
    sodium_bin2hex (session->id, sizeof (session->id), random, sizeof (random));
    snprintf (session->name, sizeof (session->name), "%s", name);
    session->role = request->role;
    snprintf (session->kind, sizeof (session->kind), "%s", request->kind);
    session->links = request->links? request->links: 1;
    session->rate = request->rate;
    session->hold = request->hold;
    snprintf (session->owner, sizeof (session->owner), "%s", request->hold? holder: "");
    snprintf (session->key, sizeof (session->key), "%s", key? key: "");
    session->created = zclock_mono ();
    int rc;
    if (inbound) {
        rc = sstream_tunnels_target (self->tunnels, name, request->target, request->rate);
        snprintf (session->target, sizeof (session->target), "%s", request->target);
    }
    else {
        int port = 0;
        rc = sstream_tunnels_listen (self->tunnels, name, request->rate, &port);
        if (strchr (self->address, ':'))
            snprintf (session->listen, sizeof (session->listen), "[%s]:%d", self->address, port);
        else
            snprintf (session->listen, sizeof (session->listen), "%s:%d", self->address, port);
    }
    if (rc) {
        char detail [SSTREAM_WIRE_TEXT_MAX];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        free (session);
        return s_error (self, request, rc, name, "%s", detail);
    }
    zhashx_insert (self->sessions, session->id, session);
    sstream_log_info ("session %s opened: %s tunnel '%s' %s %s%s", session->id,
                      inbound? "inbound": "outbound", name, inbound? "to": "on",
                      inbound? session->target: session->listen, session->hold? ", held": "");
    return s_reply (self, request, session, payload_p);
}

zframe_t *
sstream_sessions_request (sstream_sessions_t *self, const char *client, const char *key,
                          const sstream_wire_t *request, zframe_t **payload_p)
{
    *payload_p = NULL;
    //  A client that names itself holds its sessions across reconnections
    const char *holder = *request->holder? request->holder: client;
    sstream_sessions_heard (self, holder);
    switch (request->type) {
        case SSTREAM_WIRE_SESSION_OPEN:
            return s_open (self, holder, key, request, payload_p);
        case SSTREAM_WIRE_SESSION_LIST: {
            if (!*request->id)
                return s_reply (self, request, NULL, payload_p);
            s_session_t *session = (s_session_t *) zhashx_lookup (self->sessions, request->id);
            if (session)
                return s_reply (self, request, session, payload_p);
            const char *why = (const char *) zhashx_lookup (self->ended, request->id);
            if (why)
                return s_error (self, request, SSTREAM_ECLOSED, NULL, "session %s was released: %s",
                                request->id, why);
            //  Not one of ours: this gateway was started again since
            return s_error (self, request, SSTREAM_ELOST, NULL,
                            "no session %s here (the gateway was started again since it was opened?)",
                            request->id);
        }
        case SSTREAM_WIRE_SESSION_RELEASE: {
            s_session_t *session = (s_session_t *) zhashx_lookup (self->sessions, request->id);
            if (!session)
                return s_error (self, request, SSTREAM_ECLOSED, NULL,
                                "no session %s here (released already, or it timed out)", request->id);
            zframe_t *reply = s_reply (self, request, session, payload_p);
            s_release (self, session, "asked for");
            return reply;
        }
        case SSTREAM_WIRE_STREAM_LIST:
            return s_streams (self, request, payload_p);
        case SSTREAM_WIRE_PING: {
            sstream_wire_t pong = { .type = SSTREAM_WIRE_PING, .request = request->request };
            return sstream_wire_encode (&pong);
        }
        default:
            return s_error (self, request, SSTREAM_EPROTO, NULL, "%s is not a control request",
                            sstream_wire_type_name (request->type));
    }
}

void
sstream_sessions_tick (sstream_sessions_t *self)
{
    int64_t now = zclock_mono ();
    zlistx_t *ending = zlistx_new ();
    s_session_t *session;
    for (session = (s_session_t *) zhashx_first (self->sessions); session;
         session = (s_session_t *) zhashx_next (self->sessions)) {
        sstream_tunnel_stats_t stats = { 0 };
        sstream_tunnels_stats (self->tunnels, session->name, &stats);
        if (session->hold) {
            int64_t *heard = (int64_t *) zhashx_lookup (self->clients, session->owner);
            if (!heard || now - *heard > self->owner_timeout) {
                zlistx_add_end (ending, session);
                continue;
            }
        }
        if (self->idle_timeout && stats.connections == 0
        &&  now - stats.last_active > self->idle_timeout)
            zlistx_add_end (ending, session);
    }
    for (session = (s_session_t *) zlistx_first (ending); session;
         session = (s_session_t *) zlistx_next (ending))
        s_release (self, session, session->hold? "the client holding it is gone": "idle too long");
    zlistx_destroy (&ending);
    //  Forget clients that have gone quiet
    zlistx_t *quiet = zlistx_new ();
    zlistx_set_destructor (quiet, s_free);
    const int64_t *heard;
    for (heard = (int64_t *) zhashx_first (self->clients); heard;
         heard = (int64_t *) zhashx_next (self->clients))
        if (now - *heard > 2 * self->owner_timeout)
            zlistx_add_end (quiet, strdup ((const char *) zhashx_cursor (self->clients)));
    const char *client;
    for (client = (const char *) zlistx_first (quiet); client;
         client = (const char *) zlistx_next (quiet))
        zhashx_delete (self->clients, client);
    zlistx_destroy (&quiet);
}


//  --------------------------------------------------------------------------
//  The control link

//  One request: [routing id] request. Every request gets one reply.
static void
s_handle_request (sstream_sessions_t *self, zmsg_t *message)
{
    zframe_t *routing_id = zmsg_pop (message);
    zframe_t *first = zmsg_first (message);
    char client [SSTREAM_ROUTING_ID_MAX * 2 + 1] = "";
    if (routing_id && zframe_size (routing_id) && zframe_size (routing_id) <= SSTREAM_ROUTING_ID_MAX)
        sodium_bin2hex (client, sizeof (client), zframe_data (routing_id), zframe_size (routing_id));
    const char *key = first? zframe_meta (first, "User-Id"): NULL;
    //  The link's ZAP domain admitted the key; it may have been removed since
    bool trusted = sstream_link_trusts (self->control, key);
    sstream_wire_t request;
    int rc = !*client? sstream_error_set (SSTREAM_EPROTO, "a routing id of %zu bytes",
                                          routing_id? zframe_size (routing_id): 0)
           : first? sstream_wire_decode (&request, zframe_data (first), zframe_size (first))
                  : sstream_error_set (SSTREAM_EPROTO, "empty message");
    if (rc == SSTREAM_OK && zmsg_size (message) != 1)
        rc = sstream_error_set (SSTREAM_EPROTO, "control requests are one frame");
    zframe_t *reply = NULL, *payload = NULL;
    if (rc)
        sstream_link_count_malformed (self->control);
    if (rc) {
        //  Only a party this link trusts hears about it
        if (*client && trusted)
            reply = sstream_wire_error ((uint32_t) rc, NULL, sstream_errmsg ());
    }
    else
    if (!trusted)
        reply = s_error (self, &request, SSTREAM_EAUTH, NULL,
                         "key %s may not control this gateway's sessions", key? key: "(none)");
    else
    if (request.type != SSTREAM_WIRE_ERROR)
        reply = sstream_sessions_request (self, client, key, &request, &payload);
    if (reply)
        sstream_link_send (self->control, zframe_data (routing_id), zframe_size (routing_id),
                           &reply, payload? &payload: NULL);
    zframe_destroy (&payload);
    zframe_destroy (&routing_id);
}

void
sstream_sessions_handle_link (sstream_sessions_t *self)
{
    zsock_t *sock = sstream_link_sock (self->control);
    int budget = 64;
    while (budget-- && (zsock_events (sock) & ZMQ_POLLIN)) {
        zmsg_t *message = zmsg_recv (sock);
        if (!message)
            break;
        s_handle_request (self, message);
        zmsg_destroy (&message);
    }
}
