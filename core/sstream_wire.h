/*  =========================================================================
    sstream_wire - encode and decode protocol headers (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The one encoder and decoder of core/PROTOCOL.md. Decoding never trusts
    its input: any header that is not exactly what the protocol says is an
    SSTREAM_EPROTO error with a one-line reason in sstream_errmsg ().
*/

#ifndef SSTREAM_WIRE_H_INCLUDED
#define SSTREAM_WIRE_H_INCLUDED

#define SSTREAM_WIRE_VERSION     1
#define SSTREAM_WIRE_HEADER_MAX  65536
#define SSTREAM_WIRE_TEXT_MAX    512

//  What a data message costs in credit: its payload, plus a fixed part for
//  the header and the queues' own bookkeeping, so that even empty messages
//  are bounded (PROTOCOL.md section 4).
#define SSTREAM_WIRE_MESSAGE_COST 64

static inline int64_t
sstream_wire_cost (uint64_t payload)
{
    return (int64_t) payload + SSTREAM_WIRE_MESSAGE_COST;
}

//  Largest window or credit grant taken from a peer: 1 TiB
#define SSTREAM_WIRE_WINDOW_MAX (1ULL << 40)

typedef enum {
    SSTREAM_WIRE_HELLO = 1,
    SSTREAM_WIRE_WELCOME,
    SSTREAM_WIRE_OPEN,
    SSTREAM_WIRE_ACCEPTED,
    SSTREAM_WIRE_DATA,
    SSTREAM_WIRE_CREDIT,
    SSTREAM_WIRE_END,
    SSTREAM_WIRE_END_ACK,
    SSTREAM_WIRE_ERROR,
    SSTREAM_WIRE_PING,
    //  Control link (PROTOCOL.md section 8)
    SSTREAM_WIRE_SESSION_OPEN,
    SSTREAM_WIRE_SESSION_LIST,
    SSTREAM_WIRE_SESSION_RELEASE,
    SSTREAM_WIRE_SESSIONS,
    //  Tunnels between gateways (PROTOCOL.md section 9)
    SSTREAM_WIRE_TUNNEL_OPEN,
    SSTREAM_WIRE_TUNNEL_OPENED,
    SSTREAM_WIRE_TUNNEL_DATA,
    SSTREAM_WIRE_TUNNEL_CREDIT,
    SSTREAM_WIRE_TUNNEL_EOF,
    SSTREAM_WIRE_TUNNEL_RESET,
    SSTREAM_WIRE_TYPES
} sstream_wire_type_t;

typedef enum {
    SSTREAM_ROLE_NONE = 0,
    SSTREAM_ROLE_PRODUCE,
    SSTREAM_ROLE_CONSUME,
    SSTREAM_ROLE_GATEWAY,
    SSTREAM_ROLE_INBOUND,       //  A session at the producer's gateway
    SSTREAM_ROLE_OUTBOUND       //  A session at the consumer's gateway
} sstream_role_t;

//  Flags of open and session-open: refuse (with SSTREAM_ELOST) unless the
//  peer gateway is connected; a client with other gateways to try sets it.
#define SSTREAM_WIRE_NEED_PEER   1

#define SSTREAM_WIRE_ID_MAX      32
#define SSTREAM_WIRE_LIST_MAX    (16 << 20)     //  A sessions payload
#define SSTREAM_WIRE_ADDRESS_MAX 255

//  A decoded header. Fields a type does not use are zero.
typedef struct {
    int type;                   //  sstream_wire_type_t
    char stream [SSTREAM_STREAM_NAME_MAX + 1];  //  also a session's name
    uint64_t seq;               //  data, end, end-ack
    uint64_t len;               //  data, tunnel-data: payload length
    uint64_t flags;             //  data; open, session-open (below)
    uint64_t bytes;             //  credit, end, end-ack, tunnel-credit
    uint64_t window;            //  open, accepted, tunnel-open, tunnel-opened
    int role;                   //  open, hello, session-open
    uint32_t code;              //  error
    uint64_t session;           //  hello: the connecting side's session
    uint64_t heartbeat;         //  hello, welcome, open, accepted: msecs
                                //  between the sender's pings (0: unsaid)
    char text [SSTREAM_WIRE_TEXT_MAX + 1];   //  error, tunnel-reset: why;
                                             //  hello, welcome, accepted: a name
    char id [SSTREAM_WIRE_ID_MAX + 1];       //  session-release, a session's id
    char kind [16];             //  session-open: "tunnel" or "stream"
    char target [SSTREAM_WIRE_ADDRESS_MAX + 1];  //  session-open: host:port
    uint64_t links;             //  session-open: parallel links
    uint64_t rate;              //  session-open: bytes per second, 0: no limit
    bool hold;                  //  session-open: ends with its client
    uint64_t conn;              //  tunnel-*: the connection's number
    char peer [65];             //  session-open: the peer gateway it needs
    uint64_t request;           //  control requests, echoed in their replies
    char holder [33];           //  control requests: who holds held sessions
    byte *meta;                 //  data: user metadata (msgpack map), owned
    size_t meta_size;
} sstream_wire_t;

//  Decode one header frame into self, whatever self held before (reset it
//  first if it was decoded into). The user metadata of a data header is
//  copied out only when want_meta is true; sstream_wire_reset frees it. On
//  failure self holds nothing to free.
int
    sstream_wire_decode (sstream_wire_t *self, const void *data, size_t size,
                         bool want_meta);

//  Encode self as a header frame; meta (a msgpack map, may be NULL) is
//  added to a data header as it is (and the list of a sessions message,
//  a msgpack array). Returns NULL when out of memory.
zframe_t *
    sstream_wire_encode (const sstream_wire_t *self, const void *meta,
                         size_t meta_size);

//  Free what decode allocated; the struct can be reused.
void
    sstream_wire_reset (sstream_wire_t *self);

//  Check that meta is one complete msgpack map.
int
    sstream_wire_check_meta (const void *meta, size_t size);

//  True for the types followed by a payload frame (data, tunnel-data,
//  sessions).
bool
    sstream_wire_has_payload (int type);

//  A sessions payload: a msgpack array, checked before it is unpacked.
int
    sstream_wire_check_list (const void *data, size_t size);

//  Name of a message type, for logs.
const char *
    sstream_wire_type_name (int type);

//  Shorthands that encode a one-frame control message.
zframe_t *
    sstream_wire_error (uint32_t code, const char *stream, const char *text);
zframe_t *
    sstream_wire_credit (const char *stream, uint64_t bytes);
zframe_t *
    sstream_wire_ping (void);

#endif
