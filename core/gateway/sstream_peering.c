/*  =========================================================================
    sstream_peering - a gateway and its peer at the other facility

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_gateway_classes.h"

//  Sessions of the peer we remember having been replaced: a hello with
//  one of them was queued on a connection the peer has since left
#define RETIRED_MAX 16

struct _sstream_peering_t {
    char gateway [65];
    char peer_name [65];
    char peer_key [41];
    sstream_link_t *wan;
    bool bind;
    bool secure;
    int64_t heartbeat;
    int64_t peer_timeout;
    sstream_party_t *peer;      //  Once known
    bool up;
    uint64_t session;           //  Connecting: ours. Binding: the peer's.
    int64_t next_hello;         //  Connecting side
    bool refused;               //  Last handshake failed (logged once)
    bool no_bulk;               //  Connecting: the peer's bulk path could
                                //  not be reached; payloads go by the link
    //  Binding: sessions the peer has left for newer ones, newest last
    uint64_t retired [RETIRED_MAX];
    size_t retired_count;
};

static sstream_party_t *
s_party_new (sstream_peering_t *self, const byte *routing_id, size_t size, const char *key)
{
    char name [80];
    snprintf (name, sizeof (name), "peer %s", self->peer_name);
    return sstream_party_new (SSTREAM_PARTY_GATEWAY, self->wan, routing_id, size, key, name,
                              self->peer_timeout);
}

sstream_peering_t *
sstream_peering_new (const sstream_peering_config_t *config)
{
    sstream_peering_t *self = (sstream_peering_t *) zmalloc (sizeof (sstream_peering_t));
    if (!self)
        return NULL;
    snprintf (self->gateway, sizeof (self->gateway), "%s", config->gateway);
    snprintf (self->peer_name, sizeof (self->peer_name), "%s",
              config->peer_name? config->peer_name: "peer");
    snprintf (self->peer_key, sizeof (self->peer_key), "%s", config->peer_key? config->peer_key: "");
    self->wan = config->wan;
    self->bind = config->bind;
    self->secure = config->secure;
    self->heartbeat = config->heartbeat;
    self->peer_timeout = config->peer_timeout;
    if (!self->bind) {
        //  We connect: the peer exists from the start, not yet up. Its key
        //  is the one we pinned; messages on our side carry none to check
        self->peer = s_party_new (self, NULL, 0, "");
        if (!self->peer) {
            free (self);
            return NULL;
        }
        randombytes_buf (&self->session, sizeof (self->session));
    }
    return self;
}

void
sstream_peering_destroy (sstream_peering_t **self_p)
{
    if (self_p && *self_p) {
        sstream_peering_t *self = *self_p;
        sstream_party_destroy (&self->peer);
        free (self);
        *self_p = NULL;
    }
}

const char *
sstream_peering_name (sstream_peering_t *self)
{
    return self->peer_name;
}

sstream_party_t *
sstream_peering_party (sstream_peering_t *self)
{
    return self->peer;
}

bool
sstream_peering_is_up (sstream_peering_t *self)
{
    return self->peer && self->up;
}

sstream_party_t *
sstream_peering_sender (sstream_peering_t *self, const byte *routing_id, size_t size)
{
    return self->peer && sstream_party_is (self->peer, routing_id, size)? self->peer: NULL;
}

static void
s_send_hello (sstream_peering_t *self)
{
    sstream_wire_t hello = {
        .type = SSTREAM_WIRE_HELLO,
        .role = SSTREAM_ROLE_GATEWAY,
        .session = self->session,
        .heartbeat = (uint64_t) self->heartbeat,
        .flags = sstream_link_bulkpath (self->wan) && !self->no_bulk? SSTREAM_WIRE_BULK_OK: 0
    };
    snprintf (hello.text, sizeof (hello.text), "%s", self->gateway);
    zframe_t *frame = sstream_wire_encode (&hello);
    if (frame)
        sstream_party_send (self->peer, &frame, NULL);
    self->next_hello = zclock_mono () + self->heartbeat;
}

static void
s_came_up (sstream_peering_t *self)
{
    self->up = true;
    self->refused = false;
    sstream_log_info ("%s: %s is up", self->gateway, sstream_party_name (self->peer));
}

static void
s_retire (sstream_peering_t *self, uint64_t session)
{
    if (self->retired_count == RETIRED_MAX) {
        memmove (self->retired, self->retired + 1, (RETIRED_MAX - 1) * sizeof (uint64_t));
        self->retired_count--;
    }
    self->retired [self->retired_count++] = session;
}

bool
sstream_peering_is_stale (sstream_peering_t *self, const sstream_wire_t *hello)
{
    size_t index;
    for (index = 0; index < self->retired_count; index++)
        if (self->retired [index] == hello->session)
            return true;
    return false;
}

const char *
sstream_peering_replaces (sstream_peering_t *self, const byte *routing_id, size_t size,
                          const sstream_wire_t *hello)
{
    if (!self->peer)
        return NULL;
    if (!sstream_party_is (self->peer, routing_id, size))
        return "it connected again";
    if (self->up && self->session != hello->session)
        //  Same connection, new session: it dropped what it had with us
        return "it started a new session";
    return NULL;
}

int
sstream_peering_hello (sstream_peering_t *self, const byte *routing_id, size_t size,
                       const char *key, const sstream_wire_t *hello, bool *came_up)
{
    *came_up = false;
    if (self->secure && (!key || !streq (key, self->peer_key))) {
        char name [80];
        sstream_log_warning ("%s: refused hello from '%s': key %s is not the pinned key of %s",
                             self->gateway, sstream_printable (hello->text, name, sizeof (name)),
                             key? key: "(none)", self->peer_name);
        char text [SSTREAM_WIRE_TEXT_MAX];
        snprintf (text, sizeof (text), "%s: key %s is not the key this gateway pins for its peer",
                  self->gateway, key? key: "(none)");
        zframe_t *frame = sstream_wire_error (SSTREAM_EAUTH, NULL, text);
        if (frame)
            sstream_link_send (self->wan, routing_id, size, &frame, NULL);
        return SSTREAM_EAUTH;
    }
    if (!self->peer) {
        self->peer = s_party_new (self, routing_id, size, key);
        if (!self->peer)
            return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    if (self->session != hello->session) {
        //  The peer started over: its earlier session is done for good
        if (self->session)
            s_retire (self, self->session);
        self->session = hello->session;
    }
    sstream_party_heard (self->peer, zclock_mono ());
    sstream_party_expect_heartbeat (self->peer, (int64_t) hello->heartbeat);
    sstream_wire_t welcome = { .type = SSTREAM_WIRE_WELCOME, .heartbeat = (uint64_t) self->heartbeat };
    snprintf (welcome.text, sizeof (welcome.text), "%s", self->gateway);
    if (hello->flags & SSTREAM_WIRE_BULK_OK)
        sstream_party_offer_bulk (self->peer, &welcome);
    zframe_t *frame = sstream_wire_encode (&welcome);
    if (frame)
        sstream_party_send (self->peer, &frame, NULL);
    if (!self->up) {
        s_came_up (self);
        *came_up = true;
    }
    return SSTREAM_OK;
}

bool
sstream_peering_welcome (sstream_peering_t *self, const sstream_wire_t *welcome)
{
    sstream_party_expect_heartbeat (self->peer, (int64_t) welcome->heartbeat);
    sstream_bulkpath_t *path = sstream_link_bulkpath (self->wan);
    if (path && *welcome->bulk) {
        //  A new token: whatever connection we had belongs to a session
        //  the peer has dropped
        sstream_party_forget_bulk (self->peer);
        if (sstream_bulkpath_connect (path, welcome->bulk, welcome->token) != SSTREAM_OK
        &&  !self->up) {
            //  The peer now waits for our connection, and would send its
            //  payloads that way: take the offer back by starting a new
            //  session whose hello does not ask for a bulk path
            sstream_log_warning ("%s: %s: sealed payloads go over the link instead (set "
                                 "peer/bulk-path = off to say so)", self->gateway,
                                 sstream_errmsg ());
            self->no_bulk = true;
            sstream_peering_lost (self);
            return false;
        }
    }
    if (self->up)
        return false;
    s_came_up (self);
    return true;
}

void
sstream_peering_lost (sstream_peering_t *self)
{
    self->up = false;
    if (self->bind)
        sstream_party_destroy (&self->peer);
    else {
        //  A new session: the other side must drop what it had with us
        sstream_party_forget_bulk (self->peer);
        randombytes_buf (&self->session, sizeof (self->session));
        self->next_hello = 0;       //  Say hello again at once
    }
}

void
sstream_peering_handshake (sstream_peering_t *self, sstream_link_event_t event)
{
    if (event == SSTREAM_LINK_HANDSHAKE_OK) {
        if (!self->bind && !self->up)
            s_send_hello (self);
        return;
    }
    if (!self->bind && !self->refused) {
        self->refused = true;
        sstream_log_error ("%s: peer %s at %s %s", self->gateway, self->peer_name,
            sstream_link_endpoint (self->wan),
            event == SSTREAM_LINK_HANDSHAKE_AUTH
            ? "refused our key: its trusted keys must include this gateway's public key"
            : "failed the security handshake: is peer/public-key that gateway's key?");
    }
}

void
sstream_peering_tick (sstream_peering_t *self, int64_t now)
{
    if (!self->bind && !self->up && now >= self->next_hello)
        s_send_hello (self);
}

int64_t
sstream_peering_next_hello (sstream_peering_t *self)
{
    return !self->bind && !self->up? self->next_hello: INT64_MAX;
}
