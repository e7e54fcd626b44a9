/*  =========================================================================
    sstream_control - open, list and release sessions on a gateway

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Request and reply, in the caller's thread: no actor, since nothing
    happens between calls. The caller's signals are held while CZMQ works
    and let through while it waits (see sstream_signals_wait).
*/

#include "sstream_client_classes.h"

#include <pthread.h>

#define REPLY_TIMEOUT 10000     //  msecs an answered gateway may take

struct _sstream_control_t {
    sstream_client_options_t options;
    sstream_link_t *link;
    char *endpoint;             //  The one that answered
    uint64_t last_request;      //  Replies echo their request's number
    char holder [33];           //  Who holds our held sessions, across reconnections
};

struct _sstream_session_list_t {
    zlistx_t *sessions;         //  zhashx_t of field -> text
};


//  --------------------------------------------------------------------------
//  Session lists

static int
s_list_parse (const byte *data, size_t size, sstream_session_list_t **list_p)
{
    *list_p = NULL;
    sstream_session_list_t *list = (sstream_session_list_t *) zmalloc (sizeof (sstream_session_list_t));
    if (!list)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    int rc = sstream_wire_list_decode (data, size, &list->sessions);
    if (rc) {
        char detail [512];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        free (list);
        return sstream_error_set (rc, "the gateway sent a bad list: %s", detail);
    }
    *list_p = list;
    return SSTREAM_OK;
}

size_t
sstream_session_list_size (sstream_session_list_t *self)
{
    return self? zlistx_size (self->sessions): 0;
}

const char *
sstream_session_list_get (sstream_session_list_t *self, size_t index, const char *field)
{
    if (!self || !field)
        return NULL;
    zhashx_t *fields = (zhashx_t *) zlistx_first (self->sessions);
    while (fields && index--)
        fields = (zhashx_t *) zlistx_next (self->sessions);
    return fields? (const char *) zhashx_lookup (fields, field): NULL;
}

