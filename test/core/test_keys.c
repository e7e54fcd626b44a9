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

//  Refresh until the key is gone, as a gateway does at each tick: it goes
//  no sooner than SSTREAM_KEYRING_SETTLE after the first read that found
//  no file holding it, and within 30 s
static void
s_refresh_until_gone (sstream_keyring_t *ring, const char *key)
{
    int64_t start = zclock_mono ();
    cr_assert_not (sstream_keyring_refresh (ring), "a key went on the first read without it");
    cr_assert (sstream_keyring_has (ring, key));
    while (sstream_keyring_has (ring, key) && zclock_mono () - start < 30000) {
        usleep (20 * 1000);
        sstream_keyring_refresh (ring);
    }
    cr_assert_not (sstream_keyring_has (ring, key), "a removed key is still trusted after 30 s");
    cr_assert_geq (zclock_mono () - start, SSTREAM_KEYRING_SETTLE,
                   "a removed key went after %" PRId64 " ms", zclock_mono () - start);
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
    cr_assert_eq (sstream_keyring_new (&ring, s_folder, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
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

    //  A key removed is gone once two reads far enough apart agree
    unlink (other_path);
    char *other_secret = zsys_sprintf ("%s/other.secret", s_folder);
    unlink (other_secret);
    s_refresh_until_gone (ring, other);
    cr_assert (sstream_keyring_has (ring, producer));
    sstream_keyring_destroy (&ring);

    char *missing = zsys_sprintf ("%s/none", s_folder);
    cr_assert_eq (sstream_keyring_new (&ring, missing, NULL), SSTREAM_EKEY);
    cr_assert_eq (sstream_keyring_new (&ring, readme, NULL), SSTREAM_EKEY);
    cr_assert (strstr (sstream_errmsg (), "holds no public key"), "%s", sstream_errmsg ());
    zstr_free (&copy);
    zstr_free (&original);
    zstr_free (&readme);
    zstr_free (&other_path);
    zstr_free (&other_secret);
    zstr_free (&missing);
}

//  What logs, status and metrics call a key: the name in its .pub file
//  (keygen writes it), whatever the file is called, else a short prefix
Test (keys, keyring_names_keys_by_the_name_in_their_file)
{
    cr_assert_eq (sstream_keygen ("detector-7", s_folder), SSTREAM_OK);
    char *original = zsys_sprintf ("%s/detector-7.pub", s_folder);
    char *renamed = zsys_sprintf ("%s/beamline-2.pub", s_folder);
    cr_assert_eq (rename (original, renamed), 0);
    char key [41], name [72];
    cr_assert_eq (sstream_keys_load_public (renamed, key), SSTREAM_OK);

    sstream_keyring_t *ring;
    cr_assert_eq (sstream_keyring_new (&ring, s_folder, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert (sstream_keyring_name (ring, key, name, sizeof (name)));
    cr_assert_str_eq (name, "detector-7");
    cr_assert_not (sstream_keyring_name (ring, "not a key", name, sizeof (name)));
    cr_assert_str_eq (name, "");
    sstream_keyring_destroy (&ring);

    cr_assert_eq (sstream_keyring_new (&ring, renamed, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert (sstream_keyring_name (ring, key, name, sizeof (name)));
    cr_assert_str_eq (name, "detector-7");
    sstream_keyring_destroy (&ring);
    zstr_free (&original);
    zstr_free (&renamed);
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
    cr_assert_eq (sstream_keyring_new (&ring, s_folder, NULL), SSTREAM_OK);
    cr_assert (sstream_keyring_has (ring, evil_key));
    unlink (evil);
    cr_assert_eq (rename (mall_source, mall), 0);
    cr_assert (sstream_keyring_refresh (ring));
    cr_assert (sstream_keyring_has (ring, mall_key));
    s_refresh_until_gone (ring, evil_key);
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
    cr_assert_eq (sstream_keyring_new (&ring, s_folder, NULL), SSTREAM_OK);
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

//  A new key pair NAME in folder: the public file's path (zstr_free it)
//  and its key
static char *
s_make_key (const char *name, const char *folder, char key [41])
{
    cr_assert_eq (sstream_keygen (name, folder), SSTREAM_OK, "%s", sstream_errmsg ());
    char *path = zsys_sprintf ("%s/%s.pub", folder, name);
    cr_assert_eq (sstream_keys_load_public (path, key), SSTREAM_OK);
    return path;
}

//  Rewrite a file in place, as an editor or a configuration tool does:
//  the same inode, empty for a moment (O_TRUNC), then written, here in two
//  parts with a read of the ring after each
static void
s_rewrite_in_place (sstream_keyring_t *ring, const char *path, const char *text, const char *key)
{
    int fd = open (path, O_WRONLY | O_TRUNC);
    cr_assert_geq (fd, 0, "%s: %s", path, strerror (errno));
    cr_assert_not (sstream_keyring_refresh (ring), "an empty key file changed the keys");
    cr_assert (sstream_keyring_has (ring, key), "an empty key file took its key away");
    size_t size = strlen (text), half = size / 2;
    cr_assert_eq (write (fd, text, half), (ssize_t) half);
    cr_assert_not (sstream_keyring_refresh (ring), "a half-written key file changed the keys");
    cr_assert (sstream_keyring_has (ring, key), "a half-written key file took its key away");
    cr_assert_eq (write (fd, text + half, size - half), (ssize_t) (size - half));
    close (fd);
    cr_assert_not (sstream_keyring_refresh (ring));
    cr_assert (sstream_keyring_has (ring, key));
}

//  Refresh for a while, as a gateway does at each tick: the key stays
static void
s_refresh_keeps (sstream_keyring_t *ring, const char *key, int64_t ms)
{
    int64_t start = zclock_mono ();
    while (zclock_mono () - start < ms) {
        cr_assert_not (sstream_keyring_refresh (ring));
        cr_assert (sstream_keyring_has (ring, key), "a key went after %" PRId64 " ms",
                   zclock_mono () - start);
        usleep (20 * 1000);
    }
}

Test (keys, keyring_keeps_a_key_while_its_file_is_rewritten_in_place, .timeout = 30)
{
    char key [41];
    char *path = s_make_key ("producer", s_folder, key);
    char *text = support_read_file (path);
    sstream_keyring_t *ring;
    cr_assert_eq (sstream_keyring_new (&ring, s_folder, NULL), SSTREAM_OK);
    int round;
    for (round = 0; round < 50; round++)
        s_rewrite_in_place (ring, path, text, key);
    //  Nothing was left on a clock to take it away later
    s_refresh_keeps (ring, key, SSTREAM_KEYRING_SETTLE + 500);
    sstream_keyring_destroy (&ring);

    //  The same when the ring is that one file
    cr_assert_eq (sstream_keyring_new (&ring, path, NULL), SSTREAM_OK);
    for (round = 0; round < 10; round++)
        s_rewrite_in_place (ring, path, text, key);
    sstream_keyring_destroy (&ring);
    free (text);
    zstr_free (&path);
}

Test (keys, keyring_keeps_the_keys_of_a_folder_moved_away_until_it_is_back, .timeout = 30)
{
    char *folder = zsys_sprintf ("%s/trusted", s_folder);
    char *moved = zsys_sprintf ("%s/trusted.moved", s_folder);
    char key [41];
    char *path = s_make_key ("producer", folder, key);
    sstream_keyring_t *ring;
    cr_assert_eq (sstream_keyring_new (&ring, folder, NULL), SSTREAM_OK);
    cr_assert_eq (rename (folder, moved), 0);
    //  Missing for longer than a removed key's clock runs
    s_refresh_keeps (ring, key, SSTREAM_KEYRING_SETTLE + 500);
    cr_assert_eq (rename (moved, folder), 0);
    s_refresh_keeps (ring, key, 200);
    sstream_keyring_destroy (&ring);
    zstr_free (&folder);
    zstr_free (&moved);
    zstr_free (&path);
}

Test (keys, keyring_removes_a_key_only_when_reads_apart_agree_it_is_gone, .timeout = 60)
{
    char key [41];
    char *path = s_make_key ("producer", s_folder, key);
    char *text = support_read_file (path);
    sstream_keyring_t *ring;
    cr_assert_eq (sstream_keyring_new (&ring, s_folder, NULL), SSTREAM_OK);

    //  Deleted and written again before the clock ran out: it stays
    unlink (path);
    cr_assert_not (sstream_keyring_refresh (ring));
    cr_assert (sstream_keyring_has (ring, key));
    cr_assert_eq (support_write_file (path, text), 0);
    s_refresh_keeps (ring, key, SSTREAM_KEYRING_SETTLE + 500);

    //  Moved to another name in the folder: still held, so it stays
    char *renamed = zsys_sprintf ("%s/renamed.pub", s_folder);
    cr_assert_eq (rename (path, renamed), 0);
    s_refresh_keeps (ring, key, SSTREAM_KEYRING_SETTLE + 500);

    //  Emptied (kept), then deleted: gone once two reads apart agree
    int fd = open (renamed, O_WRONLY | O_TRUNC);
    close (fd);
    cr_assert_not (sstream_keyring_refresh (ring));
    unlink (renamed);
    s_refresh_until_gone (ring, key);
    sstream_keyring_destroy (&ring);
    free (text);
    zstr_free (&path);
    zstr_free (&renamed);
}

//  Reads that cannot tell keep keys for SSTREAM_KEYRING_HOLD, not forever:
//  a folder removed for good, and a key file emptied for good, take their
//  keys with them then
Test (keys, keyring_lets_keys_go_after_reads_that_cannot_tell_for_too_long, .timeout = 120)
{
    char *gone = zsys_sprintf ("%s/gone", s_folder);
    char *emptied = zsys_sprintf ("%s/emptied", s_folder);
    char one [41], two [41];
    char *one_path = s_make_key ("one", gone, one);
    char *one_secret = zsys_sprintf ("%s/one.secret", gone);
    char *two_path = s_make_key ("two", emptied, two);
    sstream_keyring_t *ring_one, *ring_two;
    cr_assert_eq (sstream_keyring_new (&ring_one, gone, NULL), SSTREAM_OK);
    cr_assert_eq (sstream_keyring_new (&ring_two, emptied, NULL), SSTREAM_OK);
    unlink (one_path);
    unlink (one_secret);
    cr_assert_eq (rmdir (gone), 0);
    close (open (two_path, O_WRONLY | O_TRUNC));
    int64_t start = zclock_mono ();
    bool changed_one = false, changed_two = false;
    while ((sstream_keyring_has (ring_one, one) || sstream_keyring_has (ring_two, two))
        && zclock_mono () - start < SSTREAM_KEYRING_HOLD + 30000) {
        changed_one |= sstream_keyring_refresh (ring_one);
        changed_two |= sstream_keyring_refresh (ring_two);
        usleep (50 * 1000);
    }
    int64_t elapsed = zclock_mono () - start;
    cr_assert (changed_one && changed_two);
    cr_assert_not (sstream_keyring_has (ring_one, one), "kept after %" PRId64 " ms", elapsed);
    cr_assert_not (sstream_keyring_has (ring_two, two), "kept after %" PRId64 " ms", elapsed);
    cr_assert_geq (elapsed, SSTREAM_KEYRING_HOLD);
    sstream_keyring_destroy (&ring_one);
    sstream_keyring_destroy (&ring_two);
    zstr_free (&gone);
    zstr_free (&emptied);
    zstr_free (&one_path);
    zstr_free (&one_secret);
    zstr_free (&two_path);
}

//  How many lines of the file hold text
static int
s_lines_with (const char *path, const char *text)
{
    char *log = support_read_file (path);
    cr_assert_not_null (log);
    int count = 0;
    char *line, *cursor = log;
    while ((line = strsep (&cursor, "\n")))
        count += strstr (line, text) != NULL;
    free (log);
    return count;
}

Test (keys, keyring_logs_each_change_once_with_the_file, .timeout = 60)
{
    char *folder = zsys_sprintf ("%s/trusted", s_folder);
    char *moved = zsys_sprintf ("%s/trusted.moved", s_folder);
    char *elsewhere = zsys_sprintf ("%s/elsewhere", s_folder);
    char producer_key [41], late_key [41];
    char *producer = s_make_key ("producer", folder, producer_key);
    char *late_source = s_make_key ("late", elsewhere, late_key);
    char *junk = zsys_sprintf ("%s/junk.pub", folder);
    char *late = zsys_sprintf ("%s/late.pub", folder);
    char *log_path = zsys_sprintf ("%s/log", s_folder);
    char *text = support_read_file (producer);
    //  The library logs to stderr: to this file from here on
    int log = open (log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert_geq (log, 0);
    int saved_stderr = dup (2);
    cr_assert_eq (dup2 (log, 2), 2);
    sstream_set_log_level (SSTREAM_LOG_INFO);

    sstream_keyring_t *ring;
    cr_assert_eq (sstream_keyring_new (&ring, folder, "test ring"), SSTREAM_OK);
    cr_assert_eq (support_write_file (junk, "curve\n    public-key = \"short\"\n"), 0);
    //  Reads of a changed folder, and then reads at every refresh while
    //  the late key's file is gone and its clock runs
    cr_assert_not (sstream_keyring_refresh (ring));
    cr_assert_not (sstream_keyring_refresh (ring));
    char *late_text = support_read_file (late_source);
    cr_assert_eq (support_write_file (late, late_text), 0);
    free (late_text);
    cr_assert (sstream_keyring_refresh (ring));
    unlink (late);
    s_refresh_until_gone (ring, late_key);
    //  The producer's file caught empty, then whole again
    close (open (producer, O_WRONLY | O_TRUNC));
    cr_assert_not (sstream_keyring_refresh (ring));
    cr_assert_not (sstream_keyring_refresh (ring));
    cr_assert_eq (support_write_file (producer, text), 0);
    cr_assert_not (sstream_keyring_refresh (ring));
    //  The folder away and back
    cr_assert_eq (rename (folder, moved), 0);
    cr_assert_not (sstream_keyring_refresh (ring));
    cr_assert_not (sstream_keyring_refresh (ring));
    cr_assert_eq (rename (moved, folder), 0);
    cr_assert_not (sstream_keyring_refresh (ring));
    cr_assert_not (sstream_keyring_refresh (ring));
    sstream_keyring_destroy (&ring);
    dup2 (saved_stderr, 2);
    close (saved_stderr);

    cr_assert_eq (s_lines_with (log_path, "junk.pub"), 1, "%s", support_read_file (log_path));
    cr_assert_eq (s_lines_with (log_path, "junk.pub is not a key file"), 1);
    cr_assert_eq (s_lines_with (log_path, "test ring: added "), 1);
    cr_assert_eq (s_lines_with (log_path, "late.pub (late, key "), 2);
    cr_assert_eq (s_lines_with (log_path, "test ring: removed "), 1);
    cr_assert_eq (s_lines_with (log_path, "no file holds it any more"), 1);
    cr_assert_eq (s_lines_with (log_path, "producer.pub is not a key file"), 1);
    cr_assert_eq (s_lines_with (log_path, "keeping its key (producer, key "), 1);
    cr_assert_eq (s_lines_with (log_path, "producer.pub holds a public key again"), 1);
    cr_assert_eq (s_lines_with (log_path, "cannot be read (No such file or directory): keeping its 1 key"), 1);
    cr_assert_eq (s_lines_with (log_path, "can be read again"), 1);
    close (log);
    free (text);
    zstr_free (&folder);
    zstr_free (&moved);
    zstr_free (&elsewhere);
    zstr_free (&junk);
    zstr_free (&late_source);
    zstr_free (&late);
    zstr_free (&producer);
    zstr_free (&log_path);
}
