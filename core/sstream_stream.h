/*  =========================================================================
    sstream_stream - what a gateway holds for one stream, and the parties
    it talks to (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A stream has a source (the producer, or the peer gateway that brought
    it) and a sink (the peer gateway it goes to, or the local consumer).
    Between them sits a queue bounded in bytes by the stream's window, the
    credit this gateway granted the source (PROTOCOL.md section 4).
*/

#ifndef SSTREAM_STREAM_H_INCLUDED
#define SSTREAM_STREAM_H_INCLUDED

//  Longest routing id taken from a client (libzmq's own are 5 bytes)
#define SSTREAM_ROUTING_ID_MAX 64

typedef enum {
    SSTREAM_PEER_CLIENT,        //  A producer or consumer on the local link
    SSTREAM_PEER_GATEWAY        //  The other facility's gateway
} sstream_peer_kind_t;

//  One party on one of the gateway's links
typedef struct {
    sstream_peer_kind_t kind;
    sstream_link_t *link;
    zframe_t *routing_id;       //  NULL when we are the connecting side
    char id [SSTREAM_ROUTING_ID_MAX * 2 + 1];   //  Routing id in hex, the key
    char key [41];              //  Its CURVE public key (ZAP User-Id)
    char name [80];             //  For messages
    int64_t last_heard;
    int64_t last_sent;
    int64_t timeout;            //  Silence that means it is gone
    bool ready;                 //  A gateway: hello/welcome done
    uint64_t session;           //  A gateway: its hello's session
    size_t streams;             //  Streams it is source or sink of
} sstream_peer_t;

//  Send to a peer (see sstream_link_send); notes the time.
int
    sstream_peer_send (sstream_peer_t *peer, zframe_t **header, zframe_t **payload);

//  Gateway-wide counters the streams add to
typedef struct {
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t buffered;          //  Now, all streams
    uint64_t buffered_peak;     //  Most ever held by one stream
} sstream_stream_stats_t;

typedef struct {
    char name [SSTREAM_STREAM_NAME_MAX + 1];
    sstream_stream_stats_t *stats;
    int64_t created;

    //  From the source
    sstream_peer_t *source;     //  NULL until a producer or peer opens it
    uint64_t window;            //  Bytes we hold at most
    int64_t source_credit;      //  What the source may still send
    uint64_t to_grant;          //  Freed, not yet granted back
    uint64_t next_seq;          //  Expected next
    uint64_t received;          //  Payload bytes
    zlistx_t *queue;            //  Messages waiting for the sink
    uint64_t queued;            //  Their payload bytes
    bool end_queued;
    uint64_t end_seq;
    uint64_t end_bytes;

    //  To the sink
    bool to_peer;               //  Routed to the peer gateway
    sstream_peer_t *sink;       //  NULL until known and ready
    bool sink_open;             //  Accepted (gateway) or attached (consumer)
    int64_t sink_credit;
    int64_t sink_window;
    bool end_sent;
    uint64_t forwarded;
    sstream_peer_t *unreachable;        //  Set when pump could not send to it
} sstream_stream_t;

sstream_stream_t *
    sstream_stream_new (const char *name, uint64_t window, sstream_stream_stats_t *stats);

void
    sstream_stream_destroy (sstream_stream_t **self_p);

//  Take a data message from the source: checks sequence, length and
//  credit. Takes the frames. An error (SSTREAM_EPROTO) names the fault.
int
    sstream_stream_push (sstream_stream_t *self, const sstream_wire_t *header,
                         zframe_t **header_frame, zframe_t **payload);

//  Take the end of stream from the source: checks its counts.
int
    sstream_stream_push_end (sstream_stream_t *self, const sstream_wire_t *header,
                             zframe_t **header_frame);

//  Forward what the sink's credit allows, then grant the source what was
//  freed. Returns SSTREAM_ELOST when a peer could not be reached, and
//  SSTREAM_ETOOBIG when a message does not fit the sink's window.
int
    sstream_stream_pump (sstream_stream_t *self);

#endif
