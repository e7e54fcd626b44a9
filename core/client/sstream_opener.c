/*  =========================================================================
    sstream_opener - a consumer's side of sealing

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_client_classes.h"

struct _sstream_opener_t {
    char stream [SSTREAM_STREAM_NAME_MAX + 1];
    zcert_t *cert;              //  Borrowed; NULL: we hold no key pair
    bool required;
    sstream_seal_t *seal;       //  The key in force, once one came
    uint64_t epoch;
};

sstream_opener_t *
sstream_opener_new (const char *stream, zcert_t *cert, bool required)
{
    sstream_opener_t *self = (sstream_opener_t *) zmalloc (sizeof (sstream_opener_t));
    if (self) {
        snprintf (self->stream, sizeof (self->stream), "%s", stream);
        self->cert = cert;
        self->required = required;
    }
    return self;
}

void
sstream_opener_destroy (sstream_opener_t **self_p)
{
    if (self_p && *self_p) {
        sstream_seal_destroy (&(*self_p)->seal);
        free (*self_p);
        *self_p = NULL;
    }
}

int
sstream_opener_key (sstream_opener_t *self, const sstream_wire_t *header, const byte *payload,
                    size_t payload_size)
{
    if (!self->cert)
        return sstream_error_set (SSTREAM_EKEY,
            "stream '%s' is sealed end to end: this consumer needs its key pair "
            "(client/secret-key, or --key) to open it", self->stream);
    if (!sstream_seal_cipher_known ((int) header->cipher))
        return sstream_error_set (SSTREAM_EPROTO, "stream '%s' is sealed with cipher %" PRIu64
                                  ", which this side does not know", self->stream, header->cipher);
    if (self->seal && header->epoch != self->epoch)
        return sstream_error_set (SSTREAM_EPROTO, "stream '%s': a key of another run of its "
                                  "producer came", self->stream);
    //  The key in force, sent again after the stream resumed
    if (self->seal && header->generation == sstream_seal_generation (self->seal))
        return SSTREAM_OK;
    if (header->generation == 0 || header->generation > UINT32_MAX
    ||  (self->seal && header->generation <= sstream_seal_generation (self->seal)))
        return sstream_error_set (SSTREAM_EPROTO, "stream '%s': a key of generation %" PRIu64
                                  " came out of turn", self->stream, header->generation);
    zlistx_t *rows;
    int rc = sstream_wire_list_decode (payload, payload_size, &rows);
    if (rc)
        return rc;
    const char *mine = zcert_public_txt (self->cert);
    const char *wrap_hex = NULL;
    zhashx_t *row;
    for (row = (zhashx_t *) zlistx_first (rows); row; row = (zhashx_t *) zlistx_next (rows)) {
        const char *reader = (const char *) zhashx_lookup (row, "reader");
        if (reader && streq (reader, mine))
            wrap_hex = (const char *) zhashx_lookup (row, "wrap");
    }
    byte wrap [SSTREAM_SEAL_WRAP_SIZE], key [SSTREAM_SEAL_KEY_SIZE];
    size_t wrap_size = 0;
    if (!wrap_hex)
        rc = sstream_error_set (SSTREAM_EDENIED,
            "not a reader of stream '%s': its producer did not seal it for key %s",
            self->stream, mine);
    else
    if (sodium_hex2bin (wrap, sizeof (wrap), wrap_hex, strlen (wrap_hex), NULL, &wrap_size, NULL)
        || wrap_size != sizeof (wrap))
        rc = sstream_error_set (SSTREAM_EPROTO, "stream '%s': a malformed key", self->stream);
    else
        rc = sstream_seal_unwrap (wrap, wrap_size, self->cert, key);
    zlistx_destroy (&rows);
    if (rc)
        return rc;
    sstream_seal_t *seal = sstream_seal_new_from ((sstream_cipher_t) header->cipher, self->stream,
                                                  header->epoch, (uint32_t) header->generation, key);
    sodium_memzero (key, sizeof (key));
    if (!seal)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    if (!self->seal)
        sstream_log_info ("stream '%s' is sealed with %s", self->stream,
                          sstream_seal_cipher_name ((int) header->cipher));
    sstream_seal_destroy (&self->seal);
    self->seal = seal;
    self->epoch = header->epoch;
    return SSTREAM_OK;
}

int
sstream_opener_open (sstream_opener_t *self, sstream_received_t *batch,
                     const sstream_wire_batch_t *header)
{
    size_t size;
    byte *data = sstream_received_payload (batch, &size);
    uint64_t last = header->seq + header->count - 1;
    if (header->flags & SSTREAM_WIRE_SEALED) {
        if (!self->seal)
            return sstream_error_set (SSTREAM_EPROTO,
                "stream '%s': records %" PRIu64 " to %" PRIu64 " came sealed before any key",
                self->stream, header->seq, last);
        if (sstream_seal_open_batch (self->seal, header->seq, header->count, header->flags,
                                     data, size) != SSTREAM_OK)
            return sstream_error_set (SSTREAM_EPROTO,
                "stream '%s': the batch of records %" PRIu64 " to %" PRIu64 " does not open: "
                "it was altered, replayed, or does not belong here", self->stream,
                header->seq, last);
        size -= SSTREAM_SEAL_TAG_SIZE;
    }
    else
    if (self->required)
        return sstream_error_set (SSTREAM_EDENIED,
            "stream '%s' is not sealed end to end (its producer sends with client/payload = hop): "
            "to take it, set client/payload = hop here too (--payload hop)", self->stream);
    int rc = sstream_received_check (batch, size);
    if (rc) {
        char detail [512];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        return sstream_error_set (rc, "stream '%s', records %" PRIu64 " to %" PRIu64 ": %s",
                                  self->stream, header->seq, last, detail);
    }
    return SSTREAM_OK;
}

int
sstream_opener_check_end (sstream_opener_t *self, const sstream_wire_t *header)
{
    if (!self->seal) {
        if (*header->seal)
            return sstream_error_set (SSTREAM_EPROTO,
                "stream '%s' ended with a seal, but no key ever came", self->stream);
        if (self->required)
            return sstream_error_set (SSTREAM_EDENIED,
                "stream '%s' is not sealed end to end (its producer sends with client/payload "
                "= hop): to take it, set client/payload = hop here too (--payload hop)", self->stream);
        return SSTREAM_OK;
    }
    byte tag [SSTREAM_SEAL_TAG_SIZE];
    size_t size = 0;
    if (!*header->seal
    ||  sodium_hex2bin (tag, sizeof (tag), header->seal, strlen (header->seal), NULL, &size, NULL)
    ||  size != sizeof (tag)
    ||  sstream_seal_check_end (self->seal, header->seq, header->bytes, tag) != SSTREAM_OK)
        return sstream_error_set (SSTREAM_EPROTO,
            "stream '%s' ended after %" PRIu64 " records and %" PRIu64 " bytes, totals its "
            "producer did not seal: it was cut short", self->stream, header->seq, header->bytes);
    return SSTREAM_OK;
}
