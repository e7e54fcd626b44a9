/*  =========================================================================
    sstream_link - one ZeroMQ socket of a producer, consumer or gateway,
    with its transport and its security (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The one place where sockets get their security applied. A bound link
    is a CURVE server with a ZAP domain of its own, behind the process's
    ZAP handler (sstream_auth), admitting only the keys it was given; a
    connecting link pins the server's public key. security = none must be
    asked for, and is logged as a warning. Its monitor reports connections
    and handshake results.
*/

#ifndef SSTREAM_LINK_H_INCLUDED
#define SSTREAM_LINK_H_INCLUDED

//  Sealed batches smaller than this go on the link, not the bulk path
#define SSTREAM_LINK_BULK_MIN (64u << 10)

typedef struct _sstream_link_t sstream_link_t;

//  The longest routing id a ROUTER link takes from a peer (libzmq's own
//  are 5 bytes)
#define SSTREAM_ROUTING_ID_MAX 64
typedef struct _sstream_bulkpath_t sstream_bulkpath_t;

//  One whole message read from a link.
typedef struct {
    byte routing_id [SSTREAM_ROUTING_ID_MAX];
    size_t routing_id_size;     //  0 on a DEALER link
    bool routed;                //  The link is a ROUTER
    bool bad_routing_id;        //  Empty, or longer than we take
    size_t frames;              //  After the routing id
    zmq_msg_t frame0;
    zmq_msg_t frame1;
} sstream_link_msg_t;

typedef struct {
    const char *name;           //  For messages: "local", "peer gateway-b"
    int type;                   //  ZMQ_ROUTER or ZMQ_DEALER
    bool bind;                  //  Bind (server) or connect (client)
    const char *endpoint;
    const char *transport;      //  Plugin name; NULL: the endpoint's scheme
    const char *const *transport_options;   //  key, value, ..., NULL
    bool insecure;              //  security = none, explicitly configured
    zcert_t *cert;              //  Our key pair (CURVE)
    const char *server_key;     //  Connecting: the server's public key, Z85
    const char *trusted;        //  Binding: folder or file of trusted keys
    int64_t handshake_timeout;  //  msecs
    int64_t connect_timeout;    //  Connecting: msecs a connection may take
                                //  to be made before it is tried again
                                //  (0: as long as the system's TCP tries);
                                //  its monitor then says when one starts,
                                //  and when an attempt fails
    uint64_t max_frame;         //  Largest frame taken; a larger one drops
                                //  the connection as its size is read
    uint64_t affinity;          //  I/O threads (bit mask), 0: any
    bool bulk;                  //  Sealed payloads may take a bulk path
                                //  beside the link, where the transport
                                //  has one (sstream_bulkpath)
    int64_t bulk_timeout;       //  msecs: see sstream_bulkpath_new
} sstream_link_config_t;

//  What the monitor saw
typedef enum {
    SSTREAM_LINK_OTHER = 0,
    SSTREAM_LINK_CONNECTED,         //  TCP/IPC connection made (connecting)
    SSTREAM_LINK_ACCEPTED,          //  connection accepted (binding)
    SSTREAM_LINK_RETRIED,           //  connect failed, will retry
    SSTREAM_LINK_DISCONNECTED,
    SSTREAM_LINK_HANDSHAKE_OK,
    SSTREAM_LINK_HANDSHAKE_AUTH,    //  ZAP refused the key
    SSTREAM_LINK_HANDSHAKE_FAILED,  //  other handshake failure: the value
                                    //  is a ZMQ_PROTOCOL_ERROR_* code, or
                                    //  an errno if the other side dropped it
    SSTREAM_LINK_DELAYED,           //  a connection is being made (connecting,
                                    //  with a connect_timeout)
    SSTREAM_LINK_CLOSED             //  an attempt at one failed (the same), or
                                    //  a listener closed
} sstream_link_event_t;

//  How soon a connecting link tries again after its connection failed or
//  went (libzmq's reconnect interval), and the longest it waits between
//  tries as failures go on (libzmq doubles the interval up to this)
#define SSTREAM_LINK_RECONNECT_IVL  100
#define SSTREAM_LINK_RECONNECT_MAX  2000

int
    sstream_link_new (sstream_link_t **self_p, const sstream_link_config_t *config);

void
    sstream_link_destroy (sstream_link_t **self_p);

