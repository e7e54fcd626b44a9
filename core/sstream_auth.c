/*  =========================================================================
    sstream_auth - the process's ZAP handler and what it trusts

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_classes.h"

#include <pthread.h>

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_zauth;       //  CZMQ's ZAP handler
static char *s_folder;          //  Private folder zauth reads
static zlistx_t *s_rings;       //  sstream_keyring_t *, one per registration
static zhashx_t *s_written;     //  Keys with a file in s_folder
static time_t s_stamp;          //  Last mtime given to the folder's marker

static void
s_free_string (void **item_p)
{
    zstr_free ((char **) item_p);
}

static void
s_file_name (const char *key, char *path, size_t size, bool temporary)
{
    byte binary [32];
    char hex [65];
    zmq_z85_decode (binary, key);
    sodium_bin2hex (hex, sizeof (hex), binary, sizeof (binary));
    snprintf (path, size, "%s/%s%s.pub", s_folder, temporary? ".": "", hex);
}

//  Make s_folder hold exactly the union of the rings' keys, one file each.

static void
s_write_folder (void)
{
    zhashx_t *wanted = zhashx_new ();
    sstream_keyring_t *ring;
    for (ring = (sstream_keyring_t *) zlistx_first (s_rings); ring;
         ring = (sstream_keyring_t *) zlistx_next (s_rings)) {
        const char *key;
        for (key = sstream_keyring_first (ring); key; key = sstream_keyring_next (ring))
            zhashx_insert (wanted, key, (void *) key);
    }
    bool changed = false;
    char path [4096], temporary [4096];
    const char *key;
    for (key = (const char *) zhashx_first (wanted); key;
         key = (const char *) zhashx_next (wanted)) {
        if (zhashx_lookup (s_written, key))
            continue;
        byte public_key [32], secret_key [32] = { 0 };
        zmq_z85_decode (public_key, key);
        zcert_t *cert = zcert_new_from (public_key, secret_key);
        s_file_name (key, temporary, sizeof (temporary), true);
        s_file_name (key, path, sizeof (path), false);
        //  Written under a hidden name, which zauth skips, then renamed
        if (cert && zcert_save_public (cert, temporary) == 0
        &&  rename (temporary, path) == 0) {
            char *copy = strdup (key);
            zhashx_insert (s_written, copy, copy);
            changed = true;
        }
        else
            sstream_log_error ("sstream: cannot write trusted key %s: %s", path, strerror (errno));
        zcert_destroy (&cert);
    }
    zlistx_t *stale = zlistx_new ();
    for (key = (const char *) zhashx_first (s_written); key;
         key = (const char *) zhashx_next (s_written))
        if (!zhashx_lookup (wanted, key))
            zlistx_add_end (stale, (void *) key);
    for (key = (const char *) zlistx_first (stale); key;
         key = (const char *) zlistx_next (stale)) {
        s_file_name (key, path, sizeof (path), false);
        unlink (path);
        zhashx_delete (s_written, key);
        changed = true;
    }
    zlistx_destroy (&stale);
    zhashx_destroy (&wanted);
    if (changed) {
        //  zauth notices a change by count, size or newest time, to the
        //  second; a marker file with an ever later time makes sure of it
        time_t now = time (NULL);
        s_stamp = now > s_stamp? now: s_stamp + 1;
        snprintf (path, sizeof (path), "%s/generation", s_folder);
        FILE *marker = fopen (path, "w");
        if (marker) {
            fprintf (marker, "#   Not a key: its time tells zauth that the keys changed\n");
            fclose (marker);
            struct timespec times [2] = { { s_stamp, 0 }, { s_stamp, 0 } };
            utimensat (AT_FDCWD, path, times, 0);
        }
    }
}

static void
s_stop (void)
{
    zactor_destroy (&s_zauth);
    if (s_folder) {
        char path [4096];
        const char *key;
        for (key = s_written? (const char *) zhashx_first (s_written): NULL; key;
             key = (const char *) zhashx_next (s_written)) {
            s_file_name (key, path, sizeof (path), false);
            unlink (path);
        }
        snprintf (path, sizeof (path), "%s/generation", s_folder);
        unlink (path);
        rmdir (s_folder);
        zstr_free (&s_folder);
    }
    zhashx_destroy (&s_written);
    zlistx_destroy (&s_rings);
}

static int
s_start (void)
{
    const char *tmp = getenv ("TMPDIR");
    s_folder = zsys_sprintf ("%s/sstream-trust-XXXXXX", tmp && *tmp? tmp: "/tmp");
    if (!s_folder || !mkdtemp (s_folder)) {
        int error = errno;
        zstr_free (&s_folder);
        return sstream_error_set (SSTREAM_EIO, "cannot create the trusted-key folder: %s",
                                  strerror (error));
    }
    s_rings = zlistx_new ();
    s_written = zhashx_new ();
    if (s_written)
        zhashx_set_destructor (s_written, s_free_string);
    //  zauth aborts the process if another ZAP handler holds the endpoint;
    //  find out first, and say so
    zsock_t *probe = zsock_new (ZMQ_REP);
    bool taken = !probe || zsock_bind (probe, "inproc://zeromq.zap.01") != 0;
    if (probe && !taken)
        zsock_unbind (probe, "inproc://zeromq.zap.01");
    zsock_destroy (&probe);
    if (taken) {
        s_stop ();
        return sstream_error_set (SSTREAM_EINTERNAL,
            "another ZAP handler already runs in this process: libsstream runs its own "
            "(CZMQ's zauth) and cannot share it");
    }
    s_zauth = zactor_new (zauth, NULL);
    if (!s_rings || !s_written || !s_zauth) {
        s_stop ();
        return sstream_error_set (SSTREAM_EINTERNAL, "cannot start the ZAP handler (zauth)");
    }
    if (sstream_log_level () >= SSTREAM_LOG_DEBUG) {
        zstr_send (s_zauth, "VERBOSE");
        zsock_wait (s_zauth);
    }
    zstr_sendx (s_zauth, "CURVE", s_folder, NULL);
    zsock_wait (s_zauth);
    return SSTREAM_OK;
}

int
sstream_auth_trust (const char *path, void **registration_p)
{
    sstream_library_init ();
    *registration_p = NULL;
    sstream_keyring_t *ring;
    int rc = sstream_keyring_new (&ring, path);
    if (rc)
        return rc;
    pthread_mutex_lock (&s_lock);
    rc = s_zauth? SSTREAM_OK: s_start ();
    if (rc == SSTREAM_OK) {
        zlistx_add_end (s_rings, ring);
        s_write_folder ();
        *registration_p = ring;
    }
    else
        sstream_keyring_destroy (&ring);
    pthread_mutex_unlock (&s_lock);
    return rc;
}

void
sstream_auth_untrust (void **registration_p)
{
    if (!registration_p || !*registration_p)
        return;
    pthread_mutex_lock (&s_lock);
    void *handle = s_rings? zlistx_find (s_rings, *registration_p): NULL;
    if (handle) {
        sstream_keyring_t *ring = (sstream_keyring_t *) zlistx_detach (s_rings, handle);
        sstream_keyring_destroy (&ring);
        if (zlistx_size (s_rings) == 0)
            s_stop ();
        else
            s_write_folder ();
    }
    pthread_mutex_unlock (&s_lock);
    *registration_p = NULL;
}

void
sstream_auth_refresh (void)
{
    pthread_mutex_lock (&s_lock);
    if (s_rings) {
        bool changed = false;
        sstream_keyring_t *ring;
        for (ring = (sstream_keyring_t *) zlistx_first (s_rings); ring;
             ring = (sstream_keyring_t *) zlistx_next (s_rings))
            if (sstream_keyring_refresh (ring))
                changed = true;
        if (changed)
            s_write_folder ();
    }
    pthread_mutex_unlock (&s_lock);
}