void
sstream_session_list_destroy (sstream_session_list_t **self_p)
{
    if (self_p && *self_p) {
        zlistx_destroy (&(*self_p)->sessions);
        free (*self_p);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Requests

//  Send a request and wait for its answer (or a handshake failure), at
//  most timeout msecs. Returns the reply, decoded.

static int
s_exchange (sstream_control_t *self, const sstream_wire_t *request_in, int64_t timeout,
            sstream_wire_t *reply, zframe_t **payload_p)
{
    if (payload_p)
        *payload_p = NULL;
    //  Numbered, so that a late answer to an earlier request that timed out
    //  or was interrupted is never taken for this one's
    sstream_wire_t request = *request_in;
    request.request = ++self->last_request;
    snprintf (request.holder, sizeof (request.holder), "%s", self->holder);
    sigset_t saved;
    sstream_signals_hold (&saved);
    zframe_t *frame = sstream_wire_encode (&request);
    int rc = frame? sstream_link_send (self->link, NULL, 0, &frame, NULL): SSTREAM_ENOMEM;
    int64_t deadline = zclock_mono () + timeout;
    bool connected = false;
    const char *endpoint = sstream_link_endpoint (self->link);
    while (rc == SSTREAM_OK) {
        int64_t now = zclock_mono ();
        if (now >= deadline) {
            rc = sstream_error_set (SSTREAM_ETIMEDOUT, "gateway control at %s %s within %g s",
                                    endpoint, connected? "did not answer": "is unreachable: no connection",
                                    timeout / 1000.0);
            break;
        }
        zmq_pollitem_t items [2] = {
            { sstream_link_handle (self->link), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (sstream_link_monitor (self->link)), 0, ZMQ_POLLIN, 0 }
        };
        sigset_t held;
        pthread_sigmask (SIG_SETMASK, &saved, &held);
        int ready = zmq_poll (items, 2, deadline - now < 200? (long) (deadline - now): 200);
        int error = zmq_errno ();
        pthread_sigmask (SIG_SETMASK, &held, NULL);
        if (ready < 0) {
            rc = error == EINTR? sstream_error_set (SSTREAM_EINTR, "interrupted")
                               : sstream_error_set (SSTREAM_EINTERNAL, "poll failed");
            break;
        }
        if (items [1].revents & ZMQ_POLLIN) {
            int value;
            sstream_link_event_t event = sstream_link_event (self->link, &value, NULL);
            if (event == SSTREAM_LINK_CONNECTED)
                connected = true;
            else
            if (event == SSTREAM_LINK_RETRIED && !connected)
                //  Refused: with other endpoints, the caller tries them
                rc = sstream_error_set (SSTREAM_ETIMEDOUT,
                    "gateway control at %s is unreachable (connection refused)", endpoint);
            else
            if (event == SSTREAM_LINK_HANDSHAKE_AUTH)
                rc = sstream_error_set (SSTREAM_EAUTH,
                    "gateway control at %s refused our key %s (authentication failed): its "
                    "control/trusted-keys must include our public key", endpoint,
                    self->options.cert? zcert_public_txt (self->options.cert): "(none)");
            else
            if (event == SSTREAM_LINK_HANDSHAKE_FAILED)
                rc = sstream_error_set (SSTREAM_EAUTH,
                    "security handshake with gateway control at %s failed: check the gateway "
                    "key and that both sides use the same security", endpoint);
        }
        if (rc == SSTREAM_OK && (items [0].revents & ZMQ_POLLIN)) {
            zmsg_t *message = zmsg_recv (sstream_link_sock (self->link));
            zframe_t *first = message? zmsg_first (message): NULL;
            rc = first? sstream_wire_decode (reply, zframe_data (first), zframe_size (first))
                      : sstream_error_set (SSTREAM_EPROTO, "empty reply");
            if (rc == SSTREAM_OK && reply->request != request.request) {
                zmsg_destroy (&message);            //  An answer to an earlier request
                continue;
            }
            size_t frames = sstream_wire_has_payload (reply->type)? 2: 1;
            if (rc == SSTREAM_OK && zmsg_size (message) != frames)
                rc = sstream_error_set (SSTREAM_EPROTO, "gateway control at %s sent %s in %zu frames",
                                        endpoint, sstream_wire_type_name (reply->type),
                                        zmsg_size (message));
            if (rc == SSTREAM_OK && payload_p
            &&  (reply->type == SSTREAM_WIRE_SESSIONS || reply->type == SSTREAM_WIRE_STREAMS)) {
                *payload_p = zmsg_last (message);
                zmsg_remove (message, *payload_p);
            }
            zmsg_destroy (&message);
            if (rc == SSTREAM_OK && reply->type == SSTREAM_WIRE_ERROR) {
                int code = reply->code > 0 && reply->code < SSTREAM_EINTERNAL
                         ? (int) reply->code: SSTREAM_EPROTO;
                rc = sstream_error_set (code, "%s", reply->text);
            }
            break;
        }
    }
    sstream_signals_release (&saved);
    if (rc && payload_p)
        zframe_destroy (payload_p);
    return rc;
}

static int
s_connect (sstream_control_t *self, const char *endpoint)
{
    sigset_t saved;
    sstream_signals_hold (&saved);
    char name [] = "control client";
    sstream_link_config_t config = {
        .name = name,
        .type = ZMQ_DEALER,
        .bind = false,
        .endpoint = endpoint,
        .transport = self->options.transport,
        .transport_options = self->options.transport_options,
        .insecure = self->options.insecure,
        .cert = self->options.cert,
        .server_key = self->options.insecure? NULL: self->options.gateway_key,
        .handshake_timeout = self->options.connect_timeout,
        .max_frame = SSTREAM_WIRE_LIST_MAX + SSTREAM_WIRE_HEADER_MAX
    };
    int rc = sstream_link_new (&self->link, &config);
    sstream_signals_release (&saved);
    if (rc)
        return rc;
    sstream_wire_t ping = { .type = SSTREAM_WIRE_PING }, reply;
    rc = s_exchange (self, &ping, self->options.connect_timeout, &reply, NULL);
    if (rc == SSTREAM_OK) {
        bool pong = reply.type == SSTREAM_WIRE_PING;
        if (!pong)
            rc = sstream_error_set (SSTREAM_EPROTO, "gateway control at %s answered oddly", endpoint);
    }
    if (rc) {
        sstream_signals_hold (&saved);
        sstream_link_destroy (&self->link);
        sstream_signals_release (&saved);
    }
    return rc;
}

int
sstream_control_new (sstream_control_t **self_p, const char *endpoints, sstream_config_t *options)
{
    if (!self_p)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_control_new: no handle pointer");
    *self_p = NULL;
    sstream_control_t *self = (sstream_control_t *) zmalloc (sizeof (sstream_control_t));
    if (!self)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    int rc = sstream_client_options_read (&self->options, options, endpoints, NULL,
                                          SSTREAM_ROLE_NONE);
    if (rc) {
        free (self);
        return rc;
    }
    byte random [16];
    randombytes_buf (random, sizeof (random));
    sodium_bin2hex (self->holder, sizeof (self->holder), random, sizeof (random));
    //  Each in turn, until one answers
    char failures [2048] = "";
    size_t attempts = 0;
    rc = SSTREAM_EINVAL;
    while (attempts < self->options.endpoints_size) {
        const char *endpoint = self->options.endpoints [attempts++];
        rc = s_connect (self, endpoint);
        if (rc == SSTREAM_OK) {
            self->endpoint = strdup (endpoint);
            break;
        }
        size_t used = strlen (failures);
        snprintf (failures + used, sizeof (failures) - used, "%s%s", used? "; ": "", sstream_errmsg ());
        if (rc == SSTREAM_EINTR)
            break;
    }
    if (rc) {
        if (attempts > 1)
            sstream_error_set (rc, "no gateway answered: %s", failures);
        else
        if (attempts == 0)
            sstream_error_set (rc, "no gateway endpoint given");
        sstream_control_destroy (&self);
        return rc;
    }
    *self_p = self;
    return SSTREAM_OK;
}

void
sstream_control_destroy (sstream_control_t **self_p)
{
    if (self_p && *self_p) {
        sstream_control_t *self = *self_p;
        sigset_t saved;
        sstream_signals_hold (&saved);
        sstream_link_destroy (&self->link);
        sstream_signals_release (&saved);
        sstream_client_options_clear (&self->options);
        zstr_free (&self->endpoint);
        free (self);
        *self_p = NULL;
    }
}

const char *
sstream_control_endpoint (sstream_control_t *self)
{
    return self? self->endpoint: NULL;
}

//  A request answered with a list (sessions or streams, as expected)
static int
s_list_request (sstream_control_t *self, const sstream_wire_t *request, int expected,
                sstream_session_list_t **list_p)
{
    sstream_wire_t reply;
    zframe_t *payload = NULL;
    int rc = s_exchange (self, request, REPLY_TIMEOUT, &reply, &payload);
    if (rc)
        return rc;
    if (reply.type != expected)
        rc = sstream_error_set (SSTREAM_EPROTO, "the gateway answered %s to %s",
                                sstream_wire_type_name (reply.type),
                                sstream_wire_type_name (request->type));
    else
    if (list_p)
        rc = s_list_parse (zframe_data (payload), zframe_size (payload), list_p);
    zframe_destroy (&payload);
    return rc;
}

static const sstream_setting_t s_open_schema [] = {
    { "target", SSTREAM_SETTING_TEXT, NULL },
    { "rate", SSTREAM_SETTING_SIZE, NULL },
    { "links", SSTREAM_SETTING_COUNT, NULL },
    { "mode", SSTREAM_SETTING_TEXT, NULL },
    { "hold", SSTREAM_SETTING_CHOICE, "yes|no|on|off|true|false" },
    { "peer", SSTREAM_SETTING_TEXT, NULL },
    { "need-peer", SSTREAM_SETTING_CHOICE, "yes|no|on|off|true|false" },
    { NULL, 0, NULL }
};

int
sstream_control_open (sstream_control_t *self, const char *name, const char *role,
                      sstream_config_t *params, sstream_session_list_t **session_p)
{
    if (!self || !session_p)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_control_open: missing argument");
    *session_p = NULL;
    int rc = sstream_check_stream_name (name);
    if (rc)
        return rc;
    sstream_wire_t request = { .type = SSTREAM_WIRE_SESSION_OPEN };
    snprintf (request.stream, sizeof (request.stream), "%s", name);
    snprintf (request.kind, sizeof (request.kind), "tunnel");
    if (role && streq (role, "inbound"))
        request.role = SSTREAM_ROLE_INBOUND;
    else
    if (role && streq (role, "outbound"))
        request.role = SSTREAM_ROLE_OUTBOUND;
    else
        return sstream_error_set (SSTREAM_EINVAL, "a session's role is inbound or outbound, not '%s'",
                                  role? role: "");
    if (params) {
        rc = sstream_config_check (params, s_open_schema);
        if (rc) {
            char detail [512];
            snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
            return sstream_error_set (SSTREAM_EINVAL, "session parameters: %s", detail);
        }
    }
    const char *target = sstream_config_get (params, "target", NULL);
    if (target && strlen (target) > SSTREAM_WIRE_ADDRESS_MAX)
        return sstream_error_set (SSTREAM_EINVAL, "target '%.40s...' is too long", target);
    if (target)
        snprintf (request.target, sizeof (request.target), "%s", target);
    const char *rate = sstream_config_get (params, "rate", NULL);
    if (rate && sstream_parse_size (rate, &request.rate))
        return sstream_error_set (SSTREAM_EINVAL, "rate: %s", sstream_errmsg ());
    const char *links = sstream_config_get (params, "links", NULL);
    if (links) {
        char *end;
        request.links = strtoull (links, &end, 10);
        if (!isdigit ((unsigned char) *links) || *end || request.links == 0)
            return sstream_error_set (SSTREAM_EINVAL, "links is a number of links, not '%s'", links);
    }
    const char *mode = sstream_config_get (params, "mode", "lossless");
    if (!streq (mode, "lossless"))
        return sstream_error_set (SSTREAM_EINVAL,
            "delivery mode '%s' is not supported in this version (lossless is)", mode);
    const char *hold = sstream_config_get (params, "hold", "no");
    request.hold = streq (hold, "yes") || streq (hold, "on") || streq (hold, "true");
    const char *need = sstream_config_get (params, "need-peer", "no");
    if (streq (need, "yes") || streq (need, "on") || streq (need, "true"))
        request.flags |= SSTREAM_WIRE_NEED_PEER;
    const char *peer = sstream_config_get (params, "peer", NULL);
    if (peer && strlen (peer) >= sizeof (request.peer))
        return sstream_error_set (SSTREAM_EINVAL, "peer '%.40s...' is too long", peer);
    if (peer)
        snprintf (request.peer, sizeof (request.peer), "%s", peer);
    rc = s_list_request (self, &request, SSTREAM_WIRE_SESSIONS, session_p);
    //  The caller can count on what it asked for
    if (rc == SSTREAM_OK
    &&  (sstream_session_list_size (*session_p) != 1
         || !sstream_session_list_get (*session_p, 0, "id")
         || !sstream_session_list_get (*session_p, 0, "gateway")
         || !sstream_session_list_get (*session_p, 0, "address"))) {
        sstream_session_list_destroy (session_p);
        rc = sstream_error_set (SSTREAM_EPROTO,
            "gateway control at %s answered the open without the session's id, gateway "
            "and address", self->endpoint);
    }
    return rc;
}

int
sstream_control_list (sstream_control_t *self, const char *id, sstream_session_list_t **sessions_p)
{
    if (!self || !sessions_p)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_control_list: missing argument");
    *sessions_p = NULL;
    sstream_wire_t request = { .type = SSTREAM_WIRE_SESSION_LIST };
    if (id && strlen (id) > SSTREAM_WIRE_ID_MAX)
        return sstream_error_set (SSTREAM_EINVAL, "'%.40s' is not a session id", id);
    if (id)
        snprintf (request.id, sizeof (request.id), "%s", id);
    return s_list_request (self, &request, SSTREAM_WIRE_SESSIONS, sessions_p);
}

int
sstream_control_streams (sstream_control_t *self, const char *name,
                         sstream_session_list_t **streams_p)
{
    if (!self || !streams_p)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_control_streams: missing argument");
    *streams_p = NULL;
    sstream_wire_t request = { .type = SSTREAM_WIRE_STREAM_LIST };
    if (name) {
        int rc = sstream_check_stream_name (name);
        if (rc)
            return rc;
        snprintf (request.stream, sizeof (request.stream), "%s", name);
    }
    return s_list_request (self, &request, SSTREAM_WIRE_STREAMS, streams_p);
}

int
sstream_control_release (sstream_control_t *self, const char *id)
{
    if (!self || !id || !*id || strlen (id) > SSTREAM_WIRE_ID_MAX)
        return sstream_error_set (SSTREAM_EINVAL, "'%s' is not a session id", id? id: "");
    sstream_wire_t request = { .type = SSTREAM_WIRE_SESSION_RELEASE };
    snprintf (request.id, sizeof (request.id), "%s", id);
    return s_list_request (self, &request, SSTREAM_WIRE_SESSIONS, NULL);
}

int
sstream_control_ping (sstream_control_t *self)
{
    if (!self)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_control_ping: no control client");
    sstream_wire_t ping = { .type = SSTREAM_WIRE_PING }, reply;
    return s_exchange (self, &ping, REPLY_TIMEOUT, &reply, NULL);
}
