/*  =========================================================================
    sstream_keyring - a set of trusted public keys read from a folder or a
    file, re-read when it changes

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_classes.h"

struct _sstream_keyring_t {
    char *path;                 //  Real path
    bool is_folder;
    zhashx_t *keys;             //  Z85 key -> itself
    //  What the last read saw, to tell a change
    time_t modified;
    off_t size;
    size_t count;
};

static bool
s_ends_with (const char *string, const char *suffix)
{
    size_t length = strlen (string), suffix_length = strlen (suffix);
    return length >= suffix_length && streq (string + length - suffix_length, suffix);
}

static void
s_add_file (zhashx_t *keys, const char *filename)
{
    const char *base = strrchr (filename, '/');
    base = base? base + 1: filename;
    if (*base == '.' || s_ends_with (base, "_secret") || s_ends_with (base, ".secret"))
        return;
    struct stat stat_buf;
    if (stat (filename, &stat_buf) != 0 || !S_ISREG (stat_buf.st_mode))
        return;
    zcert_t *cert = sstream_keys_load_cert (filename);
    if (!cert)
        return;
    byte zero [32] = { 0 };
    if (memcmp (zcert_public_key (cert), zero, 32) != 0) {
        char *key = strdup (zcert_public_txt (cert));
        if (zhashx_insert (keys, key, key) != 0)
            free (key);     //  The same key again
    }
    zcert_destroy (&cert);
}

static void
s_free_key (void **item_p)
{
    zstr_free ((char **) item_p);
}

//  Read everything; fills keys and the signature.

static int
s_read (sstream_keyring_t *self, zhashx_t **keys_p)
{
    zhashx_t *keys = zhashx_new ();
    if (!keys)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    zhashx_set_destructor (keys, s_free_key);
    struct stat stat_buf;
    if (stat (self->path, &stat_buf) != 0) {
        zhashx_destroy (&keys);
        return sstream_error_set (SSTREAM_EKEY, "trusted keys %s: %s", self->path,
                                  strerror (errno));
    }
    if (S_ISDIR (stat_buf.st_mode)) {
        zdir_t *dir = zdir_new (self->path, NULL);
        if (!dir) {
            zhashx_destroy (&keys);
            return sstream_error_set (SSTREAM_EKEY, "cannot read trusted keys folder %s",
                                      self->path);
        }
        zfile_t **files = zdir_flatten (dir);
        size_t index;
        for (index = 0; files && files [index]; index++)
            s_add_file (keys, zfile_filename (files [index], NULL));
        self->modified = zdir_modified (dir);
        self->size = zdir_cursize (dir);
        self->count = zdir_count (dir);
        zdir_flatten_free (&files);
        zdir_destroy (&dir);
        self->is_folder = true;
    }
    else {
        s_add_file (keys, self->path);
        self->modified = stat_buf.st_mtime;
        self->size = stat_buf.st_size;
        self->count = 1;
        self->is_folder = false;
    }
    *keys_p = keys;
    return SSTREAM_OK;
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
    int rc = s_read (self, &self->keys);
    if (rc) {
        sstream_keyring_destroy (&self);
        return rc;
    }
    if (!self->is_folder && zhashx_size (self->keys) == 0) {
        sstream_keyring_destroy (&self);
        return sstream_error_set (SSTREAM_EKEY, "%s holds no public key", path);
    }
    *self_p = self;
    return SSTREAM_OK;
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
    //  The same test zcertstore makes: newest time, total size, count
    time_t modified;
    off_t size;
    size_t count;
    struct stat stat_buf;
    if (stat (self->path, &stat_buf) != 0)
        modified = 0, size = 0, count = 0;
    else
    if (S_ISDIR (stat_buf.st_mode)) {
        zdir_t *dir = zdir_new (self->path, NULL);
        if (!dir)
            return false;
        modified = zdir_modified (dir);
        size = zdir_cursize (dir);
        count = zdir_count (dir);
        zdir_destroy (&dir);
    }
    else {
        modified = stat_buf.st_mtime;
        size = stat_buf.st_size;
        count = 1;
    }
    if (modified == self->modified && size == self->size && count == self->count)
        return false;
    zhashx_t *keys;
    if (s_read (self, &keys) != SSTREAM_OK) {
        //  Gone: trust nobody from here until it is back
        zhashx_purge (self->keys);
        self->modified = 0, self->size = 0, self->count = 0;
        return true;
    }
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
