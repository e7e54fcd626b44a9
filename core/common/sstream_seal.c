/*  =========================================================================
    sstream_seal - sealing batches end to end

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    AES-256-GCM through OpenSSL's EVP interface, which takes a batch's
    parts one after another (no copy to join them); XChaCha20-Poly1305
    through libsodium, which wants one buffer: the parts are joined into
    the output first, and sealed there in place.
*/

#include "sstream_common.h"

#include <openssl/evp.h>

//  A key makes way for the next generation after this much, at the latest
#define REKEY_BYTES_MAX   (64ULL << 30)
#define REKEY_BATCHES_MAX (1ULL << 32)

//  The end's nonce: a first sequence number no batch can have
#define END_SEQ UINT64_MAX

struct _sstream_seal_t {
    sstream_cipher_t cipher;
    byte key [SSTREAM_SEAL_KEY_SIZE];
    char stream [SSTREAM_STREAM_NAME_MAX + 1];
    uint64_t epoch;
    uint32_t generation;
    EVP_CIPHER_CTX *encrypt;    //  AES-256-GCM, made when first used
    EVP_CIPHER_CTX *decrypt;
    uint64_t sealed_bytes;
    uint64_t sealed_batches;
};

sstream_cipher_t
sstream_seal_best_cipher (void)
{
    sstream_library_init ();
    //  AES instructions and carry-less multiplication: what makes GCM fast
    return crypto_aead_aes256gcm_is_available ()? SSTREAM_CIPHER_AES256GCM
                                                : SSTREAM_CIPHER_XCHACHA20POLY1305;
}

const char *
sstream_seal_cipher_name (int cipher)
{
    return cipher == SSTREAM_CIPHER_AES256GCM? "AES-256-GCM"
         : cipher == SSTREAM_CIPHER_XCHACHA20POLY1305? "XChaCha20-Poly1305": "unknown";
}

bool
sstream_seal_cipher_known (int cipher)
{
    return cipher == SSTREAM_CIPHER_AES256GCM || cipher == SSTREAM_CIPHER_XCHACHA20POLY1305;
}

sstream_seal_t *
sstream_seal_new_from (sstream_cipher_t cipher, const char *stream, uint64_t epoch,
                       uint32_t generation, const byte key [SSTREAM_SEAL_KEY_SIZE])
{
    sstream_library_init ();
    if (!sstream_seal_cipher_known (cipher))
        return NULL;
    sstream_seal_t *self = (sstream_seal_t *) zmalloc (sizeof (sstream_seal_t));
    if (!self)
        return NULL;
    self->cipher = cipher;
    memcpy (self->key, key, SSTREAM_SEAL_KEY_SIZE);
    snprintf (self->stream, sizeof (self->stream), "%s", stream);
    self->epoch = epoch;
    self->generation = generation;
    return self;
}

sstream_seal_t *
sstream_seal_new (sstream_cipher_t cipher, const char *stream, uint64_t epoch, uint32_t generation)
{
    byte key [SSTREAM_SEAL_KEY_SIZE];
    randombytes_buf (key, sizeof (key));
    sstream_seal_t *self = sstream_seal_new_from (cipher, stream, epoch, generation, key);
    sodium_memzero (key, sizeof (key));
    return self;
}

void
sstream_seal_destroy (sstream_seal_t **self_p)
{
    if (self_p && *self_p) {
        sstream_seal_t *self = *self_p;
        EVP_CIPHER_CTX_free (self->encrypt);
        EVP_CIPHER_CTX_free (self->decrypt);
        sodium_memzero (self->key, sizeof (self->key));
        free (self);
        *self_p = NULL;
    }
}

uint32_t
sstream_seal_generation (sstream_seal_t *self)
{
    return self->generation;
}

int
sstream_seal_wrap (sstream_seal_t *self, const byte public_key [32], byte *wrap)
{
    if (crypto_box_seal (wrap, self->key, SSTREAM_SEAL_KEY_SIZE, public_key) != 0)
        return sstream_error_set (SSTREAM_EINTERNAL, "cannot wrap a data key");
    return SSTREAM_OK;
}

int
sstream_seal_unwrap (const byte *wrap, size_t size, zcert_t *cert, byte key [SSTREAM_SEAL_KEY_SIZE])
{
    if (size != SSTREAM_SEAL_WRAP_SIZE
    ||  crypto_box_seal_open (key, wrap, size, zcert_public_key (cert), zcert_secret_key (cert)) != 0)
        return sstream_error_set (SSTREAM_EAUTH, "a data key that is not wrapped for our key");
    return SSTREAM_OK;
}


//  --------------------------------------------------------------------------
//  Nonces and associated data

static void
s_put (byte *out, uint64_t value, int width)
{
    int index;
    for (index = 0; index < width; index++)
        out [index] = (byte) (value >> (8 * index));
}

