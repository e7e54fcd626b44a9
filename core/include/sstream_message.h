/*  =========================================================================
    sstream_message - one message received by a consumer

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The payload stays in the buffer the message arrived in: data () points
    into it, with no copy, until the message is destroyed.
*/

#ifndef SSTREAM_MESSAGE_H_INCLUDED
#define SSTREAM_MESSAGE_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _sstream_message_t sstream_message_t;

//  Payload and its size.
SSTREAM_EXPORT const void *
    sstream_message_data (sstream_message_t *self);
SSTREAM_EXPORT size_t
    sstream_message_size (sstream_message_t *self);

//  Sequence number in the stream, from 0.
SSTREAM_EXPORT uint64_t
    sstream_message_seq (sstream_message_t *self);

//  The producer's metadata as a msgpack-encoded map, or NULL (size 0) when
//  it sent none.
SSTREAM_EXPORT const void *
    sstream_message_meta (sstream_message_t *self, size_t *size);

//  Release the message and its buffer. Idempotent, sets *self_p to NULL.
SSTREAM_EXPORT void
    sstream_message_destroy (sstream_message_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
