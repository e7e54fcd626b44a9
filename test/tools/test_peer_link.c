/*  =========================================================================
    test_peer_link - the link between two sstream-pipe gateway processes
    always comes back, says why when it cannot, and does not flood the log:
    a gateway whose key its peer refused tries again, and comes up by
    itself once the other's pin is fixed; after a WAN cut (test/netbed)
    longer than the peer timeout, both are up again within seconds of the
    heal

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE
#include "netbed.h"
#include "support.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static netbed_t s_bed;

//  The bed goes first: it kills what runs in it
static void
s_teardown (void)
{
    netbed_down (&s_bed);
    support_fixture_teardown ();
}

TestSuite (peer_link, .init = support_fixture_setup, .fini = s_teardown, .timeout = 300);

//  Lines of a log that contain text; and in *repeats (if not NULL) what
//  the counts of those lines add up to: "... (repeated 5 times in the
//  last 5 s)"
static int
s_count (const char *path, const char *text, int *repeats)
{
    if (repeats)
        *repeats = 0;
    char *log = support_read_file (path);
    int count = 0;
    char *cursor = log, *line;
    while (cursor && (line = strsep (&cursor, "\n"))) {
        if (!strstr (line, text))
            continue;
        count++;
        const char *repeated = strstr (line, "(repeated ");
        int times;
        if (repeats && repeated && sscanf (repeated, "(repeated %d time", &times) == 1)
            *repeats += times;
    }
    free (log);
    return count;
}

//  Wait until count lines of a child's log contain text
static bool
s_wait_count (pid_t pid, const char *path, const char *text, int count, int timeout_ms)
{
    double deadline = support_now () + timeout_ms / 1000.0;
    while (s_count (path, text, NULL) < count) {
        if (support_now () > deadline || support_ended (pid))
            return false;
        usleep (20 * 1000);
    }
    return true;
}


//  --------------------------------------------------------------------------
//  A gateway's key refused

static void
s_stop (pid_t *pid, const char *err)
{
    kill (*pid, SIGTERM);
    int status = support_wait (*pid, 60000);
    cr_assert_eq (status, 0, "the gateway exited %d: %s", status, support_read_file (err));
    *pid = 0;
}

//  A pins the wrong key for B (a stranger's): A's handler refuses B's key.
//  libzmq never dials again after such a refusal, and B stayed out even
//  once A, restarted with the right pin, would have let it in. Now B
//  dials again, with a backoff, and both say why they are not up: once,
//  then counted, not once per try.
Test (peer_link, a_gateway_whose_key_was_refused_tries_again_and_comes_up_once_the_pin_is_fixed)
{
    gateways_t gateways;
    gateways_options_t options = { .tunnel_ports = 4, .tag = "-wrong" };
    gateways_prepare (&gateways, support_folder, &options);
    char strangers [600], stranger [700], err [700];
    snprintf (strangers, sizeof (strangers), "%s/strangers", support_folder);
    snprintf (stranger, sizeof (stranger), "peer/public-key=%s/stranger.pub", strangers);
    snprintf (err, sizeof (err), "%s/keygen.err", support_folder);
    cr_assert_eq (gateways_pipe_run (NULL, NULL, err, "keygen", "stranger", "--dir", strangers,
                                     NULL), 0, "%s", support_read_file (err));
    //  A's WAN link binds a port of this test's own: after its restart B
    //  finds it where it was
    int port = support_ports (1);
    cr_assert_gt (port, 0);
    char wan [64];
    snprintf (wan, sizeof (wan), "peer/endpoint=tcp://127.0.0.1:%d", port);
    gateways.options.extra_a [0] = wan;
    gateways.options.extra_a [1] = stranger;
    gateways.a = gateways_start_one (&gateways, 'a');
    gateways.options.tag = "";
    gateways.b = gateways_start_one (&gateways, 'b');
    char a_err [600], b_err [600];
    snprintf (a_err, sizeof (a_err), "%s/gateway-a-wrong.err", support_folder);
    snprintf (b_err, sizeof (b_err), "%s/gateway-b.err", support_folder);

    //  B tries again: the refusals are counted, in a summary a period on
    cr_assert (s_wait_count (gateways.b, b_err, "refused our key", 1, 30000),
               "gateway b was not refused: %s", support_read_file (b_err));
    cr_assert (s_wait_count (gateways.b, b_err, "(repeated ", 1, 30000),
               "gateway b did not try again after it was refused: %s", support_read_file (b_err));
    cr_assert (s_wait_count (gateways.a, a_err, "(repeated ", 1, 30000),
               "gateway a did not see b again: %s", support_read_file (a_err));
    //  Each has said why, once, and counted the rest: a try every few
    //  seconds at most after a backoff, not seven a second
    const char *b_why = "peer gateway-a is down: gateway-a refused our key (its peer/public-key "
                        "is not this gateway's public key)";
    const char *a_why = "peer gateway-b is down: refused key ";
    int b_tries, a_tries;
    int b_lines = s_count (b_err, b_why, &b_tries);
    int a_lines = s_count (a_err, a_why, &a_tries);
    cr_log_info ("a wrong pin: %d and %d lines of why, for %d and %d more tries in the first "
                 "period", a_lines, b_lines, a_tries, b_tries);
    cr_assert_eq (b_lines, 2, "%s", support_read_file (b_err));
    cr_assert_eq (a_lines, 2, "%s", support_read_file (a_err));
    cr_assert_eq (s_count (a_err, "it is not the key pinned for gateway-b in peer/public-key", NULL),
                  2, "%s", support_read_file (a_err));
    cr_assert (b_tries >= 2 && b_tries <= 10, "gateway b tried %d more times in a period: %s",
               b_tries, support_read_file (b_err));
    cr_assert_geq (a_tries, 2, "%s", support_read_file (a_err));

    //  A's pin fixed, and A restarted; B is left as it is
    s_stop (&gateways.a, a_err);
    gateways.options.extra_a [1] = NULL;
    gateways.options.tag = "-fixed";
    gateways.a = gateways_start_one (&gateways, 'a');
    double ready = support_now ();
    cr_assert (s_wait_count (gateways.b, b_err, "peer gateway-a is up", 1, 60000),
               "gateway b did not come up after a's pin was fixed: %s", support_read_file (b_err));
    double up = support_now () - ready;
    snprintf (a_err, sizeof (a_err), "%s/gateway-a-fixed.err", support_folder);
    cr_assert (s_wait_count (gateways.a, a_err, "peer gateway-b is up", 1, 60000), "%s",
               support_read_file (a_err));
    cr_log_info ("gateway b was up %.2f s after the fixed gateway a was ready", up);
    cr_assert_lt (up, 5.0, "gateway b took %.2f s to come up", up);
    gateways_stop (&gateways);
}


//  --------------------------------------------------------------------------
//  A WAN cut

//  How long the WAN is cut: well over the peer timeout (3 s), and as long
//  as in the report, where the gateways came back 25 s after the heal: B
//  held on to its connection, which TCP retransmits on at ever longer
//  intervals, and queued its hellos behind it; A's pings, queued on its
//  side of it, then each got B's "say hello first"
#define CUT_SECONDS 30

Test (peer_link, after_a_wan_cut_longer_than_the_peer_timeout_the_gateways_are_up_again_seconds_after_the_heal)
{
    netbed_up_or_skip (&s_bed, support_folder, NULL);
    gateways_t keys;
    memset (&keys, 0, sizeof (keys));
    gateways_keys (&keys, support_folder);
    netbed_pair_t pair;
    netbed_pair_options_t options = { .peer_timeout = "3s" };
    netbed_pair_start (&s_bed, &pair, &keys, &options);

    netbed_cut (&s_bed, "wan", NULL);
    double cut = support_now ();
    cr_assert (s_wait_count (pair.a.pid, pair.a.err, "lost peer gateway-b: silent for 3 s", 1, 60000),
               "%s", support_read_file (pair.a.err));
    cr_assert (s_wait_count (pair.b.pid, pair.b.err, "lost peer gateway-a: silent for 3 s", 1, 60000),
               "%s", support_read_file (pair.b.err));
    //  The cut is the test's subject, and lasts as long as it says
    double left = cut + CUT_SECONDS - support_now ();
    if (left > 0)
        usleep ((useconds_t) (left * 1e6));
    netbed_heal (&s_bed, "wan", NULL);
    double healed = support_now ();
    cr_assert (s_wait_count (pair.b.pid, pair.b.err, "peer gateway-a is up", 2, 60000),
               "gateway b is not up again: %s", support_read_file (pair.b.err));
    double b_up = support_now () - healed;
    cr_assert (s_wait_count (pair.a.pid, pair.a.err, "peer gateway-b is up", 2, 60000),
               "gateway a is not up again: %s", support_read_file (pair.a.err));
    double a_up = support_now () - healed;
    int hello_first = s_count (pair.a.err, "say hello first", NULL)
                    + s_count (pair.b.err, "say hello first", NULL);
    int no_answer = s_count (pair.b.err, "peer gateway-a is down: no answer from ", NULL);
    cr_log_info ("after a %d s cut: gateway b up %.2f s, gateway a %.2f s after the heal; "
                 "%d lines of 'say hello first', %d of 'no answer'", CUT_SECONDS, b_up, a_up,
                 hello_first, no_answer);
    cr_assert_lt (b_up, 5.0, "gateway b was up again %.2f s after the heal", b_up);
    cr_assert_lt (a_up, 5.0, "gateway a was up again %.2f s after the heal", a_up);
    cr_assert_leq (hello_first, 2, "%d lines of 'say hello first': %s", hello_first,
                   support_read_file (pair.a.err));
    //  B said why meanwhile, once and counted
    cr_assert (no_answer >= 1 && no_answer <= 6, "%d lines: %s", no_answer,
               support_read_file (pair.b.err));
    //  and the link carries
    netbed_stream (&s_bed, &keys, &pair, "after-the-cut", 4 << 20);
    netbed_pair_stop (&pair);
}
