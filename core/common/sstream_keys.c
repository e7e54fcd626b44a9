/*  =========================================================================
    sstream_keys - CURVE key files

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Key files are written by CZMQ's zcert and read here through zconfig:
    zcert_load would also read a "PATH_secret" beside PATH, whatever its
    permissions, and lets zconfig print on stdout about a file that is not
    ZPL. A file is opened once; type, permissions and size are checked on
    that open file, not on a name that could change in between.
*/

#include "sstream_common.h"

#define KEY_FILE_MAX (64 * 1024)

static bool
s_name_is_valid (const char *name)
{
    if (!name || !*name || strlen (name) > 64 || *name == '.')
        return false;
    const char *reader;
    for (reader = name; *reader; reader++)
        if (!(isalnum ((unsigned char) *reader) || strchr ("._-", *reader)))
            return false;
    return true;
}

//  mkdir -p, each new folder 0755

static int
s_make_folders (const char *path)
{
    char *copy = strdup (path);
    if (!copy)
        return -1;
    char *slash;
    for (slash = strchr (copy + 1, '/'); ; slash = strchr (slash + 1, '/')) {
        if (slash)
            *slash = 0;
        if (mkdir (copy, 0755) != 0 && errno != EEXIST) {
            free (copy);
            return -1;
        }
        if (!slash)
            break;
        *slash = '/';
    }
    free (copy);
    return 0;
}

//  Create path for writing, refusing anything already there (a link
//  included).

static int
s_create (const char *path, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return sstream_error_set (SSTREAM_EKEY, "cannot create %s: %s", path,
                                  errno == EEXIST? "it already exists: refusing to overwrite a key"
                                                 : strerror (errno));
    close (fd);
    return SSTREAM_OK;
}

int
sstream_keygen (const char *name, const char *dir)
{
    sstream_library_init ();
    if (!s_name_is_valid (name))
        return sstream_error_set (SSTREAM_EINVAL,
            "key name '%s' must be 1 to 64 characters of [A-Za-z0-9._-], not starting with '.'",
            name? name: "");
    if (!dir || !*dir)
        dir = ".";
    if (s_make_folders (dir) != 0)
        return sstream_error_set (SSTREAM_EKEY, "cannot create key folder %s: %s",
                                  dir, strerror (errno));
    struct stat stat_buf;
    if (stat (dir, &stat_buf) != 0 || !S_ISDIR (stat_buf.st_mode))
        return sstream_error_set (SSTREAM_EKEY, "%s is not a folder", dir);
    //  In a folder others can write, they could swap a file as it is written
    if (stat_buf.st_mode & (S_IWGRP | S_IWOTH))
        return sstream_error_set (SSTREAM_EKEY,
            "refusing to write keys into %s, which group or others can write: run chmod go-w %s",
            dir, dir);
    char *public_path = zsys_sprintf ("%s/%s.pub", dir, name);
    char *secret_path = zsys_sprintf ("%s/%s.secret", dir, name);
    zcert_t *cert = zcert_new ();
    int rc = SSTREAM_OK;
    if (!public_path || !secret_path || !cert)
        rc = sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    if (rc == SSTREAM_OK)
        rc = s_create (secret_path, 0600);      //  Never readable by others
    if (rc == SSTREAM_OK) {
        rc = s_create (public_path, 0644);
        if (rc)
            unlink (secret_path);
    }
    if (rc == SSTREAM_OK) {
        zcert_set_meta (cert, "name", "%s", name);
        zcert_set_meta (cert, "created-by", "sstream %s", sstream_version ());
        if (zcert_save_secret (cert, secret_path) != 0 || zcert_save_public (cert, public_path) != 0) {
            rc = sstream_error_set (SSTREAM_EKEY, "cannot write the key pair %s: %s",
                                    secret_path, strerror (errno));
            unlink (secret_path);
            unlink (public_path);
        }
    }
    zcert_destroy (&cert);
    zstr_free (&public_path);
    zstr_free (&secret_path);
    return rc;
}

//  A Z85 key from a zconfig tree, or false.
static bool
s_key (zconfig_t *root, const char *path, byte key [32])
{
    const char *text = zconfig_get (root, path, NULL);
    return text && strlen (text) == 40 && zmq_z85_decode (key, text) != NULL;
}

