/*  =========================================================================
    sstream_link - one ZeroMQ socket, with its transport and its security

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"

//  ZMQ_ZAP_ENFORCE_DOMAIN is a draft option in libzmq 4.3's header but
//  implemented by Debian's build; we ask for it where it exists.
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#   define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

//  How long a link's destroy waits for libzmq to close its listener
#define UNBIND_WAIT 2000

struct _sstream_link_t {
    char *name;
    zsock_t *sock;
    zsock_t *monitor;           //  Reads the socket's events
    const sstream_transport_t *transport;
    char *endpoint;             //  As bound/connected
    bool secure;
    sstream_auth_t *auth;       //  A bound secure link: what it admits
    bool routed;                //  A ROUTER: messages carry routing ids
    bool bound;                 //  endpoint is where it listens
    bool connects;              //  endpoint is where it dials
    bool dialled;               //  and it is connected (or trying to be)
    sstream_bulkpath_t *bulkpath;   //  Sealed payloads beside it, or NULL
    sstream_link_stats_t stats;
};

static int
s_transport_error (sstream_link_t *self, const char *what, const char *detail)
{
    return sstream_error_set (SSTREAM_EPLUGIN, "%s: transport %s: %s%s%s",
                              self->name, self->transport->name, what,
                              *detail? ": ": "", detail);
}

int
sstream_link_new (sstream_link_t **self_p, const sstream_link_config_t *config)
{
    assert (self_p && config);
    sstream_library_init ();
    *self_p = NULL;
    sstream_link_t *self = (sstream_link_t *) zmalloc (sizeof (sstream_link_t));
    if (!self)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    self->name = strdup (config->name? config->name: "link");
    int rc = sstream_plugins_find (config->endpoint, config->transport, &self->transport);
    if (rc) {
        char detail [1024];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        sstream_link_destroy (&self);
        return sstream_error_set (rc, "%s: %s", config->name, detail);
    }

    static const char *s_no_options [] = { NULL };
    char transport_error [512] = "";
    sstream_transport_link_t transport_link = {
        .endpoint = config->endpoint,
        .bind = config->bind,
        .options = config->transport_options? config->transport_options: s_no_options,
        .error = transport_error,
        .error_size = sizeof (transport_error)
    };
    if (self->transport->check (&transport_link) != 0) {
        rc = s_transport_error (self, config->endpoint, transport_error);
        sstream_link_destroy (&self);
        return rc;
    }

    //  Security first: nothing is bound or connected before it is in place
    if (!config->insecure && !config->cert) {
        sstream_link_destroy (&self);
        return sstream_error_set (SSTREAM_EKEY,
            "%s: CURVE security needs a secret key (or set security = none)", config->name);
    }
    if (!config->insecure && !config->bind && !config->server_key) {
        sstream_link_destroy (&self);
        return sstream_error_set (SSTREAM_EKEY,
            "%s: CURVE security needs the public key of %s (or set security = none)",
            config->name, config->endpoint);
    }
    if (!config->insecure && config->bind && !config->trusted) {
        sstream_link_destroy (&self);
        return sstream_error_set (SSTREAM_EKEY,
            "%s: CURVE security needs trusted keys to admit anyone (or set security = none)",
            config->name);
    }
    sstream_library_sockets_made ();
    self->sock = zsock_new (config->type);
    if (!self->sock) {
        sstream_link_destroy (&self);
        return sstream_error_set (SSTREAM_EINTERNAL, "%s: cannot create a socket", config->name);
    }
    if (config->bind && !config->insecure) {
        //  A ZAP domain of its own makes libzmq consult the handler for this
        //  link's keys alone; enforcing it refuses every client should the
        //  handler be gone.
        char domain [64];
        snprintf (domain, sizeof (domain), "sstream-%p", (void *) self);
        char what [256];
        snprintf (what, sizeof (what), "%s link's trusted keys", self->name);
        rc = sstream_auth_new (&self->auth, domain, config->trusted, what);
        if (rc) {
            char detail [1024];
            snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
            sstream_link_destroy (&self);
            return sstream_error_set (rc, "%s: %s", config->name, detail);
        }
        zsock_set_zap_domain (self->sock, domain);
        int enforce = 1;
        zmq_setsockopt (zsock_resolve (self->sock), ZMQ_ZAP_ENFORCE_DOMAIN,
                        &enforce, sizeof (enforce));
    }
    if (config->insecure)
        self->secure = false;
    else {
        zcert_apply (config->cert, self->sock);
        if (config->bind)
            zsock_set_curve_server (self->sock, 1);
        else
            zsock_set_curve_serverkey (self->sock, config->server_key);
        self->secure = true;
    }

    //  Credit bounds what is queued (PROTOCOL.md section 4); HWMs must not
    //  block a gateway's sends or drop anything.
    zsock_set_sndhwm (self->sock, 0);
    zsock_set_rcvhwm (self->sock, 0);
    if (config->type == ZMQ_ROUTER)
        zsock_set_router_mandatory (self->sock, 1);
    //  No frame larger than the link passes, from anybody: libzmq drops
    //  the connection as it reads the frame's size, before the body is
    //  buffered. (It has no limit on the number of frames in a message:
    //  see core/PROTOCOL.md, section 7.)
    int64_t max_frame = (int64_t) (config->max_frame? config->max_frame
                                                    : SSTREAM_MESSAGE_MAX + SSTREAM_WIRE_HEADER_MAX);
    zmq_setsockopt (zsock_resolve (self->sock), ZMQ_MAXMSGSIZE, &max_frame, sizeof (max_frame));
    if (config->affinity)
        zsock_set_affinity (self->sock, (int) config->affinity);
    if (config->handshake_timeout > 0)
        zsock_set_handshake_ivl (self->sock, (int) config->handshake_timeout);
    zsock_set_reconnect_ivl (self->sock, SSTREAM_LINK_RECONNECT_IVL);
    zsock_set_reconnect_ivl_max (self->sock, SSTREAM_LINK_RECONNECT_MAX);
    if (!config->bind && config->connect_timeout > 0) {
        int timeout = (int) config->connect_timeout;
        zmq_setsockopt (zsock_resolve (self->sock), ZMQ_CONNECT_TIMEOUT, &timeout,
                        sizeof (timeout));
    }

    if (self->transport->configure (zsock_resolve (self->sock), &transport_link) != 0) {
        rc = s_transport_error (self, "cannot configure the socket", transport_error);
        sstream_link_destroy (&self);
        return rc;
    }

    //  libzmq's own monitor, read straight from its socket: no thread of
    //  its own (as CZMQ's zmonitor has), and in place before any event
    //  A name never used before in this process: libzmq releases a closed
    //  monitor's name only when its reaper gets to it, and a link made at
    //  the address of one just destroyed would find its name taken
    static uint64_t s_monitors = 0;
    uint64_t number = __atomic_add_fetch (&s_monitors, 1, __ATOMIC_RELAXED);
    char monitor_endpoint [64];
    snprintf (monitor_endpoint, sizeof (monitor_endpoint), "inproc://sstream-monitor-%" PRIu64,
              number);
    int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_CONNECT_RETRIED
               | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
               | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
               | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if (config->bind)
        events |= ZMQ_EVENT_CLOSED | ZMQ_EVENT_CLOSE_FAILED;   //  For s_unbind
    else
    if (config->connect_timeout > 0)
        //  To tell a refusal, no route and no answer apart
        events |= ZMQ_EVENT_CONNECT_DELAYED | ZMQ_EVENT_CLOSED;
    if (zmq_socket_monitor (zsock_resolve (self->sock), monitor_endpoint, events) == 0)
        self->monitor = zsock_new (ZMQ_PAIR);
    if (!self->monitor || zsock_connect (self->monitor, "%s", monitor_endpoint) != 0) {
        sstream_link_destroy (&self);
        return sstream_error_set (SSTREAM_EINTERNAL, "%s: cannot start a socket monitor",
                                  config->name);
    }

    if (config->bind) {
        if (zsock_bind (self->sock, "%s", config->endpoint) == -1) {
            //  A port in use is a matter of configuration too: another
            //  program (or gateway) has it, and this one needs another
            int error = zmq_errno ();
            sstream_link_destroy (&self);
            return sstream_error_set (SSTREAM_ECONFIG, "%s: cannot bind %s: %s%s", config->name,
                config->endpoint, zmq_strerror (error),
                error == EADDRINUSE? " (another program listens there: is a gateway running "
                                     "with this config already?)": "");
        }
        self->endpoint = zsock_last_endpoint (self->sock);
        self->bound = self->endpoint != NULL;
        if (self->transport->bound (zsock_resolve (self->sock), self->endpoint,
                                    &transport_link) != 0) {
            rc = s_transport_error (self, self->endpoint, transport_error);
            sstream_link_destroy (&self);
            return rc;
        }
    }
    else {
        if (zsock_connect (self->sock, "%s", config->endpoint) == -1) {
            int error = zmq_errno ();
            sstream_link_destroy (&self);
            return sstream_error_set (SSTREAM_ECONFIG, "%s: cannot connect to %s: %s",
                                      config->name, config->endpoint, zmq_strerror (error));
        }
        self->endpoint = strdup (config->endpoint);
        self->connects = true;
        self->dialled = true;
    }
    self->routed = config->type == ZMQ_ROUTER;
    if (config->bulk && (self->transport->flags & SSTREAM_TRANSPORT_BULK)) {
        rc = sstream_bulkpath_new (&self->bulkpath, self->name, self->transport,
                                   config->endpoint, transport_link.options, config->bind,
                                   self->endpoint, (uint64_t) max_frame, config->bulk_timeout);
        if (rc) {
            sstream_link_destroy (&self);
            return rc;
        }
    }
    if (!self->secure)
        sstream_log_warning ("%s: security = none on %s: traffic is neither authenticated nor encrypted",
                             self->name, self->endpoint);
    *self_p = self;
    return SSTREAM_OK;
}

//  libzmq closes a socket in its own time: its listener (an ipc socket
//  file, a port) would outlive the link for a moment, and a link made at
//  once at the same address be refused. An unbind starts closing it now,
//  in libzmq's I/O thread, and the monitor says when that is done.
static void
s_unbind (sstream_link_t *self)
{
    if (!self->bound || !self->sock
    ||  zmq_unbind (zsock_resolve (self->sock), self->endpoint) != 0 || !self->monitor)
        return;
    int64_t deadline = zclock_mono () + UNBIND_WAIT;
    zmq_pollitem_t item = { zsock_resolve (self->monitor), 0, ZMQ_POLLIN, 0 };
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            break;
        int rc = zmq_poll (&item, 1, (long) left);
        if (rc < 0 && zmq_errno () == EINTR)
            continue;
        if (rc <= 0)
            break;
        zmsg_t *message = zmsg_recv (self->monitor);
        zframe_t *first = message? zmsg_first (message): NULL;
        uint16_t number = 0;
        if (first && zframe_size (first) == 6)
            memcpy (&number, zframe_data (first), sizeof (number));
        zmsg_destroy (&message);
        if (number == ZMQ_EVENT_CLOSED || number == ZMQ_EVENT_CLOSE_FAILED)
            break;
    }
}

void
sstream_link_destroy (sstream_link_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sstream_link_t *self = *self_p;
        s_unbind (self);
        if (self->monitor && self->sock)
            zmq_socket_monitor (zsock_resolve (self->sock), NULL, 0);
        zsock_destroy (&self->monitor);
        zsock_destroy (&self->sock);
        sstream_bulkpath_destroy (&self->bulkpath);
        //  Only now, with the socket gone, may the handler stop trusting
        sstream_auth_destroy (&self->auth);
        zstr_free (&self->endpoint);
        zstr_free (&self->name);
        free (self);
        *self_p = NULL;
    }
}

zsock_t *
sstream_link_sock (sstream_link_t *self)
{
    assert (self);
    return self->sock;
}

void *
sstream_link_handle (sstream_link_t *self)
{
    assert (self);
    return zsock_resolve (self->sock);
}

zsock_t *
sstream_link_monitor (sstream_link_t *self)
{
    assert (self);
    return self->monitor;
}

const char *
sstream_link_endpoint (sstream_link_t *self)
{
    assert (self);
    return self->endpoint;
}

const char *
sstream_link_name (sstream_link_t *self)
{
    assert (self);
    return self->name;
}

bool
sstream_link_is_secure (sstream_link_t *self)
{
    assert (self);
    return self->secure;
}

sstream_link_event_t
sstream_link_event (sstream_link_t *self, int *value, char **address)
{
    assert (self);
    //  Two frames: event number (16 bits) and value (32 bits), then the
    //  endpoint
    zmsg_t *message = zmsg_recv (self->monitor);
    zframe_t *first = message? zmsg_first (message): NULL;
    if (!first || zframe_size (first) != 6) {
        zmsg_destroy (&message);
        return SSTREAM_LINK_OTHER;
    }
    uint16_t number;
    uint32_t number_value;
    memcpy (&number, zframe_data (first), sizeof (number));
    memcpy (&number_value, zframe_data (first) + 2, sizeof (number_value));
    if (value)
        *value = (int) number_value;
    if (address) {
        zframe_t *second = zmsg_next (message);
        *address = second? zframe_strdup (second): NULL;
    }
    zmsg_destroy (&message);
    if (number == ZMQ_EVENT_CONNECTED || number == ZMQ_EVENT_ACCEPTED)
        self->stats.connections++;
    if (number == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || number == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    ||  number == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        self->stats.handshake_failures++;
    if (number == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        self->stats.keys_refused++;
    switch (number) {
        case ZMQ_EVENT_CONNECTED:           return SSTREAM_LINK_CONNECTED;
        case ZMQ_EVENT_ACCEPTED:            return SSTREAM_LINK_ACCEPTED;
        case ZMQ_EVENT_CONNECT_DELAYED:     return SSTREAM_LINK_DELAYED;
        case ZMQ_EVENT_CLOSED:              return SSTREAM_LINK_CLOSED;
        case ZMQ_EVENT_CONNECT_RETRIED:     return SSTREAM_LINK_RETRIED;
        case ZMQ_EVENT_DISCONNECTED:        return SSTREAM_LINK_DISCONNECTED;
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return SSTREAM_LINK_HANDSHAKE_OK;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return SSTREAM_LINK_HANDSHAKE_AUTH;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return SSTREAM_LINK_HANDSHAKE_FAILED;
        default:                            return SSTREAM_LINK_OTHER;
    }
}

void
sstream_link_hang_up (sstream_link_t *self)
{
    assert (self);
    if (self->connects && self->dialled) {
        //  ENOENT is no error: libzmq may have let the endpoint go already
        zmq_disconnect (zsock_resolve (self->sock), self->endpoint);
        self->dialled = false;
    }
}

int
sstream_link_redial (sstream_link_t *self)
{
    assert (self);
    if (!self->connects)
        return sstream_error_set (SSTREAM_EINVAL, "%s: only a connecting link dials", self->name);
    sstream_link_hang_up (self);
    if (zmq_connect (zsock_resolve (self->sock), self->endpoint) != 0)
        return sstream_error_set (SSTREAM_EINTERNAL, "%s: cannot connect to %s again: %s",
                                  self->name, self->endpoint, zmq_strerror (zmq_errno ()));
    self->dialled = true;
    return SSTREAM_OK;
}

bool
sstream_link_refused_key (sstream_link_t *self, char key [41])
{
    assert (self);
    if (!self->auth) {
        *key = 0;
        return false;
    }
    return sstream_auth_refused_key (self->auth, key);
}

const char *
sstream_link_key_name (sstream_link_t *self, const char *key, char *buffer, size_t size)
{
    if (!key || !*key)
        snprintf (buffer, size, "no key");
    else
    if (!self || !self->auth || !sstream_auth_key_name (self->auth, key, buffer, size))
        snprintf (buffer, size, "%.8s...", key);
    return buffer;
}

bool
sstream_link_trusts (sstream_link_t *self, const char *key)
{
    return !self->auth || sstream_auth_trusts (self->auth, key);
}

void
sstream_link_stats (sstream_link_t *self, sstream_link_stats_t *stats)
{
    *stats = self->stats;
}

void
sstream_link_count_malformed (sstream_link_t *self)
{
    self->stats.malformed++;
}

bool
sstream_link_refresh_trust (sstream_link_t *self)
{
    return self->auth && sstream_auth_refresh (self->auth);
}

static int
s_send_failed (sstream_link_t *self)
{
    int error = zmq_errno ();
    return sstream_error_set (SSTREAM_ELOST, "%s: cannot send: %s", self->name,
                              error == EHOSTUNREACH? "the peer is gone": zmq_strerror (error));
}

int
sstream_link_send (sstream_link_t *self, const byte *routing_id, size_t routing_id_size,
                   zframe_t **header, zframe_t **payload)
{
    assert (self && header && *header);
    int more = payload && *payload? ZFRAME_MORE: 0;
    int rc = 0;
    if (routing_id)
        rc = zmq_send (zsock_resolve (self->sock), routing_id, routing_id_size,
                       ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0? -1: 0;
    if (rc == 0)
        rc = zframe_send (header, self->sock, more | ZFRAME_DONTWAIT);
    if (rc == 0 && more)
        rc = zframe_send (payload, self->sock, ZFRAME_DONTWAIT);
    zframe_destroy (header);
    if (payload)
        zframe_destroy (payload);
    return rc? s_send_failed (self): SSTREAM_OK;
}

//  A sealed batch the bulk path can take: flag it, and say so. A small
//  one stays on the link: on the bulk path it would cost a second wake-up
//  at every hop for a saving in cipher work it does not have.
static bool
s_takes_bulk (sstream_link_t *self, const byte *routing_id, size_t routing_id_size,
              zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    byte *header = (byte *) zmq_msg_data (frame0);
    if (!self->bulkpath || zmq_msg_size (frame0) != SSTREAM_WIRE_BATCH_HEADER
    ||  zmq_msg_size (frame1) < SSTREAM_LINK_BULK_MIN
    ||  !(sstream_wire_batch_flags (header) & SSTREAM_WIRE_SEALED)
    ||  !sstream_bulkpath_ready (self->bulkpath, routing_id, routing_id_size))
        return false;
    sstream_wire_batch_set_flags (header, sstream_wire_batch_flags (header) | SSTREAM_WIRE_BULK);
    return true;
}

int
sstream_link_send_data (sstream_link_t *self, const byte *routing_id, size_t routing_id_size,
                        zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    void *handle = zsock_resolve (self->sock);
    bool bulk = s_takes_bulk (self, routing_id, routing_id_size, frame0, frame1);
    int rc = 0;
    if (routing_id)
        rc = zmq_send (handle, routing_id, routing_id_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0? -1: 0;
    if (rc == 0)
        rc = zmq_msg_send (frame0, handle, bulk? ZMQ_DONTWAIT: ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0? -1: 0;
    if (rc == 0 && bulk)
        return sstream_bulkpath_send (self->bulkpath, routing_id, routing_id_size, frame1);
    if (rc == 0)
        rc = zmq_msg_send (frame1, handle, ZMQ_DONTWAIT) < 0? -1: 0;
    if (rc) {
        int error = zmq_errno ();
        zmq_msg_close (frame0);         //  Sent ones are already empty
        zmq_msg_close (frame1);
        errno = error;
        return s_send_failed (self);
    }
    return SSTREAM_OK;
}

//  One message from the socket, if one is waiting
static bool
s_read (sstream_link_t *self, sstream_link_msg_t *message)
{
    void *handle = zsock_resolve (self->sock);
    message->routed = self->routed;
    message->routing_id_size = 0;
    message->bad_routing_id = false;
    message->frames = 0;
    zmq_msg_init (&message->frame0);
    zmq_msg_init (&message->frame1);
    if (self->routed) {
        zmq_msg_t id;
        zmq_msg_init (&id);
        if (zmq_msg_recv (&id, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&id);
            return false;
        }
        size_t size = zmq_msg_size (&id);
        if (size == 0 || size > SSTREAM_ROUTING_ID_MAX)
            message->bad_routing_id = true;
        else {
            memcpy (message->routing_id, zmq_msg_data (&id), size);
            message->routing_id_size = size;
        }
        bool more = zmq_msg_more (&id);
        zmq_msg_close (&id);
        if (!more)
            return true;
        zmq_msg_recv (&message->frame0, handle, 0);
    }
    else
    if (zmq_msg_recv (&message->frame0, handle, ZMQ_DONTWAIT) < 0)
        return false;
    message->frames = 1;
    if (zmq_msg_more (&message->frame0)) {
        zmq_msg_recv (&message->frame1, handle, 0);
        message->frames++;
        if (zmq_msg_more (&message->frame1)) {
            zmq_msg_t extra;
            zmq_msg_init (&extra);
            bool more = true;
            while (more && zmq_msg_recv (&extra, handle, 0) >= 0) {
                message->frames++;
                more = zmq_msg_more (&extra);
            }
            zmq_msg_close (&extra);
        }
    }
    return true;
}

bool
sstream_link_recv (sstream_link_t *self, sstream_link_msg_t *message)
{
    assert (self && message);
    //  What the bulk path made whole goes first: it came first
    if (self->bulkpath && sstream_bulkpath_next (self->bulkpath, message))
        return true;
    while (s_read (self, message)) {
        if (!self->bulkpath || sstream_bulkpath_admit (self->bulkpath, message))
            return true;
        sstream_link_msg_close (message);  //  Taken by the path: empty
    }
    return false;
}

void
sstream_link_msg_close (sstream_link_msg_t *message)
{
    zmq_msg_close (&message->frame0);
    zmq_msg_close (&message->frame1);
}

sstream_bulkpath_t *
sstream_link_bulkpath (sstream_link_t *self)
{
    assert (self);
    return self->bulkpath;
}
