/*  =========================================================================
    test_pipe - sstream-pipe as separate processes: keygen, two gateways
    from conf/, send and recv, and everything a user can get wrong

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE
#include "support.h"
#include "gateways.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_out [600], s_err [600];

static void
s_setup (void)
{
    support_fixture_setup ();
    snprintf (s_out, sizeof (s_out), "%s/stdout", support_folder);
    snprintf (s_err, sizeof (s_err), "%s/stderr", support_folder);
}

//  Run sstream-pipe with arguments (NULL-terminated), stdin from in;
//  returns the exit status, stdout and stderr in s_out and s_err.

static int
s_run (const char *in, const char *first, ...)
{
    char *argv [32];
    int count = 0;
    argv [count++] = SSTREAM_PIPE;
    va_list args;
    va_start (args, first);
    const char *arg;
    for (arg = first; arg && count < 31; arg = va_arg (args, const char *))
        argv [count++] = (char *) arg;
    va_end (args);
    argv [count] = NULL;
    pid_t pid = support_spawn (argv, in, s_out, s_err);
    return support_wait (pid, 60000);
}

static char *
s_path (const char *name)
{
    char *path;
    cr_assert (asprintf (&path, "%s/%s", support_folder, name) > 0);
    return path;
}

//  One line on stderr, saying said
static void
s_assert_one_line (const char *said)
{
    char *text = support_read_file (s_err);
    cr_assert_not_null (text);
    size_t lines = 0;
    const char *reader;
    for (reader = text; *reader; reader++)
        lines += *reader == '\n';
    cr_assert_eq (lines, 1, "stderr has %zu lines:\n%s", lines, text);
    cr_assert (strstr (text, said), "stderr does not say '%s':\n%s", said, text);
    free (text);
}

TestSuite (pipe, .init = s_setup, .fini = support_fixture_teardown, .timeout = 120);

Test (pipe, every_command_has_help)
{
    const char *commands [] = { "keygen", "gateway", "send", "recv", "demo", "bench", "open",
                                "status", "release", "tunnel", NULL };
    size_t index;
    for (index = 0; commands [index]; index++) {
        cr_assert_eq (s_run (NULL, commands [index], "--help", NULL), 0, "%s --help", commands [index]);
        char *text = support_read_file (s_out);
        char usage [64];
        snprintf (usage, sizeof (usage), "Usage: sstream-pipe %s", commands [index]);
        cr_assert (strstr (text, usage), "%s --help says:\n%s", commands [index], text);
        free (text);
    }
    cr_assert_eq (s_run (NULL, "--help", NULL), 0);
    char *text = support_read_file (s_out);
    for (index = 0; commands [index]; index++)
        cr_assert (strstr (text, commands [index]), "%s", text);
    free (text);
    cr_assert_eq (s_run (NULL, NULL), 2);
    cr_assert_eq (s_run (NULL, "frobnicate", NULL), 2);
    s_assert_one_line ("unknown command 'frobnicate'");
}

Test (pipe, keygen_writes_a_pair_and_never_overwrites)
{
    char *dir = s_path ("keys");
    cr_assert_eq (s_run (NULL, "keygen", "alice", "--dir", dir, NULL), 0);
    char *secret = s_path ("keys/alice.secret");
    struct stat stat_buf;
    cr_assert_eq (stat (secret, &stat_buf), 0);
    cr_assert_eq (stat_buf.st_mode & 0777, 0600);
    char *text = support_read_file (secret);
    cr_assert (strstr (text, "secret-key"));
    free (text);
    cr_assert_eq (s_run (NULL, "keygen", "alice", "--dir", dir, NULL), 3);
    s_assert_one_line ("already exists");
    cr_assert_eq (s_run (NULL, "keygen", "--dir", dir, NULL), 2);
    s_assert_one_line ("no NAME given");
    cr_assert_eq (s_run (NULL, "keygen", "a/b", "--dir", dir, NULL), 2);
    free (dir);
    free (secret);
}

//  Two gateway processes from conf/, with keys and ports of this test

typedef gateways_t s_gateways_t;

static void
s_gateways_start (s_gateways_t *self, const char *buffer)
{
    gateways_options_t options = { .buffer = buffer };
    gateways_start (self, support_folder, &options);
}

static void
s_gateways_stop (s_gateways_t *self)
{
    gateways_stop (self);
}

static pid_t
s_spawn_client (s_gateways_t *self, bool send, const char *stream, const char *in,
                const char *out, const char *err, const char *extra)
{
    char *argv [16];
    int count = 0;
    argv [count++] = SSTREAM_PIPE;
    argv [count++] = send? "send": "recv";
    argv [count++] = "-k";
    argv [count++] = send? self->producer_key: self->consumer_key;
    argv [count++] = "-g";
    argv [count++] = send? self->gateway_a_pub: self->gateway_b_pub;
    if (send) {
        argv [count++] = "--readers";
        argv [count++] = self->consumer_pub;
    }
    if (extra)
        argv [count++] = (char *) extra;
    argv [count++] = send? self->endpoint_a: self->endpoint_b;
    argv [count++] = (char *) stream;
    argv [count] = NULL;
    return support_spawn (argv, in, out, err);
}

Test (pipe, keygen_gateway_send_and_recv_move_a_64_MiB_file)
{
    s_gateways_t gateways;
    s_gateways_start (&gateways, NULL);
    char *data = s_path ("data.bin");
    char *received = s_path ("received.bin");
    cr_assert_eq (support_fill_file (data, 64 << 20), 0);

    char *recv_err = s_path ("recv.err"), *send_err = s_path ("send.err");
    pid_t receiver = s_spawn_client (&gateways, false, "file-64", NULL, received, recv_err, NULL);
    pid_t sender = s_spawn_client (&gateways, true, "file-64", data, NULL, send_err, NULL);
    int sent_status = support_wait (sender, 60000);
    int received_status = support_wait (receiver, 60000);
    cr_assert_eq (sent_status, 0, "send: %s", support_read_file (send_err));
    cr_assert_eq (received_status, 0, "recv: %s", support_read_file (recv_err));
    unsigned char one [32], two [32];
    uint64_t size_one, size_two;
    cr_assert_eq (support_digest_file (data, one, &size_one), 0);
    cr_assert_eq (support_digest_file (received, two, &size_two), 0);
    cr_assert_eq (size_two, 64 << 20);
    cr_assert_eq (size_one, size_two);
    cr_assert_eq (memcmp (one, two, 32), 0, "the received file differs");
    s_gateways_stop (&gateways);
    free (data);
    free (received);
    free (recv_err);
    free (send_err);
}

Test (pipe, bad_input_gets_one_line_and_a_nonzero_exit)
{
    s_gateways_t gateways;
    s_gateways_start (&gateways, NULL);
    char *missing = s_path ("missing.secret");
    char long_name [200];
    memset (long_name, 's', sizeof (long_name) - 1);
    long_name [sizeof (long_name) - 1] = 0;
    char unreachable [64];
    int port;
    int refusing = support_refused_port (&port);
    cr_assert_geq (refusing, 0);
    snprintf (unreachable, sizeof (unreachable), "tcp://127.0.0.1:%d", port);

    cr_assert_eq (s_run (NULL, "send", "--frobnicate", gateways.endpoint_a, "s", NULL), 2);
    s_assert_one_line ("unknown option '--frobnicate'");
    cr_assert_eq (s_run (NULL, "send", gateways.endpoint_a, NULL), 2);
    s_assert_one_line ("give ENDPOINT and STREAM");
    cr_assert_eq (s_run (NULL, "send", "-k", missing, "-g", gateways.gateway_a_pub,
                         gateways.endpoint_a, "s", NULL), 3);
    s_assert_one_line ("cannot read secret key file");
    cr_assert_eq (s_run (NULL, "recv", "-k", gateways.consumer_key, "-g", gateways.gateway_b_pub,
                         "--timeout", "1s", unreachable, "s", NULL), 5);
    s_assert_one_line ("is unreachable: no connection within 1 s");
    cr_assert_eq (s_run (NULL, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         gateways.endpoint_a, "", NULL), 2);
    s_assert_one_line ("stream name is empty");
    cr_assert_eq (s_run (NULL, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         gateways.endpoint_a, long_name, NULL), 2);
    s_assert_one_line ("the limit is 128");
    cr_assert_eq (s_run (NULL, "send", "-s", "12 parsecs", gateways.endpoint_a, "s", NULL), 2);
    s_assert_one_line ("--chunk-size");
    cr_assert_eq (s_run (NULL, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         "--security", "maybe", gateways.endpoint_a, "s", NULL), 3);
    s_assert_one_line ("'maybe' is not one of curve|none");

    //  Sealed (the default) without readers, or with a reader's file missing
    cr_assert_eq (s_run (NULL, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         gateways.endpoint_a, "s", NULL), 3);
    s_assert_one_line ("nobody may read it: name its readers' public keys");
    cr_assert_eq (s_run (NULL, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         "--readers", missing, gateways.endpoint_a, "s", NULL), 3);
    s_assert_one_line ("missing.secret");
    cr_assert_eq (s_run (NULL, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         "--payload", "maybe", gateways.endpoint_a, "s", NULL), 3);
    s_assert_one_line ("'maybe' is not one of sealed|hop");

    //  A key the gateway does not know
    char *strangers = s_path ("strangers");
    cr_assert_eq (s_run (NULL, "keygen", "stranger", "--dir", strangers, NULL), 0);
    char *stranger = s_path ("strangers/stranger.secret");
    cr_assert_eq (s_run (NULL, "send", "-k", stranger, "-g", gateways.gateway_a_pub,
                         "--readers", gateways.consumer_pub, gateways.endpoint_a, "s", NULL), 4);
    s_assert_one_line ("refused our key");
    //  A secret key others may read
    chmod (stranger, 0644);
    cr_assert_eq (s_run (NULL, "send", "-k", stranger, "-g", gateways.gateway_a_pub,
                         "--readers", gateways.consumer_pub, gateways.endpoint_a, "s", NULL), 3);
    s_assert_one_line ("open to group or others");

    //  Configs: syntax, unknown keys, missing files
    char *config = s_path ("bad.cfg");
    support_write_file (config, "gateway\n    name = x\n  buffer = 1M\n");
    cr_assert_eq (s_run (NULL, "gateway", "-c", config, NULL), 3);
    s_assert_one_line ("bad.cfg:3: indent 4 spaces at once");
    support_write_file (config, "gateway\n    name = x\nlocal\n    endpoint = tcp://127.0.0.1:1\n    secutiry = none\n");
    cr_assert_eq (s_run (NULL, "gateway", "-c", config, NULL), 3);
    s_assert_one_line ("bad.cfg:5: local/secutiry: unknown key 'secutiry' in section 'local'");
    cr_assert_eq (s_run (NULL, "gateway", "-c", missing, NULL), 3);
    s_assert_one_line ("cannot open config file");
    cr_assert_eq (s_run (NULL, "gateway", NULL), 2);
    s_assert_one_line ("no config file given");
    cr_assert_eq (s_run (NULL, "recv", "-c", config, gateways.endpoint_b, "s", NULL), 3);
    s_assert_one_line ("unknown section 'gateway'");
    //  The port of a running gateway
    support_write_file (config, "local\n    endpoint = tcp://127.0.0.1:1\n    security = none\n");
    char taken [80];
    snprintf (taken, sizeof (taken), "local/endpoint=%s", gateways.endpoint_a);
    cr_assert_eq (s_run (NULL, "gateway", "-q", "-c", config, "--set", taken, NULL), 1);
    s_assert_one_line ("Address already in use");

    s_gateways_stop (&gateways);
    close (refusing);
    free (missing);
    free (strangers);
    free (stranger);
    free (config);
}

Test (pipe, disk_full_at_the_receiver_fails_both_ends)
{
    s_gateways_t gateways;
    s_gateways_start (&gateways, NULL);
    char *data = s_path ("data.bin");
    FILE *file = fopen (data, "wb");
    static unsigned char chunk [1 << 20];
    int index;
    for (index = 0; index < 8; index++)
        fwrite (chunk, 1, sizeof (chunk), file);
    fclose (file);
    char *recv_err = s_path ("recv.err"), *send_err = s_path ("send.err");
    pid_t receiver = s_spawn_client (&gateways, false, "full", NULL, "/dev/full", recv_err, NULL);
    pid_t sender = s_spawn_client (&gateways, true, "full", data, NULL, send_err, NULL);
    cr_assert_eq (support_wait (receiver, 30000), 1);
    cr_assert_eq (support_wait (sender, 30000), 1);
    char *said = support_read_file (recv_err);
    cr_assert (strstr (said, "No space left on device"), "%s", said);
    free (said);
    said = support_read_file (send_err);
    cr_assert (strstr (said, "the consumer gave up: cannot write to standard output: No space left"),
               "%s", said);
    free (said);
    s_gateways_stop (&gateways);
    free (data);
    free (recv_err);
    free (send_err);
}

//  Write to a FIFO without blocking: how much went in.
static size_t
s_feed (int fd, uint64_t *offset, crypto_generichash_state *state, size_t most)
{
    static unsigned char chunk [65536];
    size_t written = 0;
    while (written < most) {
        size_t size = sizeof (chunk);
        support_fill (chunk, *offset, size);
        ssize_t done = write (fd, chunk, size);
        if (done <= 0)
            break;
        crypto_generichash_update (state, chunk, (size_t) done);
        *offset += (uint64_t) done;
        written += (size_t) done;
        if ((size_t) done < size)
            break;              //  A short write: the rest is lost to the digest otherwise
    }
    return written;
}

//  The writing end of a FIFO, once the child that reads it has opened it
static int
s_open_fifo (const char *path, pid_t reader)
{
    double started = support_now ();
    while (support_now () - started < 60 && !support_ended (reader)) {
        int fd = open (path, O_WRONLY | O_NONBLOCK);
        if (fd >= 0) {
            fcntl (fd, F_SETFL, 0);
            return fd;
        }
        usleep (20 * 1000);
    }
    return -1;
}

//  A gateway killed and never started again: both ends try to resume, and
//  fail once their resume-timeout (here 2 s) is over, each saying where it
//  stands
Test (pipe, a_gateway_killed_for_good_mid_stream_fails_send_and_recv_after_the_resume_timeout)
{
    s_gateways_t gateways;
    s_gateways_start (&gateways, NULL);
    char *fifo = s_path ("input.fifo");
    cr_assert_eq (mkfifo (fifo, 0600), 0);
    char *recv_err = s_path ("recv.err"), *send_err = s_path ("send.err");
    char *received = s_path ("received.bin");
    pid_t receiver = s_spawn_client (&gateways, false, "killed", NULL, received, recv_err,
                                     "--resume-timeout=2s");
    pid_t sender = s_spawn_client (&gateways, true, "killed", fifo, NULL, send_err,
                                   "--resume-timeout=2s");
    int fd = s_open_fifo (fifo, sender);
    cr_assert_geq (fd, 0, "send did not open its input: %s", support_read_file (send_err));
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    uint64_t offset = 0;
    while (offset < (8 << 20))
        s_feed (fd, &offset, &state, 1 << 20);
    //  Mid stream: once data has come all the way to the receiver
    struct stat stat_buf = { 0 };
    double started = support_now ();
    while ((stat (received, &stat_buf) != 0 || stat_buf.st_size == 0) && support_now () - started < 60)
        usleep (20 * 1000);
    cr_assert_gt (stat_buf.st_size, 0, "nothing reached the receiver in 60 s: %s",
                  support_read_file (recv_err));
    kill (gateways.b, SIGKILL);
    support_wait (gateways.b, 5000);
    gateways.b = 0;
    //  The receiver learns at once, tries for 2 s, and says where it stands
    double killed = support_now ();
    int received_status = support_wait (receiver, 30000);
    cr_assert (received_status != 0 && received_status != -1, "recv exited %d", received_status);
    cr_assert_geq (support_now () - killed, 1.5, "recv gave up before its resume-timeout");
    char *said = support_read_file (recv_err);
    cr_assert (strstr (said, "lost the connection to gateway") && strstr (said, "could not resume")
               && strstr (said, "the last record that arrived is"), "%s", said);
    free (said);
    //  Keep feeding until send gives up
    fcntl (fd, F_SETFL, O_NONBLOCK);
    started = support_now ();
    while (!support_ended (sender) && support_now () - started < 60) {
        s_feed (fd, &offset, &state, 1 << 20);
        usleep (50 * 1000);
    }
    close (fd);
    int sent_status = support_wait (sender, 10000);
    cr_assert_eq (sent_status, 1, "send exited %d: %s", sent_status, support_read_file (send_err));
    said = support_read_file (send_err);
    cr_assert (strstr (said, "gateway-a:") && strstr (said, "stream 'killed'")
               && strstr (said, "could not resume"), "%s", said);
    free (said);
    s_gateways_stop (&gateways);
    free (fifo);
    free (recv_err);
    free (send_err);
    free (received);
}

Test (pipe, a_stalled_receiver_bounds_the_gateways_memory, .timeout = 180)
{
    //  Gateways with 8 MiB buffers; recv writes into a FIFO nobody reads;
    //  send is fed 256 MiB. Send must stop taking input long before that,
    //  and neither gateway process may grow by much more than its buffer.
#if defined (__SANITIZE_ADDRESS__)
    //  AddressSanitizer holds freed memory in a quarantine (256 MiB by
    //  default), which is resident: without it RSS measures the gateway
    const char *asan = getenv ("ASAN_OPTIONS");
    char options [512];
    snprintf (options, sizeof (options), "%s%squarantine_size_mb=0", asan? asan: "", asan? ":": "");
    setenv ("ASAN_OPTIONS", options, 1);
#endif
    s_gateways_t gateways;
    s_gateways_start (&gateways, "8MiB");
    uint64_t rss_a = support_rss (gateways.a), rss_b = support_rss (gateways.b);
    char *input = s_path ("input.fifo"), *output = s_path ("output.fifo");
    cr_assert_eq (mkfifo (input, 0600), 0);
    cr_assert_eq (mkfifo (output, 0600), 0);
    char *recv_err = s_path ("recv.err"), *send_err = s_path ("send.err");
    //  The reader end first, so that recv's open of the FIFO completes
    int reader = open (output, O_RDONLY | O_NONBLOCK);
    cr_assert_geq (reader, 0);
    pid_t receiver = s_spawn_client (&gateways, false, "stall", NULL, output, recv_err, "--window=4MiB");
    pid_t sender = s_spawn_client (&gateways, true, "stall", input, NULL, send_err, NULL);
    int writer = s_open_fifo (input, sender);
    cr_assert_geq (writer, 0, "send did not open its input: %s", support_read_file (send_err));
    fcntl (writer, F_SETFL, O_NONBLOCK);
    crypto_generichash_state sent_state;
    crypto_generichash_init (&sent_state, NULL, 0, 32);
    uint64_t offset = 0, last = (uint64_t) -1;
    int still;
    //  Feed until no more goes in for 2 s (or far more went in than may)
    for (still = 0; still < 20 && offset < (64ULL << 20); ) {
        s_feed (writer, &offset, &sent_state, 4 << 20);
        if (offset == last)
            still++;
        else
            still = 0;
        last = offset;
        usleep (100 * 1000);
    }
    uint64_t grown_a = support_rss (gateways.a) - rss_a;
    uint64_t grown_b = support_rss (gateways.b) - rss_b;
    cr_log_info ("send took %" PRIu64 " bytes then blocked; gateway RSS grew by %" PRIu64
                 " and %" PRIu64 " bytes", offset, grown_a, grown_b);
    cr_assert_lt (offset, 64ULL << 20, "send took %" PRIu64 " bytes with nobody reading", offset);
    cr_assert_lt (grown_a, 40ULL << 20, "gateway a grew by %" PRIu64 " bytes", grown_a);
    cr_assert_lt (grown_b, 40ULL << 20, "gateway b grew by %" PRIu64 " bytes", grown_b);

    //  Now read: everything arrives, and the rest of the input goes through
    crypto_generichash_state received_state;
    crypto_generichash_init (&received_state, NULL, 0, 32);
    uint64_t received = 0, total = 256ULL << 20;
    static unsigned char buffer [1 << 16];
    bool ended = false;
    double started = support_now ();
    while (!ended && support_now () - started < 150) {
        if (writer >= 0 && offset < total)
            s_feed (writer, &offset, &sent_state, 1 << 20);
        if (writer >= 0 && offset >= total) {
            close (writer);             //  End of input: send closes the stream
            writer = -1;
        }
        struct pollfd item = { reader, POLLIN, 0 };
        poll (&item, 1, 100);
        ssize_t got = read (reader, buffer, sizeof (buffer));
        if (got > 0) {
            crypto_generichash_update (&received_state, buffer, (size_t) got);
            received += (uint64_t) got;
        }
        else
        if (got == 0)
            ended = true;               //  recv closed its output: done
    }
    cr_assert (ended, "%" PRIu64 " of %" PRIu64 " bytes came in 150 s", received, offset);
    cr_assert_eq (support_wait (sender, 60000), 0, "send: %s", support_read_file (send_err));
    cr_assert_eq (support_wait (receiver, 60000), 0, "recv: %s", support_read_file (recv_err));
    close (reader);
    cr_assert_eq (received, offset);
    unsigned char one [32], two [32];
    crypto_generichash_final (&sent_state, one, 32);
    crypto_generichash_final (&received_state, two, 32);
    cr_assert_eq (memcmp (one, two, 32), 0);
    s_gateways_stop (&gateways);
    free (input);
    free (output);
    free (recv_err);
    free (send_err);
}

Test (pipe, demo_and_bench_run_and_report)
{
    cr_assert_eq (s_run (NULL, "demo", "--bytes", "32MiB", NULL), 0);
    char *text = support_read_file (s_out);
    cr_assert (strstr (text, "\nOK\n"), "%s", text);
    cr_assert (strstr (text, "GB/s"), "%s", text);
    cr_assert (strstr (text, "33554432 sent"), "%s", text);
    free (text);
    cr_assert_eq (s_run (NULL, "bench", "--bytes", "16MiB", "--msg-size", "64KiB",
                         "--transport", "ipc", "--security", "none", NULL), 0);
    text = support_read_file (s_out);
    cr_assert (strstr (text, "\"bytes\": 16777216"), "%s", text);
    cr_assert (strstr (text, "\"msg_size\": 65536"), "%s", text);
    cr_assert (strstr (text, "\"security\": \"none\""), "%s", text);
    cr_assert (strstr (text, "\"transport\": \"ipc\""), "%s", text);
    cr_assert (strstr (text, "\"gbytes_per_s\": "), "%s", text);
    free (text);
}
