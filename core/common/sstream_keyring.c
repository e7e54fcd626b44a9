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

    Files change under a reader: an editor or a tool rewrites a key file in
    place (it is empty, then half written, for a moment), a deployment moves
    a folder away and back. A read that catches one of those moments must
    not take keys away, so a read adds what it finds at once but takes a
    key away only as sstream_keyring.h says: when reads at least
    SSTREAM_KEYRING_SETTLE apart agree that no file holds it, or after
    SSTREAM_KEYRING_HOLD of reads that could not tell. The ring remembers
    what each file held when it last read well; that is what a file that
    cannot be read now keeps.
*/

#include "sstream_common.h"

#define FOLDER_FILES_MAX 10000

//  What one file of the place held
typedef struct {
    char *path;                 //  For log lines
    char *key;                  //  Z85: what it held when it last read well, or NULL
    char *name;                 //  That certificate's metadata name, or NULL
    bool unreadable;            //  This read took no key from it
    int64_t unreadable_since;   //  While it keeps key
    char *why;                  //  Why not, while unreadable
} s_file_t;

//  One trusted key
typedef struct {
    char *key;                  //  Z85
    char *path;                 //  The file it was last read from
    char *name;                 //  Its certificate's metadata name, or NULL
    int64_t absent_since;       //  First read that found it in no file; 0 while one holds it
    uint64_t seen;              //  The last read that found or kept it
} s_key_t;

struct _sstream_keyring_t {
    char *path;                 //  Real path
    char *what;                 //  Start of log lines; NULL: no log lines
    bool is_folder;
    zhashx_t *keys;             //  Z85 -> s_key_t: the trusted set
    zhashx_t *files;            //  Path -> s_file_t, as the last read saw them
    byte signature [32];        //  What the last read saw
    uint64_t reads;             //  Full reads so far
    int64_t missing_since;      //  The place could not be read since; 0 while it can
    bool unsettled;             //  A key held or on the clock: read at every refresh
};

static bool
s_ends_with (const char *string, const char *suffix)
{
    size_t length = strlen (string), suffix_length = strlen (suffix);
    return length >= suffix_length && streq (string + length - suffix_length, suffix);
}

static void
s_file_destroy (void **item_p)
{
    s_file_t *file = (s_file_t *) *item_p;
    if (file) {
        free (file->path);
        free (file->key);
        free (file->name);
        free (file->why);
        free (file);
        *item_p = NULL;
    }
}

static void
s_key_destroy (void **item_p)
{
    s_key_t *key = (s_key_t *) *item_p;
    if (key) {
        free (key->key);
        free (key->path);
        free (key->name);
        free (key);
        *item_p = NULL;
    }
}

static zhashx_t *
s_files_new (void)
{
    zhashx_t *files = zhashx_new ();
    if (files)
        zhashx_set_destructor (files, s_file_destroy);
    return files;
}

static char *
s_strdup (const char *text)
{
    return text? strdup (text): NULL;
}

//  Replace *target with a copy of text
static void
s_set (char **target, const char *text)
{
    if (*target && text && streq (*target, text))
        return;
    free (*target);
    *target = s_strdup (text);
}

//  "FILE (NAME, key XXXXXXXX...)" for log lines, or without a path "(NAME,
//  key XXXXXXXX...)"
static const char *
s_describe (char *buffer, size_t size, const char *path, const char *key, const char *name)
{
    snprintf (buffer, size, "%s%s(%s%skey %.8s...)", path? path: "", path? " ": "",
              name? name: "", name? ", ": "", key);
    return buffer;
}

//  Read one file of the place into files
static void
s_read_file (zhashx_t *files, const char *path)
{
    s_file_t *file = (s_file_t *) zmalloc (sizeof (s_file_t));
    if (!file || !(file->path = strdup (path))) {
        free (file);
        return;
    }
    zcert_t *cert;
    if (sstream_keys_read (path, false, &cert) == SSTREAM_OK) {
        file->key = strdup (zcert_public_txt (cert));
        file->name = s_strdup (zcert_meta (cert, "name"));
        zcert_destroy (&cert);
    }
    else {
        //  Not a key file now: a README, or a key file caught as it is
        //  written, or one we may not read
        file->unreadable = true;
        file->why = strdup (sstream_errmsg ());
    }
    if (zhashx_insert (files, path, file) != 0)
        s_file_destroy ((void **) &file);
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

//  Walk the place: the signature always, and each file into files when
//  files is given. Each entry is signed before it is read, so a file that
//  changes after that is seen as changed by the next walk. False when the
//  place itself cannot be read, with why.

static bool
s_walk (sstream_keyring_t *self, byte signature [32], zhashx_t *files, char *why, size_t why_size)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    struct stat stat_buf;
    bool readable = true;
    if (stat (self->path, &stat_buf) != 0) {
        snprintf (why, why_size, "%s", strerror (errno));
        readable = false;
    }
    else
    if (S_ISDIR (stat_buf.st_mode)) {
        self->is_folder = true;
        DIR *folder = opendir (self->path);
        if (!folder) {
            snprintf (why, why_size, "%s", strerror (errno));
            readable = false;
        }
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
            if (files)
                s_read_file (files, path);
        }
        if (folder)
            closedir (folder);
    }
    else {
        self->is_folder = false;
        s_sign (&state, "", &stat_buf);
        if (files)
            s_read_file (files, self->path);
    }
    if (!readable)          //  Not the signature of an empty folder
        crypto_generichash_update (&state, (const byte *) "\1", 1);
    crypto_generichash_final (&state, signature, 32);
    return readable;
}

