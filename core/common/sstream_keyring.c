/*  =========================================================================
    sstream_keyring - a set of trusted public keys read from a folder or a
    file, re-read when it changes

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A folder is read one level deep (subfolders, and links to folders, are
    not followed: a link loop must not freeze a gateway). A change is seen
    by a digest of every entry's name, inode, size and time to the
    nanosecond, so that swapping one key file for another of the same size
    in the same second still counts.
*/

#include "sstream_common.h"

#define FOLDER_FILES_MAX 10000

struct _sstream_keyring_t {
    char *path;                 //  Real path
    bool is_folder;
    zhashx_t *keys;             //  Z85 key -> itself
    byte signature [32];        //  What the last read saw
};

static bool
s_ends_with (const char *string, const char *suffix)
{
    size_t length = strlen (string), suffix_length = strlen (suffix);
    return length >= suffix_length && streq (string + length - suffix_length, suffix);
}

static void
s_free_key (void **item_p)
{
    zstr_free ((char **) item_p);
}

static void
s_add_file (zhashx_t *keys, const char *filename)
{
    zcert_t *cert;
    if (sstream_keys_read (filename, false, &cert) != SSTREAM_OK)
        return;             //  Not a key file: a README, say
    char *key = strdup (zcert_public_txt (cert));
    if (key && zhashx_insert (keys, key, key) != 0)
        free (key);         //  The same key again
    zcert_destroy (&cert);
}

static void
s_sign (crypto_generichash_state *state, const char *name, const struct stat *stat_buf)
{
    crypto_generichash_update (state, (const byte *) name, strlen (name) + 1);
    int64_t fields [5] = { (int64_t) stat_buf->st_ino, (int64_t) stat_buf->st_size,
                           (int64_t) stat_buf->st_mtim.tv_sec, (int64_t) stat_buf->st_mtim.tv_nsec,
                           (int64_t) stat_buf->st_mode };
    crypto_generichash_update (state, (const byte *) fields, sizeof (fields));
}

//  Walk the place: the signature always, and the keys when keys_p is set.

static int
s_walk (sstream_keyring_t *self, byte signature [32], zhashx_t **keys_p)
{
    zhashx_t *keys = NULL;
    if (keys_p) {
        keys = zhashx_new ();
        if (!keys)
            return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
        zhashx_set_destructor (keys, s_free_key);
    }
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    struct stat stat_buf;
    int rc = SSTREAM_OK;
    if (stat (self->path, &stat_buf) != 0)
        rc = sstream_error_set (SSTREAM_EKEY, "trusted keys %s: %s", self->path, strerror (errno));
    else
    if (S_ISDIR (stat_buf.st_mode)) {
        self->is_folder = true;
        DIR *folder = opendir (self->path);
        if (!folder)
            rc = sstream_error_set (SSTREAM_EKEY, "cannot read trusted keys folder %s: %s",
                                    self->path, strerror (errno));
        size_t count = 0;
        struct dirent *entry;
        while (folder && (entry = readdir (folder)) && count < FOLDER_FILES_MAX) {
            const char *name = entry->d_name;
            if (*name == '.' || s_ends_with (name, ".secret") || s_ends_with (name, "_secret"))
                continue;
            char path [4096];
            snprintf (path, sizeof (path), "%s/%s", self->path, name);
            struct stat entry_stat;
            if (stat (path, &entry_stat) != 0 || !S_ISREG (entry_stat.st_mode))
                continue;
            count++;
            s_sign (&state, name, &entry_stat);
            if (keys)
                s_add_file (keys, path);
        }
        if (folder)
            closedir (folder);
    }
    else {
        self->is_folder = false;
        s_sign (&state, "", &stat_buf);
        if (keys)
            s_add_file (keys, self->path);
    }
    crypto_generichash_final (&state, signature, 32);
    if (rc)
        zhashx_destroy (&keys);
    if (keys_p)
        *keys_p = keys;
    return rc;
}

int
sstream_keyring_new (sstream_keyring_t **self_p, const char *path)
{
    *self_p = NULL;
    if (!path || !*path)
        return sstream_error_set (SSTREAM_EKEY, "no trusted keys given");
    char *real = realpath (path, NULL);
    if (!real)
        return sstream_error_set (SSTREAM_EKEY, "trusted keys %s: %s", path, strerror (errno));
    sstream_keyring_t *self = (sstream_keyring_t *) zmalloc (sizeof (sstream_keyring_t));
    if (!self) {
        free (real);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    self->path = real;
    int rc = s_walk (self, self->signature, &self->keys);
    if (rc == SSTREAM_OK && !self->is_folder && zhashx_size (self->keys) == 0)
        rc = sstream_error_set (SSTREAM_EKEY, "%s holds no public key", path);
    if (rc)
        sstream_keyring_destroy (&self);
    *self_p = self;
    return rc;
}

void
sstream_keyring_destroy (sstream_keyring_t **self_p)
{
    if (self_p && *self_p) {
        sstream_keyring_t *self = *self_p;
        zhashx_destroy (&self->keys);
        zstr_free (&self->path);
        free (self);
        *self_p = NULL;
    }
}

bool
sstream_keyring_refresh (sstream_keyring_t *self)
{
    byte signature [32];
    s_walk (self, signature, NULL);
    if (memcmp (signature, self->signature, sizeof (signature)) == 0)
        return false;
    zhashx_t *keys;
    if (s_walk (self, signature, &keys) != SSTREAM_OK) {
        //  Gone: trust nobody from here until it is back
        bool had_keys = zhashx_size (self->keys) > 0;
        zhashx_purge (self->keys);
        memcpy (self->signature, signature, sizeof (signature));
        return had_keys;
    }
    memcpy (self->signature, signature, sizeof (signature));
    bool changed = zhashx_size (keys) != zhashx_size (self->keys);
    const char *key;
    for (key = (const char *) zhashx_first (keys); key && !changed;
         key = (const char *) zhashx_next (keys))
        if (!zhashx_lookup (self->keys, key))
            changed = true;
    zhashx_destroy (&self->keys);
    self->keys = keys;
    return changed;
}

bool
sstream_keyring_has (sstream_keyring_t *self, const char *public_key)
{
    return public_key && zhashx_lookup (self->keys, public_key) != NULL;
}

const char *
sstream_keyring_first (sstream_keyring_t *self)
{
    return (const char *) zhashx_first (self->keys);
}

const char *
sstream_keyring_next (sstream_keyring_t *self)
{
    return (const char *) zhashx_next (self->keys);
}

const char *
sstream_keyring_path (sstream_keyring_t *self)
{
    return self->path;
}
