/*  =========================================================================
    sstream_log - log lines that may repeat, logged once and counted

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"

#define TEXT_MAX 1024

typedef struct {
    bool used;
    const char *site;           //  The format string: who logs it
    int level;
    uint64_t hash;
    int64_t since;              //  When this period started
    int64_t period;
    uint64_t count;             //  Repeats in this period, not logged yet
    char text [TEXT_MAX];
} s_line_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static s_line_t s_lines [SSTREAM_LOG_REPEAT_LINES];

static uint64_t
s_hash (const char *text)
{
    uint64_t hash = 14695981039346656037ULL;        //  FNV-1a
    for (; *text; text++)
        hash = (hash ^ (unsigned char) *text) * 1099511628211ULL;
    return hash;
}

static void
s_emit (int level, const char *text)
{
    if (level <= SSTREAM_LOG_ERROR)
        zsys_error ("%s", text);
    else
    if (level == SSTREAM_LOG_WARNING)
        zsys_warning ("%s", text);
    else
    if (level == SSTREAM_LOG_INFO)
        zsys_info ("%s", text);
    else
        zsys_debug ("%s", text);
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
    snprintf (text, sizeof (text), "%s (repeated %" PRIu64 " time%s in the last %s s)",
              line->text, line->count, line->count == 1? "": "s", seconds);
    s_emit (line->level, text);
    line->count = 0;
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

static void
s_repeat (int64_t now, int level, const char *format, va_list args)
{
    if (sstream_log_level () < level)
        return;
    char text [TEXT_MAX];
    vsnprintf (text, sizeof (text), format, args);
    uint64_t hash = s_hash (text);
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
        if (line->hash == hash && line->level == level && streq (line->text, text)) {
            line->count++;
            pthread_mutex_unlock (&s_lock);
            return;
        }
        if (!oldest || line->since < oldest->since)
            oldest = line;
    }
    //  A new line: what its site said before is summed up first
    for (index = 0; index < SSTREAM_LOG_REPEAT_LINES; index++) {
        s_line_t *line = &s_lines [index];
        if (line->used && line->site == format && line->count)
            s_summarise (line, now);
    }
    s_line_t *line = free_line? free_line: oldest;
    if (line->used && line->count)
        s_summarise (line, now);
    line->used = true;
    line->site = format;
    line->level = level;
    line->hash = hash;
    line->since = now;
    line->period = SSTREAM_LOG_REPEAT_PERIOD;
    line->count = 0;
    memcpy (line->text, text, sizeof (text));
    s_emit (level, text);
    pthread_mutex_unlock (&s_lock);
}

void
sstream_log_repeat (int level, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_repeat (zclock_mono (), level, format, args);
    va_end (args);
}

void
sstream_log_repeat_at (int64_t now, int level, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_repeat (now, level, format, args);
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
        if (line->used && strncmp (line->text, prefix, length) == 0) {
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
