/*  =========================================================================
    sstream_replies - the errors a gateway answers parties with, within a
    budget (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A party that sends junk and never reads must not make the gateway queue
    answers without end: a gateway sends at most so many error replies per
    half heartbeat, and logs how many it withheld (once a
    SSTREAM_LOG_REPEAT_PERIOD at most).
*/

#ifndef SSTREAM_REPLIES_H_INCLUDED
#define SSTREAM_REPLIES_H_INCLUDED

typedef struct _sstream_replies_t sstream_replies_t;

sstream_replies_t *
    sstream_replies_new (const char *gateway);

void
    sstream_replies_destroy (sstream_replies_t **self_p);

//  An error message to send, its text "GATEWAY: TEXT", about stream (or
//  the link, when stream is NULL); NULL when this turn's budget is spent
//  (or out of memory).
zframe_t *
    sstream_replies_error (sstream_replies_t *self, int code, const char *stream,
                           const char *format, ...) __attribute__ ((format (printf, 4, 5)));

//  A new turn: log what was withheld, refill the budget.
void
    sstream_replies_tick (sstream_replies_t *self);

#endif
