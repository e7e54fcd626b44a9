/*  =========================================================================
    sstream_opener - a consumer's side of sealing: the data key unwrapped
    from the key messages, each batch opened, the end's seal checked
    (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#ifndef SSTREAM_OPENER_H_INCLUDED
#define SSTREAM_OPENER_H_INCLUDED

typedef struct _sstream_opener_t sstream_opener_t;

//  For stream; cert is our key pair (may be NULL: then no sealed stream
//  opens); required: refuse a stream that is not sealed.
sstream_opener_t *
    sstream_opener_new (const char *stream, zcert_t *cert, bool required);

void
    sstream_opener_destroy (sstream_opener_t **self_p);

//  A key message (header and its payload frame): our wrapped key, or
//  SSTREAM_EDENIED "not a reader of stream ...".
int
    sstream_opener_key (sstream_opener_t *self, const sstream_wire_t *header, const byte *payload,
                        size_t payload_size);

//  A received batch: opened in place when sealed; then checked. Any error
//  names the stream and the batch.
int
    sstream_opener_open (sstream_opener_t *self, sstream_received_t *batch,
                         const sstream_wire_batch_t *header);

//  The end: its seal must hold the totals, when the stream is sealed.
int
    sstream_opener_check_end (sstream_opener_t *self, const sstream_wire_t *header);

#endif
