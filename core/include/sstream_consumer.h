/*  =========================================================================
    sstream_consumer - the receiving end of a stream

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A consumer connects out to its facility's gateway and receives one
    stream, from its first message, whether the producer started before or
    after. recv returns SSTREAM_EEND once every message has been received;
    close then acknowledges the end of the stream to the producer. That
    acknowledgement is the consumer's promise that it has the data: call
    close only once the data is safe (written, processed). Destroying a
    consumer that was not closed aborts the stream, and the producer's close
    fails.

    Options (sstream_config_t, all optional; keys under "client/"): as for
    the producer (secret-key, gateway-key, security, transport,
    connect-timeout, heartbeat, peer-timeout), and

        client/window         bytes in flight to this consumer, at most
                              (64MiB). A record costs its payload, its
                              metadata and 72 bytes (88 when sealed;
                              PROTOCOL.md section 4), and the window
                              must be larger than the largest record and
                              than the producer's batches
*/

#ifndef SSTREAM_CONSUMER_H_INCLUDED
#define SSTREAM_CONSUMER_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _sstream_consumer_t sstream_consumer_t;

//  Connect to the gateway at endpoint and open stream for receiving.
//  Blocks until the gateway accepted, refused, or the connect timeout
//  passed. options may be NULL.
//  endpoint may list several gateways of one facility, comma-separated:
//  until the stream is accepted, one that is refused, unreachable within
//  the connect timeout, or without its peer gateway gives way to the next.
//  Once the stream runs, losing its gateway, or anything on the path,
//  does not fail it: the consumer connects again (to the same gateway or
//  another of the list) and the stream goes on where the consumer stands
//  (core/PROTOCOL.md section 3.10); it fails (SSTREAM_ELOST, "could not
//  resume") only if that takes longer than client/resume-timeout.
SSTREAM_EXPORT int
    sstream_consumer_new (sstream_consumer_t **self_p, const char *endpoint,
                          const char *stream, sstream_config_t *options);

//  Receive the next message, waiting at most timeout_ms (SSTREAM_FOREVER:
//  no limit). Returns SSTREAM_OK with *message_p set, SSTREAM_EEND at the
//  end of the stream, SSTREAM_ETIMEDOUT, or an error.
SSTREAM_EXPORT int
    sstream_consumer_recv (sstream_consumer_t *self,
                           sstream_message_t **message_p, int timeout_ms);

//  After recv returned SSTREAM_EEND: acknowledge the end of the stream to
//  the producer, waiting at most timeout_ms for the acknowledgement to
//  leave. Fails with SSTREAM_EINVAL before the end was received.
SSTREAM_EXPORT int
    sstream_consumer_close (sstream_consumer_t *self, int timeout_ms);

//  Give up the stream, telling the producer why (reason may be NULL).
SSTREAM_EXPORT int
    sstream_consumer_abort (sstream_consumer_t *self, const char *reason);

//  Messages and payload bytes received so far.
SSTREAM_EXPORT uint64_t
    sstream_consumer_messages (sstream_consumer_t *self);
SSTREAM_EXPORT uint64_t
    sstream_consumer_bytes (sstream_consumer_t *self);

//  The stream's failure, once it has failed (0 until then): every call
//  returns it from then on. A timeout a call was given (SSTREAM_ETIMEDOUT)
//  is told from a stream that failed for want of time by this.
SSTREAM_EXPORT int
    sstream_consumer_failure (sstream_consumer_t *self);

//  The stream's end-to-end checksum (XXH3-128 of every record's payload,
//  in order, 32 hex digits), once recv () has returned SSTREAM_EEND; NULL before. The
//  consumer compares its own with the producer's before it acknowledges
//  the end, and refuses a stream whose bytes changed on the way.
SSTREAM_EXPORT const char *
    sstream_consumer_checksum (sstream_consumer_t *self);

//  Times the stream resumed after a gateway or link on its path was lost.
SSTREAM_EXPORT uint64_t
    sstream_consumer_resumes (sstream_consumer_t *self);

//  Destroy a consumer; aborts the stream if it was not closed. Idempotent.
SSTREAM_EXPORT void
    sstream_consumer_destroy (sstream_consumer_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
