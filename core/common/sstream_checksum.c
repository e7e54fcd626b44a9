/*  =========================================================================
    sstream_checksum - the end-to-end checksum of a stream's payload bytes

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"

#include <xxhash.h>
//  On x86, libxxhash picks SSE2, AVX2 or AVX-512 at run time in its
//  _dispatch functions; the plain ones are built for SSE2 alone (Debian's
//  package), twice as slow here
#if defined (__x86_64__) || defined (__i386__)
#   include <xxh_x86dispatch.h>
#   define S_UPDATE XXH3_128bits_update_dispatch
#else
#   define S_UPDATE XXH3_128bits_update
#endif

struct _sstream_checksum_t {
    XXH3_state_t *state;
};

sstream_checksum_t *
sstream_checksum_new (void)
{
    sstream_checksum_t *self = (sstream_checksum_t *) zmalloc (sizeof (sstream_checksum_t));
    if (!self)
        return NULL;
    self->state = XXH3_createState ();
    if (!self->state || XXH3_128bits_reset (self->state) != XXH_OK) {
        sstream_checksum_destroy (&self);
        return NULL;
    }
    return self;
}

void
sstream_checksum_destroy (sstream_checksum_t **self_p)
{
    if (self_p && *self_p) {
        XXH3_freeState ((*self_p)->state);
        free (*self_p);
        *self_p = NULL;
    }
}

sstream_checksum_t *
sstream_checksum_copy (sstream_checksum_t *self)
{
    sstream_checksum_t *copy = (sstream_checksum_t *) zmalloc (sizeof (sstream_checksum_t));
    if (copy && (copy->state = XXH3_createState ()))
        XXH3_copyState (copy->state, self->state);
    else
        sstream_checksum_destroy (&copy);
    return copy;
}

void
sstream_checksum_update (sstream_checksum_t *self, const void *data, size_t size)
{
    if (size)
        S_UPDATE (self->state, data, size);
}

void
sstream_checksum_hex (sstream_checksum_t *self, char *hex)
{
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash (&canonical, XXH3_128bits_digest (self->state));
    sodium_bin2hex (hex, SSTREAM_CHECKSUM_HEX, canonical.digest, sizeof (canonical.digest));
}
