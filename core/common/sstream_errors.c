/*  =========================================================================
    sstream_errors - error codes, messages, and failures passed between
    threads

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"

#include <stdatomic.h>

static const char *s_error_text [] = {
    [SSTREAM_OK] = "success",
    [SSTREAM_EINVAL] = "invalid argument",
    [SSTREAM_ENOMEM] = "out of memory",
    [SSTREAM_ECONFIG] = "bad configuration",
    [SSTREAM_EKEY] = "key file problem",
    [SSTREAM_EAUTH] = "authentication failed",
    [SSTREAM_EDENIED] = "refused",
    [SSTREAM_ETIMEDOUT] = "timed out",
    [SSTREAM_EPROTO] = "protocol error",
    [SSTREAM_EPLUGIN] = "transport plugin problem",
    [SSTREAM_ECLOSED] = "already closed",
    [SSTREAM_EABORTED] = "stream aborted",
    [SSTREAM_ELOST] = "connection lost",
    [SSTREAM_ETOOBIG] = "message too large",
    [SSTREAM_EINTR] = "interrupted",
    [SSTREAM_EIO] = "input/output error",
    [SSTREAM_EEND] = "end of stream",
    [SSTREAM_EINTERNAL] = "internal error",
};

#define ERRMSG_MAX 1024
static __thread char s_errmsg [ERRMSG_MAX];

const char *
sstream_strerror (int code)
{
    if (code >= 0 && code < (int) (sizeof (s_error_text) / sizeof (s_error_text [0]))
    &&  s_error_text [code])
        return s_error_text [code];
    return "unknown error";
}

const char *
sstream_errmsg (void)
{
    return s_errmsg [0]? s_errmsg: "no error";
}

int
sstream_error_set (int code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (s_errmsg, ERRMSG_MAX, format, args);
    va_end (args);
    return code;
}

int
sstream_error_restore (int code, const char *message)
{
    snprintf (s_errmsg, ERRMSG_MAX, "%s",
              message && *message? message: sstream_strerror (code));
    return code;
}



//  --------------------------------------------------------------------------
//  Failures recorded in one thread, reported in another

void
sstream_failure_init (sstream_failure_t *self)
{
    pthread_mutex_init (&self->lock, NULL);
    atomic_init (&self->code, 0);
    self->message [0] = 0;
}

void
sstream_failure_fini (sstream_failure_t *self)
{
    pthread_mutex_destroy (&self->lock);
}

void
sstream_failure_set (sstream_failure_t *self, int code)
{
    pthread_mutex_lock (&self->lock);
    if (!atomic_load (&self->code)) {
        snprintf (self->message, sizeof (self->message), "%s", sstream_errmsg ());
        atomic_store_explicit (&self->code, code, memory_order_release);
    }
    pthread_mutex_unlock (&self->lock);
}

int
sstream_failure_code (sstream_failure_t *self)
{
    //  Read on every call of the data path: no lock
    return atomic_load_explicit (&self->code, memory_order_acquire);
}

int
sstream_failure_report (sstream_failure_t *self)
{
    pthread_mutex_lock (&self->lock);
    int code = atomic_load (&self->code);
    if (!code)
        code = SSTREAM_EINTERNAL;
    sstream_error_restore (code, self->message);
    pthread_mutex_unlock (&self->lock);
    return code;
}

//  The character at text: its code point, and its length in bytes (0 if
//  it is not well-formed UTF-8: overlong, a surrogate, cut short).
static size_t
s_utf8_next (const unsigned char *text, unsigned *code)
{
    unsigned char lead = text [0];
    size_t length = lead < 0x80? 1
                  : lead >= 0xc2 && lead <= 0xdf? 2
                  : lead >= 0xe0 && lead <= 0xef? 3
                  : lead >= 0xf0 && lead <= 0xf4? 4: 0;
    *code = length == 1? lead: length == 2? lead & 0x1fu: length == 3? lead & 0x0fu: lead & 0x07u;
    size_t index;
    for (index = 1; index < length; index++) {
        if ((text [index] & 0xc0) != 0x80)
            return 0;
        *code = (*code << 6) | (text [index] & 0x3fu);
    }
    if ((length == 3 && (*code < 0x800 || (*code >= 0xd800 && *code <= 0xdfff)))
    ||  (length == 4 && (*code < 0x10000 || *code > 0x10ffff)))
        return 0;
    return length;
}

//  Characters that move, hide or end text on a terminal or in a viewer:
//  C0 and C1 controls, DEL, line and paragraph separators, bidirectional
//  embeddings, overrides and isolates
static bool
s_hides_text (unsigned code)
{
    return code < 0x20 || (code >= 0x7f && code <= 0x9f)
        || (code >= 0x2028 && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
}

const char *
sstream_printable (const char *text, char *buffer, size_t size)
{
    if (!size)
        return buffer;
    const unsigned char *reader = (const unsigned char *) (text? text: "");
    size_t used = 0;
    while (*reader) {
        unsigned code;
        size_t length = s_utf8_next (reader, &code);
        char escape [8];
        const char *piece = (const char *) reader;
        size_t piece_length = length;
        if (length == 0) {
            //  Not UTF-8: the byte, in hex
            snprintf (escape, sizeof (escape), "\\x%02x", *reader);
            piece = escape;
            piece_length = 4;
            length = 1;
        }
        else
        if (s_hides_text (code)) {
            if (code == '\n' || code == '\r' || code == '\t')
                snprintf (escape, sizeof (escape), "\\%c",
                          code == '\n'? 'n': code == '\r'? 'r': 't');
            else
            if (code < 0x80)
                snprintf (escape, sizeof (escape), "\\x%02x", code);
            else
                snprintf (escape, sizeof (escape), "\\u%04x", code);
            piece = escape;
            piece_length = strlen (escape);
        }
        if (used + piece_length + 1 > size)
            break;              //  Cut short, never inside a character or an escape
        memcpy (buffer + used, piece, piece_length);
        used += piece_length;
        reader += length;
    }
    buffer [used] = 0;
    return buffer;
}
