/*  =========================================================================
    sstream_keys - CURVE key files

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_classes.h"

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
    if (zsys_dir_create ("%s", dir) != 0 && !zsys_file_exists (dir))
        return sstream_error_set (SSTREAM_EKEY, "cannot create key folder %s: %s",
                                  dir, strerror (errno));
    char *public_path = zsys_sprintf ("%s/%s.pub", dir, name);
    char *secret_path = zsys_sprintf ("%s/%s.secret", dir, name);
    int rc = SSTREAM_OK;
    if (!public_path || !secret_path)
        rc = sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    else
    if (zsys_file_exists (public_path) || zsys_file_exists (secret_path))
        rc = sstream_error_set (SSTREAM_EKEY,
            "%s already exists: refusing to overwrite a key (remove it first)",
            zsys_file_exists (secret_path)? secret_path: public_path);
    if (rc == SSTREAM_OK) {
        //  Create the secret file 0600 before anything is written into it,
        //  so that it is never readable by others, whatever the umask.
        int fd = open (secret_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0)
            rc = sstream_error_set (SSTREAM_EKEY, "cannot create %s: %s",
                                    secret_path, strerror (errno));
        else
            close (fd);
    }
    zcert_t *cert = NULL;
    if (rc == SSTREAM_OK) {
        cert = zcert_new ();
        if (!cert)
            rc = sstream_error_set (SSTREAM_ENOMEM, "cannot generate a key pair");
    }
    if (rc == SSTREAM_OK) {
        zcert_set_meta (cert, "name", "%s", name);
        zcert_set_meta (cert, "created-by", "sstream %s", sstream_version ());
        if (zcert_save_secret (cert, secret_path) != 0) {
            rc = sstream_error_set (SSTREAM_EKEY, "cannot write %s: %s",
                                    secret_path, strerror (errno));
            unlink (secret_path);
        }
        else
        if (zcert_save_public (cert, public_path) != 0) {
            rc = sstream_error_set (SSTREAM_EKEY, "cannot write %s: %s",
                                    public_path, strerror (errno));
            unlink (secret_path);
            unlink (public_path);
        }
    }
    zcert_destroy (&cert);
    zstr_free (&public_path);
    zstr_free (&secret_path);
    return rc;
}

zcert_t *
sstream_keys_load_cert (const char *path)
{
    //  Key files are small; anything larger is not one
    char text [64 * 1024 + 1];
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    size_t size = fread (text, 1, sizeof (text), file);
    fclose (file);
    if (size == sizeof (text))
        return NULL;
    text [size] = 0;
    if (strlen (text) != size)
        return NULL;
    char complaint [256];
    zconfig_t *parsed = sstream_config_parse (text, complaint, sizeof (complaint));
    if (!parsed)
        return NULL;
    zconfig_destroy (&parsed);
    return zcert_load (path);
}

int
sstream_keys_load_secret (const char *path, zcert_t **cert_p)
{
    sstream_library_init ();
    *cert_p = NULL;
    if (!path || !*path)
        return sstream_error_set (SSTREAM_EKEY, "no secret key file given");
    struct stat stat_buf;
    if (stat (path, &stat_buf) != 0)
        return sstream_error_set (SSTREAM_EKEY, "cannot read secret key file %s: %s",
                                  path, strerror (errno));
    if (!S_ISREG (stat_buf.st_mode))
        return sstream_error_set (SSTREAM_EKEY, "secret key file %s is not a regular file", path);
    if (access (path, R_OK) != 0)
        return sstream_error_set (SSTREAM_EKEY, "cannot read secret key file %s: %s",
                                  path, strerror (errno));
    //  zcert_load tries PATH_secret first; ours are NAME.secret, so it
    //  reads PATH itself unless someone left a PATH_secret beside it.
    zcert_t *cert = sstream_keys_load_cert (path);
    if (!cert)
        return sstream_error_set (SSTREAM_EKEY,
            "%s is not a key file (expected a CZMQ certificate with curve/secret-key)", path);
    const byte *public_key = zcert_public_key (cert);
    const byte *secret_key = zcert_secret_key (cert);
    byte zero [32] = { 0 };
    if (memcmp (secret_key, zero, 32) == 0) {
        zcert_destroy (&cert);
        return sstream_error_set (SSTREAM_EKEY,
            "%s holds no secret key (is it a .pub file? give the .secret file)", path);
    }
    if (stat_buf.st_mode & (S_IRWXG | S_IRWXO)) {
        zcert_destroy (&cert);
        return sstream_error_set (SSTREAM_EKEY,
            "secret key file %s is open to group or others (mode %04o): refusing it; run chmod 600 %s",
            path, (unsigned) (stat_buf.st_mode & 07777), path);
    }
    byte derived [32];
    if (crypto_scalarmult_base (derived, secret_key) != 0
    ||  memcmp (derived, public_key, 32) != 0) {
        zcert_destroy (&cert);
        return sstream_error_set (SSTREAM_EKEY,
            "%s is damaged: its public key does not belong to its secret key", path);
    }
    *cert_p = cert;
    return SSTREAM_OK;
}

int
sstream_keys_load_public (const char *path, char public_key [41])
{
    sstream_library_init ();
    if (!path || !*path)
        return sstream_error_set (SSTREAM_EKEY, "no public key file given");
    if (access (path, R_OK) != 0)
        return sstream_error_set (SSTREAM_EKEY, "cannot read public key file %s: %s",
                                  path, strerror (errno));
    struct stat stat_buf;
    if (stat (path, &stat_buf) != 0 || !S_ISREG (stat_buf.st_mode))
        return sstream_error_set (SSTREAM_EKEY, "public key file %s is not a regular file", path);
    zcert_t *cert = sstream_keys_load_cert (path);
    if (!cert)
        return sstream_error_set (SSTREAM_EKEY,
            "%s is not a key file (expected a CZMQ certificate with curve/public-key)", path);
    byte zero [32] = { 0 };
    if (memcmp (zcert_public_key (cert), zero, 32) == 0) {
        zcert_destroy (&cert);
        return sstream_error_set (SSTREAM_EKEY, "%s holds no public key", path);
    }
    memcpy (public_key, zcert_public_txt (cert), 41);
    zcert_destroy (&cert);
    return SSTREAM_OK;
}
