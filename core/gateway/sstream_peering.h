/*  =========================================================================
    sstream_peering - a gateway and its peer at the other facility: who
    it is, hello and welcome, and whether it is up (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The connecting gateway says hello when its link comes up, and again
    every heartbeat until welcomed; the binding gateway checks that the
    hello comes under the pinned key, and welcomes it (PROTOCOL.md section
    3.1). A hello from another connection, or with a new session, means the
    other side started over: the peer it replaces is lost first.

    Peering keeps the peer's state; what a lost peer means for streams and
    tunnels is the router's to act on.

    The peer link always comes back. The connecting gateway, whenever it
    gives its peer up (silence, a disconnection, an error, a welcome that
    does not come), hangs up and dials afresh: a connection libzmq still
    holds may be one that a cut WAN left for dead, with hellos queued
    behind pings nobody will read. After a handshake that failed (the
    other side refused our key, or could not read what we sent under the
    key we pinned for it) it dials again after a wait that doubles from
    SSTREAM_LINK_RECONNECT_IVL to SSTREAM_LINK_RECONNECT_MAX: libzmq would
    not dial again at all after a refusal, and again at once after the
    rest. Connections that cannot be made libzmq tries again by itself,
    with the same backoff, each given the link's connect timeout. Hellos
    go only on a connection whose handshake succeeded. The binding gateway
    waits for the new connection's hello.

    Why the peer is not up is kept, in plain words, for whoever must say
    it (sstream_peering_why_down), and logged each time it is found again,
    once and then counted (sstream_log_repeat): "gateway-b: peer gateway-a
    is down: ...". What each side can know:

    - connecting, ZAP refused our key: the monitor says the handshake
      failed on authentication: "gateway-a refused our key (its
      peer/public-key is not this gateway's public key)";
    - connecting, the key we pinned is not the other side's: it cannot
      read our hello and drops the connection, and the monitor says only
      that the handshake failed: "gateway-a's key is not the one pinned in
      peer/public-key (it dropped our security handshake at tcp://...)";
    - binding, ZAP refused a key: the monitor says a handshake failed on
      authentication, and the ZAP handler whose key: "refused key K: it is
      not the key pinned for gateway-b in peer/public-key";
    - binding, a hello that did not open under our key: the monitor says
      the handshake failed on cryptography, from somebody: "a connection
      failed the security handshake (...): does gateway-b pin this
      gateway's public key in its peer/public-key?";
    - connecting, no connection: refused ("connection refused at
      tcp://..."), no route, or no answer within the connect timeout ("no
      answer from tcp://..."), told apart by how soon libzmq gave up (its
      monitor does not say why);
    - either side, the peer given up: what the router said ("silent for
      10 s", "disconnected", what the peer said in an error).
*/

#ifndef SSTREAM_PEERING_H_INCLUDED
#define SSTREAM_PEERING_H_INCLUDED

typedef struct _sstream_peering_t sstream_peering_t;

typedef struct {
    const char *gateway;        //  Our name
    const char *peer_name;      //  The peer's, as configured
    const char *peer_key;       //  Its pinned key, Z85 ("" without security)
    sstream_link_t *wan;        //  Borrowed
    bool bind;                  //  We bind the WAN link (ROUTER)
    bool secure;
    int64_t heartbeat;          //  msecs
    int64_t peer_timeout;
    int64_t connect_timeout;    //  The WAN link's (connecting), 0: none
    int64_t handshake_timeout;  //  The WAN link's
} sstream_peering_config_t;

sstream_peering_t *
    sstream_peering_new (const sstream_peering_config_t *config);

void
    sstream_peering_destroy (sstream_peering_t **self_p);

//  The peer's configured name.
const char *
    sstream_peering_name (sstream_peering_t *self);

//  The peer as a party, once known (from the start when we connect), and
//  whether it is up (hello and welcome done).
sstream_party_t *
    sstream_peering_party (sstream_peering_t *self);
bool
    sstream_peering_is_up (sstream_peering_t *self);

//  Why the peer is not up, in plain words ("silent for 10 s", "gateway-a
//  refused our key (its peer/public-key is not this gateway's public
//  key)"): the latest reason, a clause to follow "peer gateway-a is
//  down: ", at most SSTREAM_WIRE_TEXT_MAX bytes with its NUL, printable.
//  NULL when it is up. Valid until the next call into peering.
const char *
    sstream_peering_why_down (sstream_peering_t *self);

//  Times the peer came up again after it had been lost, and (connecting)
//  times this gateway hung up on it and dialled afresh.
uint64_t
    sstream_peering_reconnects (sstream_peering_t *self);
uint64_t
    sstream_peering_redials (sstream_peering_t *self);

//  The peer, if a message with this routing id (NULL when we connect) is
//  from it; else NULL.
sstream_party_t *
    sstream_peering_sender (sstream_peering_t *self, const byte *routing_id, size_t size);

//  A hello, on the binding side, with a session the peer has already left
//  for a newer one: it was queued on a connection the peer has closed
//  since, and comes late. The router ignores it (before replaces).
bool
    sstream_peering_is_stale (sstream_peering_t *self, const sstream_wire_t *hello);

//  A hello, on the binding side. key is the sender's (ZAP User-Id). First
//  call replaces: when it returns a reason, the current peer is lost for
//  it (the router acts, then calls sstream_peering_lost) before the hello
//  is taken with sstream_peering_hello, which returns SSTREAM_EAUTH (and
//  answers) for a key that is not the pinned one, and sets *came_up when
//  the peer is up now and was not before.
const char *
    sstream_peering_replaces (sstream_peering_t *self, const byte *routing_id, size_t size,
                              const sstream_wire_t *hello);
int
    sstream_peering_hello (sstream_peering_t *self, const byte *routing_id, size_t size,
                           const char *key, const sstream_wire_t *hello, bool *came_up);

//  A welcome, on the connecting side: true when the peer is up now and was
//  not before.
bool
    sstream_peering_welcome (sstream_peering_t *self, const sstream_wire_t *welcome);

//  An error without a stream from the binding gateway, on the connecting
//  side before it welcomed us: why it does not (kept and logged).
void
    sstream_peering_refused (sstream_peering_t *self, const sstream_wire_t *error);

//  The peer is lost, for why (the router has ended what went through it):
//  forget it (binding side), or start a new session on a new connection,
//  dialled at once (connecting side).
void
    sstream_peering_lost (sstream_peering_t *self, const char *why);

//  An event of the WAN link's monitor, with its value: connections made
//  and failed, handshakes that succeeded (say hello) or failed (why, and
//  when to dial again).
void
    sstream_peering_event (sstream_peering_t *self, sstream_link_event_t event, int value);

//  Timed work while the peer is not up: hellos until welcomed, dialling
//  afresh when it is time. When the next is due.
void
    sstream_peering_tick (sstream_peering_t *self, int64_t now);
int64_t
    sstream_peering_next_wake (sstream_peering_t *self);

#endif
