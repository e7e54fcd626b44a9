/*  =========================================================================
    sstream_resumer - when a stream resumes after a loss

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_client_classes.h"

//  Pauses between attempts: from this, doubling, to at most that
#define PAUSE_FIRST 100
#define PAUSE_MOST  2000

struct _sstream_resumer_t {
    char stream [SSTREAM_STREAM_NAME_MAX + 1];
    char who [16];
    int64_t timeout;
    bool stalled;
    int64_t since;              //  When the path broke
    int64_t due;                //  The next attempt
    int64_t pause;
    char cause [512];           //  What broke the path
    char last [512];            //  Why the latest attempt did not do
    uint64_t count;
};

sstream_resumer_t *
sstream_resumer_new (const char *stream, const char *who, int64_t timeout)
{
    sstream_resumer_t *self = (sstream_resumer_t *) zmalloc (sizeof (sstream_resumer_t));
    if (self) {
        snprintf (self->stream, sizeof (self->stream), "%s", stream);
        snprintf (self->who, sizeof (self->who), "%s", who);
        self->timeout = timeout;
    }
    return self;
}

void
sstream_resumer_destroy (sstream_resumer_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

bool
sstream_resumer_may_resume (int code)
{
    return code == SSTREAM_ELOST || code == SSTREAM_ETIMEDOUT;
}

bool
sstream_resumer_lost (sstream_resumer_t *self, int code)
{
    //  While it resumes, a gateway coming back may fail a handshake (its
    //  address is not listened on by it yet): try again
    if (self->timeout <= 0
    ||  !(sstream_resumer_may_resume (code) || (self->stalled && code == SSTREAM_EAUTH)))
        return false;
    int64_t now = zclock_mono ();
    sstream_log_fields_t fields = { .stream = self->stream };
    if (!self->stalled) {
        self->stalled = true;
        self->since = now;
        self->pause = PAUSE_FIRST;
        self->due = now;
        snprintf (self->cause, sizeof (self->cause), "%s", sstream_errmsg ());
        self->last [0] = 0;
        sstream_log_at (SSTREAM_LOG_WARNING, &fields, "stream '%s': %s; the %s resumes it "
                        "(within %g s)", self->stream, self->cause, self->who,
                        self->timeout / 1000.0);
        return true;
    }
    //  An attempt that did not do: the next one after a pause. A reason
    //  not given before is a warning (the user learns why the stream
    //  stands still: a peer gateway pinned wrongly, say); the same again
    //  is only information
    bool news = !streq (sstream_errmsg (), self->last) && !streq (sstream_errmsg (), self->cause);
    sstream_log_at (news? SSTREAM_LOG_WARNING: SSTREAM_LOG_INFO, &fields,
                    "stream '%s': not resumed yet: %s", self->stream, sstream_errmsg ());
    //  The final word names the latest reason that is not the first
    if (!streq (sstream_errmsg (), self->cause))
        snprintf (self->last, sizeof (self->last), "%s", sstream_errmsg ());
    self->due = now + self->pause;
    self->pause = self->pause * 2 < PAUSE_MOST? self->pause * 2: PAUSE_MOST;
    return now - self->since < self->timeout;
}

bool
sstream_resumer_stalled (sstream_resumer_t *self)
{
    return self->stalled;
}

int64_t
sstream_resumer_due (sstream_resumer_t *self)
{
    int64_t deadline = self->since + self->timeout;
    return self->due < deadline? self->due: deadline;
}

void
sstream_resumer_attempted (sstream_resumer_t *self)
{
    self->due = INT64_MAX;
}

bool
sstream_resumer_expired (sstream_resumer_t *self, const char *position)
{
    if (!self->stalled || zclock_mono () - self->since < self->timeout)
        return false;
    bool again = *self->last && !streq (self->last, self->cause);
    sstream_error_set (SSTREAM_ELOST, "stream '%s' could not resume within %g s (%s%s%s); %s",
                       self->stream, self->timeout / 1000.0, self->cause,
                       again? "; then: ": "", again? self->last: "", position);
    return true;
}

void
sstream_resumer_resumed (sstream_resumer_t *self)
{
    if (!self->stalled)
        return;
    self->stalled = false;
    self->count++;
    sstream_log_fields_t fields = { .stream = self->stream };
    sstream_log_at (SSTREAM_LOG_WARNING, &fields, "stream '%s' resumed after %.2f s stalled (%s)",
                    self->stream, (zclock_mono () - self->since) / 1000.0, self->cause);
}

uint64_t
sstream_resumer_count (sstream_resumer_t *self)
{
    return self->count;
}
