/*  =========================================================================
    test_log - the log writer: a record per line, its time, level and
    gateway, text or JSON, nothing unescaped, threads never interleaved;
    and lines that repeat, logged once and counted (sstream_log_repeat),
    with the clock in the test's hands

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"
#include "support.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <unistd.h>

//  Each test runs in a process of its own: the table of lines starts empty
static char *s_folder;
static char s_path [600];
static int s_stderr = -1;

//  What the library logs goes to stderr: into a file, for the test
static void
s_setup (void)
{
    s_folder = support_scratch ();
    cr_assert_not_null (s_folder);
    sstream_library_init ();
    sstream_set_log_level (SSTREAM_LOG_INFO);
    snprintf (s_path, sizeof (s_path), "%s/log", s_folder);
    int fd = open (s_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert_geq (fd, 0);
    fflush (stderr);
    s_stderr = dup (2);
    cr_assert_eq (dup2 (fd, 2), 2);
    close (fd);
}

static void
s_teardown (void)
{
    fflush (stderr);
    if (s_stderr >= 0) {
        dup2 (s_stderr, 2);
        close (s_stderr);
        s_stderr = -1;
    }
    support_rmtree (s_folder);
    free (s_folder);
}

TestSuite (log, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  The lines logged so far (free them), after the time and level in front
//  of each: "2026-01-02T10:11:12.345+00:00 warning "
static char **
s_lines (size_t *count)
{
    fflush (stderr);
    char *text = support_read_file (s_path);
    cr_assert_not_null (text);
    size_t most = 1;
    const char *reader;
    for (reader = text; *reader; reader++)
        most += *reader == '\n';
    char **lines = (char **) calloc (most, sizeof (char *));
    *count = 0;
    char *cursor = text, *line;
    while ((line = strsep (&cursor, "\n")))
        if (*line) {
            size_t head = support_log_head (line, NULL);
            cr_assert (head, "not a log line: %s", line);
            lines [(*count)++] = strdup (line + head);
        }
    free (text);
    return lines;
}

static void
s_lines_free (char **lines, size_t count)
{
    size_t index;
    for (index = 0; index < count; index++)
        free (lines [index]);
    free (lines);
}

//  The log holds these lines, in this order, and nothing else
static void
s_expect (const char *const *expected, size_t expected_count)
{
    size_t count;
    char **lines = s_lines (&count);
    size_t index;
    for (index = 0; index < count && index < expected_count; index++)
        cr_assert_str_eq (lines [index], expected [index], "line %zu", index + 1);
    cr_assert_eq (count, expected_count, "%zu lines, not %zu; the last: %s", count, expected_count,
                  count? lines [count - 1]: "(none)");
    s_lines_free (lines, count);
}

#define S_EXPECT(...) do { \
        const char *expected [] = { __VA_ARGS__ }; \
        s_expect (expected, sizeof (expected) / sizeof (expected [0])); \
    } while (0)

//  The clock: any base will do
#define T0 1000000

Test (log, the_first_of_identical_lines_is_logged_and_the_repeats_counted_until_its_period_ends)
{
    int repeat;
    for (repeat = 0; repeat < 53; repeat++)
        sstream_log_repeat_at (T0 + repeat * 90, SSTREAM_LOG_WARNING,
                               "%s: peer %s says: %s", "gateway-a", "gateway-b", "say hello first");
    S_EXPECT ("gateway-a: peer gateway-b says: say hello first");
    sstream_log_repeat_flush_at (T0 + SSTREAM_LOG_REPEAT_PERIOD - 1, false);
    S_EXPECT ("gateway-a: peer gateway-b says: say hello first");
    sstream_log_repeat_flush_at (T0 + SSTREAM_LOG_REPEAT_PERIOD, false);
    S_EXPECT ("gateway-a: peer gateway-b says: say hello first",
              "gateway-a: peer gateway-b says: say hello first (repeated 52 times in the last 5 s)");
}

Test (log, a_line_that_goes_on_repeating_is_told_over_doubling_periods_and_one_that_stops_is_forgotten)
{
    const char *line = "gateway-b: peer gateway-a is down: connection refused at tcp://10.2.0.1:7100";
    sstream_log_repeat_at (T0, SSTREAM_LOG_WARNING, "%s", line);
    sstream_log_repeat_at (T0 + 1000, SSTREAM_LOG_WARNING, "%s", line);
    sstream_log_repeat_flush_at (T0 + 5000, false);
    //  The next period is twice as long
    sstream_log_repeat_at (T0 + 6000, SSTREAM_LOG_WARNING, "%s", line);
    sstream_log_repeat_at (T0 + 7000, SSTREAM_LOG_WARNING, "%s", line);
    sstream_log_repeat_flush_at (T0 + 14999, false);
    char first [200], second [200];
    snprintf (first, sizeof (first), "%s (repeated 1 time in the last 5 s)", line);
    snprintf (second, sizeof (second), "%s (repeated 2 times in the last 10 s)", line);
    S_EXPECT (line, first);
    //  A summary comes with the next call, whatever it logs
    sstream_log_repeat_at (T0 + 15000, SSTREAM_LOG_INFO, "something %s", "else");
    S_EXPECT (line, first, second, "something else");
    //  A period (20 s now) without a repeat: forgotten, new when it comes back
    sstream_log_repeat_flush_at (T0 + 15000 + 20000, false);
    sstream_log_repeat_at (T0 + 15000 + 20001, SSTREAM_LOG_WARNING, "%s", line);
    S_EXPECT (line, first, second, "something else", line);
}

Test (log, periods_double_no_further_than_the_most)
{
    int64_t now = T0, period = SSTREAM_LOG_REPEAT_PERIOD;
    sstream_log_repeat_at (now, SSTREAM_LOG_WARNING, "%s", "a knock at the door");
    int round;
    for (round = 0; round < 6; round++) {
        sstream_log_repeat_at (now + 1, SSTREAM_LOG_WARNING, "%s", "a knock at the door");
        now += period;
        sstream_log_repeat_flush_at (now, false);
        period = period * 2 < SSTREAM_LOG_REPEAT_PERIOD_MAX? period * 2: SSTREAM_LOG_REPEAT_PERIOD_MAX;
    }
    S_EXPECT ("a knock at the door",
              "a knock at the door (repeated 1 time in the last 5 s)",
              "a knock at the door (repeated 1 time in the last 10 s)",
              "a knock at the door (repeated 1 time in the last 20 s)",
              "a knock at the door (repeated 1 time in the last 40 s)",
              "a knock at the door (repeated 1 time in the last 60 s)",
              "a knock at the door (repeated 1 time in the last 60 s)");
}

//  Two gateways of one process, at the same call site: each its own count
Test (log, lines_that_differ_are_counted_apart_even_from_one_call_site)
{
    int repeat;
    for (repeat = 0; repeat < 10; repeat++) {
        sstream_log_repeat_at (T0 + repeat, SSTREAM_LOG_WARNING, "%s: dropped a message from %s",
                               "gateway-a", "a stranger");
        sstream_log_repeat_at (T0 + repeat, SSTREAM_LOG_WARNING, "%s: dropped a message from %s",
                               "gateway-b", "a stranger");
    }
    //  The same text at another level is another line
    sstream_log_repeat_at (T0 + 20, SSTREAM_LOG_INFO, "%s: dropped a %s from %s",
                           "gateway-a", "message", "a stranger");
    sstream_log_repeat_flush_at (T0 + 5000, false);
    S_EXPECT ("gateway-a: dropped a message from a stranger",
              "gateway-b: dropped a message from a stranger",
              "gateway-a: dropped a message from a stranger",
              "gateway-a: dropped a message from a stranger (repeated 9 times in the last 5 s)",
              "gateway-b: dropped a message from a stranger (repeated 9 times in the last 5 s)");
}

//  What a site says is read in order: its count comes before its next line
Test (log, a_new_line_from_a_call_site_comes_after_the_count_of_its_last)
{
    const char *format = "%s: peer %s is down: %s";
    int repeat;
    for (repeat = 0; repeat < 4; repeat++)
        sstream_log_repeat_at (T0 + repeat * 500, SSTREAM_LOG_ERROR, format, "gateway-b", "gateway-a",
                               "gateway-a refused our key");
    sstream_log_repeat_at (T0 + 2000, SSTREAM_LOG_ERROR, format, "gateway-b", "gateway-a",
                           "connection refused at tcp://127.0.0.1:7100");
    S_EXPECT ("gateway-b: peer gateway-a is down: gateway-a refused our key",
              "gateway-b: peer gateway-a is down: gateway-a refused our key "
              "(repeated 3 times in the last 2 s)",
              "gateway-b: peer gateway-a is down: connection refused at tcp://127.0.0.1:7100");
}

Test (log, ending_a_prefix_tells_its_counts_and_forgets_its_lines)
{
    int repeat;
    for (repeat = 0; repeat < 3; repeat++)
        sstream_log_repeat_at (T0 + repeat * 100, SSTREAM_LOG_WARNING, "gw: peer p is down: %s",
                               "silent");
    sstream_log_repeat_at (T0 + 300, SSTREAM_LOG_WARNING, "gw: other %s", "news");
    sstream_log_repeat_at (T0 + 400, SSTREAM_LOG_WARNING, "gw: other %s", "news");
    sstream_log_repeat_end_at (T0 + 1500, "gw: peer p is down: ");
    //  Down again: said again, in full
    sstream_log_repeat_at (T0 + 1600, SSTREAM_LOG_WARNING, "gw: peer p is down: %s", "silent");
    sstream_log_repeat_flush_at (T0 + 1700, true);
    S_EXPECT ("gw: peer p is down: silent",
              "gw: other news",
              "gw: peer p is down: silent (repeated 2 times in the last 1.5 s)",
              "gw: peer p is down: silent",
              "gw: other news (repeated 1 time in the last 1.4 s)");
}

Test (log, lines_below_the_log_level_are_neither_logged_nor_counted)
{
    sstream_set_log_level (SSTREAM_LOG_WARNING);
    sstream_log_repeat_at (T0, SSTREAM_LOG_INFO, "%s", "quiet");
    sstream_log_repeat_at (T0 + 1, SSTREAM_LOG_INFO, "%s", "quiet");
    size_t count;
    char **lines = s_lines (&count);
    s_lines_free (lines, count);
    cr_assert_eq (count, 0);
    sstream_set_log_level (SSTREAM_LOG_INFO);
    sstream_log_repeat_at (T0 + 2, SSTREAM_LOG_INFO, "%s", "quiet");
    sstream_log_repeat_flush_at (T0 + 3, true);
    S_EXPECT ("quiet");
}

//  When the table is full the oldest line gives way, and its count is told
Test (log, a_full_table_gives_way_oldest_first_and_loses_no_count)
{
    int line;
    for (line = 0; line < SSTREAM_LOG_REPEAT_LINES; line++)
        sstream_log_repeat_at (T0 + line, SSTREAM_LOG_WARNING, "line %d", line);
    sstream_log_repeat_at (T0 + 500, SSTREAM_LOG_WARNING, "line %d", 0);
    //  From another call site: nothing of this one's is told before it
    sstream_log_repeat_at (T0 + 1000, SSTREAM_LOG_WARNING, "another line %d", line);
    size_t count;
    char **lines = s_lines (&count);
    cr_assert_eq (count, (size_t) SSTREAM_LOG_REPEAT_LINES + 2);
    cr_assert_str_eq (lines [count - 2], "line 0 (repeated 1 time in the last 1 s)");
    cr_assert_str_eq (lines [count - 1], "another line 64");
    //  The next oldest goes without a word: it had no repeat
    sstream_log_repeat_at (T0 + 1001, SSTREAM_LOG_WARNING, "another line %d", line + 1);
    s_lines_free (lines, count);
    lines = s_lines (&count);
    cr_assert_eq (count, (size_t) SSTREAM_LOG_REPEAT_LINES + 3);
    cr_assert_str_eq (lines [count - 1], "another line 65");
    s_lines_free (lines, count);
}

#define S_THREADS 4
#define S_CALLS   2000

static void *
s_logger (void *args)
{
    (void) args;
    int call;
    for (call = 0; call < S_CALLS; call++)
        sstream_log_repeat_at (T0, SSTREAM_LOG_WARNING, "%s: %s", "gateway", "the same, from everywhere");
    return NULL;
}

Test (log, threads_that_log_the_same_line_log_it_once_and_every_repeat_is_counted)
{
    pthread_t threads [S_THREADS];
    int index;
    for (index = 0; index < S_THREADS; index++)
        pthread_create (&threads [index], NULL, s_logger, NULL);
    for (index = 0; index < S_THREADS; index++)
        pthread_join (threads [index], NULL);
    sstream_log_repeat_flush_at (T0 + SSTREAM_LOG_REPEAT_PERIOD, false);
    char summary [200];
    snprintf (summary, sizeof (summary), "gateway: the same, from everywhere (repeated %d times in "
              "the last 5 s)", S_THREADS * S_CALLS - 1);
    S_EXPECT ("gateway: the same, from everywhere", summary);
}


//  --------------------------------------------------------------------------
//  The writer

//  The whole log as written (free it)
static char *
s_log (void)
{
    char *text = support_read_file (s_path);
    cr_assert_not_null (text);
    return text;
}

static void
s_set_zone (const char *zone)
{
    setenv ("TZ", zone, 1);
    tzset ();
}

Test (log, a_record_is_one_line_of_time_to_the_millisecond_with_its_zone_level_gateway_and_message)
{
    s_set_zone ("UTC0");
    sstream_log_set_gateway ("gateway-t");
    sstream_log_warning ("stream '%s' aborted: %s", "run42", "a reason");
    sstream_log_set_gateway (NULL);
    s_set_zone ("IST-5:30");
    sstream_log_info ("%s", "a client's line: no gateway");
    char *text = s_log ();
    char *second = strchr (text, '\n');
    cr_assert_not_null (second, "%s", text);
    *second++ = 0;
    size_t head = support_log_head (text, "gateway-t");
    cr_assert (head, "%s", text);
    cr_assert_str_eq (text + head, "stream 'run42' aborted: a reason");
    cr_assert (strstr (text, "+00:00 warning gateway-t: "), "%s", text);
    head = support_log_head (second, NULL);
    cr_assert (head, "%s", second);
    cr_assert_str_eq (second + head, "a client's line: no gateway\n");
    cr_assert (strstr (second, "+05:30 info a client's"), "%s", second);
    free (text);
}

//  What any party sent, logged as it came, would be
#define S_HOSTILE "evil\n2026-01-01T00:00:00.000+00:00 error gateway-a: forged\r\t\x1b[2J\x7f" \
                  "\xc2\x9b\xe2\x80\xae\xff caf\xc3\xa9"
#define S_ESCAPED "evil\\n2026-01-01T00:00:00.000+00:00 error gateway-a: forged\\r\\t\\x1b[2J" \
                  "\\x7f\\u009b\\u202e\\xff caf\xc3\xa9"

Test (log, nothing_a_remote_party_sends_reaches_the_log_unescaped)
{
    //  Not made printable by the call site: the writer does it
    sstream_log_warning ("unknown type '%s'", S_HOSTILE);
    char *text = s_log ();
    size_t head = support_log_head (text, NULL);
    cr_assert (head, "%s", text);
    cr_assert_str_eq (text + head, "unknown type '" S_ESCAPED "'\n");
    const unsigned char *reader;
    for (reader = (const unsigned char *) text; *reader; reader++)
        cr_assert (*reader >= 0x20 || (*reader == '\n' && !reader [1]),
                   "a control character (%#x) in %s", *reader, text);
    free (text);
    //  One escaping: a second pass changes nothing, and it never cuts a
    //  character or an escape in two
    char once [256], twice [256], short_one [12];
    sstream_printable (S_HOSTILE, once, sizeof (once));
    sstream_printable (once, twice, sizeof (twice));
    cr_assert_str_eq (once, S_ESCAPED);
    cr_assert_str_eq (twice, once);
    cr_assert_str_eq (sstream_printable ("abcdefgh\x1b", short_one, sizeof (short_one)), "abcdefgh");
    cr_assert_str_eq (sstream_printable ("abcdefghij\xc3\xa9", short_one, sizeof (short_one)),
                      "abcdefghij");
}

Test (log, json_records_are_an_object_a_line_with_their_fields_and_every_escape)
{
    cr_assert_eq (sstream_set_log_format ("yaml"), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "unknown log format 'yaml'"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_set_log_format ("json"), SSTREAM_OK);
    s_set_zone ("UTC0");
    sstream_log_set_gateway ("gateway-j");
    sstream_log_fields_t fields = { .stream = "run42", .key = "alice \"the\" producer",
                                    .moved = true, .records = 3, .bytes = 3000, .seconds = 1.5 };
    sstream_log_at (SSTREAM_LOG_INFO, &fields, "stream '%s' complete: a \"quote\", a back\\slash, "
                    "and %s", "run42", S_HOSTILE);
    sstream_log_set_gateway (NULL);
    sstream_log_error ("%s", "no gateway here");
    char *why;
    char *parsed = support_json_lines (s_path, &why);
    cr_assert_not_null (parsed, "%s", why);
    char *second = strchr (parsed, '\n');
    cr_assert_not_null (second);
    *second++ = 0;
    //  Python's dumps, keys sorted: the message with its escapes as they
    //  were written (a backslash in it is a backslash)
    const char *expected [] = {
        "{\"bytes\": 3000, \"bytes_per_second\": 2000, \"gateway\": \"gateway-j\", "
        "\"key\": \"alice \\\"the\\\" producer\", \"level\": \"info\", "
        "\"message\": \"stream 'run42' complete: a \\\"quote\\\", a back\\\\slash, and "
        "evil\\\\n2026-01-01T00:00:00.000+00:00 error gateway-a: forged\\\\r\\\\t\\\\x1b[2J"
        "\\\\x7f\\\\u009b\\\\u202e\\\\xff caf\xc3\xa9\", \"records\": 3, \"seconds\": 1.5, "
        "\"stream\": \"run42\", \"time\": \"",
        "{\"level\": \"error\", \"message\": \"no gateway here\", \"time\": \""
    };
    cr_assert_eq (strncmp (parsed, expected [0], strlen (expected [0])), 0, "%s", parsed);
    cr_assert_eq (strncmp (second, expected [1], strlen (expected [1])), 0, "%s", second);
    //  The time, as in the text format
    char *time = strstr (parsed, "\"time\": \"") + 9;
    cr_assert (strlen (time) == 31 && streq (time + 23, "+00:00\"}"), "%s", time);
    free (parsed);
}

#define S_WRITERS 4
#define S_RECORDS 2000

static void *
s_writer (void *args)
{
    int id = (int) (intptr_t) args;
    char name [16], filler [1500];
    snprintf (name, sizeof (name), "gw-%d", id);
    sstream_log_set_gateway (name);
    memset (filler, 'a' + id, sizeof (filler) - 1);
    filler [sizeof (filler) - 1] = 0;
    int record;
    for (record = 0; record < S_RECORDS; record++)
        sstream_log_warning ("record %d %s", record, filler);
    return NULL;
}

Test (log, threads_never_interleave_their_lines)
{
    pthread_t threads [S_WRITERS];
    intptr_t index;
    for (index = 0; index < S_WRITERS; index++)
        pthread_create (&threads [index], NULL, s_writer, (void *) index);
    for (index = 0; index < S_WRITERS; index++)
        pthread_join (threads [index], NULL);
    char *text = s_log ();
    bool seen [S_WRITERS][S_RECORDS] = { { false } };
    size_t lines = 0;
    char *cursor = text, *line;
    while ((line = strsep (&cursor, "\n")) && *line) {
        lines++;
        int id = -1, record = -1, read = 0;
        size_t head = support_log_head (line, NULL);
        cr_assert (head && sscanf (line + head, "gw-%d: record %d %n", &id, &record, &read) == 2
                   && id >= 0 && id < S_WRITERS && record >= 0 && record < S_RECORDS,
                   "line %zu: %.80s", lines, line);
        cr_assert_eq (strspn (line + head + read, (char []) { (char) ('a' + id), 0 }), 1499,
                      "line %zu is not whole: %.80s", lines, line);
        cr_assert_not (seen [id][record]);
        seen [id][record] = true;
    }
    cr_assert_eq (lines, (size_t) S_WRITERS * S_RECORDS);
    free (text);
}

//  Junk from one key, whatever each message got wrong: one line, then a
//  count, under the last of them
Test (log, lines_of_a_kind_are_counted_together_whatever_their_words)
{
    const char *format = "dropped a message from %s: %s '%d'";
    int repeat;
    for (repeat = 0; repeat < 100; repeat++)
        sstream_log_repeat_kind_at (T0 + repeat, SSTREAM_LOG_WARNING, NULL, "junk from alice",
                                    format, "alice", "unknown type", repeat);
    sstream_log_repeat_kind_at (T0 + 200, SSTREAM_LOG_WARNING, NULL, "junk from bob", format, "bob",
                                "unknown type", 0);
    sstream_log_repeat_kind_at (T0 + 300, SSTREAM_LOG_WARNING, NULL, "junk from bob", format, "bob",
                                "unknown type", 0);
    sstream_log_repeat_flush_at (T0 + 200 + SSTREAM_LOG_REPEAT_PERIOD, false);
    S_EXPECT ("dropped a message from alice: unknown type '0'",
              "dropped a message from alice: unknown type '99' (repeated 99 times, with varying "
              "details, in the last 0.2 s)",
              "dropped a message from bob: unknown type '0'",
              "dropped a message from bob: unknown type '0' (repeated 1 time in the last 5 s)");
}

//  Two gateways of one process (each its own thread), the same line:
//  counted apart, each summary under its own gateway
Test (log, the_same_line_from_two_gateways_is_counted_apart)
{
    int repeat;
    for (repeat = 0; repeat < 3; repeat++) {
        sstream_log_set_gateway ("gw-a");
        sstream_log_repeat_at (T0 + repeat, SSTREAM_LOG_WARNING, "%s", "peer p is down: silent");
        sstream_log_set_gateway ("gw-b");
        sstream_log_repeat_at (T0 + repeat, SSTREAM_LOG_WARNING, "%s", "peer p is down: silent");
    }
    //  What one gateway says is over is over for it alone
    sstream_log_set_gateway ("gw-a");
    sstream_log_repeat_end_at (T0 + 1000, "peer p is down: ");
    sstream_log_set_gateway (NULL);
    sstream_log_repeat_flush_at (T0 + 2000, true);
    char *text = s_log ();
    const char *expected [] = {
        "gw-a: peer p is down: silent", "gw-b: peer p is down: silent",
        "gw-a: peer p is down: silent (repeated 2 times in the last 1 s)",
        "gw-b: peer p is down: silent (repeated 2 times in the last 2 s)"
    };
    char *cursor = text, *line;
    size_t index = 0;
    while ((line = strsep (&cursor, "\n")) && *line) {
        cr_assert_lt (index, 4, "%s", line);
        size_t head = support_log_head (line, NULL);
        cr_assert_str_eq (line + head, expected [index], "line %zu", index + 1);
        index++;
    }
    cr_assert_eq (index, 4);
    free (text);
}

//  A message longer than a record holds is cut, and says so: still one line
Test (log, a_message_too_long_is_cut_and_says_so)
{
    char *long_text = (char *) malloc (5000);
    memset (long_text, 'x', 4999);
    long_text [4999] = 0;
    sstream_log_warning ("%s", long_text);
    free (long_text);
    char *text = s_log ();
    size_t head = support_log_head (text, NULL);
    cr_assert (head, "%.80s", text);
    size_t length = strlen (text + head);
    cr_assert (length > 2000 && length < 2100, "%zu bytes", length);
    cr_assert_str_eq (text + head + length - 7, " [...]\n");
    cr_assert_eq (strchr (text, '\n'), text + strlen (text) - 1);
    free (text);
}