static void
s_remove (sstream_keyring_t *self, s_key_t *key, const char *why)
{
    if (self->what) {
        char described [512];
        sstream_log_warning ("%s: removed %s: %s", self->what,
                             s_describe (described, sizeof (described), key->path, key->key,
                                         key->name), why);
    }
    char z85 [41];
    snprintf (z85, sizeof (z85), "%s", key->key);
    zhashx_delete (self->keys, z85);
}

//  The place cannot be read: keep every key it had, for HOLD at most.
//  True if keys went.

static bool
s_hold_all (sstream_keyring_t *self, const char *why, int64_t now)
{
    const char *kind = self->is_folder? "folder": "file";
    bool changed = false;
    if (!self->missing_since) {
        self->missing_since = now;
        size_t count = zhashx_size (self->keys);
        if (self->what)
            sstream_log_warning ("%s: %s %s cannot be read (%s): keeping its %zu key%s until it can, "
                                 "for %d s at most", self->what, kind, self->path, why, count,
                                 count == 1? "": "s", SSTREAM_KEYRING_HOLD / 1000);
    }
    else
    if (now - self->missing_since >= SSTREAM_KEYRING_HOLD && zhashx_size (self->keys) > 0) {
        char reason [600];
        snprintf (reason, sizeof (reason), "its %s %s has not been readable for %d s (%s)",
                  kind, self->path, SSTREAM_KEYRING_HOLD / 1000, why);
        zlistx_t *gone = zlistx_new ();
        s_key_t *key;
        for (key = (s_key_t *) zhashx_first (self->keys); key && gone;
             key = (s_key_t *) zhashx_next (self->keys))
            zlistx_add_end (gone, key);
        for (key = gone? (s_key_t *) zlistx_first (gone): NULL; key;
             key = (s_key_t *) zlistx_next (gone))
            s_remove (self, key, reason);
        zlistx_destroy (&gone);
        zhashx_purge (self->files);
        changed = true;
    }
    self->unsettled = zhashx_size (self->keys) > 0;
    return changed;
}

//  Take a read of the place (files, which the ring keeps): add what it
//  found, keep what it cannot tell about, and start, stop or end the clock
//  of each key no file holds. True if the set changed.

static bool
s_settle (sstream_keyring_t *self, zhashx_t *files, int64_t now)
{
    uint64_t read = ++self->reads;
    bool changed = false;
    char described [512];
    if (self->missing_since) {
        self->missing_since = 0;
        if (self->what)
            sstream_log_warning ("%s: %s %s can be read again", self->what,
                                 self->is_folder? "folder": "file", self->path);
    }
    //  What each file holds, or keeps from before; each change said once
    s_file_t *file;
    for (file = (s_file_t *) zhashx_first (files); file; file = (s_file_t *) zhashx_next (files)) {
        s_file_t *before = (s_file_t *) zhashx_lookup (self->files, file->path);
        if (!file->unreadable) {
            if (before && before->unreadable && before->key && self->what)
                sstream_log_warning ("%s: %s holds a public key again", self->what, file->path);
            continue;
        }
        if (before && before->key) {
            s_set (&file->key, before->key);
            s_set (&file->name, before->name);
            file->unreadable_since = before->unreadable? before->unreadable_since: now;
        }
        if ((!before || !before->unreadable) && self->what) {
            if (file->key)
                sstream_log_warning ("%s: %s: keeping its key %s until it reads again, for %d s at most",
                                     self->what, file->why,
                                     s_describe (described, sizeof (described), NULL,
                                                 file->key, file->name),
                                     SSTREAM_KEYRING_HOLD / 1000);
            else
                sstream_log_warning ("%s: %s: skipped", self->what, file->why);
        }
    }
    //  Keys read now: new ones are in at once
    for (file = (s_file_t *) zhashx_first (files); file; file = (s_file_t *) zhashx_next (files)) {
        if (file->unreadable || !file->key)
            continue;
        s_key_t *key = (s_key_t *) zhashx_lookup (self->keys, file->key);
        if (!key) {
            key = (s_key_t *) zmalloc (sizeof (s_key_t));
            if (!key || !(key->key = strdup (file->key))) {
                free (key);
                continue;
            }
            if (zhashx_insert (self->keys, key->key, key) != 0) {
                s_key_destroy ((void **) &key);
                continue;
            }
            changed = true;
            if (self->what && self->reads > 1)
                sstream_log_info ("%s: added %s", self->what,
                                  s_describe (described, sizeof (described), file->path,
                                              file->key, file->name));
        }
        s_set (&key->path, file->path);
        s_set (&key->name, file->name);
        key->absent_since = 0;
        key->seen = read;
    }
    //  Keys kept by files that cannot be read now, for HOLD at most
    bool unsettled = false;
    for (file = (s_file_t *) zhashx_first (files); file; file = (s_file_t *) zhashx_next (files)) {
        s_key_t *key = file->unreadable && file->key?
            (s_key_t *) zhashx_lookup (self->keys, file->key): NULL;
        if (!key || key->seen == read)
            continue;           //  Read well elsewhere, or gone already
        if (now - file->unreadable_since >= SSTREAM_KEYRING_HOLD) {
            char reason [600];
            snprintf (reason, sizeof (reason), "its file has held no key for %d s (%s)",
                      SSTREAM_KEYRING_HOLD / 1000, file->why);
            s_remove (self, key, reason);
            zstr_free (&file->key);
            changed = true;
        }
        else {
            key->absent_since = 0;
            key->seen = read;
            unsettled = true;
        }
    }
    //  Keys no file holds: on the clock, and gone once reads SETTLE apart agree
    zlistx_t *gone = zlistx_new ();
    s_key_t *key;
    for (key = (s_key_t *) zhashx_first (self->keys); key && gone;
         key = (s_key_t *) zhashx_next (self->keys)) {
        if (key->seen == read)
            continue;
        if (!key->absent_since)
            key->absent_since = now;
        if (now - key->absent_since >= SSTREAM_KEYRING_SETTLE)
            zlistx_add_end (gone, key);
        else
            unsettled = true;
    }
    for (key = gone? (s_key_t *) zlistx_first (gone): NULL; key;
         key = (s_key_t *) zlistx_next (gone)) {
        file = (s_file_t *) zhashx_lookup (files, key->path);
        s_remove (self, key, file? "its file holds another key now": "no file holds it any more");
        changed = true;
    }
    zlistx_destroy (&gone);
    zhashx_destroy (&self->files);
    self->files = files;
    self->unsettled = unsettled;
    return changed;
}

