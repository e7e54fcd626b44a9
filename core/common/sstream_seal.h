/*  =========================================================================
    sstream_seal - sealing batches end to end: the stream's data key, its
    AEAD, and the key wrapped for each reader (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A producer makes a random data key for its stream, seals every batch
    with it, and sends it to the stream's readers wrapped for each reader's
    public key (a libsodium sealed box: CURVE keys are X25519 keys). No
    gateway can open what it forwards. The AEAD is AES-256-GCM (OpenSSL's
    EVP, the fastest measured on this machine kind) where the CPU has AES
    instructions, XChaCha20-Poly1305 (libsodium) otherwise; the producer
    chooses, the consumer follows.

    What a sealed batch binds (its associated data): the stream's name, the
    producer's epoch (a random number for this run of the stream), the key's
    generation, the batch's first sequence number, its record count and its
    flags. So a batch altered, dropped, replayed, reordered or moved to
    another stream does not open, or does not fit the sequence. The end of
    the stream is sealed too (its totals), so that a stream cut short is
    told from a stream that ended.

    Nonces are never reused under a key: a batch's nonce is its first
    sequence number, unique in a stream, and the end's is one no batch has;
    keys change (a new generation) before 2^32 batches or 64 GiB, whichever
    comes first, or sooner when configured.
*/

#ifndef SSTREAM_SEAL_H_INCLUDED
#define SSTREAM_SEAL_H_INCLUDED

typedef enum {
    SSTREAM_CIPHER_AES256GCM = 1,
    SSTREAM_CIPHER_XCHACHA20POLY1305 = 2
} sstream_cipher_t;

#define SSTREAM_SEAL_KEY_SIZE   32
#define SSTREAM_SEAL_TAG_SIZE   16
//  A data key wrapped for one reader (crypto_box_seal of the key)
#define SSTREAM_SEAL_WRAP_SIZE  (SSTREAM_SEAL_KEY_SIZE + 48)

//  The cipher this machine seals fastest with, and names for logs.
sstream_cipher_t
    sstream_seal_best_cipher (void);
const char *
    sstream_seal_cipher_name (int cipher);
bool
    sstream_seal_cipher_known (int cipher);

typedef struct _sstream_seal_t sstream_seal_t;

//  A fresh random key (producer), or a key unwrapped (consumer).
sstream_seal_t *
    sstream_seal_new (sstream_cipher_t cipher, const char *stream, uint64_t epoch,
                      uint32_t generation);
sstream_seal_t *
    sstream_seal_new_from (sstream_cipher_t cipher, const char *stream, uint64_t epoch,
                           uint32_t generation, const byte key [SSTREAM_SEAL_KEY_SIZE]);

void
    sstream_seal_destroy (sstream_seal_t **self_p);

uint32_t
    sstream_seal_generation (sstream_seal_t *self);

//  Wrap the key for a reader's public key (32 bytes): wrap gets
//  SSTREAM_SEAL_WRAP_SIZE bytes.
int
    sstream_seal_wrap (sstream_seal_t *self, const byte public_key [32], byte *wrap);

//  Unwrap a key with our key pair (zcert); SSTREAM_EAUTH if it is not ours.
int
    sstream_seal_unwrap (const byte *wrap, size_t size, zcert_t *cert,
                         byte key [SSTREAM_SEAL_KEY_SIZE]);

//  Seal a batch: the parts (entries, metadata, payloads), in that order,
//  into out (their total size plus SSTREAM_SEAL_TAG_SIZE bytes). One part
//  that is already at out is sealed in place.
typedef struct {
    const void *data;
    size_t size;
} sstream_seal_part_t;

int
    sstream_seal_batch (sstream_seal_t *self, uint64_t first_seq, uint32_t count,
                        uint16_t flags, const sstream_seal_part_t *parts, size_t part_count,
                        byte *out);

//  Open a sealed batch in place: data holds ciphertext and tag (size
//  bytes); on success the first size - SSTREAM_SEAL_TAG_SIZE bytes are the
//  plaintext. SSTREAM_EPROTO when it does not open (altered, misplaced).
int
    sstream_seal_open_batch (sstream_seal_t *self, uint64_t first_seq, uint32_t count,
                             uint16_t flags, byte *data, size_t size);

//  The end's seal over the stream's totals (tag: SSTREAM_SEAL_TAG_SIZE
//  bytes), and its check.
int
    sstream_seal_end (sstream_seal_t *self, uint64_t records, uint64_t bytes, byte *tag);
int
    sstream_seal_check_end (sstream_seal_t *self, uint64_t records, uint64_t bytes,
                            const byte *tag);

//  True when the key has sealed enough to make way for the next
//  generation (rekey_bytes: 0 for the built-in limit).
bool
    sstream_seal_spent (sstream_seal_t *self, uint64_t rekey_bytes);

#endif
