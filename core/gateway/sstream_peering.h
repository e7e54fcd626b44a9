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

//  The peer is lost (the router has ended what went through it): forget it
//  (binding side), or start a new session and say hello again at once
//  (connecting side).
void
    sstream_peering_lost (sstream_peering_t *self);

//  Socket events of the WAN link: a handshake that succeeded (say hello),
//  or one that failed (log it once, for the connecting side).
void
    sstream_peering_handshake (sstream_peering_t *self, sstream_link_event_t event);

//  Timed work: hellos until welcomed. When the next one is due.
void
    sstream_peering_tick (sstream_peering_t *self, int64_t now);
int64_t
    sstream_peering_next_hello (sstream_peering_t *self);

#endif