//  12 bytes for GCM (generation, first sequence number); XChaCha's 24
//  are those and zeros
static void
s_nonce (sstream_seal_t *self, uint64_t first_seq, byte nonce [24])
{
    memset (nonce, 0, 24);
    s_put (nonce, self->generation, 4);
    s_put (nonce + 4, first_seq, 8);
}

#define AD_MAX (8 + 4 + 8 + 8 + 4 + 2 + 1 + 1 + SSTREAM_STREAM_NAME_MAX)

static size_t
s_associated (sstream_seal_t *self, uint64_t first_seq, uint32_t count, uint16_t flags,
              byte kind, byte *ad)
{
    memcpy (ad, "sstream2", 8);
    s_put (ad + 8, self->generation, 4);
    s_put (ad + 12, self->epoch, 8);
    s_put (ad + 20, first_seq, 8);
    s_put (ad + 28, count, 4);
    s_put (ad + 32, flags, 2);
    ad [34] = kind;
    size_t length = strlen (self->stream);
    ad [35] = (byte) length;
    memcpy (ad + 36, self->stream, length);
    return 36 + length;
}


//  --------------------------------------------------------------------------
//  AES-256-GCM

static EVP_CIPHER_CTX *
s_context (sstream_seal_t *self, bool encrypt)
{
    EVP_CIPHER_CTX **context = encrypt? &self->encrypt: &self->decrypt;
    if (!*context) {
        *context = EVP_CIPHER_CTX_new ();
        if (*context
        &&  (encrypt? EVP_EncryptInit_ex (*context, EVP_aes_256_gcm (), NULL, self->key, NULL)
                    : EVP_DecryptInit_ex (*context, EVP_aes_256_gcm (), NULL, self->key, NULL)) != 1)
            EVP_CIPHER_CTX_free (*context), *context = NULL;
    }
    return *context;
}

static int
s_gcm_seal (sstream_seal_t *self, const byte *nonce, const byte *ad, size_t ad_size,
            const sstream_seal_part_t *parts, size_t count, byte *out)
{
    EVP_CIPHER_CTX *context = s_context (self, true);
    int length = 0;
    if (!context || EVP_EncryptInit_ex (context, NULL, NULL, NULL, nonce) != 1
    ||  EVP_EncryptUpdate (context, NULL, &length, ad, (int) ad_size) != 1)
        return sstream_error_set (SSTREAM_EINTERNAL, "AES-256-GCM: cannot start sealing");
    size_t written = 0, index;
    for (index = 0; index < count; index++) {
        //  EVP takes an int at a time
        const byte *data = (const byte *) parts [index].data;
        size_t left = parts [index].size;
        while (left) {
            int piece = left > (1u << 30)? 1 << 30: (int) left;
            if (EVP_EncryptUpdate (context, out + written, &length, data, piece) != 1)
                return sstream_error_set (SSTREAM_EINTERNAL, "AES-256-GCM: cannot seal");
            written += (size_t) length;
            data += piece;
            left -= (size_t) piece;
        }
    }
    if (EVP_EncryptFinal_ex (context, out + written, &length) != 1
    ||  EVP_CIPHER_CTX_ctrl (context, EVP_CTRL_GCM_GET_TAG, SSTREAM_SEAL_TAG_SIZE,
                             out + written + length) != 1)
        return sstream_error_set (SSTREAM_EINTERNAL, "AES-256-GCM: cannot finish sealing");
    return SSTREAM_OK;
}

static int
s_gcm_open (sstream_seal_t *self, const byte *nonce, const byte *ad, size_t ad_size,
            byte *data, size_t size)
{
    EVP_CIPHER_CTX *context = s_context (self, false);
    int length = 0;
    size_t text = size - SSTREAM_SEAL_TAG_SIZE;
    if (!context || EVP_DecryptInit_ex (context, NULL, NULL, NULL, nonce) != 1
    ||  EVP_DecryptUpdate (context, NULL, &length, ad, (int) ad_size) != 1)
        return sstream_error_set (SSTREAM_EINTERNAL, "AES-256-GCM: cannot start opening");
    size_t done = 0;
    while (done < text) {
        int piece = text - done > (1u << 30)? 1 << 30: (int) (text - done);
        if (EVP_DecryptUpdate (context, data + done, &length, data + done, piece) != 1)
            return sstream_error_set (SSTREAM_EPROTO, "AES-256-GCM: cannot open");
        done += (size_t) piece;
    }
    if (EVP_CIPHER_CTX_ctrl (context, EVP_CTRL_GCM_SET_TAG, SSTREAM_SEAL_TAG_SIZE,
                             data + text) != 1
    ||  EVP_DecryptFinal_ex (context, data + text, &length) != 1)
        return SSTREAM_EPROTO;          //  The caller says which batch
    return SSTREAM_OK;
}


