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
    int64_t connect_timeout;
    int64_t handshake_timeout;
    sstream_party_t *peer;      //  Once known
    bool up;
    bool ever_up;
    uint64_t session;           //  Connecting: ours. Binding: the peer's.
    bool no_bulk;               //  Connecting: the peer's bulk path could
                                //  not be reached; payloads go by the link
    //  Why it is not up, and since when
    char why [SSTREAM_WIRE_TEXT_MAX];
    int64_t down_since;
    uint64_t reconnects;
    uint64_t redials;
    //  Connecting side: the connection being made, and the next dial
    int64_t next_hello;
    bool handshaken;            //  This connection's handshake succeeded
    int64_t connected_at;       //  This connection was made (0: none)
    int64_t delayed_at;         //  A connection is being made since (0: none)
    bool closed;                //  An attempt at a connection failed
    int64_t redial_at;          //  Hang up and dial again then (0: no plan)
    unsigned failures;          //  Dials in a row that did not get us welcomed
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
    self->connect_timeout = config->connect_timeout;
    self->handshake_timeout = config->handshake_timeout;
    self->down_since = zclock_mono ();
    if (self->bind)
        snprintf (self->why, sizeof (self->why), "%s has not connected yet", self->peer_name);
    else
        snprintf (self->why, sizeof (self->why), "not connected yet (dialling %s)",
                  sstream_link_endpoint (self->wan));
    //  The dial made at the start counts as one: a first failure waits
    self->failures = 1;
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

const char *
sstream_peering_why_down (sstream_peering_t *self)
{
    return sstream_peering_is_up (self)? NULL: self->why;
}

uint64_t
sstream_peering_reconnects (sstream_peering_t *self)
{
    return self->reconnects;
}

uint64_t
sstream_peering_redials (sstream_peering_t *self)
{
    return self->redials;
}

//  The peer is down for a reason: kept, and logged at level (once, then
//  counted, as the same reason comes again and again)
static void
s_down (sstream_peering_t *self, int level, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_down (sstream_peering_t *self, int level, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->why, sizeof (self->why), format, args);
    va_end (args);
    sstream_log_fields_t fields = { .peer = self->peer_name };
    sstream_log_repeat_kind (level, &fields, NULL, "peer %s is down: %s", self->peer_name,
                             self->why);
}

//  Connecting side: dial afresh now
static void
s_redial (sstream_peering_t *self)
{
    self->redial_at = 0;
    self->handshaken = false;
    self->connected_at = 0;
    self->delayed_at = 0;
    self->closed = false;
    self->redials++;
    if (sstream_link_redial (self->wan) != SSTREAM_OK) {
        //  libzmq would not take the endpoint again: later, then
        sstream_log_error_repeat ("%s", sstream_errmsg ());
        self->redial_at = zclock_mono () + SSTREAM_LINK_RECONNECT_MAX;
    }
}

//  Connecting side: hang up, and dial again after a wait that doubles
//  with each dial that did not get us welcomed (none after a peer that
//  was up), up to SSTREAM_LINK_RECONNECT_MAX
static void
s_plan_redial (sstream_peering_t *self, int64_t now)
{
    int64_t wait = 0;
    if (self->failures) {
        wait = SSTREAM_LINK_RECONNECT_IVL;
        unsigned doubling;
        for (doubling = 1; doubling < self->failures && wait < SSTREAM_LINK_RECONNECT_MAX; doubling++)
            wait *= 2;
        if (wait > SSTREAM_LINK_RECONNECT_MAX)
            wait = SSTREAM_LINK_RECONNECT_MAX;
    }
    if (self->failures < 64)
        self->failures++;
    sstream_link_hang_up (self->wan);
    self->handshaken = false;
    self->connected_at = 0;
    self->delayed_at = 0;
    if (wait == 0)
        s_redial (self);
    else
        self->redial_at = now + wait;
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

//  What its lines said is over: "peer ... is down: " lines counted so far
//  are told before it is said to be up, and the next of them is new
static void
s_end_down_lines (sstream_peering_t *self)
{
    char prefix [160];
    snprintf (prefix, sizeof (prefix), "peer %s is down: ", self->peer_name);
    sstream_log_repeat_end (prefix);
}

static void
s_came_up (sstream_peering_t *self)
{
    s_end_down_lines (self);
    self->up = true;
    self->failures = 0;
    self->redial_at = 0;
    self->connected_at = 0;
    sstream_log_fields_t fields = { .peer = self->peer_name };
    if (self->ever_up) {
        self->reconnects++;
        sstream_log_at (SSTREAM_LOG_INFO, &fields, "%s is up again after %.1f s (it was down: %s)",
                        sstream_party_name (self->peer),
                        (zclock_mono () - self->down_since) / 1000.0, self->why);
    }
    else
        sstream_log_at (SSTREAM_LOG_INFO, &fields, "%s is up", sstream_party_name (self->peer));
    self->ever_up = true;
    *self->why = 0;
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
        sstream_printable (hello->text, name, sizeof (name));
        if (self->up)
            sstream_log_warning_repeat ("refused hello from '%s': key %s is not the pinned key "
                                        "of %s", name, key? key: "(none)", self->peer_name);
        else
            s_down (self, SSTREAM_LOG_ERROR, "refused hello from '%s': key %s is not the key "
                    "pinned for %s in peer/public-key", name, key? key: "(none)", self->peer_name);
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
            sstream_log_warning ("%s: sealed payloads go over the link instead (set "
                                 "peer/bulk-path = off to say so)", sstream_errmsg ());
            self->no_bulk = true;
            sstream_peering_lost (self, "its bulk path could not be reached");
            return false;
        }
    }
    if (self->up)
        return false;
    s_came_up (self);
    return true;
}

