/*  =========================================================================
    sstream_client - what a producer's and a consumer's actor share: the
    link to the gateway, the open handshake, liveness (private)

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
    uint64_t pipe;              //  producer: messages between caller and actor
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

//  Connect and send the open request. Given several endpoints, the client
//  moves on to the next while the stream is not yet accepted, when one is
//  refused or unreachable, or says its peer gateway is not connected.
int
    sstream_client_new (sstream_client_t **self_p, const sstream_client_options_t *options);

void
    sstream_client_destroy (sstream_client_t **self_p);

sstream_link_t *
    sstream_client_link (sstream_client_t *self);

//  The gateway endpoint in use (of several, the one that answered).
const char *
    sstream_client_endpoint (sstream_client_t *self);

sstream_client_state_t
    sstream_client_state (sstream_client_t *self);

//  Window the gateway granted in accepted (producer).
uint64_t
    sstream_client_window (sstream_client_t *self);

//  Handle one socket-monitor event; a fatal one returns its error.
int
    sstream_client_on_monitor (sstream_client_t *self);

//  Time-driven work: connect timeout, liveness, pings. Returns an error
//  when the gateway is unreachable or lost.
int
    sstream_client_on_tick (sstream_client_t *self);

//  Milliseconds until on_tick has work, for the poll timeout.
int64_t
    sstream_client_next_tick (sstream_client_t *self);

//  Receive one message from the gateway. Handles accepted, ping and
//  link-level matters itself (returns SSTREAM_OK with *message_p NULL);
//  an error message becomes the returned error. Otherwise returns the
//  message (header frame first) with header decoded.
int
    sstream_client_recv (sstream_client_t *self, zmsg_t **message_p,
                         sstream_wire_t *header);

//  Send a message to the gateway (see sstream_link_send).
int
    sstream_client_send (sstream_client_t *self, zframe_t **header, zframe_t **payload);

#endif
