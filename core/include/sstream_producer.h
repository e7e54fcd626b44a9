/*  =========================================================================
    sstream_producer - the sending end of a stream

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A producer connects out to its facility's gateway and sends one stream.
    Delivery is lossless: send blocks while the path is full, and close
    returns SSTREAM_OK only once the consumer has acknowledged the end of
    the stream. Destroying a producer that was not closed aborts the stream,
    and the consumer is told so.

    Options (sstream_config_t, all optional; keys under "client/"):

        client/secret-key     our key pair file (NAME.secret), for CURVE
        client/gateway-key    the gateway's public key file (NAME.pub)
        client/security       curve (default) or none
        client/transport      plugin to use instead of the endpoint's scheme
        client/connect-timeout  how long to wait for the gateway (10s)
        client/heartbeat      ping interval when idle (1s)
        client/peer-timeout   silence after which the gateway is lost (10s)
        client/pipe           messages queued between caller and I/O (8)
*/

#ifndef SSTREAM_PRODUCER_H_INCLUDED
#define SSTREAM_PRODUCER_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _sstream_producer_t sstream_producer_t;

//  Connect to the gateway at endpoint and open stream for sending. Blocks
//  until the gateway accepted the stream, refused it, or the connect
//  timeout passed. options may be NULL.
//  endpoint may list several gateways of one facility, comma-separated:
//  until the stream is accepted, one that is refused, unreachable within
//  the connect timeout, or without its peer gateway gives way to the next.
//  Once the stream runs, losing its gateway fails it (SSTREAM_ELOST).
SSTREAM_EXPORT int
    sstream_producer_new (sstream_producer_t **self_p, const char *endpoint,
                          const char *stream, sstream_config_t *options);

//  Send one message of size bytes (copied; the caller keeps its buffer).
//  meta, when not NULL, is a msgpack-encoded map of meta_size bytes that
//  the consumer receives with the message. Blocks while the path is full,
//  for at most timeout_ms (SSTREAM_FOREVER: no limit); on timeout returns
//  SSTREAM_ETIMEDOUT and the message was not sent.
SSTREAM_EXPORT int
    sstream_producer_send (sstream_producer_t *self, const void *data,
                           size_t size, const void *meta, size_t meta_size,
                           int timeout_ms);

//  End the stream and wait, at most timeout_ms, until the consumer has
//  acknowledged it. SSTREAM_OK means every message arrived.
SSTREAM_EXPORT int
    sstream_producer_close (sstream_producer_t *self, int timeout_ms);

//  Messages and payload bytes sent so far.
SSTREAM_EXPORT uint64_t
    sstream_producer_messages (sstream_producer_t *self);
SSTREAM_EXPORT uint64_t
    sstream_producer_bytes (sstream_producer_t *self);

//  Destroy a producer; aborts the stream if it was not closed. Idempotent.
SSTREAM_EXPORT void
    sstream_producer_destroy (sstream_producer_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