zsock_t *
    sstream_link_sock (sstream_link_t *self);

//  The libzmq socket handle, for zmq_poll and zmq_msg_recv.
void *
    sstream_link_handle (sstream_link_t *self);

//  The socket that reports the link's events, to poll; then read one event
//  with sstream_link_event.
zsock_t *
    sstream_link_monitor (sstream_link_t *self);

//  Read one monitor event; *value is the event's number (errno, ZAP status).
sstream_link_event_t
    sstream_link_event (sstream_link_t *self, int *value, char **address);

//  A connecting link: hang up, dropping its connection (or whatever libzmq
//  has left of it) with all that is queued on it, until it is dialled
//  again; or dial afresh (hanging up first if need be): a new connection
//  and handshake. libzmq never dials again by itself after a handshake
//  that ended in a protocol error (ZAP refused our key, say), dials again
//  at once after one the other side dropped (a key it cannot read), and
//  keeps a TCP connection it has not seen fail however long it has been
//  silent: the link's owner knows better, and calls these.
void
    sstream_link_hang_up (sstream_link_t *self);
int
    sstream_link_redial (sstream_link_t *self);

//  A bound secure link: the key (Z85) its ZAP handler last refused, into
//  key; false (key "") if none.
bool
    sstream_link_refused_key (sstream_link_t *self, char key [41]);

//  A key (Z85) as log lines name it, into buffer: what this link's
//  trusted keys call it (sstream_keyring_name), or else its first eight
//  characters, "Xyz12345..."; "no key" for none. Returns buffer.
const char *
    sstream_link_key_name (sstream_link_t *self, const char *key, char *buffer, size_t size);

//  What happened on the link: counted as its monitor's events are read
//  (sstream_link_event), and as its owner drops messages it cannot take.
typedef struct {
    uint64_t connections;       //  Connections accepted or made
    uint64_t handshake_failures;    //  Security handshakes that failed, for any reason
    uint64_t keys_refused;      //  Of those, keys refused: on a bound link keys
                                //  it does not trust, on a connecting link ours
    uint64_t malformed;         //  Messages dropped as malformed
} sstream_link_stats_t;

void
    sstream_link_stats (sstream_link_t *self, sstream_link_stats_t *stats);
void
    sstream_link_count_malformed (sstream_link_t *self);

//  The endpoint as bound or connected (real port for tcp://...:*).
const char *
    sstream_link_endpoint (sstream_link_t *self);

const char *
    sstream_link_name (sstream_link_t *self);

bool
    sstream_link_is_secure (sstream_link_t *self);

//  A bound secure link: is the key (Z85) trusted now? Re-read the trusted
//  keys (true when they changed). Without security, every key is trusted
//  and nothing changes.
bool
    sstream_link_trusts (sstream_link_t *self, const char *key);
bool
    sstream_link_refresh_trust (sstream_link_t *self);

//  Send a control message: [routing id] header [payload]. Takes the frames
//  (header and payload are set to NULL). routing_id is NULL on a DEALER.
//  Never blocks. Returns SSTREAM_OK, or SSTREAM_ELOST when the peer is gone.
int
    sstream_link_send (sstream_link_t *self, const byte *routing_id, size_t routing_id_size,
                       zframe_t **header, zframe_t **payload);

//  Send a data message: [routing id] frame0 frame1, without copying
//  either. The frames are spent whatever happens. A sealed batch to a
//  peer the bulk path is ready for goes there (frame 0 is flagged).
int
    sstream_link_send_data (sstream_link_t *self, const byte *routing_id,
                            size_t routing_id_size, zmq_msg_t *frame0, zmq_msg_t *frame1);

//  Read the next whole message, if one is waiting: true, and *message to
//  close with sstream_link_msg_close. Frames beyond two are drained and
//  counted in message->frames. A payload that came on the bulk path is
//  frame 1, as if it had come with its header.
bool
    sstream_link_recv (sstream_link_t *self, sstream_link_msg_t *message);

void
    sstream_link_msg_close (sstream_link_msg_t *message);

//  The link's bulk path, or NULL when it has none. Its owner polls it
//  (sstream_bulkpath_poll_items) and reads the link again when it holds
//  whole messages (sstream_bulkpath_readable).
sstream_bulkpath_t *
    sstream_link_bulkpath (sstream_link_t *self);

#endif
