/*  =========================================================================
    sstream_client - what a producer's and a consumer's actor share: the
    link to the gateway, the open handshake, failing over to another
    gateway, liveness (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#ifndef SSTREAM_CLIENT_H_INCLUDED
#define SSTREAM_CLIENT_H_INCLUDED

typedef struct {
    char *endpoint;             //  As given: one, or several comma-separated
    char **endpoints;           //  Each of them, in order
    size_t endpoints_size;
    char *stream;
    int role;                   //  SSTREAM_ROLE_PRODUCE or _CONSUME
    bool insecure;
    zcert_t *cert;
    char gateway_key [41];
    char *transport;
    const char **transport_options;
    int64_t connect_timeout;    //  msecs
    int64_t heartbeat;
    int64_t peer_timeout;
    uint64_t window;            //  consumer: bytes it holds
    uint64_t pipe;              //  producer: batches between caller and actor
    uint64_t batch;             //  producer: bytes a batch holds, at most
    int64_t linger;             //  producer: msecs a record may wait for
                                //  others to fill its batch (0: none)
    bool sealed;                //  payloads sealed end to end (the default)
    bool bulk_path;             //  sealed payloads may take a bulk path
    sstream_keyring_t *readers; //  producer, sealed: whom the key is for
    uint64_t rekey;             //  producer, sealed: bytes a key seals (0:
                                //  the built-in limit)
    int64_t resume_timeout;     //  msecs a stream may take to resume (0: never)
    uint64_t replay_buffer;     //  producer: bytes of batches kept until acked
    int64_t wait;               //  consumer: msecs to wait for a producer (0:
                                //  no limit)
} sstream_client_options_t;

//  Read and check a producer's or consumer's options (may be NULL).
int
    sstream_client_options_read (sstream_client_options_t *self,
                                 sstream_config_t *options, const char *endpoint,
                                 const char *stream, int role);

void
    sstream_client_options_clear (sstream_client_options_t *self);

typedef struct _sstream_client_t sstream_client_t;

typedef enum {
    SSTREAM_CLIENT_OPENING,     //  waiting for accepted
    SSTREAM_CLIENT_OPEN,
    SSTREAM_CLIENT_FAILED
} sstream_client_state_t;

//  What an open request says of the stream's run (PROTOCOL.md 3.10): the
//  producer's epoch (a consumer's, once it knows it), and, resuming, the
//  first record held (producer) or needed (consumer).
typedef struct {
    uint64_t epoch;
    bool resumes;
    uint64_t seq;
} sstream_client_open_t;

//  Connect and send the open request (open may be NULL: a first open with
//  no epoch). Given several endpoints, the client moves on to the next
//  while the stream is not yet accepted, when one is refused or
//  unreachable, or says its peer gateway is not connected.
int
    sstream_client_new (sstream_client_t **self_p, const sstream_client_options_t *options,
                        const sstream_client_open_t *open);

void
    sstream_client_destroy (sstream_client_t **self_p);

sstream_link_t *
    sstream_client_link (sstream_client_t *self);

//  The gateway endpoint in use (of several, the one that answered).
const char *
    sstream_client_endpoint (sstream_client_t *self);

sstream_client_state_t
    sstream_client_state (sstream_client_t *self);

//  True once the gateway accepted the stream, whatever happened since.
bool
    sstream_client_accepted (sstream_client_t *self);

//  Window the gateway granted in accepted (producer), and the number the
//  gateway gave the stream on this link (its sid: data and credit we send
//  carry it).
uint64_t
    sstream_client_window (sstream_client_t *self);
uint32_t
    sstream_client_gateway_sid (sstream_client_t *self);

//  The number we gave the stream on this link: what the gateway's data and
//  credit carry.
#define SSTREAM_CLIENT_SID 1

//  Handle one socket-monitor event; a fatal one returns its error.
int
    sstream_client_on_monitor (sstream_client_t *self);

//  Time-driven work: connect timeout, liveness, pings. Returns an error
//  when the gateway is unreachable or lost.
int
    sstream_client_on_tick (sstream_client_t *self);

//  Milliseconds until on_tick has work, for the poll timeout (0 while
//  whole messages wait in the bulk path).
int64_t
    sstream_client_next_tick (sstream_client_t *self);

//  The bulk path beside the link: its poll items (at most
//  SSTREAM_CLIENT_BULK_ITEMS), then what came of them. An error when the
//  path failed (the client has failed).
#define SSTREAM_CLIENT_BULK_ITEMS 2
size_t
    sstream_client_poll_items (sstream_client_t *self, zmq_pollitem_t *items);
//  True when the bulk path holds whole messages: read the link again.
bool
    sstream_client_readable (sstream_client_t *self);

int
    sstream_client_handle_poll (sstream_client_t *self, const zmq_pollitem_t *items,
                                size_t count);

//  One message from the gateway
typedef struct {
    bool binary;                //  Data or credit: batch and frames
    sstream_wire_t control;     //  Otherwise: the decoded msgpack header
    sstream_wire_batch_t batch;
    zmq_msg_t frame0;           //  Data: header and index
    zmq_msg_t frame1;           //  Data: payloads
} sstream_client_msg_t;

//  Receive the next message for the caller, if one is waiting. Handles
//  accepted, ping and link-level matters itself; an error message becomes
//  the returned error. Returns SSTREAM_OK with *got false when nothing is
//  waiting (any more), or true with message filled: then the caller closes
//  it with sstream_client_msg_close.
int
    sstream_client_recv (sstream_client_t *self, sstream_client_msg_t *message, bool *got);

void
    sstream_client_msg_close (sstream_client_msg_t *message);

//  The caller's side of a producer's or consumer's actor
//  -----------------------------------------------------

//  Start the actor and wait for its one answer: the stream accepted, or
//  why not (then the actor's failure is this thread's error). Signals stay
//  held meanwhile: the wait is bounded by connect-timeout, and an
//  interrupted open could not be resumed, only started again.
int
    sstream_client_actor_start (zactor_t **actor_p, zactor_fn *actor, void *args,
                                sstream_failure_t *failure, const char *who);

//  Send the actor a command (with an argument, or NULL), then wait at most
//  timeout_ms for its one answer, letting signals through (SSTREAM_EINTR);
//  on timeout, SSTREAM_ETIMEDOUT with waiting_for in the message.
int
    sstream_client_actor_ask (zactor_t *actor, const char *command, const char *argument,
                              int timeout_ms, sstream_failure_t *failure,
                              const char *waiting_for);

//  Stop the actor (it tells the gateway if the stream was not done).
void
    sstream_client_actor_stop (zactor_t **actor_p);

//  Send a control message to the gateway (see sstream_link_send).
int
    sstream_client_send (sstream_client_t *self, zframe_t **header, zframe_t **payload);

//  Send a batch to the gateway: frames as sstream_batch_seal made them,
//  with the gateway's stream number written in (see sstream_link_send_data).
int
    sstream_client_send_batch (sstream_client_t *self, zmq_msg_t *frame0, zmq_msg_t *frame1);

#endif
