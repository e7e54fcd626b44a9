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
#include <netdb.h>
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
        //  It ends with an example or two
        const char *examples = strstr (text, "\nExample");
        char example [64];
        snprintf (example, sizeof (example), "\n  sstream-pipe %s ", commands [index]);
        cr_assert (examples && strstr (examples, example), "%s --help has no example:\n%s",
                   commands [index], text);
        free (text);
    }
    cr_assert_eq (s_run (NULL, "--help", NULL), 0);
    char *text = support_read_file (s_out);
    for (index = 0; commands [index]; index++)
        cr_assert (strstr (text, commands [index]), "%s", text);
    cr_assert (strstr (text, "\nExamples:\n  sstream-pipe "), "%s", text);
    free (text);
    cr_assert_eq (s_run (NULL, NULL), 2);
    cr_assert_eq (s_run (NULL, "frobnicate", NULL), 2);
    s_assert_one_line ("unknown command 'frobnicate'");
}

//  Each short option means one thing in every command (as its --help says)
Test (pipe, each_short_option_means_one_thing_in_every_command)
{
    const char *commands [] = { "keygen", "gateway", "send", "recv", "demo", "bench", "open",
                                "status", "release", "tunnel", NULL };
    char meaning [128][32] = { { 0 } };         //  "-x" -> its long name
    const char *where [128] = { NULL };
    size_t index;
    for (index = 0; commands [index]; index++) {
        cr_assert_eq (s_run (NULL, commands [index], "--help", NULL), 0);
        char *text = support_read_file (s_out);
        const char *line;
        for (line = text; line && *line; line = strchr (line, '\n')? strchr (line, '\n') + 1: NULL) {
            const char *reader = line;
            while (*reader == ' ')
                reader++;
            char letter;
            char name [32];
            if (reader == line || sscanf (reader, "-%c, --%31[a-z-]", &letter, name) != 2
            ||  (unsigned char) letter >= 128)
                continue;
            if (!where [(int) letter]) {
                snprintf (meaning [(int) letter], sizeof (meaning [0]), "%s", name);
                where [(int) letter] = commands [index];
            }
            else
                cr_assert_str_eq (meaning [(int) letter], name,
                                  "-%c is --%s in %s and --%s in %s", letter,
                                  meaning [(int) letter], where [(int) letter], name,
                                  commands [index]);
        }
        free (text);
    }
    //  The ones that meant two things before
    cr_assert_str_eq (meaning ['s'], "set");
    cr_assert_str_eq (meaning ['r'], "readers");
    cr_assert_str_eq (meaning ['q'], "quiet");
    cr_assert_str_eq (meaning ['o'], "output");
    //  And what --help says is what the commands take
    cr_assert_eq (s_run (NULL, "bench", "-s", "none", NULL), 2);
    s_assert_one_line ("unknown option '-s'");
    cr_assert_eq (s_run (NULL, "open", "tcp://127.0.0.1:1", "db", "-r", "inbound", NULL), 2);
    s_assert_one_line ("unknown option '-r'");
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

//  The command line of a producer (send) or consumer with the gateways'
//  keys, and extra and more options (either may be NULL)
static void
s_client_argv (s_gateways_t *self, bool send, const char *stream, const char *extra,
               const char *more, char *argv [16])
{
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
    if (more)
        argv [count++] = (char *) more;
    argv [count++] = send? self->endpoint_a: self->endpoint_b;
    argv [count++] = (char *) stream;
    argv [count] = NULL;
}

static pid_t
s_spawn_client (s_gateways_t *self, bool send, const char *stream, const char *in,
                const char *out, const char *err, const char *extra)
{
    char *argv [16];
    s_client_argv (self, send, stream, extra, NULL, argv);
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
    cr_assert_eq (s_run (NULL, "send", "--chunk-size", "12 parsecs", gateways.endpoint_a, "s",
                         NULL), 2);
    s_assert_one_line ("--chunk-size");
    //  -s is --set, in send as in gateway
    cr_assert_eq (s_run (NULL, "send", "-s", "4M", gateways.endpoint_a, "s", NULL), 2);
    s_assert_one_line ("--set (-s) takes client/PATH=VALUE, not '4M'");
    cr_assert_eq (s_run (NULL, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         "--security", "maybe", gateways.endpoint_a, "s", NULL), 2);
    s_assert_one_line ("--security: 'maybe' is not one of curve|none");

    //  Sealed (the default) without readers, or with a reader's file missing
    cr_assert_eq (s_run (NULL, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         gateways.endpoint_a, "s", NULL), 3);
    s_assert_one_line ("nobody may read it: name its readers' public keys");
    cr_assert_eq (s_run (NULL, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         "--readers", missing, gateways.endpoint_a, "s", NULL), 3);
    s_assert_one_line ("missing.secret");
    cr_assert_eq (s_run (NULL, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         "--payload", "maybe", gateways.endpoint_a, "s", NULL), 2);
    s_assert_one_line ("--payload: 'maybe' is not one of sealed|hop");

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
    //  The port of a running gateway: a configuration error
    support_write_file (config, "local\n    endpoint = tcp://127.0.0.1:1\n    security = none\n");
    char taken [80];
    snprintf (taken, sizeof (taken), "local/endpoint=%s", gateways.endpoint_a);
    cr_assert_eq (s_run (NULL, "gateway", "-q", "-c", config, "--set", taken, NULL), 3);
    s_assert_one_line ("Address already in use (another program listens there");

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


//  --------------------------------------------------------------------------
//  send and recv for people: progress, summary, -o, and what they refuse

//  Spawn send or recv as s_spawn_client does, on a terminal of its own;
//  its standard input from in (send), its standard output to out (NULL:
//  the terminal). The terminal's other side goes into *terminal.
static pid_t
s_spawn_client_on_terminal (s_gateways_t *self, bool send, const char *stream, const char *in,
                            const char *out, int *terminal, const char *extra, const char *more)
{
    char *argv [16];
    s_client_argv (self, send, stream, extra, more, argv);
    return support_spawn_pty (argv, in, out, terminal);
}

//  The checksum in a summary line, "checksum HEX (xxh3-128)": 32 hex digits
static void
s_summary_checksum (const char *text, char checksum [33])
{
    const char *found = strstr (text, ", checksum ");
    cr_assert_not_null (found, "no checksum in:\n%s", text);
    found += strlen (", checksum ");
    cr_assert_eq (strspn (found, "0123456789abcdef"), 32, "not 32 hex digits: %s", found);
    cr_assert_eq (strncmp (found + 32, " (xxh3-128)", 11), 0, "%s", found);
    memcpy (checksum, found, 32);
    checksum [32] = 0;
}

//  Write count bytes of the stream from offset into a FIFO
static void
s_fill_fifo (int fd, uint64_t *offset, uint64_t count)
{
    static unsigned char chunk [65536];
    uint64_t end = *offset + count;
    while (*offset < end) {
        size_t size = end - *offset < sizeof (chunk)? (size_t) (end - *offset): sizeof (chunk);
        support_fill (chunk, *offset, size);
        ssize_t done = write (fd, chunk, size);
        cr_assert_gt (done, 0, "cannot write to the FIFO: %s", strerror (errno));
        *offset += (uint64_t) done;
    }
}

//  send on a terminal, fed through a FIFO, to recv writing a file
typedef struct {
    s_gateways_t gateways;
    char *fifo, *received, *recv_err;
    pid_t receiver, sender;
    int terminal;               //  send's terminal
    int fd;                     //  send's input
    uint64_t offset;            //  Bytes fed so far
} s_terminal_run_t;

static void
s_terminal_run_start (s_terminal_run_t *self, const char *stream, const char *recv_extra,
                      const char *send_extra)
{
    memset (self, 0, sizeof (*self));
    s_gateways_start (&self->gateways, NULL);
    self->fifo = s_path ("input.fifo");
    self->received = s_path ("received.bin");
    self->recv_err = s_path ("recv.err");
    cr_assert_eq (mkfifo (self->fifo, 0600), 0);
    self->receiver = s_spawn_client (&self->gateways, false, stream, NULL, self->received,
                                     self->recv_err, recv_extra);
    self->sender = s_spawn_client_on_terminal (&self->gateways, true, stream, self->fifo, NULL,
                                               &self->terminal, send_extra, NULL);
    self->fd = s_open_fifo (self->fifo, self->sender);
    cr_assert_geq (self->fd, 0);
}

static void
s_terminal_run_stop (s_terminal_run_t *self)
{
    s_gateways_stop (&self->gateways);
    free (self->fifo);
    free (self->received);
    free (self->recv_err);
}

Test (pipe, send_on_a_terminal_shows_progress_and_both_ends_sum_up_with_one_checksum)
{
    //  recv's standard error is a file: --progress forces the line there
    s_terminal_run_t run;
    s_terminal_run_start (&run, "pty", "--progress", "--chunk-size=1MiB");
    //  Half the input, then wait for a progress line that shows it, with a
    //  rate, drawn in place
    static char screen [1 << 20];
    size_t used = 0;
    s_fill_fifo (run.fd, &run.offset, 4 << 20);
    bool shown = false;
    double started = support_now ();
    while (!shown && support_now () - started < 60) {
        //  What it has drawn in a quarter of a second (no text is "\x01")
        support_pty_read (run.terminal, screen, sizeof (screen), &used, "\x01", 250);
        const char *line;
        for (line = strstr (screen, "\rsstream-pipe send: pty: "); line && !shown;
             line = strstr (line + 1, "\rsstream-pipe send: pty: ")) {
            double megabytes;
            char unit [8];
            shown = sscanf (line, "\rsstream-pipe send: pty: %lf MB at %*f %7[kMG]B/s, 0:%*d elapsed",
                            &megabytes, unit) == 2 && megabytes >= 1;
        }
    }
    cr_assert (shown, "no progress line with bytes and a rate in 60 s:\n%s", screen);
    s_fill_fifo (run.fd, &run.offset, 4 << 20);
    close (run.fd);
    cr_assert (support_pty_read (run.terminal, screen, sizeof (screen), &used, NULL, 60000),
               "send did not end:\n%s", screen);
    cr_assert_eq (support_wait (run.sender, 60000), 0, "send:\n%s", screen);
    cr_assert_eq (support_wait (run.receiver, 60000), 0, "recv: %s",
                  support_read_file (run.recv_err));
    close (run.terminal);
    //  The progress line is gone before the summary, which ends the output
    const char *summary = strstr (screen, "sstream-pipe send: pty: 8388608 bytes (8.39 MB) in 8 "
                                          "records, ");
    cr_assert (summary, "no summary:\n%s", screen);
    cr_assert (summary > screen && summary [-1] == '\r' && strchr (summary, '\n'), "%s", screen);
    cr_assert (strspn (strchr (summary, '\n'), "\r\n") == strlen (strchr (summary, '\n')),
               "more after the summary:\n%s", screen);
    cr_assert (strstr (summary, " s, ") && strstr (summary, "B/s, checksum "), "%s", summary);
    char sent [33], got [33];
    s_summary_checksum (summary, sent);
    //  recv: progress lines, then its summary, with the same checksum
    char *said = support_read_file (run.recv_err);
    cr_assert (strstr (said, "\rsstream-pipe recv: pty: "), "no progress line:\n%s", said);
    summary = strstr (said, "sstream-pipe recv: pty: 8388608 bytes (8.39 MB) in 8 records, ");
    cr_assert (summary, "no summary:\n%s", said);
    s_summary_checksum (summary, got);
    cr_assert_str_eq (sent, got, "send and recv disagree:\n%s\n%s", screen, said);
    free (said);
    cr_assert_eq (support_file_size (run.received), 8 << 20);
    s_terminal_run_stop (&run);
}

//  Each line that has start in text, before bytes into it, stands alone on
//  the screen: it starts a line, or the progress line was erased just
//  before it ('\r', blanks, '\r'), and it ends its line with none of the
//  progress line after it. How many.
static int
s_assert_lines_stand_alone (const char *text, const char *start, size_t before,
                            const char *progress)
{
    int count = 0;
    const char *found;
    for (found = strstr (text, start); found; found = strstr (found + 1, start)) {
        if ((size_t) (found - text) < before)
            continue;
        found -= before;
        bool alone = found == text || found [-1] == '\n';
        if (!alone && found [-1] == '\r') {
            const char *back = found - 1;
            while (back > text && back [-1] == ' ')
                back--;
            alone = back < found - 1 && back > text && back [-1] == '\r';
        }
        cr_assert (alone, "'%s' in the middle of a line:\n%s", start, text);
        const char *end = strchr (found, '\n');
        cr_assert_not_null (end, "'%s' does not end its line:\n%s", start, text);
        char *line = strndup (found, (size_t) (end - found));
        cr_assert (!strstr (line, progress), "progress in the line: %s", line);
        free (line);
        found += before;
        count++;
    }
    return count;
}

//  The library's warnings (a stream that resumes says so) while the
//  progress line is shown: each on a line of its own, the progress line
//  drawn again below
Test (pipe, library_warnings_on_a_terminal_are_not_mixed_into_the_progress_line)
{
    s_terminal_run_t run;
    s_terminal_run_start (&run, "warned", "--resume-timeout=2s", "--resume-timeout=2s");
    static char screen [1 << 20];
    size_t used = 0;
    s_fill_fifo (run.fd, &run.offset, 2 << 20);
    cr_assert (support_wait_for_size (run.receiver, run.received, 1, 60000), "recv: %s",
               support_read_file (run.recv_err));
    cr_assert (support_pty_read (run.terminal, screen, sizeof (screen), &used, " MB at ", 60000),
               "no progress line:\n%s", screen);
    //  Gateway B goes for good: gateway A tells send, which warns, tries
    //  for 2 s, and fails (at its next record: keep feeding it)
    kill (run.gateways.b, SIGKILL);
    support_wait (run.gateways.b, 5000);
    run.gateways.b = 0;
    cr_assert (support_pty_read (run.terminal, screen, sizeof (screen), &used, "resumes it", 30000),
               "no warning:\n%s", screen);
    fcntl (run.fd, F_SETFL, O_NONBLOCK);
    double started = support_now ();
    while (!support_ended (run.sender) && support_now () - started < 60) {
        static unsigned char chunk [65536];
        if (write (run.fd, chunk, sizeof (chunk)) < 0)
            support_pty_read (run.terminal, screen, sizeof (screen), &used, "\x01", 100);
    }
    close (run.fd);
    support_pty_read (run.terminal, screen, sizeof (screen), &used, NULL, 30000);
    cr_assert_eq (support_wait (run.sender, 30000), 1, "send:\n%s", screen);
    close (run.terminal);
    cr_assert_neq (support_wait (run.receiver, 30000), 0);
    //  Warnings and the error: whole lines, none inside a progress line
    //  A log line: "2026-12-03T17:45:19.123+00:00 warning ...", the time
    //  29 characters
    cr_assert_geq (s_assert_lines_stand_alone (screen, " warning stream 'warned'", 29,
                                               "sstream-pipe send: warned: "), 1,
                   "%s", screen);
    cr_assert_eq (s_assert_lines_stand_alone (screen, "sstream-pipe send: error: ", 0,
                                              "sstream-pipe send: warned: "), 1, "%s", screen);
    cr_assert (strstr (screen, "could not resume"), "%s", screen);
    //  and the progress line came back after the warning, until the end
    const char *warning = strstr (screen, " warning stream 'warned'");
    cr_assert (strstr (warning, "\rsstream-pipe send: warned: "), "%s", screen);
    s_terminal_run_stop (&run);
}

Test (pipe, quiet_send_and_recv_print_nothing_and_recv_on_a_pipe_prints_only_its_summary)
{
    s_gateways_t gateways;
    s_gateways_start (&gateways, NULL);
    char *data = s_path ("data.bin"), *received = s_path ("received.bin");
    char *recv_err = s_path ("recv.err");
    cr_assert_eq (support_fill_file (data, 3 << 20), 0);
    pid_t receiver = s_spawn_client (&gateways, false, "quiet", NULL, received, recv_err, "-q");
    int terminal;
    pid_t sender = s_spawn_client_on_terminal (&gateways, true, "quiet", data, NULL, &terminal,
                                               "--quiet", NULL);
    static char screen [1 << 16];
    size_t used = 0;
    cr_assert (support_pty_read (terminal, screen, sizeof (screen), &used, NULL, 60000));
    cr_assert_eq (support_wait (sender, 60000), 0, "send:\n%s", screen);
    cr_assert_eq (support_wait (receiver, 60000), 0, "recv: %s", support_read_file (recv_err));
    close (terminal);
    cr_assert_eq (used, 0, "send --quiet said:\n%s", screen);
    cr_assert_eq (support_file_size (recv_err), 0, "recv -q said: %s", support_read_file (recv_err));
    //  Without a terminal or --progress: the summary alone
    pid_t again = s_spawn_client (&gateways, false, "plain", NULL, received, recv_err, NULL);
    cr_assert_eq (s_run (data, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         "-r", gateways.consumer_pub, gateways.endpoint_a, "plain", NULL), 0);
    cr_assert_eq (support_wait (again, 60000), 0, "recv: %s", support_read_file (recv_err));
    s_assert_one_line ("sstream-pipe send: plain: 3145728 bytes (3.15 MB) in 3 records, ");
    char *said = support_read_file (recv_err);
    cr_assert (!strchr (said, '\r'), "%s", said);
    cr_assert (strstr (said, "sstream-pipe recv: plain: 3145728 bytes (3.15 MB) in 3 records, ")
               == said && strchr (said, '\n') == said + strlen (said) - 1, "%s", said);
    free (said);
    s_gateways_stop (&gateways);
    free (data);
    free (received);
    free (recv_err);
}

//  The names in a folder that start with prefix
static int
s_count_names (const char *folder, const char *prefix)
{
    char command [1200];
    snprintf (command, sizeof (command), "ls -a '%s'", folder);
    FILE *listing = popen (command, "r");
    cr_assert_not_null (listing);
    char name [512];
    int count = 0;
    while (fgets (name, sizeof (name), listing))
        count += strncmp (name, prefix, strlen (prefix)) == 0;
    pclose (listing);
    return count;
}

Test (pipe, recv_o_names_the_file_only_once_the_stream_is_whole)
{
    s_gateways_t gateways;
    s_gateways_start (&gateways, NULL);
    char *folder = s_path ("out");
    cr_assert_eq (mkdir (folder, 0755), 0);
    char *target = s_path ("out/run.bin"), *fifo = s_path ("input.fifo");
    char *recv_err = s_path ("recv.err"), *send_err = s_path ("send.err");
    cr_assert_eq (mkfifo (fifo, 0600), 0);
    //  A file already there stays as it was until a whole stream replaces it
    cr_assert_eq (support_write_file (target, "the old file\n"), 0);

    //  Aborted mid-stream: the producer is interrupted
    char output [700];
    snprintf (output, sizeof (output), "--output=%s", target);
    //  (A consumer may see its bulk connection go before it hears of the
    //  abort, take that for a loss and try to resume: --resume-timeout
    //  bounds that)
    char *argv [16];
    s_client_argv (&gateways, false, "partial", output, "--resume-timeout=2s", argv);
    pid_t receiver = support_spawn (argv, NULL, NULL, recv_err);
    pid_t sender = s_spawn_client (&gateways, true, "partial", fifo, NULL, send_err, NULL);
    int fd = s_open_fifo (fifo, sender);
    cr_assert_geq (fd, 0);
    uint64_t offset = 0;
    s_fill_fifo (fd, &offset, 4 << 20);
    //  Once data has reached the partial file (the only file beside it)
    double started = support_now ();
    while (s_count_names (folder, "run.bin.partial-") == 0 && support_now () - started < 60)
        usleep (20 * 1000);
    cr_assert_eq (s_count_names (folder, "run.bin.partial-"), 1);
    char *text = support_read_file (target);
    cr_assert_str_eq (text, "the old file\n");
    free (text);
    kill (sender, SIGINT);
    cr_assert_eq (support_wait (sender, 30000), 1);
    close (fd);
    cr_assert_eq (support_wait (receiver, 30000), 1, "recv: %s", support_read_file (recv_err));
    text = support_read_file (send_err);
    cr_assert (strstr (text, "interrupted by signal 2"), "%s", text);
    free (text);
    text = support_read_file (recv_err);
    cr_assert (strstr (text, "the producer went away") || strstr (text, "could not resume"),
               "%s", text);
    free (text);
    cr_assert_eq (s_count_names (folder, "run.bin.partial-"), 0, "a partial file is left");
    text = support_read_file (target);
    cr_assert_str_eq (text, "the old file\n");
    free (text);

    //  Whole: the file has it all, under its name, and nothing else is left
    char *data = s_path ("data.bin");
    cr_assert_eq (support_fill_file (data, 5 << 20), 0);
    receiver = s_spawn_client (&gateways, false, "whole", NULL, NULL, recv_err, output);
    cr_assert_eq (s_run (data, "send", "-k", gateways.producer_key, "-g", gateways.gateway_a_pub,
                         "-r", gateways.consumer_pub, gateways.endpoint_a, "whole", NULL), 0);
    cr_assert_eq (support_wait (receiver, 60000), 0, "recv: %s", support_read_file (recv_err));
    unsigned char one [32], two [32];
    uint64_t size_one, size_two;
    cr_assert_eq (support_digest_file (data, one, &size_one), 0);
    cr_assert_eq (support_digest_file (target, two, &size_two), 0);
    cr_assert_eq (size_two, 5 << 20);
    cr_assert_eq (memcmp (one, two, 32), 0, "the received file differs");
    cr_assert_eq (s_count_names (folder, "run.bin"), 1);
    struct stat stat_buf;
    cr_assert_eq (stat (target, &stat_buf), 0);
    mode_t mask = umask (0);
    umask (mask);
    cr_assert_eq (stat_buf.st_mode & 0777, 0666 & ~mask, "mode %o", stat_buf.st_mode & 0777);
    //  A folder that is not there: said at once, before any stream
    char missing [700];
    snprintf (missing, sizeof (missing), "--output=%s/nowhere/run.bin", folder);
    cr_assert_eq (s_run (NULL, "recv", "-k", gateways.consumer_key, "-g", gateways.gateway_b_pub,
                         missing, gateways.endpoint_b, "nowhere", NULL), 1);
    s_assert_one_line ("nowhere/run.bin.partial-XXXXXX: No such file or directory");
    s_gateways_stop (&gateways);
    free (folder);
    free (target);
    free (fifo);
    free (data);
    free (recv_err);
    free (send_err);
}

Test (pipe, recv_refuses_a_terminal_and_flags_with_bad_values_are_command_line_errors)
{
    s_gateways_t gateways;
    s_gateways_start (&gateways, NULL);
    //  Binary data to a terminal: refused before anything is opened
    int terminal;
    pid_t receiver = s_spawn_client_on_terminal (&gateways, false, "tty", NULL, NULL, &terminal,
                                                 NULL, NULL);
    static char screen [1 << 16];
    size_t used = 0;
    cr_assert (support_pty_read (terminal, screen, sizeof (screen), &used, NULL, 30000));
    cr_assert_eq (support_wait (receiver, 30000), 2, "%s", screen);
    close (terminal);
    cr_assert (strstr (screen, "standard output is a terminal") && strstr (screen, "-o FILE"),
               "%s", screen);
    //  With -o, a terminal is fine (here the stream never comes: --wait)
    char *target = s_path ("tty.bin");
    used = 0;
    *screen = 0;
    receiver = s_spawn_client_on_terminal (&gateways, false, "tty", NULL, NULL, &terminal, "-o",
                                           target);
    cr_assert (support_pty_read (terminal, screen, sizeof (screen), &used,
                                 "waiting for the producer", 30000), "%s", screen);
    kill (receiver, SIGTERM);
    cr_assert (support_pty_read (terminal, screen, sizeof (screen), &used, NULL, 30000));
    cr_assert_eq (support_wait (receiver, 30000), 1, "%s", screen);
    close (terminal);
    cr_assert (strstr (screen, "interrupted by signal 15"), "%s", screen);
    cr_assert_eq (s_count_names (support_folder, "tty.bin"), 0);

    //  A bad value in a flag is the command line's, even with a config file
    char *config = s_path ("consumer.cfg");
    support_write_file (config, "client\n    connect-timeout = 5s\n");
    cr_assert_eq (s_run (NULL, "recv", "-c", config, "-k", gateways.consumer_key, "-g",
                         gateways.gateway_b_pub, "--window", "banana", gateways.endpoint_b, "s",
                         NULL), 2);
    s_assert_one_line ("error: --window: 'banana' is not a size");
    cr_assert_eq (s_run (NULL, "recv", "-c", config, "-k", gateways.consumer_key, "-g",
                         gateways.gateway_b_pub, "--window", "1K", gateways.endpoint_b, "s",
                         NULL), 2);
    s_assert_one_line ("error: --window: window must be 4KiB to 1TiB");
    cr_assert_eq (s_run (NULL, "recv", "-c", config, "-k", gateways.consumer_key, "-g",
                         gateways.gateway_b_pub, "-s", "client/heartbeat=1x", gateways.endpoint_b,
                         "s", NULL), 2);
    s_assert_one_line ("error: --set client/heartbeat: '1x' has an unknown unit 'x'");
    cr_assert_eq (s_run (NULL, "send", "-c", config, "-k", gateways.producer_key, "-g",
                         gateways.gateway_a_pub, "--linger", "0.5ms", gateways.endpoint_a, "s",
                         NULL), 2);
    s_assert_one_line ("error: --linger: '0.5ms' is finer than a millisecond");
    cr_assert_eq (s_run (NULL, "gateway", "-c", SSTREAM_SOURCE_DIR "/conf/gateway-a.cfg", "-s",
                         "gateway/buffer=lots", NULL), 2);
    s_assert_one_line ("error: --set gateway/buffer: 'lots' is not a size");
    //  The same mistake in the file is the file's
    support_write_file (config, "client\n    window = banana\n");
    cr_assert_eq (s_run (NULL, "recv", "-c", config, "-k", gateways.consumer_key, "-g",
                         gateways.gateway_b_pub, gateways.endpoint_b, "s", NULL), 3);
    s_assert_one_line ("consumer.cfg:2: client/window: 'banana' is not a size");
    //  Compound durations and decimal sizes on the command line; and a
    //  relative key path on it is the current folder's, not the file's
    support_write_file (config, "client\n    connect-timeout = 5s\n");
    char *data = s_path ("data.bin");
    cr_assert_eq (support_fill_file (data, 3 << 20), 0);
    char *units = s_path ("units.bin"), *units_err = s_path ("units.err");
    pid_t again = s_spawn_client (&gateways, false, "units", NULL, units, units_err,
                                  "--wait=1m30s");
    cr_assert_eq (s_run (data, "send", "-c", config, "-k", gateways.producer_key, "-g",
                         gateways.gateway_a_pub, "-r", gateways.consumer_pub, "--chunk-size",
                         "1.5MiB", "--timeout", "1m30s", "--linger", "1s500ms",
                         gateways.endpoint_a, "units", NULL), 0);
    cr_assert_eq (support_wait (again, 60000), 0, "recv: %s", support_read_file (units_err));
    s_assert_one_line ("3145728 bytes (3.15 MB) in 2 records, ");
    cr_assert_eq (support_file_size (units), 3 << 20);
    s_gateways_stop (&gateways);
    free (units);
    free (units_err);
    free (target);
    free (config);
    free (data);
}

Test (pipe, a_host_that_does_not_resolve_is_said_at_once)
{
    //  A name the resolver here says does not exist (skip where it cannot
    //  say, as on a machine whose name server does not answer)
    const char *host = "no-such-host.invalid";
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *found = NULL;
    int verdict = getaddrinfo (host, NULL, &hints, &found);
    if (found)
        freeaddrinfo (found);
    if (verdict != EAI_NONAME)
        cr_skip_test ("the resolver says '%s' for %s", gai_strerror (verdict), host);
    char *keys = s_path ("keys");
    cr_assert_eq (s_run (NULL, "keygen", "consumer", "--dir", keys, NULL), 0);
    char *secret = s_path ("keys/consumer.secret"), *pub = s_path ("keys/consumer.pub");
    char *output = s_path ("x.bin");
    double started = support_now ();
    cr_assert_eq (s_run (NULL, "recv", "-k", secret, "-g", pub, "--timeout", "30s",
                         "tcp://no-such-host.invalid:7001", "s", "-o", output, NULL), 3);
    cr_assert_lt (support_now () - started, 10, "it waited");
    s_assert_one_line ("cannot resolve host 'no-such-host.invalid'");
    //  Among several gateways, too
    int port;
    int refusing = support_refused_port (&port);
    cr_assert_geq (refusing, 0);
    char endpoints [128];
    snprintf (endpoints, sizeof (endpoints), "tcp://127.0.0.1:%d,tcp://%s:7001", port, host);
    cr_assert_eq (s_run (NULL, "recv", "-k", secret, "-g", pub, "-o", output, endpoints, "s",
                         NULL), 3);
    s_assert_one_line ("cannot resolve host 'no-such-host.invalid'");
    close (refusing);
    free (output);
    free (keys);
    free (secret);
    free (pub);
}
