/*  =========================================================================
    sstream_log - the log writer, and lines that may repeat, logged once
    and counted

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"

#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/uio.h>

#ifdef SSTREAM_HAVE_SYSTEMD
#   define SD_JOURNAL_SUPPRESS_LOCATION     //  Every record would say sstream_log.c
#   include <systemd/sd-journal.h>
#endif

//  A message is cut at MESSAGE_MAX bytes as formatted; made printable it
//  grows by four at most (a byte becomes \xNN), and as a JSON string by
//  two more (a backslash becomes two)
#define MESSAGE_MAX     2048
#define PRINTABLE_MAX   (4 * MESSAGE_MAX + 1)
#define FIELD_MAX       512
#define RECORD_MAX      (2 * PRINTABLE_MAX + 8 * FIELD_MAX)


//  --------------------------------------------------------------------------
//  Level and format

static _Atomic int s_log_level = -1;
static _Atomic int s_log_format = -1;

int
sstream_log_level (void)
{
    int level = s_log_level;
    if (level < 0) {
        level = SSTREAM_LOG_WARNING;
        const char *env = getenv ("SSTREAM_LOG");
        if (env && streq (env, "error"))
            level = SSTREAM_LOG_ERROR;
        else
        if (env && streq (env, "info"))
            level = SSTREAM_LOG_INFO;
        else
        if (env && streq (env, "debug"))
            level = SSTREAM_LOG_DEBUG;
        s_log_level = level;
    }
    return level;
}

void
sstream_set_log_level (int level)
{
    if (level < SSTREAM_LOG_ERROR)
        level = SSTREAM_LOG_ERROR;
    if (level > SSTREAM_LOG_DEBUG)
        level = SSTREAM_LOG_DEBUG;
    s_log_level = level;
}

#ifdef SSTREAM_HAVE_SYSTEMD
//  Whether stderr is the journal's stream: systemd says which, as
//  "DEVICE:INODE" in JOURNAL_STREAM (a child whose stderr went elsewhere
//  inherits the variable, not the stream)
static bool
s_stderr_is_journal (void)
{
    const char *stream = getenv ("JOURNAL_STREAM");
    unsigned long long device, inode;
    struct stat stat_buf;
    return stream && sscanf (stream, "%llu:%llu", &device, &inode) == 2
        && fstat (STDERR_FILENO, &stat_buf) == 0
        && (unsigned long long) stat_buf.st_dev == device
        && (unsigned long long) stat_buf.st_ino == inode;
}
#endif

static int
s_format_by_name (const char *name, sstream_log_format_t *format)
{
    if (streq (name, "text"))
        *format = SSTREAM_LOG_FORMAT_TEXT;
    else
    if (streq (name, "json"))
        *format = SSTREAM_LOG_FORMAT_JSON;
    else
    if (streq (name, "journal")) {
#ifdef SSTREAM_HAVE_SYSTEMD
        *format = SSTREAM_LOG_FORMAT_JOURNAL;
#else
        return sstream_error_set (SSTREAM_EINVAL, "log format 'journal': this sstream was built "
                                  "without libsystemd (install libsystemd-dev and build again)");
#endif
    }
    else
        return sstream_error_set (SSTREAM_EINVAL, "unknown log format '%s' (text, json or journal)",
                                  name);
    return SSTREAM_OK;
}

sstream_log_format_t
sstream_log_format (void)
{
    int format = s_log_format;
    if (format < 0) {
        sstream_log_format_t chosen = SSTREAM_LOG_FORMAT_TEXT;
        const char *env = getenv ("SSTREAM_LOG_FORMAT");
        if (!env || !*env || s_format_by_name (env, &chosen) != SSTREAM_OK) {
#ifdef SSTREAM_HAVE_SYSTEMD
            if (s_stderr_is_journal ())
                chosen = SSTREAM_LOG_FORMAT_JOURNAL;
#endif
        }
        format = (int) chosen;
        s_log_format = format;
    }
    return (sstream_log_format_t) format;
}

int
sstream_set_log_format (const char *name)
{
    sstream_log_format_t format;
    if (!name)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_set_log_format: no format");
    int rc = s_format_by_name (name, &format);
    if (rc == SSTREAM_OK)
        s_log_format = (int) format;
    return rc;
}


//  --------------------------------------------------------------------------
//  The writer

static __thread char s_gateway [65];
static pthread_mutex_t s_write_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *s_level_names [] = { "error", "warning", "info", "debug" };

//  A record, as the writer takes it
typedef struct {
    int level;
    const char *gateway;        //  NULL or "": none
    const sstream_log_fields_t *fields;
    const char *message;        //  As formatted: made printable here
    uint64_t repeated;          //  A summary of so many repeats
} s_record_t;

//  A line being built: what does not fit is cut off
typedef struct {
    char *data;
    size_t size;
    size_t used;
} s_line_buffer_t;

static void
s_add (s_line_buffer_t *line, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_add (s_line_buffer_t *line, const char *format, ...)
{
    if (line->used + 1 >= line->size)
        return;
    va_list args;
    va_start (args, format);
    int wrote = vsnprintf (line->data + line->used, line->size - line->used, format, args);
    va_end (args);
    if (wrote > 0)
        line->used += (size_t) wrote < line->size - line->used? (size_t) wrote
                                                              : line->size - line->used - 1;
}

//  A JSON string; text is printable already (sstream_printable), so what
//  is left to escape is quotes and backslashes, and control characters
//  should one come
static void
s_add_json_string (s_line_buffer_t *line, const char *text)
{
    s_add (line, "\"");
    const unsigned char *reader;
    for (reader = (const unsigned char *) text; *reader && line->used + 8 < line->size; reader++) {
        if (*reader == '"' || *reader == '\\')
            s_add (line, "\\%c", *reader);
        else
        if (*reader < 0x20)
            s_add (line, "\\u%04x", *reader);
        else
            line->data [line->used++] = (char) *reader;
    }
    line->data [line->used] = 0;
    s_add (line, "\"");
}

static void
s_add_json_field (s_line_buffer_t *line, const char *key, const char *value)
{
    if (!value)
        return;
    char printable [FIELD_MAX];
    s_add (line, ",\"%s\":", key);
    s_add_json_string (line, sstream_printable (value, printable, sizeof (printable)));
}

//  "2026-12-03T17:45:19.123+01:00", local time
static void
s_timestamp (char *buffer, size_t size)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm local;
    localtime_r (&now.tv_sec, &local);
    int offset = (int) (local.tm_gmtoff / 60);     //  Minutes east of UTC
    char sign = offset < 0? '-': '+';
    if (offset < 0)
        offset = -offset;
    snprintf (buffer, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%c%02d:%02d",
              local.tm_year + 1900, local.tm_mon + 1, local.tm_mday, local.tm_hour,
              local.tm_min, local.tm_sec, (int) (now.tv_nsec / 1000000), sign,
              (offset / 60) % 100, offset % 60);
}

static double
s_rate (const sstream_log_fields_t *fields)
{
    return fields->seconds > 0? fields->bytes / fields->seconds: 0;
}

//  All of it, whatever write does in between
static void
s_write_all (int fd, const char *data, size_t size)
{
    pthread_mutex_lock (&s_write_lock);
    while (size) {
        ssize_t wrote = write (fd, data, size);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0)
            break;
        data += wrote;
        size -= (size_t) wrote;
    }
    pthread_mutex_unlock (&s_write_lock);
}

static void
s_write_text (const s_record_t *record, const char *stamp, const char *gateway,
              const char *message, char *buffer)
{
    s_line_buffer_t line = { buffer, RECORD_MAX, 0 };
    s_add (&line, "%s %s %s%s%s", stamp, s_level_names [record->level], gateway,
           *gateway? ": ": "", message);
    s_add (&line, "\n");
    if (line.data [line.used - 1] != '\n')
        line.data [line.used - 1] = '\n';      //  Cut short: still one line
    s_write_all (STDERR_FILENO, line.data, line.used);
}

static void
s_write_json (const s_record_t *record, const char *stamp, const char *gateway,
              const char *message, char *buffer)
{
    const sstream_log_fields_t *fields = record->fields;
    s_line_buffer_t line = { buffer, RECORD_MAX - 2, 0 };
    s_add (&line, "{\"time\":\"%s\",\"level\":\"%s\"", stamp, s_level_names [record->level]);
    if (*gateway)
        s_add_json_field (&line, "gateway", gateway);
    s_add (&line, ",\"message\":");
    s_add_json_string (&line, message);
    if (fields) {
        s_add_json_field (&line, "stream", fields->stream);
        s_add_json_field (&line, "key", fields->key);
        s_add_json_field (&line, "peer", fields->peer);
        if (fields->moved)
            s_add (&line, ",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.3f,"
                   "\"bytes_per_second\":%.0f", fields->records, fields->bytes, fields->seconds,
                   s_rate (fields));
    }
    if (record->repeated)
        s_add (&line, ",\"repeated\":%" PRIu64, record->repeated);
    //  Room was kept for the end: the object closes, whatever was cut
    line.size += 2;
    s_add (&line, "}\n");
    s_write_all (STDERR_FILENO, line.data, line.used);
}

#ifdef SSTREAM_HAVE_SYSTEMD
//  A journal entry's fields, FIELD=VALUE each
typedef struct {
    struct iovec vector [12];
    char fields [12][FIELD_MAX];
    int count;
} s_journal_t;

static void
s_journal_add (s_journal_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_journal_add (s_journal_t *self, const char *format, ...)
{
    if (self->count == 12)
        return;
    char *field = self->fields [self->count];
    va_list args;
    va_start (args, format);
    vsnprintf (field, FIELD_MAX, format, args);
    va_end (args);
    self->vector [self->count++] = (struct iovec) { field, strlen (field) };
}

//  The record to journald; false if it did not take it
static bool
s_write_journal (const s_record_t *record, const char *gateway, const char *message,
                 char *buffer)
{
    static const int s_priorities [] = { 3, 4, 6, 7 };     //  LOG_ERR ... LOG_DEBUG
    const sstream_log_fields_t *fields = record->fields;
    s_journal_t entry;
    entry.count = 1;
    //  journalctl shows the message alone: it names its gateway
    snprintf (buffer, RECORD_MAX, "MESSAGE=%s%s%s", gateway, *gateway? ": ": "", message);
    entry.vector [0] = (struct iovec) { buffer, strlen (buffer) };
    s_journal_add (&entry, "PRIORITY=%d", s_priorities [record->level]);
    if (*gateway)
        s_journal_add (&entry, "SSTREAM_GATEWAY=%s", gateway);
    const char *texts [][2] = {
        { "SSTREAM_STREAM", fields? fields->stream: NULL },
        { "SSTREAM_KEY", fields? fields->key: NULL },
        { "SSTREAM_PEER", fields? fields->peer: NULL }
    };
    size_t index;
    for (index = 0; index < sizeof (texts) / sizeof (texts [0]); index++) {
        char value [FIELD_MAX];
        if (texts [index][1])
            s_journal_add (&entry, "%s=%s", texts [index][0],
                           sstream_printable (texts [index][1], value, sizeof (value)));
    }
    if (fields && fields->moved) {
        s_journal_add (&entry, "SSTREAM_RECORDS=%" PRIu64, fields->records);
        s_journal_add (&entry, "SSTREAM_BYTES=%" PRIu64, fields->bytes);
        s_journal_add (&entry, "SSTREAM_SECONDS=%.3f", fields->seconds);
        s_journal_add (&entry, "SSTREAM_BYTES_PER_SECOND=%.0f", s_rate (fields));
    }
    if (record->repeated)
        s_journal_add (&entry, "SSTREAM_REPEATED=%" PRIu64, record->repeated);
    return sd_journal_sendv (entry.vector, entry.count) >= 0;
}
#endif

static void
s_write (const s_record_t *record)
{
    char stamp [64];
    s_timestamp (stamp, sizeof (stamp));
    char gateway [FIELD_MAX];
    sstream_printable (record->gateway? record->gateway: "", gateway, sizeof (gateway));
    char *message = (char *) malloc (PRINTABLE_MAX + RECORD_MAX);
    if (!message)
        return;
    char *buffer = message + PRINTABLE_MAX;
    sstream_printable (record->message, message, PRINTABLE_MAX);
    sstream_log_format_t format = sstream_log_format ();
#ifdef SSTREAM_HAVE_SYSTEMD
    //  What journald does not take goes to stderr: nothing is lost
    if (format == SSTREAM_LOG_FORMAT_JOURNAL
    &&  s_write_journal (record, gateway, message, buffer)) {
        free (message);
        return;
    }
#endif
    if (format == SSTREAM_LOG_FORMAT_JSON)
        s_write_json (record, stamp, gateway, message, buffer);
    else
        s_write_text (record, stamp, gateway, message, buffer);
    free (message);
}

static int
s_clamp (int level)
{
    return level < SSTREAM_LOG_ERROR? SSTREAM_LOG_ERROR
         : level > SSTREAM_LOG_DEBUG? SSTREAM_LOG_DEBUG: level;
}

//  A record of this thread's gateway, its message cut at MESSAGE_MAX with
//  a mark that says so
static void
s_vwrite (int level, const sstream_log_fields_t *fields, const char *format, va_list args)
{
    char message [MESSAGE_MAX];
    int length = vsnprintf (message, MESSAGE_MAX, format, args);
    if (length >= MESSAGE_MAX)
        memcpy (message + MESSAGE_MAX - 7, " [...]", 7);
    s_record_t record = { s_clamp (level), s_gateway, fields, message, 0 };
    s_write (&record);
}

void
sstream_log_write (int level, const sstream_log_fields_t *fields, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_vwrite (level, fields, format, args);
    va_end (args);
}

void
sstream_log (int level, const char *format, ...)
{
    if (!format || sstream_log_level () < s_clamp (level))
        return;
    va_list args;
    va_start (args, format);
    s_vwrite (level, NULL, format, args);
    va_end (args);
}

void
sstream_log_set_gateway (const char *name)
{
    snprintf (s_gateway, sizeof (s_gateway), "%s", name? name: "");
}

const char *
sstream_log_gateway (void)
{
    return *s_gateway? s_gateway: NULL;
}

const char *
sstream_log_rate (char *buffer, size_t size, uint64_t bytes, double seconds)
{
    double rate = seconds > 0? bytes / seconds: 0;
    const char *unit = "B/s";
    if (rate >= 1e9) {
        rate /= 1e9;
        unit = "GB/s";
    }
    else
    if (rate >= 1e6) {
        rate /= 1e6;
        unit = "MB/s";
    }
    else
    if (rate >= 1e3) {
        rate /= 1e3;
        unit = "kB/s";
    }
    snprintf (buffer, size, "%.1f %s", rate, unit);
    return buffer;
}


//  --------------------------------------------------------------------------
//  Lines that may repeat

#define TEXT_MAX 1024
#define KIND_MAX 160

typedef struct {
    bool used;
    const char *site;           //  The format string: who logs it
    int level;
    uint64_t hash;              //  Of its gateway and its kind (or text)
    char gateway [65];
    char kind [KIND_MAX];       //  "": the text is its kind
    bool varied;                //  A repeat this period said other words
    int64_t since;              //  When this period started
    int64_t period;
    uint64_t count;             //  Repeats in this period, not logged yet
    char text [TEXT_MAX];       //  The first line, or the last that varied
    //  Its fields, as given with the first
    bool has_fields;
    char stream [SSTREAM_STREAM_NAME_MAX + 1];
    char key [96];
    char peer [65];
} s_line_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static s_line_t s_lines [SSTREAM_LOG_REPEAT_LINES];

static uint64_t
s_hash (const char *gateway, const char *what)
{
    uint64_t hash = 14695981039346656037ULL;        //  FNV-1a
    for (; *gateway; gateway++)
        hash = (hash ^ (unsigned char) *gateway) * 1099511628211ULL;
    hash = (hash ^ 0xff) * 1099511628211ULL;
    for (; *what; what++)
        hash = (hash ^ (unsigned char) *what) * 1099511628211ULL;
    return hash;
}

static void
s_emit (s_line_t *line, const char *text, uint64_t repeated)
{
    sstream_log_fields_t fields = {
        .stream = *line->stream? line->stream: NULL,
        .key = *line->key? line->key: NULL,
        .peer = *line->peer? line->peer: NULL
    };
    s_record_t record = { line->level, line->gateway, line->has_fields? &fields: NULL, text,
                          repeated };
    s_write (&record);
}

//  The line again, with how often it came since its period started; its
//  count starts over
static void
s_summarise (s_line_t *line, int64_t now)
{
    int64_t tenths = (now - line->since + 50) / 100;
    if (tenths < 1)
        tenths = 1;
    char seconds [32];
    if (tenths % 10)
        snprintf (seconds, sizeof (seconds), "%" PRId64 ".%" PRId64, tenths / 10, tenths % 10);
    else
        snprintf (seconds, sizeof (seconds), "%" PRId64, tenths / 10);
    char text [TEXT_MAX + 96];
    snprintf (text, sizeof (text), "%s (repeated %" PRIu64 " time%s%s in the last %s s)",
              line->text, line->count, line->count == 1? "": "s",
              line->varied? ", with varying details,": "", seconds);
    s_emit (line, text, line->count);
    line->count = 0;
    line->varied = false;
    line->since = now;
}

//  Under s_lock: periods that are over end. A line that repeated says so
//  and is watched for twice as long; one that did not is forgotten.
static void
s_flush (int64_t now, bool all)
{
    size_t index;
    for (index = 0; index < SSTREAM_LOG_REPEAT_LINES; index++) {
        s_line_t *line = &s_lines [index];
        if (!line->used)
            continue;
        if (all) {
            if (line->count)
                s_summarise (line, now);
        }
        else
        if (now - line->since >= line->period) {
            if (line->count) {
                s_summarise (line, now);
                line->period = line->period * 2 < SSTREAM_LOG_REPEAT_PERIOD_MAX
                             ? line->period * 2: SSTREAM_LOG_REPEAT_PERIOD_MAX;
            }
            else
                line->used = false;
        }
    }
}

static bool
s_same (const s_line_t *line, uint64_t hash, int level, const char *gateway, const char *kind,
        const char *text)
{
    return line->hash == hash && line->level == level && streq (line->gateway, gateway)
        && (kind? streq (line->kind, kind): !*line->kind && streq (line->text, text));
}

static void
s_repeat (int64_t now, int level, const sstream_log_fields_t *fields, const char *kind,
          const char *format, va_list args)
{
    level = s_clamp (level);
    if (sstream_log_level () < level)
        return;
    char text [TEXT_MAX];
    vsnprintf (text, sizeof (text), format, args);
    const char *gateway = s_gateway;
    char kind_text [KIND_MAX];
    if (kind) {
        snprintf (kind_text, sizeof (kind_text), "%s", kind);
        kind = kind_text;
    }
    uint64_t hash = s_hash (gateway, kind? kind: text);
    pthread_mutex_lock (&s_lock);
    s_flush (now, false);
    s_line_t *free_line = NULL, *oldest = NULL;
    size_t index;
    for (index = 0; index < SSTREAM_LOG_REPEAT_LINES; index++) {
        s_line_t *line = &s_lines [index];
        if (!line->used) {
            if (!free_line)
                free_line = line;
            continue;
        }
        if (s_same (line, hash, level, gateway, kind, text)) {
            line->count++;
            if (kind && !streq (line->text, text)) {
                line->varied = true;
                snprintf (line->text, sizeof (line->text), "%s", text);
            }
            pthread_mutex_unlock (&s_lock);
            return;
        }
        if (!oldest || line->since < oldest->since)
            oldest = line;
    }
    //  A new line: what its site said before is summed up first
    for (index = 0; index < SSTREAM_LOG_REPEAT_LINES; index++) {
        s_line_t *line = &s_lines [index];
        if (line->used && line->site == format && line->count && streq (line->gateway, gateway))
            s_summarise (line, now);
    }
    s_line_t *line = free_line? free_line: oldest;
    if (line->used && line->count)
        s_summarise (line, now);
    memset (line, 0, sizeof (*line));
    line->used = true;
    line->site = format;
    line->level = level;
    line->hash = hash;
    snprintf (line->gateway, sizeof (line->gateway), "%s", gateway);
    snprintf (line->kind, sizeof (line->kind), "%s", kind? kind: "");
    line->since = now;
    line->period = SSTREAM_LOG_REPEAT_PERIOD;
    snprintf (line->text, sizeof (line->text), "%s", text);
    if (fields) {
        line->has_fields = true;
        snprintf (line->stream, sizeof (line->stream), "%s", fields->stream? fields->stream: "");
        snprintf (line->key, sizeof (line->key), "%s", fields->key? fields->key: "");
        snprintf (line->peer, sizeof (line->peer), "%s", fields->peer? fields->peer: "");
    }
    s_emit (line, text, 0);
    pthread_mutex_unlock (&s_lock);
}

void
sstream_log_repeat (int level, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_repeat (zclock_mono (), level, NULL, NULL, format, args);
    va_end (args);
}

void
sstream_log_repeat_kind (int level, const sstream_log_fields_t *fields, const char *kind,
                         const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_repeat (zclock_mono (), level, fields, kind, format, args);
    va_end (args);
}

void
sstream_log_repeat_at (int64_t now, int level, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_repeat (now, level, NULL, NULL, format, args);
    va_end (args);
}

void
sstream_log_repeat_kind_at (int64_t now, int level, const sstream_log_fields_t *fields,
                            const char *kind, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_repeat (now, level, fields, kind, format, args);
    va_end (args);
}

void
sstream_log_repeat_flush_at (int64_t now, bool all)
{
    pthread_mutex_lock (&s_lock);
    s_flush (now, all);
    pthread_mutex_unlock (&s_lock);
}

void
sstream_log_repeat_end_at (int64_t now, const char *prefix)
{
    size_t length = strlen (prefix);
    pthread_mutex_lock (&s_lock);
    s_flush (now, false);
    size_t index;
    for (index = 0; index < SSTREAM_LOG_REPEAT_LINES; index++) {
        s_line_t *line = &s_lines [index];
        if (line->used && streq (line->gateway, s_gateway)
        &&  strncmp (line->text, prefix, length) == 0) {
            if (line->count)
                s_summarise (line, now);
            line->used = false;
        }
    }
    pthread_mutex_unlock (&s_lock);
}

void
sstream_log_repeat_end (const char *prefix)
{
    sstream_log_repeat_end_at (zclock_mono (), prefix);
}

void
sstream_log_repeat_flush (bool all)
{
    sstream_log_repeat_flush_at (zclock_mono (), all);
}
