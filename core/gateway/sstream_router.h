/*  =========================================================================
    sstream_router - a gateway's dispatch: every message that arrives on
    its local and WAN links goes to what handles it (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The gateway actor (sstream_gateway) owns the links and the loop; the
    router reads them, telling data from control by the first byte, and
    hands each message to the streams (sstream_streams), the peering
    (sstream_peering) or the tunnels (sstream_tunnels). It also keeps the
    local clients (sstream_party), and ends what went through a party that
    is gone.
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
    sstream_link_t *wan;        //  Borrowed; NULL without a peer
    bool wan_bind;
    bool wan_secure;
    const char *peer_name;
    const char *peer_key;       //  Pinned key, Z85
    int64_t wan_connect_timeout;    //  The WAN link's, as sstream_link_config_t
    int64_t wan_handshake_timeout;
} sstream_router_config_t;

sstream_router_t *
    sstream_router_new (const sstream_router_config_t *config);

void
    sstream_router_destroy (sstream_router_t **self_p);

//  Take what is waiting on the local link, or on the WAN link, without
//  going back to poll for each message (a turn has a budget, so that the
//  other link gets one too).
void
    sstream_router_handle_local (sstream_router_t *self);
void
    sstream_router_handle_wan (sstream_router_t *self);

//  One event from a link's monitor.
//  The bulk paths beside the links: how many poll items at most, the
//  items, and what came of them (messages they made whole are handled).
size_t
    sstream_router_poll_count (sstream_router_t *self);
size_t
    sstream_router_poll_items (sstream_router_t *self, zmq_pollitem_t *items, size_t max);
void
    sstream_router_handle_poll (sstream_router_t *self, const zmq_pollitem_t *items,
                                size_t count);
//  True when whole messages wait in a bulk path (left over from a turn's
//  budget): poll without waiting.
bool
    sstream_router_readable (sstream_router_t *self);

void
    sstream_router_handle_monitor (sstream_router_t *self, sstream_link_t *link);

//  Timed work: pings, silent parties, hellos, trusted keys. Call when
//  zclock_mono () reaches sstream_router_next_wake.
void
    sstream_router_tick (sstream_router_t *self);
int64_t
    sstream_router_next_wake (sstream_router_t *self);

//  The gateway's streams (the router's), for status and metrics.
sstream_streams_t *
    sstream_router_streams (sstream_router_t *self);

//  A statistic by name (see sstream_gateway_stat).
int
    sstream_router_stat (sstream_router_t *self, const char *name, uint64_t *value);

//  The gateway's tunnels (borrowed): tunnel messages and chunks from the
//  peer go to them, and they send through the peer with
//  sstream_router_tunnel_send and sstream_router_tunnel_send_data.
void
    sstream_router_set_tunnels (sstream_router_t *self, sstream_tunnels_t *tunnels);

//  Send to the peer gateway (arg is the router): a control message, or a
//  chunk (as sstream_tunnels_send_fn and _send_data_fn); SSTREAM_ELOST
//  when it is not there.
int
    sstream_router_tunnel_send (void *arg, zframe_t **header);
int
    sstream_router_tunnel_send_data (void *arg, zmq_msg_t *frame0, zmq_msg_t *frame1);

//  The peer gateway's name (NULL without a peer), and whether it is up.
const char *
    sstream_router_peer (sstream_router_t *self, bool *up);

//  Why the peer gateway is not up, in plain words (sstream_peering_why_down);
//  NULL when it is, or without a peer.
const char *
    sstream_router_peer_why_down (sstream_router_t *self);

//  Rules for who may produce and consume what (borrowed; NULL: anybody
//  a link admits).
void
    sstream_router_set_access (sstream_router_t *self, sstream_access_t *access);

//  Abort every stream, telling both ends: the gateway is stopping.
void
    sstream_router_shutdown (sstream_router_t *self);

#endif
