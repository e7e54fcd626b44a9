/*  =========================================================================
    test_trust - a gateway's trusted keys change while a stream runs, as a
    user or a tool changes them: a key file rewritten in place, or the
    folder moved away for a moment, aborts nothing; a key file deleted
    aborts its key's stream, and the log names the file; a malformed file
    is logged once

    Two sstream-pipe gateways from conf/ (their log is what the test reads),
    a producer and a consumer of this process between them.

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "support.h"
#include "gateways.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_MESSAGE_SIZE 65536
//  How long reads must agree that a key file is gone (SSTREAM_KEYRING_SETTLE)
#define S_SETTLE_MS 2000

static char *s_folder;
static gateways_t s_gateways;
static char s_log_a [600];              //  Gateway A's log
static char s_trusted [600];            //  Gateway A's trusted-keys folder
static char s_trusted_real [600];       //  The same, as the gateway names it
static char s_producer_pub [700];

static void
s_setup (void)
{
    s_folder = support_scratch ();
    cr_assert_not_null (s_folder);
    signal (SIGPIPE, SIG_IGN);
    gateways_start (&s_gateways, s_folder, NULL);
    snprintf (s_log_a, sizeof (s_log_a), "%s/gateway-a.err", s_folder);
    snprintf (s_trusted, sizeof (s_trusted), "%s/keys/facility-a", s_folder);
    snprintf (s_producer_pub, sizeof (s_producer_pub), "%s/producer.pub", s_trusted);
    //  As the gateway names them: the real path
    char *real = realpath (s_trusted, NULL);
    cr_assert_not_null (real);
    snprintf (s_trusted_real, sizeof (s_trusted_real), "%s", real);
    free (real);
}

static void
s_teardown (void)
{
    support_kill_children ();
    support_rmtree (s_folder);
    free (s_folder);
}

TestSuite (trust, .init = s_setup, .fini = s_teardown, .timeout = 240);

//  A producer in a thread of its own that streams until told to stop
typedef struct {
    const char *stream;
    sstream_config_t *options;
    pthread_t thread;
    atomic_bool stop;
    atomic_bool ended;              //  Failed, or closed
    atomic_uint_fast64_t bytes;     //  Sent so far
    int rc;                         //  Once ended: SSTREAM_OK if acknowledged
    char error [1024];
    unsigned char digest [32];
} s_producer_t;

static void *
s_producer_run (void *args)
{
    s_producer_t *self = (s_producer_t *) args;
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    sstream_producer_t *producer = NULL;
    int rc = sstream_producer_new (&producer, s_gateways.endpoint_a, self->stream, self->options);
    unsigned char *buffer = malloc (S_MESSAGE_SIZE);
    uint64_t sent = 0;
    while (rc == SSTREAM_OK && !self->stop) {
        support_fill (buffer, sent, S_MESSAGE_SIZE);
        rc = sstream_producer_send (producer, buffer, S_MESSAGE_SIZE, NULL, 0, SSTREAM_FOREVER);
        if (rc == SSTREAM_OK) {
            crypto_generichash_update (&state, buffer, S_MESSAGE_SIZE);
            sent += S_MESSAGE_SIZE;
            self->bytes = sent;
        }
        //  A steady stream, not a flood: the machine runs other tests
        usleep (2000);
    }
    if (rc == SSTREAM_OK)
        rc = sstream_producer_close (producer, 60000);
    if (rc)
        snprintf (self->error, sizeof (self->error), "%s", sstream_errmsg ());
    crypto_generichash_final (&state, self->digest, 32);
    sstream_producer_destroy (&producer);
    free (buffer);
    self->rc = rc;
    self->ended = true;
    return NULL;
}

//  Start a consumer and a producer of stream, and return once bytes flow
static void
s_stream_start (const char *stream, s_producer_t *producer, support_consumer_t *consumer)
{
    sstream_config_t *options;
    sstream_config_new (&options);
    sstream_config_set (options, "client/secret-key", s_gateways.consumer_key);
    sstream_config_set (options, "client/gateway-key", s_gateways.gateway_b_pub);
    *consumer = (support_consumer_t) {
        .endpoint = s_gateways.endpoint_b, .stream = stream, .options = options
    };
    support_consumer_start (consumer);

    sstream_config_new (&options);
    sstream_config_set (options, "client/secret-key", s_gateways.producer_key);
    sstream_config_set (options, "client/gateway-key", s_gateways.gateway_a_pub);
    sstream_config_set (options, "client/readers", s_gateways.consumer_pub);
    memset (producer, 0, sizeof (*producer));
    producer->stream = stream;
    producer->options = options;
    cr_assert_eq (pthread_create (&producer->thread, NULL, s_producer_run, producer), 0);
    int64_t start = zclock_mono ();
    while (producer->bytes < (4u << 20) && !producer->ended && zclock_mono () - start < 60000)
        usleep (10 * 1000);
    cr_assert_not (producer->ended, "the stream failed at the start: %s", producer->error);
    cr_assert_geq (producer->bytes, 4u << 20, "no stream after 60 s");
}

static void
s_stream_join (s_producer_t *producer, support_consumer_t *consumer)
{
    pthread_join (producer->thread, NULL);
    support_consumer_join (consumer);
    sstream_config_destroy (&producer->options);
    sstream_config_destroy (&consumer->options);
}

//  How many lines of the gateway's log hold text
static int
s_lines_with (const char *text)
{
    char *log = support_read_file (s_log_a);
    int count = 0;
    char *line, *cursor = log;
    while (cursor && (line = strsep (&cursor, "\n")))
        count += strstr (line, text) != NULL;
    free (log);
    return count;
}

//  Wait until count lines of gateway A's log hold text; false if the
//  producer ended first (its stream aborted), or after 60 s
static bool
s_wait_for_lines (const char *text, int count, s_producer_t *producer)
{
    int64_t start = zclock_mono ();
    while (s_lines_with (text) < count && zclock_mono () - start < 60000) {
        if (producer && producer->ended)
            return false;
        usleep (10 * 1000);
    }
    return s_lines_with (text) >= count;
}

//  Empty the key file (same inode), then write part of it: what a reader
//  sees while an editor or a tool rewrites it in place
static int
s_truncate_and_write (const char *path, const char *text, size_t size)
{
    int fd = open (path, O_WRONLY | O_TRUNC);
    cr_assert_geq (fd, 0, "%s: %s", path, strerror (errno));
    cr_assert_eq (write (fd, text, size), (ssize_t) size);
    return fd;
}

#define S_KEEPING "producer.pub is not a key file"
#define S_AGAIN "producer.pub holds a public key again"

Test (trust, a_key_file_rewritten_in_place_or_a_folder_moved_for_a_moment_aborts_nothing)
{
    s_producer_t producer;
    support_consumer_t consumer;
    s_stream_start ("rewritten", &producer, &consumer);
    char *text = support_read_file (s_producer_pub);
    cr_assert_not_null (text);
    size_t size = strlen (text);

    //  Rewritten in place many times, as fast as it goes: the gateway
    //  reads it when it will
    int round;
    for (round = 0; round < 500 && !producer.ended; round++)
        close (s_truncate_and_write (s_producer_pub, text, size));
    //  Each time it caught the file part written it says so, and that the
    //  file is whole again
    int64_t start = zclock_mono ();
    while (s_lines_with (S_AGAIN) < s_lines_with (S_KEEPING) && zclock_mono () - start < 60000
        && !producer.ended)
        usleep (10 * 1000);
    cr_assert_not (producer.ended, "the stream ended: %s", producer.error);

    //  Caught empty, and half written, for certain: the file stays so
    //  until the gateway has read it (it says so, or the stream fails)
    for (round = 0; round < 6; round++) {
        int kept = s_lines_with (S_KEEPING), again = s_lines_with (S_AGAIN);
        size_t part = round % 2? size / 2: 0;
        int fd = s_truncate_and_write (s_producer_pub, text, part);
        cr_assert (s_wait_for_lines (S_KEEPING, kept + 1, &producer),
                   "round %d: %s", round, producer.ended? producer.error: "nothing said in 60 s");
        cr_assert_eq (write (fd, text + part, size - part), (ssize_t) (size - part));
        close (fd);
        cr_assert (s_wait_for_lines (S_AGAIN, again + 1, &producer),
                   "round %d: %s", round, producer.ended? producer.error: "nothing said in 60 s");
    }

    //  The folder moved away, until the gateway has seen it gone, and back
    char moved [700];
    snprintf (moved, sizeof (moved), "%s.moved", s_trusted);
    cr_assert_eq (rename (s_trusted, moved), 0);
    cr_assert (s_wait_for_lines ("facility-a cannot be read", 1, &producer),
               "%s", producer.ended? producer.error: "nothing said in 60 s");
    cr_assert_eq (rename (moved, s_trusted), 0);
    cr_assert (s_wait_for_lines ("facility-a can be read again", 1, &producer),
               "%s", producer.ended? producer.error: "nothing said in 60 s");

    //  Nothing was put on a clock that would take the key away later: the
    //  stream runs on for longer than a deleted key's file takes to count
    start = zclock_mono ();
    while (!producer.ended && zclock_mono () - start < 2 * S_SETTLE_MS)
        usleep (10 * 1000);
    producer.stop = true;
    s_stream_join (&producer, &consumer);
    cr_assert_eq (producer.rc, SSTREAM_OK, "the stream failed: %s", producer.error);
    cr_assert_eq (consumer.rc, SSTREAM_OK, "%s", consumer.error);
    cr_assert_eq (memcmp (producer.digest, consumer.digest, 32), 0);
    cr_assert_eq (s_lines_with ("no longer trusted"), 0);
    cr_assert_eq (s_lines_with ("removed"), 0);
    free (text);
    gateways_stop (&s_gateways);
}

Test (trust, a_deleted_key_file_aborts_its_stream_and_the_log_names_it)
{
    s_producer_t producer;
    support_consumer_t consumer;
    s_stream_start ("deleted", &producer, &consumer);
    int64_t start = zclock_mono ();
    cr_assert_eq (unlink (s_producer_pub), 0);
    while (!producer.ended && zclock_mono () - start < 60000)
        usleep (10 * 1000);
    int64_t elapsed = zclock_mono () - start;
    cr_assert (producer.ended, "the stream still runs 60 s after its key file went");
    //  Not before reads that far apart agreed the file was gone
    cr_assert_geq (elapsed, S_SETTLE_MS, "aborted after %" PRId64 " ms", elapsed);
    cr_assert_neq (producer.rc, SSTREAM_OK);
    cr_assert (strstr (producer.error, "its key is no longer trusted"), "%s", producer.error);
    s_stream_join (&producer, &consumer);
    cr_assert_neq (consumer.rc, SSTREAM_OK);
    char removed [800];
    snprintf (removed, sizeof (removed),
              "gateway-a: local link's trusted keys: removed %s/producer.pub (producer, key ",
              s_trusted_real);
    cr_assert (s_wait_for_lines (removed, 1, NULL), "%s", support_read_file (s_log_a));
    cr_assert_eq (s_lines_with ("no file holds it any more"), 1);
    gateways_stop (&s_gateways);
}

Test (trust, a_malformed_key_file_is_logged_once)
{
    char junk [700];
    snprintf (junk, sizeof (junk), "%s/junk.pub", s_trusted);
    cr_assert_eq (support_write_file (junk, "curve\n    public-key = \"not forty\"\n"), 0);
    cr_assert (s_wait_for_lines ("junk.pub is not a key file", 1, NULL), "%s",
               support_read_file (s_log_a));
    //  The gateway reads the folder again when it changes, and at every
    //  tick while a key's file is gone: a key comes and goes
    char *elsewhere = zsys_sprintf ("%s/elsewhere", s_folder);
    cr_assert_eq (sstream_keygen ("late", elsewhere), SSTREAM_OK);
    char *source = zsys_sprintf ("%s/late.pub", elsewhere);
    char *late = zsys_sprintf ("%s/late.pub", s_trusted);
    char *text = support_read_file (source);
    cr_assert_eq (support_write_file (late, text), 0);
    char added [800], removed [800];
    snprintf (added, sizeof (added), "added %s/late.pub (late, key ", s_trusted_real);
    snprintf (removed, sizeof (removed), "removed %s/late.pub (late, key ", s_trusted_real);
    cr_assert (s_wait_for_lines (added, 1, NULL), "%s", support_read_file (s_log_a));
    cr_assert_eq (unlink (late), 0);
    cr_assert (s_wait_for_lines (removed, 1, NULL), "%s", support_read_file (s_log_a));
    cr_assert_eq (s_lines_with ("junk.pub"), 1, "%s", support_read_file (s_log_a));
    cr_assert_eq (s_lines_with ("junk.pub is not a key file (no curve/public-key in it): skipped"), 1);
    free (text);
    zstr_free (&elsewhere);
    zstr_free (&source);
    zstr_free (&late);
    gateways_stop (&s_gateways);
}
