/*  =========================================================================
    sstream_wire - encode and decode protocol messages (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The one codec of core/PROTOCOL.md, version 2. Two kinds of header:

    - data and credit: a fixed 32-byte binary header (sstream_wire_batch_t),
      read by a gateway alone to forward a batch of records;
    - everything else: a msgpack map with string keys (sstream_wire_t).

    The first byte tells them apart: a binary header starts with the
    version, 2, which no msgpack map starts with. Decoding never trusts its
    input: anything that is not exactly what the protocol says is an
    SSTREAM_EPROTO error with a one-line reason in sstream_errmsg ().
*/

#ifndef SSTREAM_WIRE_H_INCLUDED
#define SSTREAM_WIRE_H_INCLUDED

#define SSTREAM_WIRE_VERSION     2
#define SSTREAM_WIRE_HEADER_MAX  65536      //  A msgpack header frame
#define SSTREAM_WIRE_TEXT_MAX    512

//  Largest window or credit grant taken from a peer: 1 TiB
#define SSTREAM_WIRE_WINDOW_MAX (1ULL << 40)

typedef enum {
    SSTREAM_WIRE_HELLO = 1,
    SSTREAM_WIRE_WELCOME,
    SSTREAM_WIRE_OPEN,
    SSTREAM_WIRE_ACCEPTED,
    SSTREAM_WIRE_DATA,          //  Binary header (sstream_wire_batch_t)
    SSTREAM_WIRE_CREDIT,        //  Binary header
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
    //  Sealed streams (PROTOCOL.md section 3.8)
    SSTREAM_WIRE_KEY,
    //  Sealed tunnels (PROTOCOL.md section 9.1)
    SSTREAM_WIRE_TUNNEL_KEY,
    //  Resuming streams (PROTOCOL.md section 3.10)
    SSTREAM_WIRE_RESUME,
    SSTREAM_WIRE_ACK,
    //  Control link: streams (PROTOCOL.md section 8)
    SSTREAM_WIRE_STREAM_LIST,
    SSTREAM_WIRE_STREAMS,
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
//  Flags of open and hello: the sender can connect to a bulk path
//  (accepted and welcome then say where, and with which token)
#define SSTREAM_WIRE_BULK_OK     2
//  Flag of open: the sender resumes a stream it was in (PROTOCOL.md
//  section 3.10): its epoch, and resume: the first record it holds
//  (producer) or needs (consumer)
#define SSTREAM_WIRE_RESUME_OK   4

#define SSTREAM_WIRE_ID_MAX      32
#define SSTREAM_WIRE_SEAL_TAG    16             //  Bytes of a seal's tag
#define SSTREAM_WIRE_LIST_MAX    (16 << 20)     //  A sessions or streams payload
#define SSTREAM_WIRE_ADDRESS_MAX 255


//  --------------------------------------------------------------------------
//  Control messages: msgpack maps

//  A decoded msgpack header. Fields a type does not use are zero.
typedef struct {
    int type;                   //  sstream_wire_type_t
    char stream [SSTREAM_STREAM_NAME_MAX + 1];  //  also a session's name
    uint32_t sid;               //  open, accepted: the sender's number for
                                //  the stream on this link (section 3.2);
                                //  tunnel-open, tunnel-opened: for the
                                //  connection (section 9)
    uint64_t seq;               //  end, end-ack: records; resume: the first
                                //  record to send; ack: records taken
    uint64_t flags;             //  open, session-open (below)
    uint64_t bytes;             //  end, end-ack, tunnel-credit
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
    uint64_t epoch;             //  open, key: the producer's run of the stream
    uint64_t generation;        //  key, tunnel-key: the data key's generation
    uint64_t cipher;            //  key, tunnel-key: sstream_cipher_t
    char payload [16];          //  open: "sealed" or "hop"
    char seal [2 * SSTREAM_WIRE_SEAL_TAG + 1];   //  end: its seal, in hex
    char bulk [SSTREAM_BULK_ADDRESS_MAX];       //  accepted, welcome: where the
                                                //  bulk path listens
    char token [2 * 32 + 1];    //  accepted, welcome: a single-use token for
                                //  it, in hex
    char checksum [33];         //  end: XXH3-128 of the payload bytes, hex
    uint64_t resume;            //  open with SSTREAM_WIRE_RESUME_OK: the
                                //  first record held (produce) or needed
    char wrap [2 * 80 + 1];     //  tunnel-key: the key wrapped for the
                                //  receiving gateway, in hex
} sstream_wire_t;

//  Decode one msgpack header frame into self, whatever self held before.
//  A binary header (data, credit) is an error here: see sstream_wire_is_batch.
int
    sstream_wire_decode (sstream_wire_t *self, const void *data, size_t size);

//  Encode self as a header frame. Returns NULL when out of memory.
zframe_t *
    sstream_wire_encode (const sstream_wire_t *self);

//  True for the msgpack types followed by a payload frame (sessions,
//  streams, key).
bool
    sstream_wire_has_payload (int type);

//  Name of a message type, for logs.
const char *
    sstream_wire_type_name (int type);

//  Shorthands that encode a one-frame control message.
zframe_t *
    sstream_wire_error (uint32_t code, const char *stream, const char *text);
zframe_t *
    sstream_wire_ping (void);

//  Record "malformed header: REASON" as the error; SSTREAM_EPROTO.
int
    sstream_wire_malformed (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  Check that meta is one complete msgpack map (a record's metadata).
int
    sstream_wire_check_meta (const void *meta, size_t size);


//  --------------------------------------------------------------------------
//  Data and credit: the binary header

#define SSTREAM_WIRE_BATCH_HEADER 32

//  A data message is two frames: this header followed by the batch's
//  record index (frame 0), and the records' payloads (frame 1). A credit
//  message is the header alone. A tunnel-data message is this header
//  (sid: the receiver's number for the connection, seq: the chunk's
//  number on it, count 1, index 0) and the chunk (frame 1).
typedef struct {
    int type;                   //  SSTREAM_WIRE_DATA, _CREDIT or _TUNNEL_DATA
    uint16_t flags;             //  data: must be understood (none yet)
    uint32_t sid;               //  The stream's number on this link, as
                                //  the receiver of this message chose it
    uint64_t seq;               //  data: the first record's sequence number
    uint32_t count;             //  data: records in the batch
    uint32_t index;             //  data: bytes of index after the header
    uint64_t length;            //  data: bytes of payload (frame 1);
                                //  credit: bytes granted
} sstream_wire_batch_t;

//  Data flags: the batch's records are sealed end to end (frame 0 is the
//  header alone; frame 1 holds the index and payloads, sealed)
#define SSTREAM_WIRE_SEALED 0x1
//  The sealed payload follows on the link's bulk path, not as frame 1
//  (PROTOCOL.md section 3.9). Only a link sets and clears it: above the
//  link, a message with it is one whose payload never came.
#define SSTREAM_WIRE_BULK   0x4

//  Records in one batch, at most, and index bytes (entries and metadata)
#define SSTREAM_WIRE_BATCH_RECORDS_MAX 65536
#define SSTREAM_WIRE_INDEX_MAX (32 << 20)

//  What a batch costs in credit: both frames and a fixed part for the
//  queues' own bookkeeping, so that even a batch of empty records is
//  bounded (PROTOCOL.md section 4).
#define SSTREAM_WIRE_BATCH_OVERHEAD 32

static inline uint64_t
sstream_wire_batch_cost (uint64_t frame0, uint64_t frame1)
{
    return frame0 + frame1 + SSTREAM_WIRE_BATCH_OVERHEAD;
}

//  What one record of size bytes with meta_size bytes of metadata costs
//  when it travels alone.
static inline uint64_t
sstream_wire_record_cost (uint64_t size, uint64_t meta_size)
{
    return sstream_wire_batch_cost (SSTREAM_WIRE_BATCH_HEADER + 8 + meta_size, size);
}

//  True when a frame starts with a binary header.
static inline bool
sstream_wire_is_batch (const void *data, size_t size)
{
    return size > 0 && *(const byte *) data == SSTREAM_WIRE_VERSION;
}

//  Write the header into out (SSTREAM_WIRE_BATCH_HEADER bytes).
void
    sstream_wire_batch_write (const sstream_wire_batch_t *self, byte *out);

//  Read and range-check a header. frame0 is the whole first frame (header
//  and index); frame1_size the size of the payload frame, or -1 when the
//  message has one frame. A data header must have two frames, an index of
//  exactly the rest of frame 0, a length of exactly frame 1, and at least
//  one record; a credit header one frame and no more than 1 TiB.
int
    sstream_wire_batch_read (sstream_wire_batch_t *self, const byte *frame0, size_t size,
                             int64_t frame1_size);

//  Rewrite the stream number of a header in place (a gateway forwarding a
//  batch to the next link).
void
    sstream_wire_batch_set_sid (byte *frame0, uint32_t sid);

//  A header's flags, read or rewritten in place (frame 0 of a data or
//  credit message, SSTREAM_WIRE_BATCH_HEADER bytes at least).
uint16_t
    sstream_wire_batch_flags (const byte *frame0);
void
    sstream_wire_batch_set_flags (byte *frame0, uint16_t flags);

//  True when frame 0 is a whole sealed data or tunnel-data message whose
//  payload follows on the bulk path, with *length its size. Checks no
//  more than that.
bool
    sstream_wire_batch_bulk (const byte *frame0, size_t size, uint64_t *length);

//  A credit message for stream sid, of bytes.
zframe_t *
    sstream_wire_credit (uint32_t sid, uint64_t bytes);


//  --------------------------------------------------------------------------
//  Sessions and streams lists: a payload frame holding a msgpack array of
//  maps

typedef struct _sstream_wire_list_t sstream_wire_list_t;

//  A list to fill: a row, then its fields, then the next row.
sstream_wire_list_t *
    sstream_wire_list_new (void);
void
    sstream_wire_list_destroy (sstream_wire_list_t **self_p);
void
    sstream_wire_list_row (sstream_wire_list_t *self, size_t fields);
void
    sstream_wire_list_text (sstream_wire_list_t *self, const char *name, const char *text);
void
    sstream_wire_list_number (sstream_wire_list_t *self, const char *name, uint64_t value);
//  The frame (NULL when out of memory); the list is spent.
zframe_t *
    sstream_wire_list_frame (sstream_wire_list_t *self);

//  Decode a list frame, checked before it is unpacked: *rows_p gets a list
//  of rows, each a zhashx_t of field name to text (numbers as decimal).
int
    sstream_wire_list_decode (const void *data, size_t size, zlistx_t **rows_p);

#endif
