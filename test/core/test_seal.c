/*  =========================================================================
    test_seal - sealing batches end to end: both ciphers, what a seal binds,
    wrapped keys, sealed ends

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE             //  memmem
#include "sstream_common.h"

#include <criterion/criterion.h>

static const sstream_cipher_t s_ciphers [] = {
    SSTREAM_CIPHER_AES256GCM, SSTREAM_CIPHER_XCHACHA20POLY1305
};
#define CIPHERS (sizeof (s_ciphers) / sizeof (s_ciphers [0]))

//  Seal three parts into a buffer (its size: *size)
static byte *
s_sealed (sstream_seal_t *seal, uint64_t seq, uint32_t count, uint16_t flags, size_t *size)
{
    static const char entries [] = "entries.", metas [] = "meta", payloads [] = "payloads of the batch";
    sstream_seal_part_t parts [3] = {
        { entries, 8 }, { metas, 4 }, { payloads, sizeof (payloads) - 1 }
    };
    *size = 8 + 4 + sizeof (payloads) - 1 + SSTREAM_SEAL_TAG_SIZE;
    byte *out = (byte *) malloc (*size);
    cr_assert_eq (sstream_seal_batch (seal, seq, count, flags, parts, 3, out), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    return out;
}

Test (seal, batches_round_trip_with_both_ciphers)
{
    size_t index;
    for (index = 0; index < CIPHERS; index++) {
        sstream_seal_t *producer = sstream_seal_new (s_ciphers [index], "run42", 77, 1);
        cr_assert_not_null (producer);
        size_t size;
        byte *sealed = s_sealed (producer, 1000, 3, 0, &size);
        //  Ciphertext is not the plaintext
        cr_assert_null (memmem (sealed, size, "payloads", 8), "%s leaves plaintext",
                        sstream_seal_cipher_name (s_ciphers [index]));
        //  The consumer's copy of the key opens it, in place
        byte key [SSTREAM_SEAL_KEY_SIZE];
        zcert_t *reader = zcert_new ();
        byte wrap [SSTREAM_SEAL_WRAP_SIZE];
        cr_assert_eq (sstream_seal_wrap (producer, zcert_public_key (reader), wrap), SSTREAM_OK);
        cr_assert_eq (sstream_seal_unwrap (wrap, sizeof (wrap), reader, key), SSTREAM_OK);
        sstream_seal_t *consumer = sstream_seal_new_from (s_ciphers [index], "run42", 77, 1, key);
        cr_assert_eq (sstream_seal_open_batch (consumer, 1000, 3, 0, sealed, size), SSTREAM_OK);
        cr_assert_eq (memcmp (sealed, "entries.metapayloads of the batch", size - SSTREAM_SEAL_TAG_SIZE), 0);
        free (sealed);
        zcert_destroy (&reader);
        sstream_seal_destroy (&producer);
        sstream_seal_destroy (&consumer);
        cr_assert_null (consumer);
    }
}

//  Open a batch sealed as (seq 1000, count 3, flags 0, stream run42, epoch
//  77, generation 1), with one thing changed on the consumer's side or in
//  the bytes: it must not open
static void
s_refused (sstream_cipher_t cipher, const char *stream, uint64_t epoch, uint32_t generation,
           uint64_t seq, uint32_t count, uint16_t flags, int flip)
{
    byte key [SSTREAM_SEAL_KEY_SIZE];
    randombytes_buf (key, sizeof (key));
    sstream_seal_t *producer = sstream_seal_new_from (cipher, "run42", 77, 1, key);
    sstream_seal_t *consumer = sstream_seal_new_from (cipher, stream, epoch, generation, key);
    size_t size;
    byte *sealed = s_sealed (producer, 1000, 3, 0, &size);
    if (flip >= 0)
        sealed [flip] ^= 0x01;
    cr_assert_eq (sstream_seal_open_batch (consumer, seq, count, flags, sealed, size), SSTREAM_EPROTO,
                  "%s opened a batch it must not (stream %s, epoch %" PRIu64 ", generation %" PRIu32
                  ", seq %" PRIu64 ", count %" PRIu32 ", flags %u, flipped byte %d)",
                  sstream_seal_cipher_name (cipher), stream, epoch, generation, seq, count,
                  flags, flip);
    free (sealed);
    sstream_seal_destroy (&producer);
    sstream_seal_destroy (&consumer);
}

Test (seal, a_batch_altered_misplaced_or_replayed_does_not_open)
{
    size_t index;
    for (index = 0; index < CIPHERS; index++) {
        sstream_cipher_t cipher = s_ciphers [index];
        s_refused (cipher, "run42", 77, 1, 1000, 3, 0, 0);          //  A byte of ciphertext
        s_refused (cipher, "run42", 77, 1, 1000, 3, 0, 30);         //  ... and of the tag
        s_refused (cipher, "run43", 77, 1, 1000, 3, 0, -1);         //  Another stream
        s_refused (cipher, "run42", 78, 1, 1000, 3, 0, -1);         //  Another run of it
        s_refused (cipher, "run42", 77, 2, 1000, 3, 0, -1);         //  Another key generation
        s_refused (cipher, "run42", 77, 1, 1003, 3, 0, -1);         //  Replayed further on
        s_refused (cipher, "run42", 77, 1, 1000, 2, 0, -1);         //  Fewer records said
        s_refused (cipher, "run42", 77, 1, 1000, 3, 1, -1);         //  Other flags
    }
}

Test (seal, a_key_wrapped_for_another_reader_does_not_unwrap)
{
    sstream_seal_t *seal = sstream_seal_new (sstream_seal_best_cipher (), "run42", 1, 1);
    zcert_t *reader = zcert_new (), *other = zcert_new ();
    byte wrap [SSTREAM_SEAL_WRAP_SIZE], key [SSTREAM_SEAL_KEY_SIZE];
    cr_assert_eq (sstream_seal_wrap (seal, zcert_public_key (reader), wrap), SSTREAM_OK);
    cr_assert_eq (sstream_seal_unwrap (wrap, sizeof (wrap), other, key), SSTREAM_EAUTH);
    cr_assert_eq (sstream_seal_unwrap (wrap, sizeof (wrap) - 1, reader, key), SSTREAM_EAUTH);
    wrap [10] ^= 1;
    cr_assert_eq (sstream_seal_unwrap (wrap, sizeof (wrap), reader, key), SSTREAM_EAUTH);
    zcert_destroy (&reader);
    zcert_destroy (&other);
    sstream_seal_destroy (&seal);
}

Test (seal, the_end_seals_the_totals)
{
    size_t index;
    for (index = 0; index < CIPHERS; index++) {
        sstream_seal_t *seal = sstream_seal_new (s_ciphers [index], "run42", 5, 3);
        byte tag [SSTREAM_SEAL_TAG_SIZE];
        cr_assert_eq (sstream_seal_end (seal, 123, 456789, tag), SSTREAM_OK);
        cr_assert_eq (sstream_seal_check_end (seal, 123, 456789, tag), SSTREAM_OK);
        cr_assert_eq (sstream_seal_check_end (seal, 122, 456789, tag), SSTREAM_EPROTO);
        cr_assert_eq (sstream_seal_check_end (seal, 123, 456788, tag), SSTREAM_EPROTO);
        tag [0] ^= 1;
        cr_assert_eq (sstream_seal_check_end (seal, 123, 456789, tag), SSTREAM_EPROTO);
        sstream_seal_destroy (&seal);
    }
}

Test (seal, a_key_is_spent_at_its_limit)
{
    sstream_seal_t *seal = sstream_seal_new (sstream_seal_best_cipher (), "run42", 5, 1);
    cr_assert_not (sstream_seal_spent (seal, 100));
    size_t size;
    byte *sealed = s_sealed (seal, 0, 1, 0, &size);
    free (sealed);
    cr_assert_not (sstream_seal_spent (seal, 100), "33 bytes spent a key of 100");
    sealed = s_sealed (seal, 1, 1, 0, &size);
    free (sealed);
    sealed = s_sealed (seal, 2, 1, 0, &size);
    free (sealed);
    sealed = s_sealed (seal, 3, 1, 0, &size);
    free (sealed);
    cr_assert (sstream_seal_spent (seal, 100));
    cr_assert_not (sstream_seal_spent (seal, 0));
    sstream_seal_destroy (&seal);
}

Test (seal, this_machine_seals_with_aes_when_it_has_aes_instructions)
{
    sstream_cipher_t cipher = sstream_seal_best_cipher ();
    cr_assert_eq (cipher == SSTREAM_CIPHER_AES256GCM, crypto_aead_aes256gcm_is_available () != 0);
    cr_assert_str_eq (sstream_seal_cipher_name (SSTREAM_CIPHER_XCHACHA20POLY1305), "XChaCha20-Poly1305");
    cr_assert_not (sstream_seal_cipher_known (3));
}