void
sstream_peering_refused (sstream_peering_t *self, const sstream_wire_t *error)
{
    char said [SSTREAM_WIRE_TEXT_MAX];
    s_down (self, error->code == SSTREAM_EAUTH? SSTREAM_LOG_ERROR: SSTREAM_LOG_WARNING,
            "%s says: %s", self->peer_name, sstream_printable (error->text, said, sizeof (said)));
}

void
sstream_peering_lost (sstream_peering_t *self, const char *why)
{
    if (self->up)
        self->down_since = zclock_mono ();
    //  Not logged: the router has (sstream_streams logs the loss)
    sstream_printable (why? why: "lost", self->why, sizeof (self->why));
    self->up = false;
    if (self->bind)
        sstream_party_destroy (&self->peer);
    else {
        //  A new session: the other side must drop what it had with us.
        //  On a new connection: the one we had may be dead, and what is
        //  queued on it would reach the other side late, or never
        sstream_party_forget_bulk (self->peer);
        randombytes_buf (&self->session, sizeof (self->session));
        s_plan_redial (self, zclock_mono ());
    }
}

//  A handshake on the WAN link failed. value is a ZMQ_PROTOCOL_ERROR_*
//  code, or (the other side dropped the connection) an errno.
static void
s_handshake_failed (sstream_peering_t *self, sstream_link_event_t event, int value, int64_t now)
{
    const char *endpoint = sstream_link_endpoint (self->wan);
    if (self->bind) {
        //  Anybody may knock: it matters only while the peer is not up
        char key [41] = "";
        if (event == SSTREAM_LINK_HANDSHAKE_AUTH) {
            bool known = sstream_link_refused_key (self->wan, key);
            if (self->up)
                sstream_log_info_repeat ("refused key %s on the peer link: it is not %s's",
                                         known? key: "(unknown)", self->peer_name);
            else
            if (known)
                s_down (self, SSTREAM_LOG_ERROR, "refused key %s: it is not the key pinned for %s "
                        "in peer/public-key", key, self->peer_name);
            else
                s_down (self, SSTREAM_LOG_ERROR, "refused a key that is not the one pinned for %s "
                        "in peer/public-key", self->peer_name);
        }
        else
        if (self->up)
            sstream_log_info_repeat ("a security handshake failed on the peer link (%s %#x)",
                                     value >= ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED
                                     ? "protocol error": "errno", (unsigned) value);
        else
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
            s_down (self, SSTREAM_LOG_ERROR, "a connection failed the security handshake (its "
                    "hello did not open with this gateway's key): does %s pin this gateway's "
                    "public key in its peer/public-key?", self->peer_name);
        else
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            s_down (self, SSTREAM_LOG_ERROR, "a connection without CURVE was refused: does %s "
                    "set peer/security = none?", self->peer_name);
        else
            s_down (self, SSTREAM_LOG_WARNING, "a connection failed the security handshake (%s "
                    "%#x)", value >= ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED? "protocol error": "errno",
                    (unsigned) value);
        return;
    }
    if (self->up)
        return;             //  Not this connection's: the router loses it first
    if (event == SSTREAM_LINK_HANDSHAKE_AUTH)
        s_down (self, SSTREAM_LOG_ERROR, "%s refused our key (its peer/public-key is not this "
                "gateway's public key)", self->peer_name);
    else
    if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        s_down (self, SSTREAM_LOG_ERROR, "%s at %s does not use CURVE (is its peer/security "
                "none?)", self->peer_name, endpoint);
    else
    if (value >= ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED)
        s_down (self, SSTREAM_LOG_ERROR, "the security handshake with %s at %s failed "
                "(protocol error %#x)", self->peer_name, endpoint, (unsigned) value);
    else
    if (self->connected_at && self->handshake_timeout
    &&  now - self->connected_at >= self->handshake_timeout * 9 / 10)
        s_down (self, SSTREAM_LOG_WARNING, "no answer to our security handshake from %s "
                "within %g s", endpoint, self->handshake_timeout / 1000.0);
    else
        //  It dropped the connection in the handshake: what it does when
        //  our hello does not open under its key
        s_down (self, SSTREAM_LOG_ERROR, "%s's key is not the one pinned in peer/public-key (it "
                "dropped our security handshake at %s)", self->peer_name, endpoint);
    s_plan_redial (self, now);
}

