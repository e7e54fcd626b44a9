/*  =========================================================================
    pipe_print - what gateways list (sessions, streams), for people and for
    scripts

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Tables for people; JSON for scripts, with snake_case keys as in all the
    JSON sstream-pipe prints (the wire's own keys, "bytes-in", are the
    protocol's: PROTOCOL.md section 8).
*/

#include "pipe.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef enum { TEXT, NUMBER, YES_NO } s_kind_t;

typedef struct {
    const char *field;          //  As the wire names it
    s_kind_t kind;
} s_field_t;

static const s_field_t s_session_fields [] = {
    { "id", TEXT }, { "name", TEXT }, { "role", TEXT }, { "kind", TEXT }, { "gateway", TEXT },
    { "peer", TEXT }, { "address", TEXT }, { "links", NUMBER }, { "rate", NUMBER },
    { "hold", YES_NO }, { "age-ms", NUMBER }, { "idle-ms", NUMBER }, { "connections", NUMBER },
    { "connections-total", NUMBER }, { "bytes-in", NUMBER }, { "bytes-out", NUMBER },
    { NULL, TEXT }
};

static const s_field_t s_stream_fields [] = {
    { "name", TEXT }, { "gateway", TEXT }, { "state", TEXT }, { "producer", TEXT },
    { "consumer", TEXT }, { "records-in", NUMBER }, { "records-out", NUMBER },
    { "bytes-in", NUMBER }, { "bytes-out", NUMBER }, { "buffered", NUMBER }, { "rate", NUMBER },
    { "stalled-ms", NUMBER }, { "age-ms", NUMBER },
    { NULL, TEXT }
};


//  --------------------------------------------------------------------------
//  JSON

static void
s_json_string (const char *text)
{
    putchar ('"');
    for (; *text; text++) {
        unsigned char c = (unsigned char) *text;
        if (c == '"' || c == '\\')
            printf ("\\%c", c);
        else
        if (c < 0x20)
            printf ("\\u%04x", c);
        else
            putchar (c);
    }
    putchar ('"');
}

//  A wire name as a JSON key: snake_case
static void
s_json_key (const char *field)
{
    putchar ('"');
    for (; *field; field++)
        putchar (*field == '-'? '_': *field);
    printf ("\": ");
}

//  A number from the gateway, checked: JSON must get digits
static bool
s_is_number (const char *value)
{
    return *value && strspn (value, "0123456789") == strlen (value);
}

static void
s_json_list (sstream_session_list_t *list, const s_field_t *fields)
{
    printf ("[");
    size_t index;
    for (index = 0; index < sstream_session_list_size (list); index++) {
        printf ("%s{", index? ", ": "");
        const s_field_t *field;
        bool first = true;
        for (field = fields; field->field; field++) {
            const char *value = sstream_session_list_get (list, index, field->field);
            if (!value)
                continue;
            printf ("%s", first? "": ", ");
            first = false;
            s_json_key (field->field);
            if (field->kind == NUMBER && s_is_number (value))
                printf ("%s", value);
            else
            if (field->kind == YES_NO)
                printf ("%s", strcmp (value, "yes") == 0? "true": "false");
            else
                s_json_string (value);
        }
        printf ("}");
    }
    printf ("]");
}

void
pipe_print_sessions_json (sstream_session_list_t *sessions)
{
    s_json_list (sessions, s_session_fields);
    printf ("\n");
}

void
pipe_print_status_json (sstream_session_list_t *sessions, sstream_session_list_t *streams)
{
    printf ("{\"sessions\": ");
    s_json_list (sessions, s_session_fields);
    if (streams) {
        printf (", \"streams\": ");
        s_json_list (streams, s_stream_fields);
    }
    printf ("}\n");
}


//  --------------------------------------------------------------------------
//  Tables

static void
s_human_bytes (char *text, size_t size, double bytes)
{
    const char *units [] = { "B", "kB", "MB", "GB", "TB" };
    int unit = 0;
    while (bytes >= 1000 && unit < 4) {
        bytes /= 1000;
        unit++;
    }
    snprintf (text, size, unit? "%.1f %s": "%.0f %s", bytes, units [unit]);
}

static void
s_human_rate (char *text, size_t size, double bytes_per_second)
{
    char bytes [32];
    s_human_bytes (bytes, sizeof (bytes), bytes_per_second);
    snprintf (text, size, "%s/s", bytes);
}

