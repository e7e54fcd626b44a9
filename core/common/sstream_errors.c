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

const char *
sstream_printable (const char *text, char *buffer, size_t size)
{
    size_t index;
    for (index = 0; text [index] && index + 1 < size; index++)
        buffer [index] = (unsigned char) text [index] < 0x20 || text [index] == 0x7f
                       ? '?': text [index];
    buffer [index] = 0;
    return buffer;
}
