/*  =========================================================================
    test_logs - what an sstream-pipe gateway process logs: every line with
    its time, level and gateway; JSON that parses; keys by their names;
    streams' ends with what moved and how fast; nothing a party sends can
    forge a line, and a party that floods it with junk gets a line and a
    count; sd_notify readiness, reloads and the stop; journald (in a mount
    namespace of its own, where it can be made)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE
#include "support.h"
#include "gateways.h"

#include <czmq.h>
#include <criterion/criterion.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

TestSuite (logs, .init = support_fixture_setup, .fini = support_fixture_teardown, .timeout = 120);

#define GATEWAY "gateway-l"

//  A gateway process of its own: keys, a config, its log
typedef struct {
    char folder [512];
    char config [600], out [600], err [600];
    char gateway_pub [600];
    char endpoint [64];
    pid_t pid;
} s_gateway_t;

static void
s_keygen (const char *name, const char *dir)
{
    char err [600];
    snprintf (err, sizeof (err), "%s/keygen.err", support_folder);
    cr_assert_eq (gateways_pipe_run (NULL, NULL, err, "keygen", name, "--dir", dir, NULL), 0,
                  "keygen %s: %s", name, support_read_file (err));
}

//  Keys: the gateway's, and its facility's (instrument-7 produces,
//  analysis-3 consumes, flooder sends junk); a config; no peer
static void
s_prepare (s_gateway_t *self, const char *tag)
{
    memset (self, 0, sizeof (*self));
    snprintf (self->folder, sizeof (self->folder), "%s/%s", support_folder, tag);
    char facility [600];
    snprintf (facility, sizeof (facility), "%s/facility", self->folder);
    s_keygen (GATEWAY, self->folder);
    s_keygen ("instrument-7", facility);
    s_keygen ("analysis-3", facility);
    s_keygen ("flooder", facility);
    snprintf (self->gateway_pub, sizeof (self->gateway_pub), "%s/%s.pub", self->folder, GATEWAY);
    snprintf (self->config, sizeof (self->config), "%s/gateway.cfg", self->folder);
    snprintf (self->out, sizeof (self->out), "%s/gateway.out", self->folder);
    snprintf (self->err, sizeof (self->err), "%s/gateway.err", self->folder);
    char config [2048];
    snprintf (config, sizeof (config),
              "gateway\n"
              "    name = " GATEWAY "\n"
              "    secret-key = %s.secret\n"
              "    heartbeat = 200ms\n"
              "    buffer = 1MiB\n"
              "local\n"
              "    endpoint = tcp://127.0.0.1:*\n"
              "    trusted-keys = facility\n", GATEWAY);
    cr_assert_eq (support_write_file (self->config, config), 0);
}

//  Start it, with more arguments (NULL-terminated, may be none)
static void
s_start (s_gateway_t *self, const char *first, ...)
{
    char *argv [16] = { SSTREAM_PIPE, "gateway", "-c", self->config };
    int count = 4;
    va_list args;
    va_start (args, first);
    const char *arg;
    for (arg = first; arg && count < 15; arg = va_arg (args, const char *))
        argv [count++] = (char *) arg;
    va_end (args);
    argv [count] = NULL;
    self->pid = support_spawn (argv, NULL, self->out, self->err);
    char *ready = gateways_wait_ready (self->pid, self->out, self->err, "the gateway");
    cr_assert (gateways_ready_endpoint (ready, " local=", self->endpoint, sizeof (self->endpoint)),
               "%s", ready);
    free (ready);
}

static void
s_stop (s_gateway_t *self)
{
    kill (self->pid, SIGTERM);
    int status = support_wait (self->pid, 60000);
    cr_assert_eq (status, 0, "the gateway exited %d: %s", status, support_read_file (self->err));
}

static char *
s_key (s_gateway_t *self, const char *name, const char *suffix)
{
    char *path;
    cr_assert (asprintf (&path, "%s/facility/%s.%s", self->folder, name, suffix) > 0);
    return path;
}

//  A stream of bytes from instrument-7 to analysis-3 through the gateway
static void
s_stream (s_gateway_t *self, const char *stream, uint64_t bytes)
{
    char data [600], received [600], err [600];
    snprintf (data, sizeof (data), "%s/%s.data", self->folder, stream);
    snprintf (received, sizeof (received), "%s/%s.received", self->folder, stream);
    snprintf (err, sizeof (err), "%s/%s.recv.err", self->folder, stream);
    cr_assert_eq (support_fill_file (data, bytes), 0);
    char *consumer = s_key (self, "analysis-3", "secret");
    char *producer = s_key (self, "instrument-7", "secret");
    char *reader = s_key (self, "analysis-3", "pub");
    pid_t recv = gateways_pipe_spawn (received, err, "recv", "-k", consumer, "-g",
                                      self->gateway_pub, self->endpoint, stream, NULL);
    char send_err [600];
    snprintf (send_err, sizeof (send_err), "%s/%s.send.err", self->folder, stream);
    cr_assert_eq (gateways_pipe_run (data, NULL, send_err, "send", "-k", producer, "-g",
                                     self->gateway_pub, "--readers", reader, "--chunk-size",
                                     "64KiB", self->endpoint, stream, NULL), 0,
                  "%s", support_read_file (send_err));
    cr_assert_eq (support_wait (recv, 60000), 0, "%s", support_read_file (err));
    free (consumer);
    free (producer);
    free (reader);
}

//  A producer that goes away mid-stream: the stream is aborted, with
//  what had moved. It reads a pipe the test writes, so that it is still
//  sending when it is killed.
static void
s_stream_cut (s_gateway_t *self, const char *stream)
{
    char fifo [600], received [600], send_err [600], recv_err [600], text [300];
    snprintf (fifo, sizeof (fifo), "%s/%s.fifo", self->folder, stream);
    snprintf (received, sizeof (received), "%s/%s.received", self->folder, stream);
    snprintf (send_err, sizeof (send_err), "%s/%s.send.err", self->folder, stream);
    snprintf (recv_err, sizeof (recv_err), "%s/%s.recv.err", self->folder, stream);
    cr_assert_eq (mkfifo (fifo, 0600), 0);
    int writer = open (fifo, O_RDWR | O_CLOEXEC);
    cr_assert_geq (writer, 0);
    char *consumer = s_key (self, "analysis-3", "secret");
    char *producer = s_key (self, "instrument-7", "secret");
    char *reader = s_key (self, "analysis-3", "pub");
    pid_t recv = gateways_pipe_spawn (received, recv_err, "recv", "-k", consumer, "-g",
                                      self->gateway_pub, self->endpoint, stream, NULL);
    pid_t send = support_spawn ((char *[]) { SSTREAM_PIPE, "send", "-k", producer, "-g",
                                             self->gateway_pub, "--readers", reader,
                                             "--chunk-size", "64KiB", self->endpoint,
                                             (char *) stream, NULL },
                                fifo, NULL, send_err);
    //  A MiB through, and the producer waits for more
    static unsigned char s_chunk [1 << 20];
    support_fill (s_chunk, 0, sizeof (s_chunk));
    cr_assert_eq (write (writer, s_chunk, sizeof (s_chunk)), (ssize_t) sizeof (s_chunk));
    cr_assert (support_wait_for_size (recv, received, sizeof (s_chunk), 30000), "%s",
               support_read_file (recv_err));
    kill (send, SIGKILL);
    support_wait (send, 10000);
    snprintf (text, sizeof (text), "stream '%s' aborted after ", stream);
    cr_assert (support_wait_for_text (self->err, text, 30000), "%s", support_read_file (self->err));
    //  The consumer would wait to resume it
    kill (recv, SIGKILL);
    support_wait (recv, 10000);
    close (writer);
    free (consumer);
    free (producer);
    free (reader);
}

//  The line of a log that contains text (free it), or NULL
static char *
s_line_with (const char *log, const char *text)
{
    const char *at = strstr (log, text);
    if (!at)
        return NULL;
    const char *start = at;
    while (start > log && start [-1] != '\n')
        start--;
    size_t length = strcspn (start, "\n");
    return strndup (start, length);
}

static bool
s_matches (const char *text, const char *pattern)
{
    regex_t regex;
    cr_assert_eq (regcomp (&regex, pattern, REG_EXTENDED | REG_NOSUB), 0, "%s", pattern);
    bool matches = regexec (&regex, text, 0, NULL, 0) == 0;
    regfree (&regex);
    return matches;
}


//  --------------------------------------------------------------------------
//  Text and JSON

Test (logs, every_line_has_its_time_level_and_gateway_and_names_keys_and_what_streams_moved)
{
    s_gateway_t gateway;
    s_prepare (&gateway, "text");
    s_start (&gateway, NULL);
    s_stream (&gateway, "named", 4 << 20);
    s_stream_cut (&gateway, "cut");
    s_stop (&gateway);
    char *log = support_read_file (gateway.err);
    cr_log_info ("%s", log);
    //  Each line: "2026-12-03T17:45:19.123+00:00 info gateway-l: ...", or
    //  the program's own (its signal) without a gateway
    char *copy = strdup (log), *cursor = copy, *line;
    int lines = 0;
    while ((line = strsep (&cursor, "\n")) && *line) {
        lines++;
        cr_assert (support_log_head (line, GATEWAY)
               || strncmp (line + support_log_head (line, NULL), "sstream-pipe gateway: ", 22) == 0,
                   "line %d: %s", lines, line);
    }
    free (copy);
    cr_assert_geq (lines, 6, "%s", log);
    //  Keys by the names their files give them
    cr_assert (strstr (log, " info " GATEWAY ": stream 'named' opened by producer instrument-7"),
               "%s", log);
    cr_assert (strstr (log, " info " GATEWAY ": stream 'named' consumed by consumer analysis-3"),
               "%s", log);
    //  What moved, in how long, how fast
    char *complete = s_line_with (log, "stream 'named' complete: ");
    cr_assert (complete && s_matches (complete, "complete: 64 records, 4194304 bytes in "
                                                "[0-9]+\\.[0-9]{3} s \\([0-9.]+ [kMG]?B/s\\)$"),
               "%s", complete? complete: log);
    char *aborted = s_line_with (log, "stream 'cut' aborted after ");
    cr_assert (aborted && s_matches (aborted, " warning " GATEWAY ": stream 'cut' aborted after "
                                              "[0-9]+\\.[0-9]{3} s: (1[6-9]|[2-9][0-9]|[0-9]{3,}) "
                                              "records, [0-9]{7,} bytes had arrived \\([0-9.]+ "
                                              "[kMG]?B/s\\) and [0-9]{7,} gone on: "),
               "%s", aborted? aborted: log);
    free (complete);
    free (aborted);
    free (log);
}

Test (logs, json_lines_parse_with_their_fields)
{
    s_gateway_t gateway;
    s_prepare (&gateway, "json");
    s_start (&gateway, "--log-format", "json", NULL);
    s_stream (&gateway, "named", 1 << 20);
    s_stop (&gateway);
    char *why;
    char *parsed = support_json_lines (gateway.err, &why);
    cr_assert_not_null (parsed, "%s", why);
    cr_log_info ("%s", parsed);
    //  Each object a time, a level, a message, and (the gateway's) its name
    char *copy = strdup (parsed), *cursor = copy, *line;
    int lines = 0;
    while ((line = strsep (&cursor, "\n")) && *line) {
        lines++;
        cr_assert (s_matches (line, "\"time\": \"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                                    "[0-9]{2}\\.[0-9]{3}[+-][0-9]{2}:[0-9]{2}\"")
                && s_matches (line, "\"level\": \"(error|warning|info|debug)\"")
                && strstr (line, "\"message\": \""), "line %d: %s", lines, line);
        cr_assert (strstr (line, "\"gateway\": \"" GATEWAY "\"")
                || strstr (line, "\"message\": \"sstream-pipe gateway: "), "line %d: %s", lines,
                   line);
    }
    free (copy);
    char *opened = s_line_with (parsed, "opened by producer instrument-7");
    cr_assert (opened && strstr (opened, "\"key\": \"instrument-7\"")
                      && strstr (opened, "\"stream\": \"named\""), "%s", parsed);
    char *complete = s_line_with (parsed, "stream 'named' complete: ");
    cr_assert (complete && strstr (complete, "\"records\": 16,")
                        && strstr (complete, "\"bytes\": 1048576,")
                        && s_matches (complete, "\"seconds\": [0-9.]+,")
                        && s_matches (complete, "\"bytes_per_second\": [0-9]+,")
                        && strstr (complete, "\"stream\": \"named\""), "%s", parsed);
    free (opened);
    free (complete);
    free (parsed);
}


//  --------------------------------------------------------------------------
//  What a party sends

//  A raw ZeroMQ client with one of the facility's keys: it passes CURVE,
//  then sends what no sstream client would
static zsock_t *
s_raw_client (s_gateway_t *self, const char *key)
{
    char *secret = s_key (self, key, "secret");
    zcert_t *cert = zcert_load (secret);
    zcert_t *server = zcert_load (self->gateway_pub);
    cr_assert (cert && server);
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, zcert_public_txt (server));
    zsock_set_sndhwm (sock, 0);
    cr_assert_eq (zsock_connect (sock, "%s", self->endpoint), 0);
    zcert_destroy (&cert);
    zcert_destroy (&server);
    free (secret);
    return sock;
}

//  A message of version 2 with this type, in msgpack written out by hand:
//  {"v": 2, "t": type}
static void
s_send_type (zsock_t *sock, const char *type)
{
    byte message [300] = { 0x82, 0xa1, 'v', 0x02, 0xa1, 't', 0xd9 };
    size_t length = strlen (type);
    cr_assert_lt (length, 256);
    message [7] = (byte) length;
    memcpy (message + 8, type, length);
    cr_assert_eq (zmq_send (zsock_resolve (sock), message, 8 + length, 0), (int) (8 + length));
}

//  A line that would pass for the gateway's own, after an escape that
//  would clear the screen of whoever reads the log on a terminal (a type
//  name is logged to its 32nd byte)
#define S_FORGED_TYPE "ev\x1b[2J\n2026-12-03T17:45:19.123+0"

static void
s_check_not_forged (const char *err)
{
    cr_assert (support_wait_for_text (err, "dropped a message", 30000), "%s",
               support_read_file (err));
    char *log = support_read_file (err);
    cr_log_info ("%s", log);
    const unsigned char *reader;
    for (reader = (const unsigned char *) log; *reader; reader++)
        cr_assert (*reader >= 0x20 || *reader == '\n', "a control character (%#x) in the log: %s",
                   *reader, log);
    int evil = 0;
    char *cursor = log, *line;
    while ((line = strsep (&cursor, "\n")) && *line) {
        cr_assert (strncmp (line, "2026-12-03T17:45:19.123", 23)
                && strncmp (line, "{\"time\":\"2026-12-03T17:45:19.123", 33),
                   "a line of the party's making: %s", line);
        if (!strstr (line, "unknown type 'ev"))
            continue;
        evil++;
        //  In the text, and in JSON (where a backslash is two)
        cr_assert (strstr (line, "unknown type 'ev\\x1b[2J\\n2026-12-03T17:45:19.123+0'")
                || strstr (line, "unknown type 'ev\\\\x1b[2J\\\\n2026-12-03T17:45:19.123+0'"),
                   "%s", line);
    }
    cr_assert_eq (evil, 1, "%d lines say it", evil);
    free (log);
}

Test (logs, a_type_with_a_newline_and_an_escape_in_it_cannot_forge_a_line_in_text_or_json)
{
    s_gateway_t text, json;
    s_prepare (&text, "forged-text");
    s_start (&text, NULL);
    s_prepare (&json, "forged-json");
    s_start (&json, "--log-format", "json", NULL);
    s_gateway_t *gateways [2] = { &text, &json };
    int index;
    for (index = 0; index < 2; index++) {
        zsock_t *sock = s_raw_client (gateways [index], "flooder");
        s_send_type (sock, S_FORGED_TYPE);
        s_check_not_forged (gateways [index]->err);
        zsock_destroy (&sock);
        s_stop (gateways [index]);
    }
    char *why;
    char *parsed = support_json_lines (json.err, &why);
    cr_assert_not_null (parsed, "%s", why);
    cr_assert (strstr (parsed, "\"key\": \"flooder\""), "%s", parsed);
    free (parsed);
}

//  Lines of a log that tell of dropped messages, and what they count
//  together: one for each first line, and the repeats its summaries count
static uint64_t
s_dropped (const char *path, int *lines, int *all_lines)
{
    char *log = support_read_file (path);
    uint64_t dropped = 0;
    *lines = *all_lines = 0;
    char *cursor = log, *line;
    while (cursor && (line = strsep (&cursor, "\n")) && *line) {
        (*all_lines)++;
        if (!strstr (line, "dropped a message"))
            continue;
        (*lines)++;
        //  The first of a kind, or a summary of those that came after it
        const char *repeated = strstr (line, "(repeated ");
        unsigned long long times;
        if (repeated && sscanf (repeated, "(repeated %llu time", &times) == 1)
            dropped += times;
        else
            dropped++;
    }
    free (log);
    return dropped;
}

#define S_FLOOD 100000

Test (logs, a_party_that_floods_the_gateway_with_junk_gets_a_line_and_a_count_under_its_key_name)
{
    s_gateway_t gateway;
    s_prepare (&gateway, "flood");
    s_start (&gateway, NULL);
    zsock_t *sock = s_raw_client (&gateway, "flooder");
    //  Junk of three kinds, each in words of its own: not msgpack, an
    //  unknown type (a new one each time), a frame too many
    double start = support_now ();
    int index;
    for (index = 0; index < S_FLOOD; index++) {
        if (index % 3 == 0)
            cr_assert_eq (zstr_send (sock, "\xc1\xc1 not msgpack"), 0);
        else
        if (index % 3 == 1) {
            char type [32];
            snprintf (type, sizeof (type), "junk-%d", index);
            s_send_type (sock, type);
        }
        else {
            zmsg_t *message = zmsg_new ();
            zmsg_addstr (message, "\x82\xa1v\x02\xa1t\xa4ping");
            zmsg_addstr (message, "extra");
            cr_assert_eq (zmsg_send (&message, sock), 0);
        }
    }
    double sent = support_now () - start;
    //  Every one is told of: in a line, or in a count, once its period is over
    int lines, all_lines;
    double deadline = support_now () + 60;
    while (s_dropped (gateway.err, &lines, &all_lines) < S_FLOOD && support_now () < deadline)
        usleep (50 * 1000);
    uint64_t dropped = s_dropped (gateway.err, &lines, &all_lines);
    cr_assert_not (support_ended (gateway.pid), "the gateway ended before it was stopped: %s",
                   support_read_file (gateway.err));
    zsock_destroy (&sock);
    s_stop (&gateway);
    char *log = support_read_file (gateway.err);
    cr_log_info ("%d junk messages sent in %.2f s: %d lines of the log in all, %d about them, "
                 "counting %" PRIu64 ":\n%s", S_FLOOD, sent, all_lines, lines, dropped, log);
    cr_assert_eq (dropped, S_FLOOD, "%s", log);
    cr_assert_lt (all_lines, 50, "%s", log);
    //  Said under the key that sent it, by its name, with how many
    char *first = s_line_with (log, "dropped a message");
    cr_assert (first && strstr (first, " warning " GATEWAY ": dropped a message on the local link "
                                       "from key flooder (no stream open): malformed header: "),
               "%s", log);
    cr_assert (s_matches (log, "dropped a message on the local link from key flooder \\(no stream "
                               "open\\): [^\n]* \\(repeated [0-9]+ times, with varying details, in "
                               "the last [0-9.]+ s\\)"), "%s", log);
    free (first);
    free (log);
}


//  --------------------------------------------------------------------------
//  systemd

#ifdef SSTREAM_HAVE_SYSTEMD

//  The next datagram on a notify socket, within timeout_ms (free it)
static char *
s_notice (int fd, int timeout_ms)
{
    zmq_pollitem_t item = { NULL, fd, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, timeout_ms) != 1)
        return NULL;
    char buffer [4096];
    ssize_t size = recv (fd, buffer, sizeof (buffer) - 1, 0);
    if (size < 0)
        return NULL;
    buffer [size] = 0;
    return strdup (buffer);
}

Test (logs, a_gateway_tells_systemd_it_is_ready_reloading_and_stopping)
{
    s_gateway_t gateway;
    s_prepare (&gateway, "notify");
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    cr_assert_lt (strlen (gateway.folder) + 8, sizeof (address.sun_path), "%s", gateway.folder);
    memcpy (address.sun_path, gateway.folder, strlen (gateway.folder));
    strcat (address.sun_path, "/notify");
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq (fd, 0);
    cr_assert_eq (bind (fd, (struct sockaddr *) &address, sizeof (address)), 0, "%s",
                  address.sun_path);
    setenv ("NOTIFY_SOCKET", address.sun_path, 1);
    s_start (&gateway, NULL);
    unsetenv ("NOTIFY_SOCKET");
    char *ready = s_notice (fd, 30000);
    char expected [200];
    snprintf (expected, sizeof (expected), "READY=1\nSTATUS=ready local=%s", gateway.endpoint);
    cr_assert (ready && streq (ready, expected), "%s", ready? ready: "(nothing)");
    free (ready);
    kill (gateway.pid, SIGHUP);
    char *reloading = s_notice (fd, 30000);
    cr_assert (reloading && s_matches (reloading, "^RELOADING=1\nMONOTONIC_USEC=[0-9]+$"),
               "%s", reloading? reloading: "(nothing)");
    ready = s_notice (fd, 30000);
    cr_assert (ready && streq (ready, expected), "%s", ready? ready: "(nothing)");
    cr_assert (support_wait_for_text (gateway.err, "access rules reloaded", 30000), "%s",
               support_read_file (gateway.err));
    kill (gateway.pid, SIGTERM);
    char *stopping = s_notice (fd, 30000);
    cr_assert (stopping && streq (stopping, "STOPPING=1"), "%s", stopping? stopping: "(nothing)");
    cr_assert_eq (support_wait (gateway.pid, 60000), 0, "%s", support_read_file (gateway.err));
    free (reloading);
    free (stopping);
    close (fd);
}

//  journald is /run/systemd/journal/socket: a fake of it listens there in
//  a mount namespace of the test's own (a tmpfs on /run), runs the gateway
//  with its stderr the journal's stream, as systemd would (JOURNAL_STREAM),
//  and writes down what comes (test/tools/fake_journald.py)
Test (logs, under_systemd_records_go_to_journald_with_priorities_and_fields)
{
    if (geteuid () != 0)
        cr_skip_test ("a mount namespace needs root");
    char *probe [] = { "/usr/bin/unshare", "--mount", "/bin/true", NULL };
    int status = support_wait (support_spawn (probe, NULL, NULL, NULL), 30000);
    if (status != 0)
        cr_skip_test ("no mount namespace here (unshare --mount exited %d)", status);
    s_gateway_t gateway;
    s_prepare (&gateway, "journal");
    char records [600], script [600], err [600];
    snprintf (records, sizeof (records), "%s/journal.json", gateway.folder);
    snprintf (script, sizeof (script), "%s/test/tools/fake_journald.py", SSTREAM_SOURCE_DIR);
    snprintf (err, sizeof (err), "%s/fake_journald.err", gateway.folder);
    char *argv [] = {
        "/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
        "mount -t tmpfs tmpfs /run && exec /usr/bin/python3 \"$@\"", "sh", script, records,
        gateway.err, "local link on", SSTREAM_PIPE, "gateway", "-c", gateway.config, NULL
    };
    status = support_wait (support_spawn (argv, NULL, NULL, err), 60000);
    cr_assert_eq (status, 0, "%s", support_read_file (err));
    char *why;
    char *journal = support_json_lines (records, &why);
    cr_assert_not_null (journal, "%s", why);
    cr_log_info ("%s", journal);
    //  The gateway's lines, with its priorities and fields, none on stderr
    char *started = s_line_with (journal, "local link on");
    cr_assert (started
            && strstr (started, "\"MESSAGE\": \"" GATEWAY ": local link on tcp://127.0.0.1:")
                       && strstr (started, "\"PRIORITY\": \"6\"")
                       && strstr (started, "\"SSTREAM_GATEWAY\": \"" GATEWAY "\""), "%s", journal);
    cr_assert (strstr (journal, "\"MESSAGE\": \"" GATEWAY ": stopped\""), "%s", journal);
    char *log = support_read_file (gateway.err);
    cr_assert (log && !strstr (log, GATEWAY), "on stderr: %s", log);
    free (started);
    free (log);
    free (journal);
}

#endif