int
sstream_keys_read (const char *path, bool want_secret, zcert_t **cert_p)
{
    sstream_library_init ();
    *cert_p = NULL;
    const char *kind = want_secret? "secret": "public";
    if (!path || !*path)
        return sstream_error_set (SSTREAM_EKEY, "no %s key file given", kind);
    int fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return sstream_error_set (SSTREAM_EKEY, "cannot read %s key file %s: %s", kind, path,
                                  strerror (errno));
    struct stat stat_buf;
    int rc = SSTREAM_OK;
    if (fstat (fd, &stat_buf) != 0 || !S_ISREG (stat_buf.st_mode))
        rc = sstream_error_set (SSTREAM_EKEY, "%s key file %s is not a regular file", kind, path);
    else
    if (stat_buf.st_size > KEY_FILE_MAX)
        rc = sstream_error_set (SSTREAM_EKEY, "%s is not a key file (%lld bytes)", path,
                                (long long) stat_buf.st_size);
    char *text = NULL;
    if (rc == SSTREAM_OK) {
        text = (char *) malloc (KEY_FILE_MAX + 1);
        ssize_t size = text? read (fd, text, KEY_FILE_MAX): -1;
        if (size < 0)
            rc = sstream_error_set (SSTREAM_EKEY, "cannot read %s key file %s: %s", kind, path,
                                    strerror (errno));
        else {
            text [size] = 0;
            if (strlen (text) != (size_t) size)
                rc = sstream_error_set (SSTREAM_EKEY, "%s is not a key file (it holds NUL bytes)", path);
        }
    }
    close (fd);
    zconfig_t *root = NULL;
    if (rc == SSTREAM_OK) {
        char complaint [256];
        root = sstream_config_parse (text, complaint, sizeof (complaint));
        if (!root)
            rc = sstream_error_set (SSTREAM_EKEY,
                "%s is not a key file (expected a CZMQ certificate: line %s)", path, complaint);
    }
    free (text);
    byte public_key [32], secret_key [32] = { 0 };
    if (rc == SSTREAM_OK && !s_key (root, "curve/public-key", public_key))
        rc = sstream_error_set (SSTREAM_EKEY,
            "%s is not a key file (no curve/public-key in it)", path);
    if (rc == SSTREAM_OK && want_secret) {
        if (!s_key (root, "curve/secret-key", secret_key))
            rc = sstream_error_set (SSTREAM_EKEY,
                "%s holds no secret key (is it a .pub file? give the .secret file)", path);
        else
        if (stat_buf.st_mode & (S_IRWXG | S_IRWXO))
            rc = sstream_error_set (SSTREAM_EKEY,
                "secret key file %s is open to group or others (mode %04o): refusing it; run chmod 600 %s",
                path, (unsigned) (stat_buf.st_mode & 07777), path);
        else {
            byte derived [32];
            if (crypto_scalarmult_base (derived, secret_key) != 0
            ||  memcmp (derived, public_key, 32) != 0)
                rc = sstream_error_set (SSTREAM_EKEY,
                    "%s is damaged: its public key does not belong to its secret key", path);
        }
    }
    if (rc == SSTREAM_OK) {
        *cert_p = zcert_new_from (public_key, secret_key);
        if (!*cert_p)
            rc = sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    zconfig_t *meta = rc == SSTREAM_OK? zconfig_locate (root, "metadata"): NULL;
    zconfig_t *item;
    for (item = meta? zconfig_child (meta): NULL; item; item = zconfig_next (item))
        if (zconfig_value (item))
            zcert_set_meta (*cert_p, zconfig_name (item), "%s", zconfig_value (item));
    zconfig_destroy (&root);
    sodium_memzero (secret_key, sizeof (secret_key));
    return rc;
}

int
sstream_keys_load_secret (const char *path, zcert_t **cert_p)
{
    return sstream_keys_read (path, true, cert_p);
}

int
sstream_keys_load_public (const char *path, char public_key [41])
{
    zcert_t *cert;
    int rc = sstream_keys_read (path, false, &cert);
    if (rc == SSTREAM_OK) {
        memcpy (public_key, zcert_public_txt (cert), 41);
        zcert_destroy (&cert);
    }
    return rc;
}
