/*  =========================================================================
    sstream_keyring - a set of trusted public keys read from a folder or a
    file, re-read when it changes (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A folder may hold any files: each that is a CZMQ public certificate adds
    its key; secret key files (NAME.secret, NAME_secret), hidden files,
    subfolders and anything else are skipped, and a key present twice counts
    once. (CZMQ's own zcertstore aborts the process on a repeated key, so a
    user's folder is never handed to it directly.)
*/

#ifndef SSTREAM_KEYRING_H_INCLUDED
#define SSTREAM_KEYRING_H_INCLUDED

typedef struct _sstream_keyring_t sstream_keyring_t;

//  Read the keys at path, a folder (searched recursively) or one file.
int
    sstream_keyring_new (sstream_keyring_t **self_p, const char *path);

void
    sstream_keyring_destroy (sstream_keyring_t **self_p);

//  Re-read if the folder or file changed; true if the keys changed.
bool
    sstream_keyring_refresh (sstream_keyring_t *self);

//  True if the key (Z85, 40 characters) is in the ring.
bool
    sstream_keyring_has (sstream_keyring_t *self, const char *public_key);

//  Iterate over the keys (Z85 strings owned by the ring).
const char *
    sstream_keyring_first (sstream_keyring_t *self);
const char *
    sstream_keyring_next (sstream_keyring_t *self);

//  The real path the ring reads.
const char *
    sstream_keyring_path (sstream_keyring_t *self);

#endif
