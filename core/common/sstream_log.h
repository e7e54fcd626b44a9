/*  =========================================================================
    sstream_log - the log writer, and lines that may repeat, logged once
    and counted (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Every line the library logs goes through sstream_log_write (the
    macros sstream_log_error ... sstream_log_debug in sstream_common.h
    call it). A record is its time (ISO 8601, to the millisecond, with the
    zone), its level, the gateway that logs it (the one whose thread this
    is: sstream_log_set_gateway; none on a client), its message, and
    structured fields (sstream_log_fields_t). It is written in one of
    three formats (sstream_set_log_format, or SSTREAM_LOG_FORMAT):

        text     2026-12-03T17:45:19.123+00:00 warning gateway-a: stream 'run42' aborted: ...
        json     {"time":"2026-12-03T17:45:19.123+00:00","level":"warning",
                  "gateway":"gateway-a","message":"stream 'run42' aborted: ...",
                  "stream":"run42"}     (one object per line)
        journal  sd_journal_sendv: MESSAGE, PRIORITY, SSTREAM_GATEWAY, ...

    Text and json go to stderr, each record in one write under a lock, so
    the threads of a process never interleave their lines. The default is
    text, or journal when stderr is the journal's stream (JOURNAL_STREAM
    names it) and the library was built with libsystemd.

    The message is made printable whole (sstream_printable) before it is
    written, and so is every field: whatever a remote party got into it
    (a type name, an error text, a key's name), a record is one line, with
    no control character in it, and cannot pass for another.

    Lines that may repeat. A peer that fails its handshake every two
    seconds, a party that sends junk, a port that strangers knock on: the
    same line, over and over. sstream_log_repeat logs the first of
    identical lines (the same text at the same level, from the same
    gateway) and counts the ones that follow. When its period
    (SSTREAM_LOG_REPEAT_PERIOD) ends, a line that repeated is logged once
    more, with how often:

        dropped a message ... (repeated 52 times in the last 5 s)

    and its period doubles, up to SSTREAM_LOG_REPEAT_PERIOD_MAX, for as
    long as it goes on repeating; a period without a repeat forgets it,
    and its next occurrence is logged as new. sstream_log_repeat_kind
    counts lines of one kind together even when their words differ (junk
    from one key, whatever each message got wrong): the first is logged,
    and the summary shows the last, "(repeated 99999 times, with varying
    details, in the last 5 s)". A new line from the same call site (the
    same format string) and gateway ends the count of the others of that
    site first, so that their summary comes before it: what a site says is
    read in order, and sstream_log_repeat_end does the same for lines
    about something that is over. Summaries are due at the end of a
    period: the next call of any repeat function logs those that are (a
    gateway's tick calls sstream_log_repeat_flush), and a stopping gateway
    logs them all. One lock guards a small table
    (SSTREAM_LOG_REPEAT_LINES lines are counted at once; the oldest gives
    way, its count logged).
*/

#ifndef SSTREAM_LOG_H_INCLUDED
#define SSTREAM_LOG_H_INCLUDED

//  A record's structured part: what a line is about. Each field may be
//  NULL (or moved false), and is left out then.
typedef struct {
    const char *stream;         //  The stream's name
    const char *key;            //  The party's key, by its name (sstream_link_key_name)
    const char *peer;           //  The peer gateway's name
    bool moved;                 //  A stream's end: what moved, and how fast
    uint64_t records;
    uint64_t bytes;
    double seconds;
} sstream_log_fields_t;

typedef enum {
    SSTREAM_LOG_FORMAT_TEXT,
    SSTREAM_LOG_FORMAT_JSON,
    SSTREAM_LOG_FORMAT_JOURNAL
} sstream_log_format_t;

//  Write a record at level, now (the macros in sstream_common.h check the
//  level first).
void
    sstream_log_write (int level, const sstream_log_fields_t *fields, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  The gateway whose thread this is, named in every record the thread
//  writes; NULL for none.
void
    sstream_log_set_gateway (const char *name);
const char *
    sstream_log_gateway (void);

//  The format in effect.
sstream_log_format_t
    sstream_log_format (void);

//  "651.5 MB/s": bytes in seconds, for messages; into buffer.
const char *
    sstream_log_rate (char *buffer, size_t size, uint64_t bytes, double seconds);

#define SSTREAM_LOG_REPEAT_PERIOD       5000    //  msecs
#define SSTREAM_LOG_REPEAT_PERIOD_MAX   60000
#define SSTREAM_LOG_REPEAT_LINES        64

//  Log a line at level (SSTREAM_LOG_ERROR ... SSTREAM_LOG_DEBUG), or count
//  it if it was logged within its period.
void
    sstream_log_repeat (int level, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  The same for lines of a kind (counted together whatever their words:
//  "junk from KEY"), with fields.
void
    sstream_log_repeat_kind (int level, const sstream_log_fields_t *fields, const char *kind,
                             const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

//  Log the summaries that are due; all of them, due or not, with all.
void
    sstream_log_repeat_flush (bool all);

//  What this thread's gateway's lines that start with prefix say is over
//  (the peer they were about is up again, say): those that repeated are
//  logged with their count now, and all are forgotten, so that the next
//  is logged as new.
void
    sstream_log_repeat_end (const char *prefix);

//  The same at a given time (msecs on the monotonic clock), for tests.
void
    sstream_log_repeat_at (int64_t now, int level, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
void
    sstream_log_repeat_kind_at (int64_t now, int level, const sstream_log_fields_t *fields,
                                const char *kind, const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));
void
    sstream_log_repeat_flush_at (int64_t now, bool all);
void
    sstream_log_repeat_end_at (int64_t now, const char *prefix);

#define sstream_log_error_repeat(...)   sstream_log_repeat (SSTREAM_LOG_ERROR, __VA_ARGS__)
#define sstream_log_warning_repeat(...) sstream_log_repeat (SSTREAM_LOG_WARNING, __VA_ARGS__)
#define sstream_log_info_repeat(...)    sstream_log_repeat (SSTREAM_LOG_INFO, __VA_ARGS__)

#endif
