/*  =========================================================================
    sstream_tunnels - transparent TCP tunnels through two gateways (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    An outbound tunnel session (the consumer's facility) listens on a TCP
    port from the gateway's range; an inbound session of the same name
    (the producer's facility) knows the TCP server to reach. Each connection
    accepted on the outbound side is carried over the WAN link, under CURVE,
    and the inbound side opens a connection of its own to the server. Bytes
    flow both ways with per-connection credit (PROTOCOL.md section 9); an end
    of input becomes a half-close on the far side, and a reset a reset.
*/

#ifndef SSTREAM_TUNNEL_H_INCLUDED
#define SSTREAM_TUNNEL_H_INCLUDED

typedef struct _sstream_tunnels_t sstream_tunnels_t;

//  Sends a message to the peer gateway: a header and, for data, a payload
//  (moved out, whatever happens); SSTREAM_ELOST when there is none.
typedef int (sstream_tunnels_send_fn) (void *arg, zframe_t **header, zmq_msg_t *payload);

typedef struct {
    const char *gateway;        //  This gateway's name, for messages
    const char *address;        //  Where outbound sessions listen
    int port_low;               //  Their ports come from this range
    int port_high;
    uint64_t window;            //  Bytes in flight per connection and way
    uint64_t max_connections;   //  Open at once, per session
    sstream_tunnels_send_fn *send;
    void *send_arg;
} sstream_tunnels_config_t;

//  What a session's tunnel has done
typedef struct {
    uint64_t connections;       //  Open now
    uint64_t connections_total;
    uint64_t bytes_in;          //  Read from this side's TCP connections
    uint64_t bytes_out;         //  Written to them
    int64_t last_active;        //  zclock_mono of the last byte either way
} sstream_tunnel_stats_t;

sstream_tunnels_t *
    sstream_tunnels_new (const sstream_tunnels_config_t *config);

void
    sstream_tunnels_destroy (sstream_tunnels_t **self_p);

//  An outbound session: listen on a free port of the range; *port gets it.
int
    sstream_tunnels_listen (sstream_tunnels_t *self, const char *name, uint64_t rate, int *port);

//  An inbound session: connections for name go to target ("host:port").
int
    sstream_tunnels_target (sstream_tunnels_t *self, const char *name, const char *target,
                            uint64_t rate);

//  End a session's tunnel: its listener closes, its connections are reset.
void
    sstream_tunnels_close (sstream_tunnels_t *self, const char *name);

bool
    sstream_tunnels_stats (sstream_tunnels_t *self, const char *name, sstream_tunnel_stats_t *stats);

//  Polling: fill items (at most max) with what to watch; after zmq_poll,
//  hand them back. Pass the same count.
size_t
    sstream_tunnels_poll_items (sstream_tunnels_t *self, zmq_pollitem_t *items, size_t max);
void
    sstream_tunnels_handle_poll (sstream_tunnels_t *self, zmq_pollitem_t *items, size_t count);

//  How many items the next poll needs, at most.
size_t
    sstream_tunnels_poll_count (sstream_tunnels_t *self);

//  Timed work: connections the other side never answered are reset.
void
    sstream_tunnels_tick (sstream_tunnels_t *self);

//  When rate limits, or a listener paused after a failed accept, next let
//  something through (zclock_mono), or 0.
int64_t
    sstream_tunnels_next_wake (sstream_tunnels_t *self);

//  A tunnel message from the peer gateway; a tunnel-data payload is moved
//  out of payload.
void
    sstream_tunnels_handle (sstream_tunnels_t *self, const sstream_wire_t *header,
                            zmq_msg_t *payload);

//  The peer gateway is gone: every connection is reset.
void
    sstream_tunnels_peer_lost (sstream_tunnels_t *self, const char *why);

#endif
