/*  =========================================================================
    sstream_router - a gateway's protocol engine: its parties, its streams,
    and every message between them (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The gateway actor (sstream_gateway) owns the links and the loop; the
    router owns what flows through them. Parties (sstream_peer_t) are the
    local clients, by routing id, and the peer gateway; streams
    (sstream_stream_t) sit between a source and a sink.
*/

#ifndef SSTREAM_ROUTER_H_INCLUDED
#define SSTREAM_ROUTER_H_INCLUDED

typedef struct _sstream_router_t sstream_router_t;

typedef struct {
    const char *name;           //  This gateway's name
    uint64_t buffer;            //  Bytes held per stream, at most
    uint64_t max_streams;
    int64_t heartbeat;          //  msecs
    int64_t peer_timeout;
    uint64_t client_streams_max;        //  Streams one client may hold
    sstream_link_t *local;      //  Borrowed: the facility's clients
    sstream_keyring_t *local_trust;     //  Borrowed; NULL without security
    sstream_link_t *wan;        //  Borrowed; NULL without a peer
    bool wan_bind;
    bool wan_secure;
    const char *peer_name;
    const char *peer_key;       //  Pinned key, Z85
} sstream_router_config_t;

sstream_router_t *
    sstream_router_new (const sstream_router_config_t *config);

void
    sstream_router_destroy (sstream_router_t **self_p);

//  Take what is waiting on the local link, or on the WAN link.
void
    sstream_router_handle_local (sstream_router_t *self);
void
    sstream_router_handle_wan (sstream_router_t *self);

//  One socket-monitor event from a link.
void
    sstream_router_handle_monitor (sstream_router_t *self, sstream_link_t *link);

//  Timed work: pings, silent parties, hellos, trusted keys. Call when
//  zclock_mono () reaches sstream_router_next_wake.
void
    sstream_router_tick (sstream_router_t *self);
int64_t
    sstream_router_next_wake (sstream_router_t *self);

//  A statistic by name (see sstream_gateway_stat).
int
    sstream_router_stat (sstream_router_t *self, const char *name, uint64_t *value);

//  The gateway's tunnels (borrowed): tunnel messages from the peer go to
//  them, and they send through the peer with sstream_router_tunnel_send.
void
    sstream_router_set_tunnels (sstream_router_t *self, sstream_tunnels_t *tunnels);

//  Send to the peer gateway (arg is the router); SSTREAM_ELOST when it is
//  not there.
int
    sstream_router_tunnel_send (void *arg, zframe_t **header, zframe_t **payload);

//  The peer gateway's name (NULL without a peer), and whether it is
//  connected now.
const char *
    sstream_router_peer (sstream_router_t *self, bool *ready);

//  Rules for who may produce and consume what (borrowed; NULL: anybody
//  a link admits).
void
    sstream_router_set_access (sstream_router_t *self, sstream_access_t *access);

//  Abort every stream, telling both ends: the gateway is stopping.
void
    sstream_router_shutdown (sstream_router_t *self);

#endif