//  --------------------------------------------------------------------------
//  Batches and ends

int
sstream_seal_batch (sstream_seal_t *self, uint64_t first_seq, uint32_t count, uint16_t flags,
                    const sstream_seal_part_t *parts, size_t part_count, byte *out)
{
    byte nonce [24], ad [AD_MAX];
    s_nonce (self, first_seq, nonce);
    size_t ad_size = s_associated (self, first_seq, count, flags, 1, ad);
    size_t total = 0, index;
    for (index = 0; index < part_count; index++)
        total += parts [index].size;
    int rc;
    if (self->cipher == SSTREAM_CIPHER_AES256GCM)
        rc = s_gcm_seal (self, nonce, ad, ad_size, parts, part_count, out);
    else {
        size_t at = 0;
        for (index = 0; index < part_count; index++) {
            //  A part may already be where it goes (sealing in place)
            if (parts [index].size && parts [index].data != out + at)
                memcpy (out + at, parts [index].data, parts [index].size);
            at += parts [index].size;
        }
        rc = crypto_aead_xchacha20poly1305_ietf_encrypt_detached (
                 out, out + total, NULL, out, total, ad, ad_size, NULL, nonce, self->key) == 0
           ? SSTREAM_OK: sstream_error_set (SSTREAM_EINTERNAL, "XChaCha20-Poly1305: cannot seal");
    }
    if (rc == SSTREAM_OK) {
        self->sealed_bytes += total;
        self->sealed_batches++;
    }
    return rc;
}

int
sstream_seal_open_batch (sstream_seal_t *self, uint64_t first_seq, uint32_t count,
                         uint16_t flags, byte *data, size_t size)
{
    if (size < SSTREAM_SEAL_TAG_SIZE)
        return sstream_error_set (SSTREAM_EPROTO, "a sealed batch shorter than its tag");
    byte nonce [24], ad [AD_MAX];
    s_nonce (self, first_seq, nonce);
    size_t ad_size = s_associated (self, first_seq, count, flags, 1, ad);
    size_t text = size - SSTREAM_SEAL_TAG_SIZE;
    if (self->cipher == SSTREAM_CIPHER_AES256GCM)
        return s_gcm_open (self, nonce, ad, ad_size, data, size);
    return crypto_aead_xchacha20poly1305_ietf_decrypt_detached (
               data, NULL, data, text, data + text, ad, ad_size, nonce, self->key) == 0
         ? SSTREAM_OK: SSTREAM_EPROTO;
}

//  The end's seal: the tag of sealing the byte total, with the record total
//  in the associated data (where a batch has its first sequence number);
//  checked by sealing the expected totals and comparing the tags in
//  constant time
static int
s_end_tag (sstream_seal_t *self, uint64_t records, uint64_t bytes, byte *tag)
{
    byte nonce [24], ad [AD_MAX], total [8], box [8 + SSTREAM_SEAL_TAG_SIZE];
    s_nonce (self, END_SEQ, nonce);
    size_t ad_size = s_associated (self, records, 0, 0, 2, ad);
    s_put (total, bytes, 8);
    sstream_seal_part_t part = { total, sizeof (total) };
    int rc = self->cipher == SSTREAM_CIPHER_AES256GCM
           ? s_gcm_seal (self, nonce, ad, ad_size, &part, 1, box)
           : crypto_aead_xchacha20poly1305_ietf_encrypt_detached (
                 box, box + 8, NULL, total, 8, ad, ad_size, NULL, nonce, self->key) == 0
             ? SSTREAM_OK: sstream_error_set (SSTREAM_EINTERNAL, "cannot seal the end");
    if (rc == SSTREAM_OK)
        memcpy (tag, box + 8, SSTREAM_SEAL_TAG_SIZE);
    return rc;
}

int
sstream_seal_end (sstream_seal_t *self, uint64_t records, uint64_t bytes, byte *tag)
{
    return s_end_tag (self, records, bytes, tag);
}

int
sstream_seal_check_end (sstream_seal_t *self, uint64_t records, uint64_t bytes, const byte *tag)
{
    byte expected [SSTREAM_SEAL_TAG_SIZE];
    int rc = s_end_tag (self, records, bytes, expected);
    if (rc == SSTREAM_OK && sodium_memcmp (expected, tag, SSTREAM_SEAL_TAG_SIZE) != 0)
        rc = SSTREAM_EPROTO;
    return rc;
}

bool
sstream_seal_spent (sstream_seal_t *self, uint64_t rekey_bytes)
{
    uint64_t most = rekey_bytes && rekey_bytes < REKEY_BYTES_MAX? rekey_bytes: REKEY_BYTES_MAX;
    return self->sealed_bytes >= most || self->sealed_batches >= REKEY_BATCHES_MAX;
}
