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

    What a refresh changes. A read adds the keys it finds at once. It takes
    a key away only when reads at least SSTREAM_KEYRING_SETTLE apart agree
    that no file of the place holds it: the first read that finds it in no
    file starts a clock, a read that finds it again (under any file name)
    stops it, and the first read SETTLE or more after the start that still
    finds it in no file removes it. A read that cannot tell takes nothing
    away: while the folder (or the one file) is missing or cannot be read,
    it keeps every key it had; while a key file cannot be read or holds no
    key (empty or half written, as a file rewritten in place is for a
    moment, or malformed), it keeps the key that file held when it last
    read well. After SSTREAM_KEYRING_HOLD of that, those keys count as gone
    and are removed. While a key is on the clock or kept, every refresh
    reads the place again, changed or not.

    With a name to log under, each change is logged once, with the file's
    path and the key's certificate name: a key added (info) or removed, a
    file that holds no key (skipped, or keeping its key) and then one again,
    the place unreadable and then readable again (warnings).
*/

#ifndef SSTREAM_KEYRING_H_INCLUDED
#define SSTREAM_KEYRING_H_INCLUDED

typedef struct _sstream_keyring_t sstream_keyring_t;

//  Milliseconds: how far apart two reads that find a key in no file must
//  be for it to go, and how long reads that cannot tell keep a key
#define SSTREAM_KEYRING_SETTLE  2000
#define SSTREAM_KEYRING_HOLD    30000

//  Read the keys at path, a folder (one level deep) or one file. what
//  starts each log line ("gateway-a: local link's trusted keys"); NULL
//  logs nothing.
int
    sstream_keyring_new (sstream_keyring_t **self_p, const char *path, const char *what);

void
    sstream_keyring_destroy (sstream_keyring_t **self_p);

//  Re-read if the folder or file changed, or a key is on the clock or
//  kept (see above); true if the keys changed.
bool
    sstream_keyring_refresh (sstream_keyring_t *self);

//  True if the key (Z85, 40 characters) is in the ring.
bool
    sstream_keyring_has (sstream_keyring_t *self, const char *public_key);

//  What a key in the ring is called, into name (at most size bytes): its
//  certificate's metadata name, or else its file's name less ".pub";
//  false if the ring does not hold the key.
bool
    sstream_keyring_name (sstream_keyring_t *self, const char *public_key, char *name,
                          size_t size);

//  Iterate over the keys (Z85 strings owned by the ring).
const char *
    sstream_keyring_first (sstream_keyring_t *self);
const char *
    sstream_keyring_next (sstream_keyring_t *self);

//  The real path the ring reads.
const char *
    sstream_keyring_path (sstream_keyring_t *self);

#endif
