/*  =========================================================================
    sstream_sealer - a producer's side of sealing

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_client_classes.h"

#define SEALED_BUFFERS_KEPT 6

struct _sstream_sealer_t {
    char stream [SSTREAM_STREAM_NAME_MAX + 1];
    sstream_keyring_t *readers;     //  Borrowed
    uint64_t rekey;
    sstream_cipher_t cipher;
    uint64_t epoch;                 //  This run of the stream
    sstream_seal_t *seal;           //  The key in force
    sstream_pool_t *pool;           //  Buffers for sealed batches
};

sstream_sealer_t *
sstream_sealer_new (const char *stream, uint64_t epoch, sstream_keyring_t *readers,
                    uint64_t rekey, uint64_t capacity)
{
    sstream_sealer_t *self = (sstream_sealer_t *) zmalloc (sizeof (sstream_sealer_t));
    if (!self)
        return NULL;
    snprintf (self->stream, sizeof (self->stream), "%s", stream);
    self->readers = readers;
    self->rekey = rekey;
    self->cipher = sstream_seal_best_cipher ();
    self->epoch = epoch;
    self->seal = sstream_seal_new (self->cipher, stream, self->epoch, 1);
    //  Index and records, each up to capacity, and the tag
    self->pool = sstream_pool_new (2 * capacity + SSTREAM_SEAL_TAG_SIZE, SEALED_BUFFERS_KEPT);
    if (!self->seal || !self->pool) {
        sstream_sealer_destroy (&self);
        return NULL;
    }
    sstream_log_info ("stream '%s' is sealed with %s", stream,
                      sstream_seal_cipher_name (self->cipher));
    return self;
}

void
sstream_sealer_destroy (sstream_sealer_t **self_p)
{
    if (self_p && *self_p) {
        sstream_sealer_t *self = *self_p;
        sstream_seal_destroy (&self->seal);
        sstream_pool_release (&self->pool);
        free (self);
        *self_p = NULL;
    }
}

uint32_t
sstream_sealer_generation (sstream_sealer_t *self)
{
    return sstream_seal_generation (self->seal);
}

uint64_t
sstream_sealer_overhead (void)
{
    return SSTREAM_SEAL_TAG_SIZE;
}

int
sstream_sealer_key_message (sstream_sealer_t *self, zframe_t **header, zframe_t **payload)
{
    *header = *payload = NULL;
    sstream_wire_list_t *list = sstream_wire_list_new ();
    if (!list)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    int rc = SSTREAM_OK;
    const char *reader;
    for (reader = sstream_keyring_first (self->readers); reader && !rc;
         reader = sstream_keyring_next (self->readers)) {
        byte public_key [32], wrap [SSTREAM_SEAL_WRAP_SIZE];
        char hex [2 * SSTREAM_SEAL_WRAP_SIZE + 1];
        zmq_z85_decode (public_key, reader);
        rc = sstream_seal_wrap (self->seal, public_key, wrap);
        sodium_bin2hex (hex, sizeof (hex), wrap, sizeof (wrap));
        sstream_wire_list_row (list, 2);
        sstream_wire_list_text (list, "reader", reader);
        sstream_wire_list_text (list, "wrap", hex);
    }
    if (!rc)
        *payload = sstream_wire_list_frame (list);
    sstream_wire_list_destroy (&list);
    sstream_wire_t key = {
        .type = SSTREAM_WIRE_KEY,
        .epoch = self->epoch,
        .generation = sstream_seal_generation (self->seal),
        .cipher = (uint64_t) self->cipher
    };
    snprintf (key.stream, sizeof (key.stream), "%s", self->stream);
    if (!rc && *payload)
        *header = sstream_wire_encode (&key);
    if (!rc && !*header) {
        zframe_destroy (payload);
        rc = sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    return rc;
}

int
sstream_sealer_seal (sstream_sealer_t *self, sstream_batch_t *batch, zmq_msg_t *frame0,
                     zmq_msg_t *frame1)
{
    return sstream_batch_seal_with (batch, self->seal, self->pool, frame0, frame1);
}

bool
sstream_sealer_rotate (sstream_sealer_t *self)
{
    if (!sstream_seal_spent (self->seal, self->rekey))
        return false;
    uint32_t next = sstream_seal_generation (self->seal) + 1;
    sstream_seal_t *seal = sstream_seal_new (self->cipher, self->stream, self->epoch, next);
    if (!seal)
        return false;           //  The old one serves a while longer
    sstream_seal_destroy (&self->seal);
    self->seal = seal;
    sstream_log_info ("stream '%s': a new data key (generation %" PRIu32 ")", self->stream, next);
    return true;
}

int
sstream_sealer_end (sstream_sealer_t *self, uint64_t records, uint64_t bytes, char *seal)
{
    byte tag [SSTREAM_SEAL_TAG_SIZE];
    int rc = sstream_seal_end (self->seal, records, bytes, tag);
    if (rc == SSTREAM_OK)
        sodium_bin2hex (seal, 2 * SSTREAM_SEAL_TAG_SIZE + 1, tag, sizeof (tag));
    return rc;
}
