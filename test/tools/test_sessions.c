/*  =========================================================================
    test_sessions - sessions on gateway processes' control links: a
    thousand opened and released leave nothing behind; held, idle and
    stopped sessions end; access rules and their reload; the commands and
    their errors; failing over to a facility's other gateway

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE
#include "support.h"
#include "gateways.h"

#include <sstream_control.h>

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

TestSuite (sessions, .init = support_fixture_setup, .fini = support_fixture_teardown, .timeout = 240);

static char *
s_path (const char *name)
{
    char *path;
    cr_assert (asprintf (&path, "%s/%s", support_folder, name) > 0);
    return path;
}

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double) now.tv_sec + (double) now.tv_nsec / 1e9;
}

//  A control client for gateway a or b, with the operator's key
static sstream_control_t *
s_control (gateways_t *gateways, char which)
{
    sstream_config_t *options;
    cr_assert_eq (sstream_config_new (&options), 0);
    sstream_config_set (options, "client/secret-key", gateways->operator_key);
    sstream_config_set (options, "client/gateway-key",
                        which == 'a'? gateways->gateway_a_pub: gateways->gateway_b_pub);
    sstream_control_t *control;
    int rc = sstream_control_new (&control, which == 'a'? gateways->control_a: gateways->control_b,
                                  options);
    sstream_config_destroy (&options);
    cr_assert_eq (rc, 0, "control %c: %s", which, sstream_errmsg ());
    return control;
}

//  Open a session; returns its id (free it)
static char *
s_open (sstream_control_t *control, const char *name, const char *role, const char *target)
{
    sstream_config_t *params;
    sstream_config_new (&params);
    if (target)
        sstream_config_set (params, "target", target);
    sstream_session_list_t *session;
    int rc = sstream_control_open (control, name, role, params, &session);
    sstream_config_destroy (&params);
    cr_assert_eq (rc, 0, "open %s %s: %s", role, name, sstream_errmsg ());
    cr_assert_eq (sstream_session_list_size (session), 1);
    char *id = strdup (sstream_session_list_get (session, 0, "id"));
    sstream_session_list_destroy (&session);
    return id;
}

static size_t
s_count (sstream_control_t *control)
{
    sstream_session_list_t *sessions;
    cr_assert_eq (sstream_control_list (control, NULL, &sessions), 0, "%s", sstream_errmsg ());
    size_t count = sstream_session_list_size (sessions);
    sstream_session_list_destroy (&sessions);
    return count;
}

//  Whether anybody listens on a TCP port of 127.0.0.1
static bool
s_listening (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    bool yes = connect (fd, (struct sockaddr *) &address, sizeof (address)) == 0;
    close (fd);
    return yes;
}

//  A target address where connections are refused; close the result
static int
s_refusing_target (char *target, size_t size)
{
    int port;
    int fd = support_refused_port (&port);
    cr_assert_geq (fd, 0, "no port to refuse connections on");
    snprintf (target, size, "127.0.0.1:%d", port);
    return fd;
}

static int
s_port_of (const char *address)
{
    const char *colon = strrchr (address, ':');
    cr_assert_not_null (colon, "%s", address);
    return atoi (colon + 1);
}


//  --------------------------------------------------------------------------
//  Nothing left behind

typedef struct {
    int fds, listening;
    uint64_t rss;
} s_holdings_t;

static s_holdings_t
s_holdings (pid_t pid)
{
    s_holdings_t holdings = {
        gateways_fd_count (pid), gateways_listen_count (pid), support_rss (pid)
    };
    return holdings;
}

Test (sessions, a_thousand_sessions_open_and_release_leaving_nothing_behind)
{
    gateways_t gateways;
    gateways_options_t options = { .tunnel_ports = 120 };
    gateways_start (&gateways, support_folder, &options);
    sstream_control_t *control_a = s_control (&gateways, 'a');
    sstream_control_t *control_b = s_control (&gateways, 'b');
    enum { ROUNDS = 10, AT_ONCE = 100 };
    char *ids_a [AT_ONCE], *ids_b [AT_ONCE];
    char target [64];
    int refusing = s_refusing_target (target, sizeof (target));

    //  One round first, so that what the gateways keep for good (hash
    //  tables at their size, allocator arenas) is in the baseline
    s_holdings_t before_a = { 0 }, before_b = { 0 }, peak_b = { 0 };
    double started = 0;
    int round;
    for (round = 0; round <= ROUNDS; round++) {
        if (round == 1) {
            before_a = s_holdings (gateways.a);
            before_b = s_holdings (gateways.b);
            started = s_now ();
        }
        int index;
        for (index = 0; index < AT_ONCE; index++) {
            char name [32];
            snprintf (name, sizeof (name), "session-%d-%d", round, index);
            ids_a [index] = s_open (control_a, name, "inbound", target);
            ids_b [index] = s_open (control_b, name, "outbound", NULL);
        }
        cr_assert_eq (s_count (control_a), AT_ONCE);
        cr_assert_eq (s_count (control_b), AT_ONCE);
        if (round == 1) {
            peak_b = s_holdings (gateways.b);
            //  Each outbound session listens on a port of its own
            cr_assert_eq (peak_b.listening, before_b.listening + AT_ONCE,
                          "%d listening with %d sessions open, %d before", peak_b.listening,
                          AT_ONCE, before_b.listening);
        }
        for (index = 0; index < AT_ONCE; index++) {
            cr_assert_eq (sstream_control_release (control_a, ids_a [index]), 0, "%s", sstream_errmsg ());
            cr_assert_eq (sstream_control_release (control_b, ids_b [index]), 0, "%s", sstream_errmsg ());
            free (ids_a [index]);
            free (ids_b [index]);
        }
        cr_assert_eq (s_count (control_a), 0);
        cr_assert_eq (s_count (control_b), 0);
    }
    double seconds = s_now () - started;
    s_holdings_t after_a = s_holdings (gateways.a), after_b = s_holdings (gateways.b);
    fprintf (stderr, "%d sessions on each gateway opened and released in %.2f s\n"
             "  gateway a: fds %d -> %d, listening %d -> %d, rss %.1f -> %.1f MiB\n"
             "  gateway b: fds %d -> %d (%d with %d open), listening %d -> %d (%d), rss %.1f -> %.1f MiB\n",
             ROUNDS * AT_ONCE, seconds,
             before_a.fds, after_a.fds, before_a.listening, after_a.listening,
             before_a.rss / 1048576.0, after_a.rss / 1048576.0,
             before_b.fds, after_b.fds, peak_b.fds, AT_ONCE, before_b.listening, after_b.listening,
             peak_b.listening, before_b.rss / 1048576.0, after_b.rss / 1048576.0);
    cr_assert_eq (after_a.fds, before_a.fds, "gateway a keeps file descriptors");
    cr_assert_eq (after_b.fds, before_b.fds, "gateway b keeps file descriptors");
    cr_assert_eq (after_a.listening, before_a.listening, "gateway a keeps listening ports");
    cr_assert_eq (after_b.listening, before_b.listening, "gateway b keeps listening ports");
    //  Memory: back where it was, give or take the allocator's rounding.
    //  AddressSanitizer keeps freed memory in quarantine, so there its
    //  LeakSanitizer checks the gateways at exit instead (gateways_stop
    //  wants exit status 0)
#if defined (__SANITIZE_ADDRESS__)
    fprintf (stderr, "  (resident memory not compared: AddressSanitizer's quarantine holds freed memory)\n");
#else
    cr_assert_leq (after_a.rss, before_a.rss + (1 << 20), "gateway a grew by %" PRIu64 " bytes",
                   after_a.rss - before_a.rss);
    cr_assert_leq (after_b.rss, before_b.rss + (1 << 20), "gateway b grew by %" PRIu64 " bytes",
                   after_b.rss - before_b.rss);
#endif
    sstream_control_destroy (&control_a);
    sstream_control_destroy (&control_b);
    gateways_stop (&gateways);
    close (refusing);
}

Test (sessions, held_sessions_end_with_their_client_and_others_stay)
{
    gateways_t gateways;
    gateways_options_t options = { .peer_timeout = "2s" };
    gateways_start (&gateways, support_folder, &options);
    sstream_control_t *control = s_control (&gateways, 'b');
    int listening = gateways_listen_count (gateways.b);
    char *out = s_path ("open.out"), *err = s_path ("open.err");
    char *held_out = s_path ("held.out"), *held_err = s_path ("held.err");

    //  Without --hold, the session stays after the command exits
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "open", gateways.control_b, "kept", "--role",
                                     "outbound", "-k", gateways.operator_key, "-g",
                                     gateways.gateway_b_pub, NULL), 0, "%s", support_read_file (err));
    //  A held session lives as long as the command holding it
    pid_t holder = gateways_pipe_spawn (held_out, held_err, "open", gateways.control_b, "held", "--role",
                                        "outbound", "--hold", "-k", gateways.operator_key,
                                        "-g", gateways.gateway_b_pub, NULL);
    //  The whole line: the holder is still writing it (a port read from
    //  half a line is another port)
    cr_assert (support_wait_for_output (holder, held_out, "127.0.0.1:", 60000), "%s",
               support_read_file (held_err));
    char *said = NULL;
    double deadline = s_now () + 60;
    do {
        free (said);
        said = support_read_file (held_out);
    } while (!strchr (strstr (said, "127.0.0.1:"), '\n') && s_now () < deadline
             && usleep (10000) == 0);
    cr_assert (strchr (strstr (said, "127.0.0.1:"), '\n'), "%s", said);
    int port = atoi (strstr (said, "127.0.0.1:") + strlen ("127.0.0.1:"));
    free (said);
    cr_assert (s_listening (port));
    cr_assert_eq (s_count (control), 2);
    kill (holder, SIGKILL);
    support_wait (holder, 5000);
    double killed = s_now ();
    while (s_count (control) > 1 && s_now () - killed < 60)
        usleep (100 * 1000);
    cr_assert_eq (s_count (control), 1, "the held session outlived its client by 60 s");
    fprintf (stderr, "a held session ended %.1f s after its client was killed (peer-timeout 2s)\n",
             s_now () - killed);
    cr_assert_not (s_listening (port), "port %d still listens", port);
    //  The kept session's command went before the held one's: had the
    //  gateway tied that session to its client, it would have ended first
    sstream_session_list_t *sessions;
    cr_assert_eq (sstream_control_list (control, NULL, &sessions), 0, "%s", sstream_errmsg ());
    cr_assert_str_eq (sstream_session_list_get (sessions, 0, "name"), "kept");
    sstream_session_list_destroy (&sessions);
    cr_assert_eq (gateways_listen_count (gateways.b), listening + 1);
    sstream_control_destroy (&control);
    free (out);
    free (err);
    free (held_out);
    free (held_err);
    gateways_stop (&gateways);
}

Test (sessions, idle_sessions_end_after_the_idle_timeout)
{
    gateways_t gateways;
    gateways_options_t options = { .idle_timeout = "1s" };
    gateways_start (&gateways, support_folder, &options);
    sstream_control_t *control = s_control (&gateways, 'b');
    int listening = gateways_listen_count (gateways.b);
    double opened = s_now ();
    char *id = s_open (control, "idle", "outbound", NULL);
    cr_assert_eq (gateways_listen_count (gateways.b), listening + 1);
    while (s_count (control) > 0 && s_now () - opened < 60)
        usleep (100 * 1000);
    double seconds = s_now () - opened;
    cr_assert_eq (s_count (control), 0, "the idle session is still there after 60 s");
    cr_assert_geq (seconds, 1.0, "it ended before its idle timeout");
    cr_assert_eq (gateways_listen_count (gateways.b), listening);
    //  Releasing it now is a clear error
    cr_assert_neq (sstream_control_release (control, id), 0);
    cr_assert (strstr (sstream_errmsg (), "no session"), "%s", sstream_errmsg ());
    free (id);
    sstream_control_destroy (&control);
    gateways_stop (&gateways);
}

Test (sessions, a_stopping_gateway_releases_every_session)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    sstream_control_t *control = s_control (&gateways, 'b');
    int ports [5];
    int index;
    for (index = 0; index < 5; index++) {
        char name [16];
        snprintf (name, sizeof (name), "stop-%d", index);
        sstream_session_list_t *session;
        cr_assert_eq (sstream_control_open (control, name, "outbound", NULL, &session), 0);
        ports [index] = s_port_of (sstream_session_list_get (session, 0, "address"));
        sstream_session_list_destroy (&session);
        cr_assert (s_listening (ports [index]));
    }
    sstream_control_destroy (&control);
    gateways_stop (&gateways);
    for (index = 0; index < 5; index++)
        cr_assert_not (s_listening (ports [index]));
    char *log = s_path ("gateway-b.err");
    char *text = support_read_file (log);
    size_t released = 0;
    const char *cursor;
    for (cursor = text; (cursor = strstr (cursor, "released: the gateway is stopping")); cursor++)
        released++;
    cr_assert_eq (released, 5, "%s", text);
    free (text);
    free (log);
}

//  Sessions opened from several threads at once, each with its own client
typedef struct {
    gateways_t *gateways;
    int first;
    int rc;
    char ports [10][64];
} s_opener_t;

static void *
s_opener (void *args)
{
    s_opener_t *self = (s_opener_t *) args;
    sstream_config_t *options;
    sstream_config_new (&options);
    sstream_config_set (options, "client/secret-key", self->gateways->operator_key);
    sstream_config_set (options, "client/gateway-key", self->gateways->gateway_b_pub);
    sstream_control_t *control;
    self->rc = sstream_control_new (&control, self->gateways->control_b, options);
    sstream_config_destroy (&options);
    int index;
    for (index = 0; index < 10 && !self->rc; index++) {
        char name [32];
        snprintf (name, sizeof (name), "parallel-%d", self->first + index);
        sstream_session_list_t *session;
        self->rc = sstream_control_open (control, name, "outbound", NULL, &session);
        if (!self->rc)
            snprintf (self->ports [index], sizeof (self->ports [index]), "%s",
                      sstream_session_list_get (session, 0, "address"));
        sstream_session_list_destroy (&session);
    }
    sstream_control_destroy (&control);
    return NULL;
}

Test (sessions, sessions_are_independent)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    //  Forty sessions from four clients at once: each its own port
    s_opener_t openers [4];
    pthread_t threads [4];
    int index;
    for (index = 0; index < 4; index++) {
        openers [index] = (s_opener_t) { .gateways = &gateways, .first = index * 10 };
        pthread_create (&threads [index], NULL, s_opener, &openers [index]);
    }
    for (index = 0; index < 4; index++)
        pthread_join (threads [index], NULL);
    int thread_index, session;
    for (thread_index = 0; thread_index < 4; thread_index++)
        cr_assert_eq (openers [thread_index].rc, 0);
    for (thread_index = 0; thread_index < 40; thread_index++)
        for (session = thread_index + 1; session < 40; session++)
            cr_assert_str_neq (openers [thread_index / 10].ports [thread_index % 10],
                               openers [session / 10].ports [session % 10]);
    //  A name is one session at a gateway
    sstream_control_t *control = s_control (&gateways, 'b');
    sstream_session_list_t *list = NULL;
    cr_assert_eq (sstream_control_open (control, "parallel-3", "outbound", NULL, &list), SSTREAM_EDENIED);
    cr_assert (strstr (sstream_errmsg (), "already"), "%s", sstream_errmsg ());
    //  Releasing one leaves the others be
    sstream_session_list_t *all;
    cr_assert_eq (sstream_control_list (control, NULL, &all), 0);
    cr_assert_eq (sstream_session_list_size (all), 40);
    const char *first_id = sstream_session_list_get (all, 0, "id");
    cr_assert_eq (sstream_control_release (control, first_id), 0);
    cr_assert_eq (s_count (control), 39);
    size_t listening = 0;
    for (index = 0; index < 40; index++)
        listening += s_listening (s_port_of (openers [index / 10].ports [index % 10]));
    cr_assert_eq (listening, 39);
    sstream_session_list_destroy (&all);
    sstream_control_destroy (&control);
    gateways_stop (&gateways);
}


//  --------------------------------------------------------------------------
//  Access rules

static void
s_write_config_a (const char *path, const char *access)
{
    char source [600];
    snprintf (source, sizeof (source), "%s/conf/gateway-a.cfg", SSTREAM_SOURCE_DIR);
    char *text = support_read_file (source);
    cr_assert_not_null (text);
    char *whole;
    cr_assert (asprintf (&whole, "%s\n%s", text, access) > 0);
    cr_assert_eq (support_write_file (path, whole), 0);
    free (text);
    free (whole);
}

Test (sessions, access_rules_decide_who_opens_what_and_reload_on_sighup)
{
    char *config = s_path ("gateway-a.cfg");
    s_write_config_a (config,
        "access\n"
        "    default = deny\n"
        "    rule\n"
        "        streams = public-*\n"
        "        producers = keys/operators\n"
        "        consumers = none\n");
    gateways_t gateways;
    gateways_options_t options = { .config_a = config };
    gateways_start (&gateways, support_folder, &options);
    sstream_control_t *control = s_control (&gateways, 'a');
    char target [64];
    int refusing = s_refusing_target (target, sizeof (target));
    sstream_config_t *params;
    sstream_config_new (&params);
    sstream_config_set (params, "target", target);
    sstream_session_list_t *session = NULL;
    cr_assert_eq (sstream_control_open (control, "secret-1", "inbound", params, &session), SSTREAM_EDENIED);
    cr_assert (strstr (sstream_errmsg (), "not authorized for stream 'secret-1'"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_control_open (control, "public-1", "inbound", params, &session), 0,
                  "%s", sstream_errmsg ());
    sstream_session_list_destroy (&session);

    //  Let operators at secret-* too, then SIGHUP: no restart
    s_write_config_a (config,
        "access\n"
        "    default = deny\n"
        "    rule\n"
        "        streams = *\n"
        "        producers = keys/operators\n"
        "        consumers = none\n");
    kill (gateways.a, SIGHUP);
    char *log = s_path ("gateway-a.err");
    cr_assert (support_wait_for_text (log, "access rules reloaded", 60000), "%s", support_read_file (log));
    cr_assert_eq (sstream_control_open (control, "secret-2", "inbound", params, &session), 0,
                  "%s", sstream_errmsg ());
    sstream_session_list_destroy (&session);
    cr_assert_eq (kill (gateways.a, 0), 0, "SIGHUP stopped the gateway");
    //  The rule about consumers: an outbound session is consuming
    cr_assert_eq (sstream_control_open (control, "secret-3", "outbound", NULL, &session), SSTREAM_EDENIED);
    cr_assert (strstr (sstream_errmsg (), "not authorized for stream 'secret-3'"), "%s", sstream_errmsg ());
    sstream_config_destroy (&params);
    sstream_control_destroy (&control);
    gateways_stop (&gateways);
    close (refusing);
    free (log);
    free (config);
}


//  --------------------------------------------------------------------------
//  The commands

Test (sessions, open_status_and_release_commands_and_their_errors)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    char *out = s_path ("out"), *err = s_path ("err");
    const char *key = gateways.operator_key, *pub = gateways.gateway_b_pub;
    const char *control = gateways.control_b;

    cr_assert_eq (gateways_pipe_run (NULL, out, err, "open", control, "cmd", "--role", "outbound",
                                     "--json", "-k", key, "-g", pub, NULL), 0, "%s", support_read_file (err));
    char *text = support_read_file (out);
    cr_assert_eq (text [0], '[', "%s", text);
    const char *id_at = strstr (text, "\"id\": \"");
    cr_assert_not_null (id_at, "%s", text);
    char id [64];
    snprintf (id, sizeof (id), "%.16s", id_at + strlen ("\"id\": \""));
    free (text);

    //  Human-readable status: a heading and the session
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "status", control, "-k", key, "-g", pub, NULL), 0);
    text = support_read_file (out);
    cr_assert (strstr (text, "NAME") && strstr (text, "cmd") && strstr (text, id), "%s", text);
    free (text);
    //  JSON for scripts: numbers are numbers
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "status", control, id, "--json", "-k", key, "-g", pub,
                                     NULL), 0);
    text = support_read_file (out);
    cr_assert (strstr (text, "\"bytes_in\": 0") && strstr (text, "\"role\": \"outbound\""), "%s", text);
    free (text);

    cr_assert_eq (gateways_pipe_run (NULL, out, err, "release", control, id, "-k", key, "-g", pub, NULL), 0);
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "release", control, id, "-k", key, "-g", pub, NULL), 1);
    gateways_assert_one_line (err, "no session");
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "status", control, "-k", key, "-g", pub, NULL), 0);
    text = support_read_file (out);
    cr_assert (strstr (text, "no sessions"), "%s", text);
    free (text);

    //  What a user can get wrong
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "open", control, "x", "-k", key, "-g", pub, NULL), 2);
    gateways_assert_one_line (err, "--role");
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "open", control, "x", "--role", "inbound",
                                     "-k", key, "-g", pub, NULL), 2);
    gateways_assert_one_line (err, "--target");
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "open", control, "x", "--role", "sideways",
                                     "-k", key, "-g", pub, NULL), 2);
    gateways_assert_one_line (err, "inbound or outbound");
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "open", control, "x", "--role", "outbound",
                                     "--links", "4", "-k", key, "-g", pub, NULL), 2);
    gateways_assert_one_line (err, "one link");
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "open", control, "x", "--role", "outbound",
                                     "--mode", "lossy", "-k", key, "-g", pub, NULL), 2);
    gateways_assert_one_line (err, "lossy");
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "open", gateways.control_a, "x", "--role", "inbound",
                                     "--target", "nowhere", "-k", key, "-g", gateways.gateway_a_pub,
                                     NULL), 2);
    gateways_assert_one_line (err, "host:port");
    //  A key the control link does not trust
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "status", control, "-k", gateways.producer_key,
                                     "-g", pub, NULL), 4);
    gateways_assert_one_line (err, "refused our key");
    //  Nobody there: it gives up after its timeout, not the test's
    char nowhere [64];
    int port;
    int refusing = support_refused_port (&port);
    cr_assert_geq (refusing, 0);
    snprintf (nowhere, sizeof (nowhere), "tcp://127.0.0.1:%d", port);
    double started = s_now ();
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "status", nowhere, "--timeout", "2s", "-k", key,
                                     "-g", pub, NULL), 5);
    gateways_assert_one_line (err, "unreachable");
    cr_assert_lt (s_now () - started, 30.0);
    close (refusing);
    free (out);
    free (err);
    gateways_stop (&gateways);
}


//  --------------------------------------------------------------------------
//  More than one gateway at a facility: two peered pairs

//  Two peered pairs, a1-b1 and a2-b2, sharing the facility keys (clients
//  pin one key)
static void
s_two_pairs (gateways_t *one, gateways_t *two)
{
    gateways_options_t first = {
        .tag = "1",
        .extra_a = { "gateway/name=gateway-a1", "peer/name=gateway-b1" },
        .extra_b = { "gateway/name=gateway-b1", "peer/name=gateway-a1" }
    };
    gateways_start (one, support_folder, &first);
    gateways_options_t second = {
        .reuse_keys = true,
        .tag = "2",
        .extra_a = { "gateway/name=gateway-a2", "peer/name=gateway-b2" },
        .extra_b = { "gateway/name=gateway-b2", "peer/name=gateway-a2" }
    };
    gateways_start (two, support_folder, &second);
}

Test (sessions, clients_and_tunnels_fail_over_to_the_other_pair)
{
    gateways_t one, two;
    s_two_pairs (&one, &two);

    //  Gateway a1 goes down: b1 is up, but without its peer
    kill (one.a, SIGKILL);
    support_wait (one.a, 5000);
    one.a = 0;
    char *log_b1 = s_path ("gateway-b1.err");
    cr_assert (support_wait_for_text (log_b1, "lost peer gateway-a1", 60000), "b1 did not notice: %s",
               support_read_file (log_b1));
    free (log_b1);
    //  Where a1 was, connections are refused. Its own ports are anybody's
    //  now (another test's gateway may bind one), so ports the test holds
    //  stand in for them
    char gone_local [64], gone_control [64];
    int refusing_local = s_refusing_target (gone_local, sizeof (gone_local));
    int refusing_control = s_refusing_target (gone_control, sizeof (gone_control));

    char endpoints_a [200], endpoints_b [200], controls_a [200], controls_b [200];
    snprintf (endpoints_a, sizeof (endpoints_a), "tcp://%s,%s", gone_local, two.endpoint_a);
    snprintf (endpoints_b, sizeof (endpoints_b), "%s,%s", one.endpoint_b, two.endpoint_b);
    snprintf (controls_a, sizeof (controls_a), "tcp://%s,%s", gone_control, two.control_a);
    snprintf (controls_b, sizeof (controls_b), "%s,%s", one.control_b, two.control_b);

    //  A stream: the consumer passes over b1, whose peer is gone; the
    //  producer over a1, which is gone
    char *data = s_path ("data.bin"), *received = s_path ("received.bin");
    char *send_err = s_path ("send.err"), *recv_err = s_path ("recv.err");
    FILE *file = fopen (data, "wb");
    unsigned char chunk [65536];
    int index;
    for (index = 0; index < 64; index++) {
        support_fill (chunk, (uint64_t) index * sizeof (chunk), sizeof (chunk));
        fwrite (chunk, 1, sizeof (chunk), file);
    }
    fclose (file);
    pid_t receiver = gateways_pipe_spawn (received, recv_err, "recv", "-k", one.consumer_key,
                                          "-g", one.gateway_b_pub, "--timeout", "3s",
                                          endpoints_b, "failover", NULL);
    char *send_argv [] = { SSTREAM_PIPE, "send", "-k", one.producer_key, "-g", one.gateway_a_pub,
                           "--readers", one.consumer_pub, "--timeout", "3s", endpoints_a, "failover", NULL };
    pid_t sender = support_spawn (send_argv, data, NULL, send_err);
    cr_assert_eq (support_wait (sender, 60000), 0, "send: %s", support_read_file (send_err));
    cr_assert_eq (support_wait (receiver, 60000), 0, "recv: %s", support_read_file (recv_err));
    char *sent_text = support_read_file (data), *got_text = support_read_file (received);
    cr_assert_not_null (got_text);
    cr_assert_eq (memcmp (sent_text, got_text, 64 * sizeof (chunk)), 0);
    free (sent_text);
    free (got_text);

    //  A tunnel: the inbound end on a2 (a1 is gone), the outbound end on
    //  b2, a2's peer, though b1 answers first
    char *out = s_path ("tunnel.out"), *err = s_path ("tunnel.err");
    char target [64];
    int refusing = s_refusing_target (target, sizeof (target));
    pid_t tunnel = gateways_pipe_spawn (out, err, "tunnel", "failover", target,
                                        "--inbound", controls_a, "--inbound-key", one.gateway_a_pub,
                                        "--outbound", controls_b, "--outbound-key", one.gateway_b_pub,
                                        "-k", one.operator_key, "--timeout", "3s", NULL);
    cr_assert (support_wait_for_output (tunnel, out, "connect to", 60000), "%s", support_read_file (err));
    char *said = support_read_file (out);
    cr_assert (strstr (said, "(gateway gateway-b2)") && strstr (said, "(through gateway gateway-a2)"),
               "%s", said);
    free (said);
    kill (tunnel, SIGINT);
    cr_assert_eq (support_wait (tunnel, 30000), 0, "%s", support_read_file (err));
    close (refusing);
    close (refusing_local);
    close (refusing_control);

    one.a = 0;
    gateways_stop (&one);
    gateways_stop (&two);
    free (data);
    free (received);
    free (send_err);
    free (recv_err);
    free (out);
    free (err);
}

Test (sessions, status_lists_hundreds_of_sessions)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    sstream_control_t *control = s_control (&gateways, 'a');
    enum { SESSIONS = 600 };
    char target [64];
    int refusing = s_refusing_target (target, sizeof (target));
    int index;
    for (index = 0; index < SESSIONS; index++) {
        char name [64];
        snprintf (name, sizeof (name), "a-rather-long-session-name-for-a-big-list-%d", index);
        free (s_open (control, name, "inbound", target));
    }
    cr_assert_eq (s_count (control), SESSIONS);
    char *out = s_path ("status.out"), *err = s_path ("status.err");
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "status", gateways.control_a, "-k", gateways.operator_key,
                                     "-g", gateways.gateway_a_pub, NULL), 0, "%s", support_read_file (err));
    char *text = support_read_file (out);
    size_t lines = 0;
    const char *reader;
    for (reader = text; *reader; reader++)
        lines += *reader == '\n';
    //  A heading and a line a session; then a blank line and the streams
    cr_assert_eq (lines, SESSIONS + 3, "%zu lines for %d sessions", lines, SESSIONS);
    fprintf (stderr, "status listed %d sessions in %zu bytes of table\n", SESSIONS, strlen (text));
    free (text);
    free (out);
    free (err);
    sstream_control_destroy (&control);
    gateways_stop (&gateways);
    close (refusing);
}

Test (sessions, a_tunnel_whose_session_is_released_elsewhere_ends_and_says_so)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    char *out = s_path ("tunnel.out"), *err = s_path ("tunnel.err");
    char target [64];
    int refusing = s_refusing_target (target, sizeof (target));
    pid_t tunnel = gateways_pipe_spawn (out, err, "tunnel", "gone", target,
                                        "--inbound", gateways.control_a, "--inbound-key", gateways.gateway_a_pub,
                                        "--outbound", gateways.control_b, "--outbound-key", gateways.gateway_b_pub,
                                        "-k", gateways.operator_key, NULL);
    cr_assert (support_wait_for_output (tunnel, out, "connect to", 60000), "%s", support_read_file (err));
    sstream_control_t *control = s_control (&gateways, 'b');
    sstream_session_list_t *all;
    cr_assert_eq (sstream_control_list (control, NULL, &all), 0);
    cr_assert_eq (sstream_session_list_size (all), 1);
    cr_assert_eq (sstream_control_release (control, sstream_session_list_get (all, 0, "id")), 0);
    sstream_session_list_destroy (&all);
    int status = support_wait (tunnel, 60000);
    cr_assert_eq (status, 1, "the tunnel command exited %d: %s", status, support_read_file (err));
    char *said = support_read_file (err);
    cr_assert (strstr (said, "has ended"), "%s", said);
    free (said);
    //  Its other end went with it
    sstream_control_t *control_a = s_control (&gateways, 'a');
    cr_assert_eq (s_count (control_a), 0);
    sstream_control_destroy (&control_a);
    sstream_control_destroy (&control);
    free (out);
    free (err);
    gateways_stop (&gateways);
    close (refusing);
}


//  --------------------------------------------------------------------------
//  A tunnel outlives its gateways

//  The address in the last "connect to ADDRESS" line of the tunnel's output
static void
s_tunnel_address (const char *out, char *address, size_t size)
{
    char *text = support_read_file (out);
    cr_assert_not_null (text);
    const char *found = NULL, *next;
    for (next = strstr (text, "connect to "); next; next = strstr (next + 1, "connect to "))
        found = next;
    cr_assert_not_null (found, "%s", text);
    found += strlen ("connect to ");
    size_t length = strcspn (found, " \n");
    cr_assert_lt (length, size, "%s", text);
    memcpy (address, found, length);
    address [length] = 0;
    free (text);
}

//  Two pairs; the tunnel's inbound gateway is killed: its connections end,
//  and the tunnel command opens the tunnel again on the other pair, where
//  new connections work, without being started again
Test (sessions, a_tunnel_opens_again_on_the_other_pair_when_its_gateway_is_lost)
{
    gateways_t one, two;
    s_two_pairs (&one, &two);
    int echo_port;
    int echo = support_echo_server (&echo_port);
    cr_assert_geq (echo, 0, "no echo server");
    char target [64], controls_a [200], controls_b [200];
    snprintf (target, sizeof (target), "127.0.0.1:%d", echo_port);
    snprintf (controls_a, sizeof (controls_a), "%s,%s", one.control_a, two.control_a);
    snprintf (controls_b, sizeof (controls_b), "%s,%s", one.control_b, two.control_b);
    char *out = s_path ("tunnel.out"), *err = s_path ("tunnel.err");
    pid_t tunnel = gateways_pipe_spawn (out, err, "tunnel", "outlives", target,
                                        "--inbound", controls_a, "--inbound-key", one.gateway_a_pub,
                                        "--outbound", controls_b, "--outbound-key", one.gateway_b_pub,
                                        "-k", one.operator_key, "--timeout", "3s",
                                        "--resume-timeout", "60s", NULL);
    cr_assert (support_wait_for_output (tunnel, out, "connect to", 60000), "%s", support_read_file (err));
    char address [64], why [256];
    s_tunnel_address (out, address, sizeof (address));
    cr_assert (support_echo_once (address, "through the first pair", why, sizeof (why)), "%s", why);

    //  A1 goes: the tunnel says so and opens again through A2 and B2
    kill (one.a, SIGKILL);
    support_wait (one.a, 5000);
    one.a = 0;
    cr_assert (support_wait_for_output (tunnel, out, "open again after", 90000), "%s\n%s",
               support_read_file (out), support_read_file (err));
    char *said = support_read_file (out);
    const char *again = strstr (said, "open again after");
    cr_assert (strstr (again, "(gateway gateway-b2)") && strstr (again, "(through gateway gateway-a2)"),
               "%s", said);
    free (said);
    said = support_read_file (err);
    cr_assert (strstr (said, "warning: tunnel outlives: lost gateway control at")
               && strstr (said, "opening it again"), "%s", said);
    free (said);
    s_tunnel_address (out, address, sizeof (address));
    cr_assert (support_echo_once (address, "through the second pair", why, sizeof (why)), "%s", why);
    //  B1 let go of its end: nothing of the tunnel is left there
    sstream_control_t *control_b1 = s_control (&one, 'b');
    cr_assert_eq (s_count (control_b1), 0);
    sstream_control_destroy (&control_b1);

    kill (tunnel, SIGINT);
    cr_assert_eq (support_wait (tunnel, 30000), 0, "%s", support_read_file (err));
    close (echo);
    gateways_stop (&one);
    gateways_stop (&two);
    free (out);
    free (err);
}

//  With --resume-timeout 0 the tunnel ends when a gateway is lost, saying so
Test (sessions, a_tunnel_told_not_to_reopen_ends_when_its_gateway_is_lost)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    char target [64];
    int refusing = s_refusing_target (target, sizeof (target));
    char *out = s_path ("tunnel.out"), *err = s_path ("tunnel.err");
    pid_t tunnel = gateways_pipe_spawn (out, err, "tunnel", "once", target,
                                        "--inbound", gateways.control_a, "--inbound-key", gateways.gateway_a_pub,
                                        "--outbound", gateways.control_b, "--outbound-key", gateways.gateway_b_pub,
                                        "-k", gateways.operator_key, "--timeout", "3s",
                                        "--resume-timeout", "0", NULL);
    cr_assert (support_wait_for_output (tunnel, out, "connect to", 60000), "%s", support_read_file (err));
    kill (gateways.b, SIGKILL);
    support_wait (gateways.b, 5000);
    gateways.b = 0;
    int status = support_wait (tunnel, 60000);
    cr_assert_eq (status, 1, "the tunnel command exited %d: %s", status, support_read_file (err));
    char *said = support_read_file (err);
    cr_assert (strstr (said, "lost gateway control at"), "%s", said);
    free (said);
    gateways_stop (&gateways);
    free (out);
    free (err);
    close (refusing);
}

//  A gateway tells a client asking after a session it released that it was
//  released, and why; one it never knew (it was started again since) is
//  lost to it
Test (sessions, a_session_released_is_told_apart_from_one_never_known)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    sstream_control_t *control = s_control (&gateways, 'a');
    char target [64];
    int refusing = s_refusing_target (target, sizeof (target));
    char *id = s_open (control, "told-apart", "inbound", target);
    cr_assert_eq (sstream_control_release (control, id), 0, "%s", sstream_errmsg ());
    sstream_session_list_t *session = NULL;
    cr_assert_eq (sstream_control_list (control, id, &session), SSTREAM_ECLOSED, "%s", sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "was released: asked for"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_control_list (control, "00112233445566778899aabbccddeeff", &session),
                  SSTREAM_ELOST, "%s", sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "started again"), "%s", sstream_errmsg ());
    free (id);
    sstream_control_destroy (&control);
    gateways_stop (&gateways);
    close (refusing);
}
