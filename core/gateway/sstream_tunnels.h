/*  =========================================================================
    sstream_tunnels - transparent TCP tunnels through two gateways (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    An outbound tunnel session (the consumer's facility) listens on a TCP
    port from the gateway's range; an inbound session of the same name
    (the producer's facility) knows the TCP server to reach. Each connection
    accepted on the outbound side is carried over the WAN link, and the
    inbound side opens a connection of its own to the server. Bytes
    flow both ways with per-connection credit (PROTOCOL.md section 9); an end
    of input becomes a half-close on the far side, and a reset a reset.
    What a gateway reads from an application it seals for the other
    gateway (sstream_tunnel_seal), so that the chunks may take the WAN
    link's bulk path without CURVE under them.
*/

#ifndef SSTREAM_TUNNEL_H_INCLUDED
#define SSTREAM_TUNNEL_H_INCLUDED

typedef struct _sstream_tunnels_t sstream_tunnels_t;

//  Send a message to the peer gateway (the frames are spent whatever
//  happens); SSTREAM_ELOST when there is none. A control message has a
//  msgpack header; a chunk is a binary header and its bytes.
typedef int (sstream_tunnels_send_fn) (void *arg, zframe_t **header);
typedef int (sstream_tunnels_send_data_fn) (void *arg, zmq_msg_t *frame0, zmq_msg_t *frame1);

typedef struct {
    const char *gateway;        //  This gateway's name, for messages
    const char *address;        //  Where outbound sessions listen
    int port_low;               //  Their ports come from this range
    int port_high;
    uint64_t window;            //  Bytes in flight per connection and way
    uint64_t max_connections;   //  Open at once, per session
    bool sealed;                //  Seal what this side reads (PROTOCOL.md 9.1)
    zcert_t *cert;              //  Our key pair: opens what the peer sealed
    const byte *peer_key;       //  The peer's public key (32 bytes) to seal
                                //  for; NULL: none, so nothing is sealed
    uint64_t rekey;             //  Bytes a key seals (0: the built-in limit)
    sstream_tunnels_send_fn *send;
    sstream_tunnels_send_data_fn *send_data;
    void *send_arg;
} sstream_tunnels_config_t;

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

//  A tunnel message from the peer gateway (msgpack: tunnel-open to
//  tunnel-reset, tunnel-key).
void
    sstream_tunnels_handle (sstream_tunnels_t *self, const sstream_wire_t *header);

//  A chunk from the peer gateway: its binary header (read and checked)
//  and its bytes, which are moved out of chunk.
void
    sstream_tunnels_chunk (sstream_tunnels_t *self, const sstream_wire_batch_t *header,
                           zmq_msg_t *chunk);

//  Chunks from the peer that did not open, or came out of turn (each
//  reset its connection).
uint64_t
    sstream_tunnels_refused (sstream_tunnels_t *self);

//  The peer gateway is gone: every connection is reset.
void
    sstream_tunnels_peer_lost (sstream_tunnels_t *self, const char *why);

#endif
