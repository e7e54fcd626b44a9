/*  =========================================================================
    sstream_replies - the errors a gateway answers parties with, within a
    budget

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_gateway_classes.h"

//  Error replies per turn (half a heartbeat), at most
#define BUDGET 64

struct _sstream_replies_t {
    char gateway [65];
    int budget;                 //  Left this turn
    uint64_t withheld;          //  Not sent since told
    int64_t withheld_since;     //  When the first of them was
};

sstream_replies_t *
sstream_replies_new (const char *gateway)
{
    sstream_replies_t *self = (sstream_replies_t *) zmalloc (sizeof (sstream_replies_t));
    if (self) {
        snprintf (self->gateway, sizeof (self->gateway), "%s", gateway);
        self->budget = BUDGET;
    }
    return self;
}

void
sstream_replies_destroy (sstream_replies_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

zframe_t *
sstream_replies_error (sstream_replies_t *self, int code, const char *stream,
                       const char *format, ...)
{
    if (self->budget <= 0) {
        if (self->withheld++ == 0)
            self->withheld_since = zclock_mono ();
        return NULL;
    }
    self->budget--;
    char text [SSTREAM_WIRE_TEXT_MAX];
    int used = snprintf (text, sizeof (text), "%s: ", self->gateway);
    va_list args;
    va_start (args, format);
    vsnprintf (text + used, sizeof (text) - used, format, args);
    va_end (args);
    return sstream_wire_error ((uint32_t) code, stream, text);
}

void
sstream_replies_tick (sstream_replies_t *self)
{
    //  Told once a period at most, however long the junk goes on
    int64_t now = zclock_mono ();
    if (self->withheld && now - self->withheld_since >= SSTREAM_LOG_REPEAT_PERIOD) {
        sstream_log_warning ("withheld %" PRIu64 " error replies to parties sending junk in the "
                             "last %.1f s", self->withheld, (now - self->withheld_since) / 1000.0);
        self->withheld = 0;
    }
    self->budget = BUDGET;
}