void
sstream_peering_event (sstream_peering_t *self, sstream_link_event_t event, int value)
{
    int64_t now = zclock_mono ();
    if (event == SSTREAM_LINK_HANDSHAKE_AUTH || event == SSTREAM_LINK_HANDSHAKE_FAILED) {
        s_handshake_failed (self, event, value, now);
        return;
    }
    if (self->bind || self->up)
        return;
    const char *endpoint = sstream_link_endpoint (self->wan);
    switch (event) {
        case SSTREAM_LINK_DELAYED:
            self->delayed_at = now;
            break;
        case SSTREAM_LINK_CLOSED:
            self->closed = true;
            break;
        case SSTREAM_LINK_CONNECTED:
            self->connected_at = now;
            self->delayed_at = 0;
            break;
        case SSTREAM_LINK_HANDSHAKE_OK:
            self->handshaken = true;
            s_send_hello (self);
            break;
        case SSTREAM_LINK_DISCONNECTED:
            self->handshaken = false;
            self->connected_at = 0;
            break;
        case SSTREAM_LINK_RETRIED:
            //  An attempt failed (libzmq tries again by itself): it had
            //  started (no answer in time, or refused), or it could not
            //  (no route). Without a failed attempt, this is libzmq's own
            //  wait to dial again after a connection went.
            if (self->closed && self->delayed_at
            &&  now - self->delayed_at >= self->connect_timeout * 9 / 10)
                s_down (self, SSTREAM_LOG_WARNING, "no answer from %s", endpoint);
            else
            if (self->closed && self->delayed_at)
                s_down (self, SSTREAM_LOG_WARNING, "connection refused at %s", endpoint);
            else
            if (self->closed && strncmp (endpoint, "tcp://", 6) == 0)
                s_down (self, SSTREAM_LOG_WARNING, "no route to %s", endpoint);
            else
            if (self->closed)
                s_down (self, SSTREAM_LOG_WARNING, "nobody listens at %s", endpoint);
            self->delayed_at = 0;
            self->closed = false;
            break;
        default:
            break;
    }
}

void
sstream_peering_tick (sstream_peering_t *self, int64_t now)
{
    if (self->bind || self->up)
        return;
    if (self->redial_at && now >= self->redial_at)
        s_redial (self);
    else
    if (self->connected_at && now - self->connected_at >= sstream_party_timeout (self->peer)) {
        //  A connection, and no welcome on it: the other side may be
        //  stuck, or the connection dead already
        s_down (self, SSTREAM_LOG_WARNING, "no welcome from %s at %s within %g s", self->peer_name,
                sstream_link_endpoint (self->wan), sstream_party_timeout (self->peer) / 1000.0);
        s_plan_redial (self, now);
    }
    else
    if (self->handshaken && now >= self->next_hello)
        s_send_hello (self);
}

int64_t
sstream_peering_next_wake (sstream_peering_t *self)
{
    if (self->bind || self->up)
        return INT64_MAX;
    int64_t wake = INT64_MAX;
    if (self->redial_at)
        wake = self->redial_at;
    if (self->connected_at && self->connected_at + sstream_party_timeout (self->peer) < wake)
        wake = self->connected_at + sstream_party_timeout (self->peer);
    if (self->handshaken && self->next_hello < wake)
        wake = self->next_hello;
    return wake;
}
