/*  =========================================================================
    sstream_stream - what a gateway holds for one stream

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_classes.h"

int
sstream_peer_send (sstream_peer_t *peer, zframe_t **header, zframe_t **payload)
{
    int rc = sstream_link_send (peer->link, peer->routing_id, header, payload);
    if (rc == SSTREAM_OK)
        peer->last_sent = zclock_mono ();
    return rc;
}

//  A queued message: header frame as received, and payload (NULL for end)
typedef struct {
    zframe_t *header;
    zframe_t *payload;
} s_queued_t;

static void
s_queued_destroy (void **item_p)
{
    s_queued_t *queued = (s_queued_t *) *item_p;
    if (queued) {
        zframe_destroy (&queued->header);
        zframe_destroy (&queued->payload);
        free (queued);
        *item_p = NULL;
    }
}

sstream_stream_t *
sstream_stream_new (const char *name, uint64_t window, sstream_stream_stats_t *stats)
{
    sstream_stream_t *self = (sstream_stream_t *) zmalloc (sizeof (sstream_stream_t));
    if (!self)
        return NULL;
    snprintf (self->name, sizeof (self->name), "%s", name);
    self->stats = stats;
    self->window = window;
    self->source_credit = (int64_t) window;
    self->created = zclock_mono ();
    self->queue = zlistx_new ();
    if (!self->queue) {
        free (self);
        return NULL;
    }
    zlistx_set_destructor (self->queue, s_queued_destroy);
    return self;
}

void
sstream_stream_destroy (sstream_stream_t **self_p)
{
    if (self_p && *self_p) {
        sstream_stream_t *self = *self_p;
        self->stats->buffered -= self->queued;
        zlistx_destroy (&self->queue);
        free (self);
        *self_p = NULL;
    }
}

static int
s_enqueue (sstream_stream_t *self, zframe_t **header_frame, zframe_t **payload)
{
    s_queued_t *queued = (s_queued_t *) zmalloc (sizeof (s_queued_t));
    if (!queued || !zlistx_add_end (self->queue, queued)) {
        free (queued);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory queueing stream '%s'", self->name);
    }
    queued->header = *header_frame;
    *header_frame = NULL;
    if (payload) {
        queued->payload = *payload;
        *payload = NULL;
    }
    return SSTREAM_OK;
}

int
sstream_stream_push (sstream_stream_t *self, const sstream_wire_t *header,
                     zframe_t **header_frame, zframe_t **payload)
{
    if (self->end_queued)
        return sstream_error_set (SSTREAM_EPROTO, "data after the end of stream '%s'", self->name);
    if (header->seq != self->next_seq)
        return sstream_error_set (SSTREAM_EPROTO,
            "stream '%s': message %" PRIu64 " arrived where %" PRIu64 " was due",
            self->name, header->seq, self->next_seq);
    size_t size = zframe_size (*payload);
    if (header->len != size)
        return sstream_error_set (SSTREAM_EPROTO,
            "stream '%s': message %" PRIu64 " says %" PRIu64 " bytes but carries %zu",
            self->name, header->seq, header->len, size);
    //  Within credit (PROTOCOL.md section 4)
    int64_t cost = sstream_wire_cost (size);
    if (cost > (int64_t) self->window)
        return sstream_error_set (SSTREAM_ETOOBIG,
            "stream '%s': message %" PRIu64 " of %zu bytes does not fit this gateway's "
            "buffer of %" PRIu64 " bytes", self->name, header->seq, size, self->window);
    if (cost > self->source_credit)
        return sstream_error_set (SSTREAM_EPROTO,
            "stream '%s': message %" PRIu64 " of %zu bytes exceeds the %" PRId64
            " bytes of credit granted", self->name, header->seq, size, self->source_credit);
    int rc = s_enqueue (self, header_frame, payload);
    if (rc)
        return rc;
    self->source_credit -= cost;
    self->next_seq++;
    self->received += size;
    self->queued += size;
    self->stats->bytes_in += size;
    self->stats->buffered += size;
    if (self->queued > self->stats->buffered_peak)
        self->stats->buffered_peak = self->queued;
    return SSTREAM_OK;
}

int
sstream_stream_push_end (sstream_stream_t *self, const sstream_wire_t *header,
                         zframe_t **header_frame)
{
    if (self->end_queued)
        return sstream_error_set (SSTREAM_EPROTO, "stream '%s' ended twice", self->name);
    if (header->seq != self->next_seq || header->bytes != self->received)
        return sstream_error_set (SSTREAM_EPROTO,
            "stream '%s' ended after %" PRIu64 " messages and %" PRIu64 " bytes, but %" PRIu64
            " and %" PRIu64 " arrived", self->name, header->seq, header->bytes,
            self->next_seq, self->received);
    int rc = s_enqueue (self, header_frame, NULL);
    if (rc)
        return rc;
    self->end_queued = true;
    self->end_seq = header->seq;
    self->end_bytes = header->bytes;
    return SSTREAM_OK;
}

int
sstream_stream_pump (sstream_stream_t *self)
{
    int rc = SSTREAM_OK;
    while (self->sink && self->sink_open && rc == SSTREAM_OK) {
        s_queued_t *queued = (s_queued_t *) zlistx_first (self->queue);
        if (!queued)
            break;
        if (!queued->payload) {
            //  End of stream: after all data, needs no credit
            rc = sstream_peer_send (self->sink, &queued->header, NULL);
            if (rc == SSTREAM_OK)
                self->end_sent = true;
            else
                self->unreachable = self->sink;
            zlistx_delete (self->queue, NULL);
            break;
        }
        uint64_t size = zframe_size (queued->payload);
        int64_t cost = sstream_wire_cost (size);
        if (cost > self->sink_window) {
            rc = sstream_error_set (SSTREAM_ETOOBIG,
                "stream '%s': a message of %" PRIu64 " bytes does not fit the window of %"
                PRId64 " bytes that %s gives (raise its buffer or window)", self->name, size,
                self->sink_window, self->sink->name);
            break;
        }
        if (cost > self->sink_credit)
            break;
        rc = sstream_peer_send (self->sink, &queued->header, &queued->payload);
        zlistx_delete (self->queue, NULL);
        self->queued -= size;
        self->stats->buffered -= size;
        self->to_grant += (uint64_t) cost;
        if (rc == SSTREAM_OK) {
            self->sink_credit -= cost;
            self->forwarded += size;
            self->stats->bytes_out += size;
        }
        else
            self->unreachable = self->sink;
    }
    //  Give the source back what was freed, a quarter window at a time, or
    //  all of it when the queue ran dry
    if (rc == SSTREAM_OK && self->source && !self->end_queued && self->to_grant
    &&  (self->to_grant >= self->window / 4 || self->queued == 0)) {
        zframe_t *credit = sstream_wire_credit (self->name, self->to_grant);
        rc = credit? sstream_peer_send (self->source, &credit, NULL): SSTREAM_ENOMEM;
        if (rc == SSTREAM_ELOST)
            self->unreachable = self->source;
        if (rc == SSTREAM_OK) {
            self->source_credit += (int64_t) self->to_grant;
            self->to_grant = 0;
        }
    }
    return rc;
}
