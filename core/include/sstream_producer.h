/*  =========================================================================
    sstream_producer - the sending end of a stream

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A producer connects out to its facility's gateway and sends one stream
    of records. Delivery is lossless: send blocks while the path is full,
    and close returns SSTREAM_OK only once the consumer has acknowledged the
    end of the stream. Destroying a producer that was not closed aborts the
    stream, and the consumer is told so.

    Records travel in batches: send copies a record into the open batch,
    which leaves when it is full (client/batch), when its first record has
    waited client/linger, or at close. With client/linger = 0 every record
    leaves at once, for the lowest latency. A record larger than a batch
    travels alone. The consumer receives records one by one, with the
    sequence numbers and metadata they were sent with; batching changes
    nothing a caller sees but speed.

    Options (sstream_config_t, all optional; keys under "client/"):

        client/secret-key     our key pair file (NAME.secret), for CURVE
        client/gateway-key    the gateway's public key file (NAME.pub)
        client/security       curve (default) or none
        client/transport      plugin to use instead of the endpoint's scheme
        client/connect-timeout  how long to wait for the gateway (10s)
        client/heartbeat      ping interval when idle (1s)
        client/peer-timeout   silence after which the gateway is lost (10s)
        client/batch          bytes a batch holds, at most (256KiB; 4KiB
                              to 64MiB; at most a quarter of the gateway's
                              window is used)
        client/linger         how long a record may wait for others to
                              fill its batch (1ms; 0: none)
        client/pipe           batches queued between caller and I/O (8)
*/

#ifndef SSTREAM_PRODUCER_H_INCLUDED
#define SSTREAM_PRODUCER_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _sstream_producer_t sstream_producer_t;

//  Frees a buffer given to sstream_producer_give: called once, from any
//  thread of the library, with the data pointer and arg that were given.
typedef void (sstream_release_fn) (void *data, void *arg);

//  Connect to the gateway at endpoint and open stream for sending. Blocks
//  until the gateway accepted the stream, refused it, or the connect
//  timeout passed. options may be NULL.
//  endpoint may list several gateways of one facility, comma-separated:
//  until the stream is accepted, one that is refused, unreachable within
//  the connect timeout, or without its peer gateway gives way to the next.
//  Once the stream runs, losing its gateway, or anything on the path,
//  does not fail it: the producer connects again (to the same gateway or
//  another of the list) and the stream goes on where the consumer stands
//  (core/PROTOCOL.md section 3.10); it fails (SSTREAM_ELOST, "could not
//  resume") only if that takes longer than client/resume-timeout.
SSTREAM_EXPORT int
    sstream_producer_new (sstream_producer_t **self_p, const char *endpoint,
                          const char *stream, sstream_config_t *options);

//  Send one record of size bytes (copied; the caller keeps its buffer).
//  meta, when not NULL, is a msgpack-encoded map of meta_size bytes that
//  the consumer receives with the record. Blocks while the path is full,
//  for at most timeout_ms (SSTREAM_FOREVER: no limit); on timeout returns
//  SSTREAM_ETIMEDOUT and the record was not sent. A signal interrupts the
//  wait: SSTREAM_EINTR, and the record was not sent.
SSTREAM_EXPORT int
    sstream_producer_send (sstream_producer_t *self, const void *data,
                           size_t size, const void *meta, size_t meta_size,
                           int timeout_ms);

//  Send one record without copying it: the library takes data and calls
//  release (data, arg) once it is done with it (the consumer acknowledged
//  it, since it may have to be sent again after a loss; or the stream
//  failed). Only a record larger than client/batch travels straight
//  from data; a smaller one is copied into a batch and released at once.
//  Ownership passes only when this returns SSTREAM_OK: on an error the
//  caller keeps data and release is not called. Otherwise as send.
SSTREAM_EXPORT int
    sstream_producer_give (sstream_producer_t *self, void *data, size_t size,
                           const void *meta, size_t meta_size,
                           sstream_release_fn *release, void *arg, int timeout_ms);

//  End the stream and wait, at most timeout_ms, until the consumer has
//  acknowledged it. SSTREAM_OK means every message arrived.
SSTREAM_EXPORT int
    sstream_producer_close (sstream_producer_t *self, int timeout_ms);

//  Records and payload bytes sent so far.
SSTREAM_EXPORT uint64_t
    sstream_producer_messages (sstream_producer_t *self);
SSTREAM_EXPORT uint64_t
    sstream_producer_bytes (sstream_producer_t *self);

//  The stream's failure, once it has failed (0 until then): every call
//  returns it from then on. A timeout a call was given (SSTREAM_ETIMEDOUT)
//  is told from a stream that failed for want of time by this.
SSTREAM_EXPORT int
    sstream_producer_failure (sstream_producer_t *self);

//  The stream's end-to-end checksum (XXH3-128 of every record's payload,
//  in order, 32 hex digits), once close () has queued the end; NULL before. The
//  consumer compares its own with the producer's before it acknowledges
//  the end, and refuses a stream whose bytes changed on the way.
SSTREAM_EXPORT const char *
    sstream_producer_checksum (sstream_producer_t *self);

//  Times the stream resumed after a gateway or link on its path was lost.
SSTREAM_EXPORT uint64_t
    sstream_producer_resumes (sstream_producer_t *self);

//  Destroy a producer; aborts the stream if it was not closed. Idempotent.
SSTREAM_EXPORT void
    sstream_producer_destroy (sstream_producer_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
