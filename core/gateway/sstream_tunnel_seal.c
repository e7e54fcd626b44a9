/*  =========================================================================
    sstream_tunnel_seal - sealing one tunnel connection's bytes

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Both ways are sstream_seal's batches of one record: the session's name
    stands for the stream, the connection's number for the epoch, and a
    chunk's number on the connection for the batch's first sequence number.
*/

#include "sstream_gateway_classes.h"

struct _sstream_tunnel_seal_t {
    char name [SSTREAM_STREAM_NAME_MAX + 1];
    uint64_t conn;
    zcert_t *cert;                  //  Borrowed: ours, to unwrap
    byte peer_key [32];             //  To wrap for
    uint64_t rekey;
    sstream_cipher_t cipher;
    sstream_seal_t *sending;        //  Our key in force
    bool key_sent;                  //  Its tunnel-key has gone
    sstream_seal_t *receiving;      //  Theirs, once it came
};

sstream_tunnel_seal_t *
sstream_tunnel_seal_new (const char *name, uint64_t conn, zcert_t *cert, const byte *peer_key,
                         uint64_t rekey)
{
    sstream_tunnel_seal_t *self = (sstream_tunnel_seal_t *) zmalloc (sizeof (*self));
    if (!self)
        return NULL;
    snprintf (self->name, sizeof (self->name), "%s", name);
    self->conn = conn;
    self->cert = cert;
    memcpy (self->peer_key, peer_key, sizeof (self->peer_key));
    self->rekey = rekey;
    self->cipher = sstream_seal_best_cipher ();
    self->sending = sstream_seal_new (self->cipher, name, conn, 1);
    if (!self->sending) {
        free (self);
        return NULL;
    }
    return self;
}

void
sstream_tunnel_seal_destroy (sstream_tunnel_seal_t **self_p)
{
    if (self_p && *self_p) {
        sstream_tunnel_seal_t *self = *self_p;
        sstream_seal_destroy (&self->sending);
        sstream_seal_destroy (&self->receiving);
        free (self);
        *self_p = NULL;
    }
}

bool
sstream_tunnel_seal_key_due (sstream_tunnel_seal_t *self, sstream_wire_t *message)
{
    if (self->key_sent)
        return false;
    byte wrap [SSTREAM_SEAL_WRAP_SIZE];
    if (sstream_seal_wrap (self->sending, self->peer_key, wrap) != SSTREAM_OK)
        return false;           //  Then nothing seals either: see seal_chunk
    message->type = SSTREAM_WIRE_TUNNEL_KEY;
    message->generation = sstream_seal_generation (self->sending);
    message->cipher = (uint64_t) self->cipher;
    sodium_bin2hex (message->wrap, sizeof (message->wrap), wrap, sizeof (wrap));
    self->key_sent = true;
    return true;
}

int
sstream_tunnel_seal_chunk (sstream_tunnel_seal_t *self, uint64_t seq, byte *data, size_t size)
{
    if (!self->key_sent)
        return sstream_error_set (SSTREAM_EINTERNAL, "tunnel '%s': a chunk before its key",
                                  self->name);
    sstream_seal_part_t part = { data, size };
    int rc = sstream_seal_batch (self->sending, seq, 1, SSTREAM_WIRE_SEALED, &part, 1, data);
    if (rc == SSTREAM_OK && sstream_seal_spent (self->sending, self->rekey)) {
        uint32_t next = sstream_seal_generation (self->sending) + 1;
        sstream_seal_t *seal = sstream_seal_new (self->cipher, self->name, self->conn, next);
        if (seal) {             //  Else the old one serves a while longer
            sstream_seal_destroy (&self->sending);
            self->sending = seal;
            self->key_sent = false;
        }
    }
    return rc;
}

int
sstream_tunnel_seal_take_key (sstream_tunnel_seal_t *self, const sstream_wire_t *message)
{
    if (!sstream_seal_cipher_known ((int) message->cipher))
        return sstream_error_set (SSTREAM_EPROTO, "a key for cipher %" PRIu64
                                  ", which this side does not know", message->cipher);
    if (message->generation == 0 || message->generation > UINT32_MAX
    ||  (self->receiving && message->generation <= sstream_seal_generation (self->receiving)))
        return sstream_error_set (SSTREAM_EPROTO, "a key of generation %" PRIu64
                                  " out of turn", message->generation);
    byte wrap [SSTREAM_SEAL_WRAP_SIZE], key [SSTREAM_SEAL_KEY_SIZE];
    size_t size = 0;
    if (sodium_hex2bin (wrap, sizeof (wrap), message->wrap, strlen (message->wrap), NULL,
                        &size, NULL) != 0 || size != sizeof (wrap))
        return sstream_error_set (SSTREAM_EPROTO, "a malformed key");
    int rc = sstream_seal_unwrap (wrap, size, self->cert, key);
    if (rc)
        return sstream_error_set (SSTREAM_EAUTH, "a key that is not wrapped for this gateway's "
                                  "key pair");
    sstream_seal_t *seal = sstream_seal_new_from ((sstream_cipher_t) message->cipher, self->name,
                                                  self->conn, (uint32_t) message->generation, key);
    sodium_memzero (key, sizeof (key));
    if (!seal)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    sstream_seal_destroy (&self->receiving);
    self->receiving = seal;
    return SSTREAM_OK;
}

int
sstream_tunnel_seal_open_chunk (sstream_tunnel_seal_t *self, uint64_t seq, byte *data,
                                size_t size)
{
    if (!self->receiving)
        return sstream_error_set (SSTREAM_EPROTO, "sealed chunk %" PRIu64 " came before any key",
                                  seq);
    if (sstream_seal_open_batch (self->receiving, seq, 1, SSTREAM_WIRE_SEALED, data, size)
        != SSTREAM_OK)
        return sstream_error_set (SSTREAM_EPROTO, "chunk %" PRIu64 " does not open: it was "
                                  "altered, replayed, or does not belong here", seq);
    return SSTREAM_OK;
}
