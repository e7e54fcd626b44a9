/*  =========================================================================
    test_resume - streams survive gateway crashes, frozen gateways and cut
    links (issue 10): sstream-pipe send in the instrument's namespace and
    sstream-pipe recv in the analysis host's, through sstream-pipe gateway
    processes in the test bed (test/netbed), killed, frozen and cut off

    The contract these tests hold the tools and the library to:

    - send and recv resume by themselves when a gateway or a link on the
      path is lost: they reconnect to the same gateway, or to another of
      their list (tcp://a1:7001,tcp://a2:7001), and the stream goes on
      from the first batch the consumer does not have. Both exit 0, and
      the bytes received are the bytes sent.
    - Each resume is logged on both ends (stderr of send and of recv), in
      a line with the word "resumed", its cause and how long the stream
      stood still, e.g. "stream 'run42' resumed after 2.3 s (lost the
      connection to gateway at tcp://10.1.0.1:7001)".
    - client/resume-timeout (default 60s): a stream that cannot resume
      within it fails, on each side with one line that says "could not
      resume" and names the last record delivered ("record"), and a
      non-zero exit status. client/replay-buffer (producer): the bytes of
      unacknowledged batches it keeps to send again.
    - recv --wait DURATION bounds the wait for a stream that has not
      started: with nobody producing, recv --wait 2s exits non-zero after
      its 2 s, with a line that names the stream. Without --wait, recv
      waits on.
    - A signal stops send within a second, whatever its standard input is
      doing (SIGINT to a send reading an endless pipe).
    - Gateways keep no stream state that must survive them: one killed
      with SIGKILL and started again, empty, on the same addresses, or the
      other pair of the facility, carries the rest of the stream.

    The gateways of a pair ping each other every 300 ms and give a peer up
    after 3 s; so do the clients, so that every loss is seen within
    seconds. The gateways listen on fixed ports (7001, 7002, the WAN on
    7100; every host of the bed has ports of its own), so that a gateway
    started again is where its clients and its peer look for it. The WAN
    is capped at 1 Gbit/s, so that the stream is still running when the
    test strikes whatever the speed of the machine; nothing waits for a
    time that assumes a speed: the tests wait for bytes in the received
    file, for log lines and for processes to end, each wait bounded.

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE
#include "netbed.h"
#include "support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STREAM_BYTES    (512ULL << 20)
#define WAN_RATE        "1gbit"
#define OUTAGE_US       (2 * 1000 * 1000)       //  From a kill to the restart
#define CUT_US          (10 * 1000 * 1000)      //  Longer than every peer timeout
#define STREAM_LIMIT    150                     //  Seconds for a stream's whole run, outages
                                                //  and all (within the test's 240)
#define RESUME_TIMEOUT  5                       //  client/resume-timeout, where set

static netbed_t s_bed;
static gateways_t s_keys;
static netbed_pair_t s_first, s_second;
static char s_producer_config [600], s_consumer_config [600];

//  The bed goes first: it kills what runs in it
static void
s_teardown (void)
{
    netbed_down (&s_bed);
    support_fixture_teardown ();
}

TestSuite (resume, .init = support_fixture_setup, .fini = s_teardown, .timeout = 240);

static void
s_write (const char *path, const char *text)
{
    cr_assert_eq (support_write_file (path, text), 0, "cannot write %s", path);
}

//  The bed, the keys, gateway pair 1 (and 2), the WAN capped, and the
//  clients' configs: the heartbeat and peer timeout of the gateways, and
//  client_lines (NULL: none) for both, producer_lines for the producer
static void
s_up (bool second_pair, const char *client_lines, const char *producer_lines)
{
    netbed_options_t options = { .second_pair = second_pair };
    netbed_up_or_skip (&s_bed, support_folder, &options);
    memset (&s_keys, 0, sizeof (s_keys));
    gateways_keys (&s_keys, support_folder);
    netbed_pair_options_t pair = { .heartbeat = "300ms", .peer_timeout = "3s", .fixed_ports = true };
    netbed_pair_start (&s_bed, &s_first, &s_keys, &pair);
    if (second_pair) {
        pair.second = true;
        netbed_pair_start (&s_bed, &s_second, &s_keys, &pair);
    }
    netbed_cap (&s_bed, "wan", WAN_RATE, NULL);
    const char *common = "client\n    heartbeat = 300ms\n    peer-timeout = 3s\n";
    char *text;
    snprintf (s_consumer_config, sizeof (s_consumer_config), "%s/consumer.cfg", support_folder);
    cr_assert (asprintf (&text, "%s%s", common, client_lines? client_lines: "") > 0);
    s_write (s_consumer_config, text);
    free (text);
    snprintf (s_producer_config, sizeof (s_producer_config), "%s/producer.cfg", support_folder);
    cr_assert (asprintf (&text, "%s%s%s", common, client_lines? client_lines: "",
                         producer_lines? producer_lines: "") > 0);
    s_write (s_producer_config, text);
    free (text);
}

//  A stream from send in instr to recv in ana, and what they said
typedef struct {
    const char *name;
    uint64_t bytes;
    char data [600], received [600], send_err [600], recv_err [600];
    pid_t sender, receiver;
    double deadline;                //  Every wait for it ends by then
    int sent, got;                  //  Exit statuses, once s_stream_end saw them
} s_stream_t;

static char *
s_said (const char *path)
{
    char *text = support_read_file (path);
    return text? text: strdup ("(nothing)\n");
}

//  What send and recv said, for failure messages (free it)
static char *
s_both_said (const s_stream_t *stream)
{
    char *send_said = s_said (stream->send_err), *recv_said = s_said (stream->recv_err);
    char *text;
    cr_assert (asprintf (&text, "\n--- send said:\n%s--- recv said:\n%s", send_said, recv_said) > 0);
    free (send_said);
    free (recv_said);
    return text;
}

//  Start recv, then send, each with its own gateways (comma-separated);
//  send's standard input is input, or (NULL) a file of bytes known bytes
static void
s_stream_start (s_stream_t *stream, const char *name, uint64_t bytes, const char *input,
                const char *producer_gateways, const char *consumer_gateways)
{
    memset (stream, 0, sizeof (*stream));
    stream->name = name;
    stream->bytes = bytes;
    snprintf (stream->data, sizeof (stream->data), "%s/%s.bin", support_folder, name);
    snprintf (stream->received, sizeof (stream->received), "%s/%s.received", support_folder, name);
    snprintf (stream->send_err, sizeof (stream->send_err), "%s/%s-send.err", support_folder, name);
    snprintf (stream->recv_err, sizeof (stream->recv_err), "%s/%s-recv.err", support_folder, name);
    if (input)
        snprintf (stream->data, sizeof (stream->data), "%s", input);
    else
        cr_assert_eq (support_fill_file (stream->data, bytes), 0, "cannot write %s", stream->data);
    netbed_client_t consumer = {
        .endpoints = consumer_gateways, .stream = name, .config = s_consumer_config,
        .out = stream->received, .err = stream->recv_err
    };
    stream->receiver = netbed_recv (&s_bed, &s_keys, &consumer);
    netbed_client_t producer = {
        .endpoints = producer_gateways, .stream = name, .config = s_producer_config,
        .in = stream->data, .err = stream->send_err
    };
    stream->sender = netbed_send (&s_bed, &s_keys, &producer);
    stream->deadline = support_now () + STREAM_LIMIT;
}

//  The stream on the first pair
static void
s_stream_start_first (s_stream_t *stream, const char *name)
{
    s_stream_start (stream, name, STREAM_BYTES, NULL, s_first.a.local, s_first.b.local);
}

//  The stream with both pairs: each client has its facility's two
//  gateways, the first pair's first
static void
s_stream_start_both_pairs (s_stream_t *stream, const char *name)
{
    char producer_gateways [200], consumer_gateways [200];
    snprintf (producer_gateways, sizeof (producer_gateways), "%s,%s", s_first.a.local,
              s_second.a.local);
    snprintf (consumer_gateways, sizeof (consumer_gateways), "%s,%s", s_first.b.local,
              s_second.b.local);
    s_stream_start (stream, name, STREAM_BYTES, NULL, producer_gateways, consumer_gateways);
}

//  Wait until share of the stream (a fraction) has reached the received
//  file; fail, saying what, if it does not, or if send or recv ended
static void
s_stream_wait (s_stream_t *stream, double share, const char *what)
{
    uint64_t bytes = (uint64_t) ((double) stream->bytes * share);
    bool there;
    //  In slices, so that a sender that gave up ends the wait too
    while (!(there = support_wait_for_size (stream->receiver, stream->received, bytes, 250)))
        if (support_ended (stream->receiver) || support_ended (stream->sender)
        ||  support_now () > stream->deadline)
            break;
    there = there || support_file_size (stream->received) >= bytes;
    char *said = there? NULL: s_both_said (stream);
    cr_assert (there, "stream '%s': %llu bytes (%.1f%%) did not come %s (%llu of %llu came; "
               "send %s, recv %s)%s", stream->name, (unsigned long long) bytes, share * 100, what,
               (unsigned long long) support_file_size (stream->received),
               (unsigned long long) stream->bytes,
               support_ended (stream->sender)? "has ended": "runs",
               support_ended (stream->receiver)? "has ended": "runs", said);
}

//  Wait until send and recv have both ended, until deadline at most
//  (then kill what still runs: its status is -1); their statuses in sent
//  and got
static void
s_stream_end (s_stream_t *stream, double deadline)
{
    while (!(support_ended (stream->sender) && support_ended (stream->receiver))
       &&  support_now () < deadline)
        usleep (20 * 1000);
    stream->sent = support_wait (stream->sender, 0);
    stream->got = support_wait (stream->receiver, 0);
}

//  Both ended well, with every byte, unchanged; and each logged a resume
static void
s_stream_assert_complete (s_stream_t *stream, bool resumed)
{
    s_stream_end (stream, stream->deadline);
    char *said = s_both_said (stream);
    cr_assert (stream->sent == 0 && stream->got == 0,
               "stream '%s': send exited %d, recv exited %d (-1: still running after %d s)%s",
               stream->name, stream->sent, stream->got, STREAM_LIMIT, said);
    unsigned char sent [32], got [32];
    uint64_t sent_size, got_size;
    cr_assert_eq (support_digest_file (stream->data, sent, &sent_size), 0);
    cr_assert_eq (support_digest_file (stream->received, got, &got_size), 0);
    cr_assert_eq (got_size, sent_size, "stream '%s': %llu bytes sent, %llu received%s",
                  stream->name, (unsigned long long) sent_size, (unsigned long long) got_size, said);
    cr_assert_eq (memcmp (sent, got, 32), 0, "stream '%s': the bytes received differ from "
                  "those sent%s", stream->name, said);
    if (resumed) {
        char *send_said = s_said (stream->send_err), *recv_said = s_said (stream->recv_err);
        cr_assert (strstr (send_said, "resumed"), "stream '%s': send logged no resume%s",
                   stream->name, said);
        cr_assert (strstr (recv_said, "resumed"), "stream '%s': recv logged no resume%s",
                   stream->name, said);
        free (send_said);
        free (recv_said);
    }
    free (said);
}

//  Kill a gateway mid-stream and start it again OUTAGE_US later, where it
//  was: up once it has its peer again
static void
s_crash_and_restart (netbed_gateway_t *gateway)
{
    netbed_gateway_kill (gateway);
    usleep (OUTAGE_US);
    netbed_gateway_restart (&s_bed, gateway);
    netbed_gateway_wait_paired (gateway);
}

//  The control: on the same bed, with the same options and both pairs,
//  a stream that loses nothing completes (it passes today; the others
//  fail for want of resume, not of a bed that works)
Test (resume, the_bed_carries_a_stream_that_loses_nothing)
{
    s_up (true, NULL, NULL);
    s_stream_t stream;
    s_stream_start_both_pairs (&stream, "control");
    s_stream_assert_complete (&stream, false);
    netbed_pair_stop (&s_second);
    netbed_pair_stop (&s_first);
}

//  A stream on the first pair loses gateway first, killed at a quarter of
//  the way and started again, and then (if not NULL) gateway then too, at
//  five eighths, once the stream has resumed and gone on past the first
//  loss
static void
s_stream_survives_crashes (const char *name, netbed_gateway_t *first, netbed_gateway_t *then)
{
    s_stream_t stream;
    s_stream_start_first (&stream, name);
    char what [128];
    snprintf (what, sizeof (what), "before the gateway in %s was killed", first->host);
    s_stream_wait (&stream, 0.25, what);
    s_crash_and_restart (first);
    if (then) {
        snprintf (what, sizeof (what), "after the gateway in %s was killed and started again",
                  first->host);
        s_stream_wait (&stream, 0.625, what);
        s_crash_and_restart (then);
    }
    s_stream_assert_complete (&stream, true);
    netbed_pair_stop (&s_first);
}

Test (resume, a_stream_survives_gateway_b_killed_and_restarted)
{
    s_up (false, NULL, NULL);
    s_stream_survives_crashes ("crash-b", &s_first.b, NULL);
}

Test (resume, a_stream_survives_gateway_a_killed_and_restarted)
{
    s_up (false, NULL, NULL);
    s_stream_survives_crashes ("crash-a", &s_first.a, NULL);
}

Test (resume, a_stream_survives_gateway_b_then_gateway_a_killed_and_restarted)
{
    s_up (false, NULL, NULL);
    s_stream_survives_crashes ("crash-b-a", &s_first.b, &s_first.a);
}

//  A frozen gateway is silent, not gone: its connections stay open, the
//  kernel still takes connections to its ports. The stream must leave it,
//  for the facility's other pair
Test (resume, a_stream_leaves_a_frozen_gateway_a_for_the_other_pair)
{
    s_up (true, NULL, NULL);
    s_stream_t stream;
    s_stream_start_both_pairs (&stream, "frozen-a");
    s_stream_wait (&stream, 0.25, "before gateway A1 was frozen");
    //  The first of each list took it
    cr_assert (support_wait_for_text (s_first.a.err, "stream 'frozen-a'", 0),
               "the stream did not go through A1: %s", support_read_file (s_first.a.err));
    cr_assert (support_wait_for_text (s_first.b.err, "stream 'frozen-a'", 0),
               "the stream did not go through B1: %s", support_read_file (s_first.b.err));
    cr_assert_eq (kill (s_first.a.pid, SIGSTOP), 0, "SIGSTOP: %s", strerror (errno));
    s_stream_assert_complete (&stream, true);
    char *said = s_both_said (&stream);
    cr_assert (support_wait_for_text (s_second.a.err, "stream 'frozen-a'", 0),
               "A2 never heard of the stream: %s%s", support_read_file (s_second.a.err), said);
    cr_assert (support_wait_for_text (s_second.b.err, "stream 'frozen-a'", 0),
               "B2 never heard of the stream: %s%s", support_read_file (s_second.b.err), said);
    free (said);
    kill (s_first.a.pid, SIGCONT);
    netbed_gateway_kill (&s_first.a);
    netbed_pair_stop (&s_second);
    netbed_gateway_stop (&s_first.b);
}

Test (resume, a_stream_survives_the_wan_cut_for_longer_than_the_peer_timeouts)
{
    s_up (false, NULL, NULL);
    s_stream_t stream;
    s_stream_start_first (&stream, "wan-cut");
    s_stream_wait (&stream, 0.25, "before the WAN was cut");
    netbed_cut (&s_bed, "wan", NULL);
    usleep (CUT_US);
    netbed_heal (&s_bed, "wan", NULL);
    s_stream_assert_complete (&stream, true);
    netbed_pair_stop (&s_first);
}

//  Lines of text that contain word
static size_t
s_lines_with (const char *text, const char *word, char *first, size_t size)
{
    size_t count = 0;
    const char *line = text;
    while (*line) {
        size_t length = strcspn (line, "\n");
        char *copy = strndup (line, length);
        if (strstr (copy, word)) {
            if (count++ == 0)
                snprintf (first, size, "%s", copy);
        }
        free (copy);
        line += length + (line [length] == '\n');
    }
    return count;
}

//  Ended non-zero, within the resume timeout and a few seconds of the
//  loss but no sooner than the resume timeout, with one line that says it
//  could not resume and names the last record delivered
static void
s_assert_gave_up (const s_stream_t *stream, const char *who, int status, double after,
                  const char *err)
{
    char *said = s_both_said (stream);
    cr_assert (status != 0 && status != -1, "%s exited %d (-1: still running %d s after the "
               "loss)%s", who, status, RESUME_TIMEOUT + 10, said);
    cr_assert (after >= RESUME_TIMEOUT - 1.0, "%s gave up %.1f s after the loss, before its "
               "client/resume-timeout of %d s%s", who, after, RESUME_TIMEOUT, said);
    char *text = s_said (err), line [1024] = "";
    size_t lines = s_lines_with (text, "could not resume", line, sizeof (line));
    cr_assert_eq (lines, 1, "%s printed %zu lines with 'could not resume'%s", who, lines, said);
    cr_assert (strstr (line, "record"), "%s's line does not name the last record delivered: %s",
               who, line);
    free (text);
    free (said);
}

Test (resume, a_stream_that_cannot_resume_fails_on_both_sides_after_the_resume_timeout)
{
    char client_lines [128];
    snprintf (client_lines, sizeof (client_lines), "    resume-timeout = %ds\n", RESUME_TIMEOUT);
    s_up (false, client_lines, "    replay-buffer = 64MiB\n");
    s_stream_t stream;
    s_stream_start_first (&stream, "no-resume");
    s_stream_wait (&stream, 0.25, "before gateway B was killed");
    netbed_gateway_kill (&s_first.b);
    double lost = support_now ();
    //  Whichever ends first; then the other
    double sender_after = -1, receiver_after = -1;
    while ((sender_after < 0 || receiver_after < 0) && support_now () - lost < RESUME_TIMEOUT + 10) {
        if (sender_after < 0 && support_ended (stream.sender))
            sender_after = support_now () - lost;
        if (receiver_after < 0 && support_ended (stream.receiver))
            receiver_after = support_now () - lost;
        usleep (20 * 1000);
    }
    s_stream_end (&stream, support_now ());
    s_assert_gave_up (&stream, "send", stream.sent, sender_after, stream.send_err);
    s_assert_gave_up (&stream, "recv", stream.got, receiver_after, stream.recv_err);
    netbed_gateway_stop (&s_first.a);
}

//  recv --wait bounds the wait for a stream nobody produces; without it
//  recv waits on, past that bound
Test (resume, recv_wait_bounds_the_wait_for_a_stream_that_has_not_started)
{
    s_up (false, NULL, NULL);
    char bounded_err [600], patient_err [600];
    snprintf (bounded_err, sizeof (bounded_err), "%s/bounded-recv.err", support_folder);
    snprintf (patient_err, sizeof (patient_err), "%s/patient-recv.err", support_folder);
    const char *wait [] = { "--wait", "2s", NULL };
    netbed_client_t bounded = {
        .endpoints = s_first.b.local, .stream = "nobody-sends-this", .config = s_consumer_config,
        .more = wait, .err = bounded_err
    };
    netbed_client_t patient = {
        .endpoints = s_first.b.local, .stream = "nobody-sends-that", .config = s_consumer_config,
        .err = patient_err
    };
    double started = support_now ();
    pid_t patient_pid = netbed_recv (&s_bed, &s_keys, &patient);
    pid_t bounded_pid = netbed_recv (&s_bed, &s_keys, &bounded);
    const double bound = 8;             //  2 s, and a loaded machine's few more
    while (!support_ended (bounded_pid) && support_now () - started < 30)
        usleep (20 * 1000);
    double after = support_now () - started;
    int status = support_wait (bounded_pid, 0);
    //  The one without --wait is still waiting, past the other's bound
    while (!support_ended (patient_pid) && support_now () - started < bound)
        usleep (20 * 1000);
    cr_assert (!support_ended (patient_pid), "recv without --wait gave up after %.1f s: %s",
               support_now () - started, support_read_file (patient_err));
    char *said = s_said (bounded_err);
    cr_assert (status != -1, "recv --wait 2s still ran after 30 s: %s", said);
    cr_assert (after >= 1.5, "recv --wait 2s exited %d after %.2f s, before its 2 s were up: %s",
               status, after, said);
    cr_assert (after <= bound, "recv --wait 2s exited after %.1f s (%.0f s at most): %s", after,
               bound, said);
    cr_assert (status != 0 && status != 2, "recv --wait 2s exited %d (not 0, not a usage "
               "error): %s", status, said);
    cr_assert (strstr (said, "nobody-sends-this"), "recv --wait 2s did not name the stream: %s",
               said);
    free (said);
    kill (patient_pid, SIGTERM);
    int patient_status = support_wait (patient_pid, 10000);
    cr_assert (patient_status != -1, "recv did not stop on SIGTERM within 10 s");
    netbed_pair_stop (&s_first);
}

//  SIGINT to a send whose stream runs, reading standard input from
//  input (a FIFO fed forever, or /dev/zero): it ends within a second
static void
s_interrupt_send (const char *name, const char *input)
{
    //  Endless; its first 64 MiB are the measure of waits
    s_stream_t stream;
    s_stream_start (&stream, name, 64 << 20, input, s_first.a.local, s_first.b.local);
    //  Running: 8 MiB have come all the way
    s_stream_wait (&stream, 1.0 / 8, "before SIGINT");
    double signalled = support_now ();
    cr_assert_eq (kill (stream.sender, SIGINT), 0, "SIGINT: %s", strerror (errno));
    while (!support_ended (stream.sender) && support_now () - signalled < 10)
        usleep (5 * 1000);
    double after = support_now () - signalled;
    int status = support_wait (stream.sender, 0);
    char *said = s_both_said (&stream);
    cr_assert (after <= 1.0, "stream '%s': send reading %s ran %.2f s after SIGINT (exit status "
               "%d; -1: killed after 10 s)%s", name, input, after, status, said);
    free (said);
    //  The consumer is told, and goes too
    s_stream_end (&stream, support_now () + 30);
    unlink (stream.received);
}

Test (resume, sigint_stops_send_within_a_second_while_its_input_keeps_coming)
{
    s_up (false, NULL, NULL);
    //  A FIFO that a child fills as fast as it can, for ever
    char fifo [600];
    snprintf (fifo, sizeof (fifo), "%s/endless.fifo", support_folder);
    cr_assert_eq (mkfifo (fifo, 0600), 0, "mkfifo: %s", strerror (errno));
    char *writer_argv [] = { "/bin/cat", "/dev/zero", NULL };
    //  Where the signal lands (a read, a send waiting for credit, between
    //  calls) is chance: several rounds of each
    int round;
    for (round = 1; round <= 3; round++) {
        char name [32];
        snprintf (name, sizeof (name), "sigint-fifo-%d", round);
        pid_t writer = support_spawn (writer_argv, NULL, fifo, NULL);
        s_interrupt_send (name, fifo);
        kill (writer, SIGKILL);
        support_wait (writer, 10000);
        snprintf (name, sizeof (name), "sigint-zero-%d", round);
        s_interrupt_send (name, "/dev/zero");
    }
    netbed_pair_stop (&s_first);
}
