/*  =========================================================================
    sstream_keys - CURVE key files (private to libsstream)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Key files are CZMQ zcert files (ZPL): NAME.pub holds the public key,
    NAME.secret both keys and must not be readable by group or others.
*/

#ifndef SSTREAM_KEYS_H_INCLUDED
#define SSTREAM_KEYS_H_INCLUDED

//  Read a key file: its public key, and its secret key when want_secret
//  (then refusing a file that group or others may read, or whose keys do
//  not belong together).
int
    sstream_keys_read (const char *path, bool want_secret, zcert_t **cert_p);

//  Load a key pair from a secret key file. Refuses a file that group or
//  others may read, one without a secret key, and one whose keys do not
//  belong together.
int
    sstream_keys_load_secret (const char *path, zcert_t **cert_p);

//  Load the public key (Z85, 40 characters) from a public or secret key
//  file.
int
    sstream_keys_load_public (const char *path, char public_key [41]);

#endif
