/*  =========================================================================
    test_log - lines that repeat are logged once and counted
    (sstream_log_repeat), with the clock in the test's hands

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

//  The lines logged so far (free them), after the level and time zsys
//  puts in front: "W: 26-01-02 10:11:12 "
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
            cr_assert (strlen (line) > 21 && line [1] == ':', "not a log line: %s", line);
            lines [(*count)++] = strdup (line + 21);
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