int
sstream_keyring_new (sstream_keyring_t **self_p, const char *path, const char *what)
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
    self->what = s_strdup (what);
    self->keys = zhashx_new ();
    if (self->keys)
        zhashx_set_destructor (self->keys, s_key_destroy);
    self->files = s_files_new ();
    zhashx_t *files = s_files_new ();
    if (!self->keys || !self->files || !files || (what && !self->what)) {
        zhashx_destroy (&files);
        sstream_keyring_destroy (&self);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    int rc = SSTREAM_OK;
    char why [512];
    if (!s_walk (self, self->signature, files, why, sizeof (why))) {
        zhashx_destroy (&files);
        rc = sstream_error_set (SSTREAM_EKEY, "trusted keys %s: %s", self->path, why);
    }
    else {
        s_settle (self, files, zclock_mono ());
        if (!self->is_folder && zhashx_size (self->keys) == 0)
            rc = sstream_error_set (SSTREAM_EKEY, "%s holds no public key", path);
    }
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
        zhashx_destroy (&self->files);
        zstr_free (&self->path);
        zstr_free (&self->what);
        free (self);
        *self_p = NULL;
    }
}

bool
sstream_keyring_refresh (sstream_keyring_t *self)
{
    byte signature [32];
    char why [512];
    if (!self->unsettled) {
        s_walk (self, signature, NULL, why, sizeof (why));
        if (memcmp (signature, self->signature, sizeof (signature)) == 0)
            return false;
    }
    zhashx_t *files = s_files_new ();
    if (!files)
        return false;           //  Nothing read, nothing changed
    bool readable = s_walk (self, signature, files, why, sizeof (why));
    memcpy (self->signature, signature, sizeof (signature));
    if (!readable) {
        zhashx_destroy (&files);
        return s_hold_all (self, why, zclock_mono ());
    }
    return s_settle (self, files, zclock_mono ());
}

bool
sstream_keyring_has (sstream_keyring_t *self, const char *public_key)
{
    return public_key && zhashx_lookup (self->keys, public_key) != NULL;
}

bool
sstream_keyring_name (sstream_keyring_t *self, const char *public_key, char *name, size_t size)
{
    s_key_t *key = public_key? (s_key_t *) zhashx_lookup (self->keys, public_key): NULL;
    if (size)
        *name = 0;
    if (!key || !size)
        return false;
    if (key->name && *key->name)
        snprintf (name, size, "%s", key->name);
    else {
        const char *file = strrchr (key->path, '/');
        file = file? file + 1: key->path;
        size_t length = strlen (file);
        if (s_ends_with (file, ".pub"))
            length -= 4;
        snprintf (name, size, "%.*s", (int) length, file);
    }
    return true;
}

const char *
sstream_keyring_first (sstream_keyring_t *self)
{
    s_key_t *key = (s_key_t *) zhashx_first (self->keys);
    return key? key->key: NULL;
}

const char *
sstream_keyring_next (sstream_keyring_t *self)
{
    s_key_t *key = (s_key_t *) zhashx_next (self->keys);
    return key? key->key: NULL;
}

const char *
sstream_keyring_path (sstream_keyring_t *self)
{
    return self->path;
}
