/*  =========================================================================
    sstream_resumer - when a producer or consumer resumes its stream after
    a loss on the way, how often it tries, for how long, and what it says
    (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A stream that has been accepted once does not fail when its gateway,
    the gateway's peer or a link on the way is lost: the producer and the
    consumer each connect again (to the same gateway or another of their
    list) and the stream goes on where the consumer stands (PROTOCOL.md
    section 3.10). This class keeps the time: the first attempt at once,
    the next ones after a growing pause (a few seconds at most), all of
    them within client/resume-timeout of the loss, and it logs the loss and
    the resumption with its cause and how long the stream stalled.
*/

#ifndef SSTREAM_RESUMER_H_INCLUDED
#define SSTREAM_RESUMER_H_INCLUDED

typedef struct _sstream_resumer_t sstream_resumer_t;

//  For stream, on behalf of who ("producer", "consumer"); timeout: msecs
//  a stream may take to resume (0: it never does).
sstream_resumer_t *
    sstream_resumer_new (const char *stream, const char *who, int64_t timeout);

void
    sstream_resumer_destroy (sstream_resumer_t **self_p);

//  An error that a stream may resume from (a loss, a gateway that does
//  not answer), rather than fail with.
bool
    sstream_resumer_may_resume (int code);

//  The path broke, for the reason sstream_errmsg says: true when the
//  stream resumes (then an attempt is due at once), false when it must
//  fail (resuming is off, the error is not a loss, or the time is up:
//  then the error says so).
bool
    sstream_resumer_lost (sstream_resumer_t *self, int code);

//  While it resumes: when the next attempt is due (zclock_mono), and that
//  one has been made.
bool
    sstream_resumer_stalled (sstream_resumer_t *self);
int64_t
    sstream_resumer_due (sstream_resumer_t *self);
void
    sstream_resumer_attempted (sstream_resumer_t *self);

//  True when the time is up (then the error says why, naming where the
//  stream stands: position, e.g. "the consumer has records 0 to 41").
bool
    sstream_resumer_expired (sstream_resumer_t *self, const char *position);

//  The stream goes on: logged, with how long it stalled and why.
void
    sstream_resumer_resumed (sstream_resumer_t *self);

//  Times the stream has resumed.
uint64_t
    sstream_resumer_count (sstream_resumer_t *self);

#endif
