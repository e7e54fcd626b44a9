/*  =========================================================================
    test_keys - key generation and loading

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"
#include "support.h"

#include <criterion/criterion.h>

static char *s_folder;

static void
s_setup (void)
{
    s_folder = support_scratch ();
    cr_assert_not_null (s_folder);
}

static void
s_teardown (void)
{
    support_rmtree (s_folder);
    free (s_folder);
}

TestSuite (keys, .init = s_setup, .fini = s_teardown);

static mode_t
s_mode (const char *path)
{
    struct stat stat_buf;
    cr_assert_eq (stat (path, &stat_buf), 0, "%s: %s", path, strerror (errno));
    return stat_buf.st_mode & 07777;
}

Test (keys, generate_writes_a_pair_with_a_private_secret)
{
    //  Even with a permissive umask the secret file is never open to others
    umask (0);
    char *dir = zsys_sprintf ("%s/new/folder", s_folder);
    cr_assert_eq (sstream_keygen ("producer", dir), SSTREAM_OK, "%s", sstream_errmsg ());
    char *public_path = zsys_sprintf ("%s/producer.pub", dir);
    char *secret_path = zsys_sprintf ("%s/producer.secret", dir);
    cr_assert_eq (s_mode (secret_path), 0600);
    cr_assert_eq (s_mode (public_path) & 0600, 0600);

    zcert_t *cert;
    cr_assert_eq (sstream_keys_load_secret (secret_path, &cert), SSTREAM_OK, "%s", sstream_errmsg ());
    char public_key [41];
    cr_assert_eq (sstream_keys_load_public (public_path, public_key), SSTREAM_OK);
    cr_assert_str_eq (public_key, zcert_public_txt (cert));
    cr_assert_str_eq (zcert_meta (cert, "name"), "producer");
    //  The public key can also be read from the secret file
    char again [41];
    cr_assert_eq (sstream_keys_load_public (secret_path, again), SSTREAM_OK);
    cr_assert_str_eq (again, public_key);
    //  The public file holds no secret
    char *text = support_read_file (public_path);
    cr_assert_null (strstr (text, "secret-key"));
    free (text);
    zcert_destroy (&cert);

    //  Two key pairs differ
    cr_assert_eq (sstream_keygen ("consumer", dir), SSTREAM_OK);
    char *other_path = zsys_sprintf ("%s/consumer.pub", dir);
    char other [41];
    cr_assert_eq (sstream_keys_load_public (other_path, other), SSTREAM_OK);
    cr_assert_str_neq (other, public_key);

    //  Never overwrites
    cr_assert_eq (sstream_keygen ("producer", dir), SSTREAM_EKEY);
    cr_assert (strstr (sstream_errmsg (), "already exists"), "%s", sstream_errmsg ());
    char check [41];
    cr_assert_eq (sstream_keys_load_public (public_path, check), SSTREAM_OK);
    cr_assert_str_eq (check, public_key);
    zstr_free (&dir);
    zstr_free (&public_path);
    zstr_free (&secret_path);
    zstr_free (&other_path);
}

Test (keys, secret_open_to_group_or_others_is_refused)
{
    cr_assert_eq (sstream_keygen ("gateway", s_folder), SSTREAM_OK);
    char *secret_path = zsys_sprintf ("%s/gateway.secret", s_folder);
    mode_t modes [] = { 0644, 0640, 0604, 0660, 0700 };
    size_t index;
    for (index = 0; index < sizeof (modes) / sizeof (modes [0]); index++) {
        cr_assert_eq (chmod (secret_path, modes [index]), 0);
        zcert_t *cert = NULL;
        int rc = sstream_keys_load_secret (secret_path, &cert);
        if (modes [index] & 077) {
            cr_assert_eq (rc, SSTREAM_EKEY, "mode %04o was taken", modes [index]);
            cr_assert_null (cert);
            cr_assert (strstr (sstream_errmsg (), "open to group or others"), "%s", sstream_errmsg ());
            cr_assert (strstr (sstream_errmsg (), "chmod 600"), "%s", sstream_errmsg ());
            cr_assert (strstr (sstream_errmsg (), secret_path), "%s", sstream_errmsg ());
        }
        else {
            cr_assert_eq (rc, SSTREAM_OK, "mode %04o: %s", modes [index], sstream_errmsg ());
            zcert_destroy (&cert);
        }
    }
    zstr_free (&secret_path);
}

Test (keys, wrong_files_are_refused_with_a_reason)
{
    cr_assert_eq (sstream_keygen ("real", s_folder), SSTREAM_OK);
    char *public_path = zsys_sprintf ("%s/real.pub", s_folder);
    char *missing = zsys_sprintf ("%s/missing.secret", s_folder);
    char *garbage = zsys_sprintf ("%s/garbage.secret", s_folder);
    char *damaged = zsys_sprintf ("%s/damaged.secret", s_folder);
    support_write_file (garbage, "this is not a certificate\n");
    chmod (garbage, 0600);
    zcert_t *one = zcert_new (), *two = zcert_new ();
    zcert_t *mixed = zcert_new_from (zcert_public_key (one), zcert_secret_key (two));
    zcert_save_secret (mixed, damaged);
    chmod (damaged, 0600);
    zcert_t *cert = NULL;

    cr_assert_eq (sstream_keys_load_secret (missing, &cert), SSTREAM_EKEY);
    cr_assert (strstr (sstream_errmsg (), "No such file"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_keys_load_secret (public_path, &cert), SSTREAM_EKEY);
    cr_assert (strstr (sstream_errmsg (), "holds no secret key"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_keys_load_secret (garbage, &cert), SSTREAM_EKEY);
    cr_assert (strstr (sstream_errmsg (), "not a key file"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_keys_load_secret (damaged, &cert), SSTREAM_EKEY);
    cr_assert (strstr (sstream_errmsg (), "damaged"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_keys_load_secret (s_folder, &cert), SSTREAM_EKEY);
    cr_assert (strstr (sstream_errmsg (), "not a regular file"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_keys_load_secret ("", &cert), SSTREAM_EKEY);
    cr_assert_null (cert);
    char key [41];
    cr_assert_eq (sstream_keys_load_public (missing, key), SSTREAM_EKEY);
    cr_assert_eq (sstream_keys_load_public (garbage, key), SSTREAM_EKEY);

    zcert_destroy (&one);
    zcert_destroy (&two);
    zcert_destroy (&mixed);
    zstr_free (&public_path);
    zstr_free (&missing);
    zstr_free (&garbage);
    zstr_free (&damaged);
}

Test (keys, names_are_checked)
{
    const char *bad [] = { "", ".hidden", "a/b", "../up", "sp ace", NULL };
    size_t index;
    for (index = 0; bad [index]; index++)
        cr_assert_eq (sstream_keygen (bad [index], s_folder), SSTREAM_EINVAL, "'%s'", bad [index]);
    cr_assert_eq (sstream_keygen (NULL, s_folder), SSTREAM_EINVAL);
}

Test (keys, keyring_reads_public_keys_once_each_and_skips_the_rest)
{
    //  What a real trusted folder looks like: .pub and .secret side by side,
    //  a copy of a key, a README, a subfolder
    cr_assert_eq (sstream_keygen ("producer", s_folder), SSTREAM_OK);
    cr_assert_eq (sstream_keygen ("other", s_folder), SSTREAM_OK);
    char *copy = zsys_sprintf ("%s/sub/producer-copy.pub", s_folder);
    zsys_dir_create ("%s/sub", s_folder);
    char *original = zsys_sprintf ("%s/producer.pub", s_folder);
    char *text = support_read_file (original);
    support_write_file (copy, text);
    free (text);
    char *readme = zsys_sprintf ("%s/README", s_folder);
    support_write_file (readme, "Keys of facility A's instruments.\n  bad indent\n");

    sstream_keyring_t *ring;
    cr_assert_eq (sstream_keyring_new (&ring, s_folder), SSTREAM_OK, "%s", sstream_errmsg ());
    char producer [41], other [41];
    sstream_keys_load_public (original, producer);
    char *other_path = zsys_sprintf ("%s/other.pub", s_folder);
    sstream_keys_load_public (other_path, other);
    cr_assert (sstream_keyring_has (ring, producer));
    cr_assert (sstream_keyring_has (ring, other));
    size_t count = 0;
    const char *key;
    for (key = sstream_keyring_first (ring); key; key = sstream_keyring_next (ring))
        count++;
    cr_assert_eq (count, 2);
    cr_assert_not (sstream_keyring_refresh (ring));

    //  A key removed is gone after a refresh
    unlink (other_path);
    char *other_secret = zsys_sprintf ("%s/other.secret", s_folder);
    unlink (other_secret);
    cr_assert (sstream_keyring_refresh (ring));
    cr_assert_not (sstream_keyring_has (ring, other));
    cr_assert (sstream_keyring_has (ring, producer));
    sstream_keyring_destroy (&ring);

    char *missing = zsys_sprintf ("%s/none", s_folder);
    cr_assert_eq (sstream_keyring_new (&ring, missing), SSTREAM_EKEY);
    cr_assert_eq (sstream_keyring_new (&ring, readme), SSTREAM_EKEY);
    cr_assert (strstr (sstream_errmsg (), "holds no public key"), "%s", sstream_errmsg ());
    zstr_free (&copy);
    zstr_free (&original);
    zstr_free (&readme);
    zstr_free (&other_path);
    zstr_free (&other_secret);
    zstr_free (&missing);
}

Test (keys, keygen_refuses_folders_others_can_write_and_existing_links)
{
    char *open_dir = zsys_sprintf ("%s/open", s_folder);
    mkdir (open_dir, 0777);
    chmod (open_dir, 0777);
    cr_assert_eq (sstream_keygen ("k", open_dir), SSTREAM_EKEY);
    cr_assert (strstr (sstream_errmsg (), "group or others can write"), "%s", sstream_errmsg ());
    //  A dangling link where the public key would go is not followed
    char *target = zsys_sprintf ("%s/planted", s_folder);
    char *link = zsys_sprintf ("%s/victim.pub", s_folder);
    cr_assert_eq (symlink (target, link), 0);
    cr_assert_eq (sstream_keygen ("victim", s_folder), SSTREAM_EKEY);
    cr_assert_eq (access (target, F_OK), -1, "keygen wrote through a link");
    char *secret = zsys_sprintf ("%s/victim.secret", s_folder);
    cr_assert_eq (access (secret, F_OK), -1, "a half-made pair was left behind");
    zstr_free (&open_dir);
    zstr_free (&target);
    zstr_free (&link);
    zstr_free (&secret);
}

Test (keys, a_secret_sibling_file_is_never_read_instead)
{
    //  zcert_load ("X") would read "X_secret" first, whatever its mode
    cr_assert_eq (sstream_keygen ("real", s_folder), SSTREAM_OK);
    char *secret = zsys_sprintf ("%s/real.secret", s_folder);
    char *sibling = zsys_sprintf ("%s/real.secret_secret", s_folder);
    zcert_t *other = zcert_new ();
    zcert_save_secret (other, sibling);
    chmod (sibling, 0644);
    zcert_t *cert;
    cr_assert_eq (sstream_keys_load_secret (secret, &cert), SSTREAM_OK, "%s", sstream_errmsg ());
    char public_key [41];
    char *public_path = zsys_sprintf ("%s/real.pub", s_folder);
    sstream_keys_load_public (public_path, public_key);
    cr_assert_str_eq (zcert_public_txt (cert), public_key);
    cr_assert_str_neq (zcert_public_txt (cert), zcert_public_txt (other));
    zcert_destroy (&cert);
    zcert_destroy (&other);
    zstr_free (&secret);
    zstr_free (&sibling);
    zstr_free (&public_path);
}

Test (keys, keyring_sees_a_swap_of_same_sized_files_in_the_same_second)
{
    cr_assert_eq (sstream_keygen ("evil", s_folder), SSTREAM_OK);
    char *elsewhere = zsys_sprintf ("%s/elsewhere", s_folder);
    cr_assert_eq (sstream_keygen ("mall", elsewhere), SSTREAM_OK);
    char *evil = zsys_sprintf ("%s/evil.pub", s_folder);
    char *mall_source = zsys_sprintf ("%s/mall.pub", elsewhere);
    char *mall = zsys_sprintf ("%s/mall.pub", s_folder);
    //  Same size, same timestamps
    struct stat stat_buf;
    stat (evil, &stat_buf);
    struct timespec times [2] = { stat_buf.st_atim, stat_buf.st_mtim };
    utimensat (AT_FDCWD, mall_source, times, 0);
    char evil_key [41], mall_key [41];
    sstream_keys_load_public (evil, evil_key);
    sstream_keys_load_public (mall_source, mall_key);

    sstream_keyring_t *ring;
    cr_assert_eq (sstream_keyring_new (&ring, s_folder), SSTREAM_OK);
    cr_assert (sstream_keyring_has (ring, evil_key));
    unlink (evil);
    cr_assert_eq (rename (mall_source, mall), 0);
    cr_assert (sstream_keyring_refresh (ring));
    cr_assert_not (sstream_keyring_has (ring, evil_key), "a removed key is still trusted");
    cr_assert (sstream_keyring_has (ring, mall_key));
    sstream_keyring_destroy (&ring);
    zstr_free (&elsewhere);
    zstr_free (&evil);
    zstr_free (&mall_source);
    zstr_free (&mall);
}

Test (keys, keyring_does_not_follow_link_loops, .timeout = 10)
{
    cr_assert_eq (sstream_keygen ("one", s_folder), SSTREAM_OK);
    char *loop = zsys_sprintf ("%s/loop", s_folder);
    char *loop2 = zsys_sprintf ("%s/loop2", s_folder);
    cr_assert_eq (symlink (".", loop), 0);
    cr_assert_eq (symlink (".", loop2), 0);
    char *fifo = zsys_sprintf ("%s/fifo.pub", s_folder);
    cr_assert_eq (mkfifo (fifo, 0644), 0);
    sstream_keyring_t *ring;
    cr_assert_eq (sstream_keyring_new (&ring, s_folder), SSTREAM_OK);
    size_t count = 0;
    const char *key;
    for (key = sstream_keyring_first (ring); key; key = sstream_keyring_next (ring))
        count++;
    cr_assert_eq (count, 1);
    cr_assert_not (sstream_keyring_refresh (ring));
    sstream_keyring_destroy (&ring);
    zstr_free (&loop);
    zstr_free (&loop2);
    zstr_free (&fifo);
}