static void
s_human_age (char *text, size_t size, uint64_t msecs)
{
    uint64_t seconds = msecs / 1000;
    if (seconds < 60)
        snprintf (text, size, "%" PRIu64 "s", seconds);
    else
    if (seconds < 3600)
        snprintf (text, size, "%" PRIu64 "m%02" PRIu64 "s", seconds / 60, seconds % 60);
    else
        snprintf (text, size, "%" PRIu64 "h%02" PRIu64 "m", seconds / 3600, seconds / 60 % 60);
}

static const char *
s_text (sstream_session_list_t *list, size_t index, const char *field)
{
    const char *value = sstream_session_list_get (list, index, field);
    return value && *value? value: "-";
}

static uint64_t
s_number (sstream_session_list_t *list, size_t index, const char *field)
{
    const char *value = sstream_session_list_get (list, index, field);
    return value? strtoull (value, NULL, 10): 0;
}

static void
s_sessions_table (sstream_session_list_t *list)
{
    size_t count = sstream_session_list_size (list);
    if (count == 0) {
        printf ("no sessions\n");
        return;
    }
    printf ("%-16s  %-16s  %-8s  %-22s  %5s  %9s  %9s  %11s  %11s  %7s\n", "ID", "NAME", "ROLE",
            "ADDRESS", "CONNS", "IN", "OUT", "AVG RATE", "LIMIT", "AGE");
    size_t index;
    for (index = 0; index < count; index++) {
        uint64_t age = s_number (list, index, "age-ms");
        uint64_t in = s_number (list, index, "bytes-in"), out = s_number (list, index, "bytes-out");
        char in_text [32], out_text [32], rate_text [40], limit_text [40], age_text [48];
        uint64_t limit = s_number (list, index, "rate");
        if (limit)
            s_human_rate (limit_text, sizeof (limit_text), (double) limit);
        else
            snprintf (limit_text, sizeof (limit_text), "none");
        s_human_bytes (in_text, sizeof (in_text), (double) in);
        s_human_bytes (out_text, sizeof (out_text), (double) out);
        s_human_rate (rate_text, sizeof (rate_text), age? (in + out) * 1000.0 / age: 0);
        s_human_age (age_text, sizeof (age_text), age);
        printf ("%-16s  %-16.16s  %-8s  %-22.22s  %5" PRIu64 "  %9s  %9s  %11s  %11s  %7s\n",
                s_text (list, index, "id"), s_text (list, index, "name"),
                s_text (list, index, "role"), s_text (list, index, "address"),
                s_number (list, index, "connections"), in_text, out_text, rate_text, limit_text,
                age_text);
    }
}

static void
s_streams_table (sstream_session_list_t *list)
{
    size_t count = sstream_session_list_size (list);
    if (count == 0) {
        printf ("no streams\n");
        return;
    }
    printf ("%-16s  %-20s  %-16s  %-16s  %9s  %9s  %11s  %9s  %8s  %7s\n", "STREAM", "STATE",
            "PRODUCER", "CONSUMER", "IN", "OUT", "RATE", "BUFFERED", "STALLED", "AGE");
    size_t index;
    for (index = 0; index < count; index++) {
        char state [32], in [32], out [32], rate [40], buffered [32], stalled [32], age [48];
        //  The state's words, for people: waiting_for_consumer as words
        snprintf (state, sizeof (state), "%s", s_text (list, index, "state"));
        char *underscore;
        while ((underscore = strchr (state, '_')))
            *underscore = ' ';
        s_human_bytes (in, sizeof (in), (double) s_number (list, index, "bytes-in"));
        s_human_bytes (out, sizeof (out), (double) s_number (list, index, "bytes-out"));
        s_human_rate (rate, sizeof (rate), (double) s_number (list, index, "rate"));
        s_human_bytes (buffered, sizeof (buffered), (double) s_number (list, index, "buffered"));
        snprintf (stalled, sizeof (stalled), "%.1fs", s_number (list, index, "stalled-ms") / 1000.0);
        s_human_age (age, sizeof (age), s_number (list, index, "age-ms"));
        printf ("%-16.16s  %-20s  %-16.16s  %-16.16s  %9s  %9s  %11s  %9s  %8s  %7s\n",
                s_text (list, index, "name"), state, s_text (list, index, "producer"),
                s_text (list, index, "consumer"), in, out, rate, buffered, stalled, age);
    }
}

void
pipe_print_status_table (sstream_session_list_t *sessions, sstream_session_list_t *streams)
{
    s_sessions_table (sessions);
    if (streams) {
        printf ("\n");
        s_streams_table (streams);
    }
}
