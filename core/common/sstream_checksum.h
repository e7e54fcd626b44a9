/*  =========================================================================
    sstream_checksum - the end-to-end checksum of a stream's payload bytes
    (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    XXH3-128 (libxxhash) over every record's payload, in order, as the
    producer's caller gave them and as the consumer took them: not against
    attackers (sealing is), but against a bug anywhere on the way that
    corrupts, loses or repeats bytes between two links, which no per-hop
    check can see. Tens of GB/s on a core: it does not show beside the
    copies and the cipher.
*/

#ifndef SSTREAM_CHECKSUM_H_INCLUDED
#define SSTREAM_CHECKSUM_H_INCLUDED

//  The checksum in hex, as the end carries it (NUL included)
#define SSTREAM_CHECKSUM_HEX 33

typedef struct _sstream_checksum_t sstream_checksum_t;

sstream_checksum_t *
    sstream_checksum_new (void);

void
    sstream_checksum_destroy (sstream_checksum_t **self_p);

//  A copy, as it is now.
sstream_checksum_t *
    sstream_checksum_copy (sstream_checksum_t *self);

void
    sstream_checksum_update (sstream_checksum_t *self, const void *data, size_t size);

//  What it is so far, in hex, into hex (SSTREAM_CHECKSUM_HEX bytes).
void
    sstream_checksum_hex (sstream_checksum_t *self, char *hex);

#endif
