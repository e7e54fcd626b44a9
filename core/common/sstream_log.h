/*  =========================================================================
    sstream_log - log lines that may repeat, logged once and counted
    (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A peer that fails its handshake every two seconds, a party that sends
    junk, a port that strangers knock on: the same line, over and over.
    sstream_log_repeat logs the first of identical lines (the same text at
    the same level) and counts the ones that follow. When its period
    (SSTREAM_LOG_REPEAT_PERIOD) ends, a line that repeated is logged once
    more, with how often:

        gateway-a: dropped a message ... (repeated 52 times in the last 5 s)

    and its period doubles, up to SSTREAM_LOG_REPEAT_PERIOD_MAX, for as
    long as it goes on repeating; a period without a repeat forgets it,
    and its next occurrence is logged as new. A new line from the same call
    site (the same format string) ends the count of the others of that site
    first, so that their summary comes before it: what a site says is read
    in order, and sstream_log_repeat_end does the same for lines about
    something that is over. Summaries are due at the end of a period: the
    next call of any function below logs those that are (a gateway's tick
    calls sstream_log_repeat_flush), and a stopping gateway logs them all.

    The text is compared whole, after formatting: lines that name their
    gateway or their party are counted apart, so several gateways in one
    process (each in its own thread) do not hide each other's lines. One
    lock guards a small table (SSTREAM_LOG_REPEAT_LINES lines are counted
    at once; the oldest gives way, its count logged). Text from other
    parties must be made printable (sstream_printable) before it is
    formatted in, as in any log line.
*/

#ifndef SSTREAM_LOG_H_INCLUDED
#define SSTREAM_LOG_H_INCLUDED

#define SSTREAM_LOG_REPEAT_PERIOD       5000    //  msecs
#define SSTREAM_LOG_REPEAT_PERIOD_MAX   60000
#define SSTREAM_LOG_REPEAT_LINES        64

//  Log a line at level (SSTREAM_LOG_ERROR ... SSTREAM_LOG_DEBUG), or count
//  it if it was logged within its period.
void
    sstream_log_repeat (int level, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Log the summaries that are due; all of them, due or not, with all.
void
    sstream_log_repeat_flush (bool all);

//  What lines that start with prefix say is over (the peer they were about
//  is up again, say): those that repeated are logged with their count now,
//  and all are forgotten, so that the next is logged as new.
void
    sstream_log_repeat_end (const char *prefix);

//  The same at a given time (msecs on the monotonic clock), for tests.
void
    sstream_log_repeat_at (int64_t now, int level, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
void
    sstream_log_repeat_flush_at (int64_t now, bool all);
void
    sstream_log_repeat_end_at (int64_t now, const char *prefix);

#define sstream_log_error_repeat(...)   sstream_log_repeat (SSTREAM_LOG_ERROR, __VA_ARGS__)
#define sstream_log_warning_repeat(...) sstream_log_repeat (SSTREAM_LOG_WARNING, __VA_ARGS__)
#define sstream_log_info_repeat(...)    sstream_log_repeat (SSTREAM_LOG_INFO, __VA_ARGS__)

#endif
