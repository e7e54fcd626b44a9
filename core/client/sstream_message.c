/*  =========================================================================
    sstream_message - one record received by a consumer

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A view into the batch the record arrived in: no copy. It keeps its
    batch alive until it is destroyed.
*/

#include "sstream_client_classes.h"

struct _sstream_message_t {
    sstream_received_t *batch;
    const byte *data;
    size_t size;
    uint64_t seq;
    const byte *meta;
    size_t meta_size;
};

sstream_message_t *
sstream_message_new (sstream_received_t *batch, const byte *data, size_t size,
                     uint64_t seq, const byte *meta, size_t meta_size)
{
    sstream_message_t *self = (sstream_message_t *) malloc (sizeof (sstream_message_t));
    if (!self)
        return NULL;
    sstream_received_hold (batch);
    *self = (sstream_message_t) {
        .batch = batch, .data = data, .size = size, .seq = seq,
        .meta = meta, .meta_size = meta_size
    };
    return self;
}

const void *
sstream_message_data (sstream_message_t *self)
{
    return self? self->data: NULL;
}

size_t
sstream_message_size (sstream_message_t *self)
{
    return self? self->size: 0;
}

uint64_t
sstream_message_seq (sstream_message_t *self)
{
    return self? self->seq: 0;
}

const void *
sstream_message_meta (sstream_message_t *self, size_t *size)
{
    if (size)
        *size = self? self->meta_size: 0;
    return self? self->meta: NULL;
}

void
sstream_message_destroy (sstream_message_t **self_p)
{
    if (self_p && *self_p) {
        sstream_message_t *self = *self_p;
        sstream_received_release (self->batch);
        free (self);
        *self_p = NULL;
    }
}
