/*  =========================================================================
    sstream_streams - a gateway's streams

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_gateway_classes.h"


struct _sstream_streams_t {
    char gateway [65];
    uint64_t buffer;
    uint64_t max_streams;
    uint64_t client_streams_max;
    int64_t heartbeat;
    sstream_peering_t *peering;
    sstream_access_t *access;
    zhashx_t *by_name;          //  Name -> sstream_stream_t, owned
    sstream_numbers_t *numbers; //  Streams by their number
    sstream_stream_stats_t stats;
    uint64_t aborted;
    uint64_t completed;
    uint64_t resumes;           //  Opens that resumed a stream
    sstream_replies_t *replies; //  Borrowed: errors within a budget
};

typedef sstream_streams_t self_t;

static void
s_stream_destructor (void **item_p)
{
    sstream_stream_destroy ((sstream_stream_t **) item_p);
}

sstream_streams_t *
sstream_streams_new (const sstream_streams_config_t *config)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    if (!self)
        return NULL;
    snprintf (self->gateway, sizeof (self->gateway), "%s", config->gateway);
    self->buffer = config->buffer;
    self->max_streams = config->max_streams;
    assert (self->max_streams < 0xffff);
    self->client_streams_max = config->client_streams_max? config->client_streams_max: 8;
    self->heartbeat = config->heartbeat;
    self->peering = config->peering;
    self->replies = config->replies;
    self->by_name = zhashx_new ();
    self->numbers = sstream_numbers_new (self->max_streams);
    if (!self->by_name || !self->numbers) {
        sstream_streams_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->by_name, s_stream_destructor);
    return self;
}

void
sstream_streams_destroy (sstream_streams_t **self_p)
{
    if (self_p && *self_p) {
        self_t *self = *self_p;
        zhashx_destroy (&self->by_name);
        sstream_numbers_destroy (&self->numbers);
        free (self);
        *self_p = NULL;
    }
}

void
sstream_streams_set_access (sstream_streams_t *self, sstream_access_t *access)
{
    self->access = access;
}


//  --------------------------------------------------------------------------
//  The table

static sstream_stream_t *
s_stream_new (self_t *self, const char *name)
{
    uint32_t sid = sstream_numbers_take (self->numbers, self);      //  For now
    sstream_stream_t *stream = sid? sstream_stream_new (name, sid, self->buffer, &self->stats)
                                  : NULL;
    if (!stream) {
        if (sid)
            sstream_numbers_give (self->numbers, sid);
        return NULL;
    }
    sstream_numbers_put (self->numbers, sid, stream);
    zhashx_insert (self->by_name, name, stream);
    return stream;
}

static void
s_stream_remove (self_t *self, sstream_stream_t *stream)
{
    sstream_party_t *parties [2] = { sstream_stream_source (stream), sstream_stream_sink (stream) };
    int index;
    for (index = 0; index < 2; index++)
        if (parties [index])
            sstream_party_drop_stream (parties [index]);
    sstream_numbers_give (self->numbers, sstream_stream_sid (stream));
    zhashx_delete (self->by_name, sstream_stream_name (stream));
}

static sstream_stream_t *
s_stream_by_sid (self_t *self, uint32_t sid)
{
    return (sstream_stream_t *) sstream_numbers_find (self->numbers, sid);
}


//  --------------------------------------------------------------------------
//  Talking to parties

static void
s_send_error (self_t *self, sstream_party_t *party, int code, const char *stream,
              const char *format, ...)
{
    char text [SSTREAM_WIRE_TEXT_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof (text), format, args);
    va_end (args);
    zframe_t *frame = sstream_replies_error (self->replies, code, stream, "%s", text);
    if (frame)
        sstream_party_send (party, &frame, NULL);
}

//  End a stream: tell its parties (but not the one that caused it) why.

static void
s_abort (self_t *self, sstream_stream_t *stream, sstream_party_t *cause, int code,
         const char *text)
{
    //  What had moved, and how fast
    uint64_t records, bytes_in, bytes_out;
    sstream_stream_moved (stream, &records, &bytes_in, &bytes_out);
    double seconds = sstream_stream_age (stream) / 1000.0;
    char rate [32];
    sstream_log_fields_t fields = { .stream = sstream_stream_name (stream), .moved = true,
                                    .records = records, .bytes = bytes_in, .seconds = seconds };
    sstream_log_at (SSTREAM_LOG_WARNING, &fields, "stream '%s' aborted after %.3f s: %" PRIu64
                    " records, %" PRIu64 " bytes had arrived (%s) and %" PRIu64 " gone on: %s",
                    sstream_stream_name (stream), seconds, records, bytes_in,
                    sstream_log_rate (rate, sizeof (rate), bytes_in, seconds), bytes_out, text);
    sstream_party_t *parties [2] = { sstream_stream_source (stream), sstream_stream_sink (stream) };
    int index;
    for (index = 0; index < 2; index++) {
        if (parties [index] && parties [index] != cause) {
            //  Best effort: a party already gone is dealt with on its own
            zframe_t *frame = sstream_wire_error ((uint32_t) code, sstream_stream_name (stream), text);
            if (frame)
                sstream_party_send (parties [index], &frame, NULL);
        }
    }
    self->aborted++;
    s_stream_remove (self, stream);
}

static void
s_abortf (self_t *self, sstream_stream_t *stream, sstream_party_t *cause, int code,
          const char *format, ...)
{
    char text [SSTREAM_WIRE_TEXT_MAX];
    int used = snprintf (text, sizeof (text), "%s: ", self->gateway);
    va_list args;
    va_start (args, format);
    vsnprintf (text + used, sizeof (text) - used, format, args);
    va_end (args);
    s_abort (self, stream, cause, code, text);
}

//  What a stream's send said: the party gone, or an abort for the rest.
static sstream_party_t *
s_outcome (self_t *self, sstream_stream_t *stream, int rc)
{
    if (rc == SSTREAM_OK)
        return NULL;
    if (rc == SSTREAM_ELOST && sstream_stream_unreachable (stream))
        return sstream_stream_unreachable (stream);
    char detail [512];
    snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
    s_abortf (self, stream, NULL, rc == SSTREAM_ELOST? SSTREAM_ELOST: rc, "%s", detail);
    return NULL;
}

//  Ask the peer gateway to take a stream.
static sstream_party_t *
s_open_at_peer (self_t *self, sstream_stream_t *stream)
{
    sstream_party_t *peer = sstream_peering_party (self->peering);
    sstream_stream_set_sink (stream, peer);
    sstream_party_add_stream (peer);
    bool resumes = sstream_stream_awaits_resume (stream);
    sstream_wire_t open = {
        .type = SSTREAM_WIRE_OPEN,
        .role = SSTREAM_ROLE_PRODUCE,
        .sid = sstream_stream_sid (stream),
        .heartbeat = (uint64_t) self->heartbeat,
        .epoch = sstream_stream_epoch (stream),
        .flags = resumes? SSTREAM_WIRE_RESUME_OK: 0
    };
    snprintf (open.stream, sizeof (open.stream), "%s", sstream_stream_name (stream));
    zframe_t *frame = sstream_wire_encode (&open);
    if (!frame || sstream_party_send (peer, &frame, NULL) != SSTREAM_OK)
        return peer;
    return NULL;
}


//  --------------------------------------------------------------------------
//  Opening

//  Why an open must be refused, or NULL: the reason's code in *code.
static const char *
s_refusal (self_t *self, sstream_party_t *party, const sstream_wire_t *header,
           sstream_stream_t *stream, int *code, char *why, size_t why_size)
{
    bool produce = header->role == SSTREAM_ROLE_PRODUCE;
    bool client = sstream_party_kind (party) == SSTREAM_PARTY_CLIENT;
    *code = SSTREAM_EDENIED;
    if (!client && !produce) {
        *code = SSTREAM_EPROTO;
        return "consumers attach at their own gateway, not through a peer";
    }
    //  A client's own gateway decides what its key may do; a stream from
    //  the peer was checked at the producer's gateway
    if (client && self->access
    &&  sstream_access_check (self->access, header->stream, sstream_party_key (party),
                              header->role) != SSTREAM_OK) {
        snprintf (why, why_size, "%s", sstream_errmsg ());
        sstream_log_fields_t fields = { .stream = header->stream,
                                        .key = sstream_party_key_name (party) };
        sstream_log_at (SSTREAM_LOG_INFO, &fields, "refused %s: %s", sstream_party_name (party),
                        why);
        return why;
    }
    //  A client with other gateways to try wants one whose peer is there
    if (client && (header->flags & SSTREAM_WIRE_NEED_PEER)
    &&  self->peering && !sstream_peering_is_up (self->peering)) {
        *code = SSTREAM_ELOST;
        const char *down = sstream_peering_why_down (self->peering);
        snprintf (why, why_size, "its peer gateway %s is not connected%s%s",
                  sstream_peering_name (self->peering), down? ": ": "", down? down: "");
        return why;
    }
    if (client && sstream_party_streams (party) >= self->client_streams_max) {
        snprintf (why, why_size, "this client has %zu streams open, the most one client may",
                  sstream_party_streams (party));
        return why;
    }
    if (stream && produce && sstream_stream_source (stream)) {
        snprintf (why, why_size, "stream '%s' is already being produced", header->stream);
        return why;
    }
    if (stream && !produce && sstream_stream_sink (stream) && !sstream_stream_to_peer (stream)) {
        snprintf (why, why_size, "stream '%s' already has a consumer", header->stream);
        return why;
    }
    if (stream && !produce && client
    &&  !sstream_stream_admits_reader (stream, sstream_party_key (party))) {
        snprintf (why, why_size, "not a reader of stream '%s': its producer did not seal it for "
                  "key %s", header->stream, sstream_party_key (party));
        return why;
    }
    if (stream && !produce && sstream_stream_to_peer (stream)) {
        snprintf (why, why_size, "stream '%s' is produced here and goes to %s: consume it there",
                  header->stream, sstream_peering_name (self->peering));
        return why;
    }
    if (!stream && zhashx_size (self->by_name) >= self->max_streams) {
        snprintf (why, why_size, "%zu streams are open, the most this gateway takes (max-streams)",
                  zhashx_size (self->by_name));
        return why;
    }
    return NULL;
}

//  A party that resumes takes over from itself: the stream it left (on a
//  connection that is gone, though we may not know yet) ends, for the
//  others too, who resume in turn (PROTOCOL.md section 3.10)
static sstream_stream_t *
s_take_over (self_t *self, sstream_stream_t *stream, sstream_party_t *party,
             const sstream_wire_t *header)
{
    if (!stream || !(header->flags & SSTREAM_WIRE_RESUME_OK))
        return stream;
    bool produce = header->role == SSTREAM_ROLE_PRODUCE;
    //  A stream going to the peer has no consumer here to take over from
    sstream_party_t *was = produce? sstream_stream_source (stream)
                         : sstream_stream_to_peer (stream)? NULL: sstream_stream_sink (stream);
    if (!was || !streq (sstream_party_key (was), sstream_party_key (party)))
        return stream;
    s_abortf (self, stream, NULL, SSTREAM_ELOST, "%s of stream '%s' came back on a new "
              "connection", produce? "the producer's side": "the consumer", header->stream);
    return NULL;
}

//  Source and consumer are both here: the consumer learns the producer's
//  run, and a source that resumes learns where from (the record the
//  consumer needs next, or 0 for one that starts)
static sstream_party_t *
s_meet (self_t *self, sstream_stream_t *stream)
{
    sstream_party_t *sink = sstream_stream_sink (stream);
    if (!sink || sstream_party_kind (sink) != SSTREAM_PARTY_CLIENT || !sstream_stream_meet (stream))
        return NULL;
    uint64_t seq, epoch;
    bool resumes = sstream_stream_sink_resume (stream, &seq, &epoch);
    const char *name = sstream_stream_name (stream);
    if ((resumes && epoch && epoch != sstream_stream_epoch (stream))
    ||  (seq && !sstream_stream_awaits_resume (stream))) {
        s_send_error (self, sink, SSTREAM_EPROTO, name, "stream '%s' was started over by its "
                      "producer (another run): this consumer, which has its records up to %"
                      PRIu64 ", cannot resume it", name, seq);
        sstream_stream_drop_sink (stream);
        sstream_party_drop_stream (sink);
        return NULL;
    }
    sstream_wire_t resume = { .type = SSTREAM_WIRE_RESUME, .seq = seq,
                              .epoch = sstream_stream_epoch (stream) };
    snprintf (resume.stream, sizeof (resume.stream), "%s", name);
    if (sstream_stream_awaits_resume (stream)) {
        int rc = sstream_stream_resume_at (stream, seq);
        if (rc)
            return s_outcome (self, stream, rc);
        zframe_t *frame = sstream_wire_encode (&resume);
        if (!frame || sstream_party_send (sstream_stream_source (stream), &frame, NULL))
            return sstream_stream_source (stream);
    }
    zframe_t *frame = sstream_wire_encode (&resume);
    if (!frame || sstream_party_send (sink, &frame, NULL))
        return sink;
    return NULL;
}

sstream_party_t *
sstream_streams_open (sstream_streams_t *self, sstream_party_t *party, const sstream_wire_t *header)
{
    sstream_stream_t *stream = (sstream_stream_t *) zhashx_lookup (self->by_name, header->stream);
    stream = s_take_over (self, stream, party, header);
    int code;
    char why [512];
    const char *refused = s_refusal (self, party, header, stream, &code, why, sizeof (why));
    if (refused) {
        s_send_error (self, party, code, header->stream, "%s", refused);
        return NULL;
    }
    if (!stream) {
        stream = s_stream_new (self, header->stream);
        if (!stream) {
            s_send_error (self, party, SSTREAM_ENOMEM, header->stream, "out of memory");
            return NULL;
        }
    }
    sstream_party_add_stream (party);
    bool produce = header->role == SSTREAM_ROLE_PRODUCE;
    sstream_wire_t accepted = {
        .type = SSTREAM_WIRE_ACCEPTED,
        .sid = sstream_stream_sid (stream),
        .heartbeat = (uint64_t) self->heartbeat
    };
    snprintf (accepted.stream, sizeof (accepted.stream), "%s", header->stream);
    snprintf (accepted.text, sizeof (accepted.text), "%s", self->gateway);
    if (header->flags & SSTREAM_WIRE_BULK_OK)
        sstream_party_offer_bulk (party, &accepted);
    bool resumes = (header->flags & SSTREAM_WIRE_RESUME_OK) != 0;
    bool from_peer = sstream_party_kind (party) == SSTREAM_PARTY_GATEWAY && self->peering;
    sstream_log_fields_t fields = {
        .stream = header->stream,
        .key = from_peer? NULL: sstream_party_key_name (party),
        .peer = from_peer? sstream_peering_name (self->peering): NULL
    };
    if (produce) {
        sstream_stream_set_source (stream, party, header->sid);
        sstream_stream_set_epoch (stream, header->epoch, resumes);
        accepted.window = sstream_stream_window (stream);
        //  A consumer already waiting here takes it; else the peer does
        if (!sstream_stream_sink (stream) && self->peering
        &&  sstream_party_kind (party) == SSTREAM_PARTY_CLIENT)
            sstream_stream_route_to_peer (stream);
        sstream_log_at (SSTREAM_LOG_INFO, &fields, "stream '%s' %s by %s%s", header->stream,
                        resumes? "resumed": "opened", sstream_party_name (party),
                        sstream_stream_to_peer (stream)? ", going to the peer": "");
    }
    else {
        sstream_stream_set_sink (stream, party);
        sstream_stream_open_sink (stream, header->sid, header->window);
        if (resumes)
            sstream_stream_sink_resumes (stream, header->resume, header->epoch);
        sstream_log_at (SSTREAM_LOG_INFO, &fields, "stream '%s' %s by %s%s", header->stream,
                        resumes? "resumed": "consumed", sstream_party_name (party),
                        resumes? " (it has records before the one it asks for)": "");
    }
    if (resumes)
        self->resumes++;
    zframe_t *frame = sstream_wire_encode (&accepted);
    if (!frame || sstream_party_send (party, &frame, NULL) != SSTREAM_OK)
        return party;
    if (sstream_stream_to_peer (stream) && !sstream_stream_sink (stream)
    &&  sstream_peering_is_up (self->peering)) {
        sstream_party_t *gone = s_open_at_peer (self, stream);
        if (gone)
            return gone;
    }
    sstream_party_t *gone = s_meet (self, stream);
    if (gone)
        return gone;
    return s_outcome (self, stream, sstream_stream_pump (stream));
}

sstream_party_t *
sstream_streams_peer_up (sstream_streams_t *self)
{
    zlistx_t *opening = zlistx_new ();
    sstream_stream_t *stream;
    for (stream = (sstream_stream_t *) zhashx_first (self->by_name); stream;
         stream = (sstream_stream_t *) zhashx_next (self->by_name))
        if (sstream_stream_to_peer (stream) && !sstream_stream_sink (stream))
            zlistx_add_end (opening, stream);
    sstream_party_t *gone = NULL;
    for (stream = (sstream_stream_t *) zlistx_first (opening); stream && !gone;
         stream = (sstream_stream_t *) zlistx_next (opening))
        gone = s_open_at_peer (self, stream);
    zlistx_destroy (&opening);
    return gone;
}


//  --------------------------------------------------------------------------
//  Data and credit

sstream_party_t *
sstream_streams_data (sstream_streams_t *self, sstream_link_t *link, const byte *routing_id,
                      size_t routing_id_size, const char *key,
                      const sstream_wire_batch_t *header, zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    sstream_stream_t *stream = s_stream_by_sid (self, header->sid);
    bool data = header->type == SSTREAM_WIRE_DATA;
    sstream_party_t *party = !stream? NULL
                           : data? sstream_stream_source (stream): sstream_stream_sink (stream);
    bool theirs = party && sstream_party_link (party) == link
               && sstream_party_is (party, routing_id, routing_id_size)
               && (!*sstream_party_key (party) || (key && streq (key, sstream_party_key (party))));
    if (!theirs) {
        zmq_msg_close (frame0);
        zmq_msg_close (frame1);
        //  Credit may still be on its way when a stream ends: dropped. Data
        //  for a stream that is gone means its sender missed the end: tell it
        zframe_t *error = !data? NULL
            : party? sstream_replies_error (self->replies, SSTREAM_EDENIED, NULL,
                                            "stream number %" PRIu32 " is not yours", header->sid)
            : sstream_replies_error (self->replies, SSTREAM_EPROTO, NULL,
                                     "no stream number %" PRIu32 " here (it ended, was aborted, "
                                     "or never opened)", header->sid);
        if (error)
            sstream_link_send (link, routing_id, routing_id_size, &error, NULL);
        return NULL;
    }
    sstream_party_heard (party, zclock_mono ());
    int rc = data? sstream_stream_push (stream, header, frame0, frame1)
                 : sstream_stream_credit (stream, header->length);
    if (!data) {
        zmq_msg_close (frame0);
        zmq_msg_close (frame1);
    }
    return s_outcome (self, stream, rc);
}


//  --------------------------------------------------------------------------
//  Control messages about a stream

static sstream_party_t *
s_end_ack (self_t *self, sstream_stream_t *stream, sstream_party_t *party,
           const sstream_wire_t *header)
{
    int rc = sstream_stream_check_end_ack (stream, header->seq, header->bytes);
    if (rc)
        return s_outcome (self, stream, rc);
    if (sstream_party_kind (party) == SSTREAM_PARTY_CLIENT) {
        //  Let the consumer know its acknowledgement arrived
        zframe_t *echo = sstream_wire_encode (header);
        if (echo)
            sstream_party_send (party, &echo, NULL);
    }
    sstream_party_t *source = sstream_stream_source (stream);
    if (source) {
        zframe_t *ack = sstream_wire_encode (header);
        if (ack)
            sstream_party_send (source, &ack, NULL);
    }
    double seconds = sstream_stream_age (stream) / 1000.0;
    char rate [32];
    sstream_log_fields_t fields = { .stream = sstream_stream_name (stream), .moved = true,
                                    .records = sstream_stream_records (stream),
                                    .bytes = sstream_stream_bytes (stream), .seconds = seconds };
    sstream_log_at (SSTREAM_LOG_INFO, &fields, "stream '%s' complete: %" PRIu64 " records, %"
                    PRIu64 " bytes in %.3f s (%s)", fields.stream, fields.records, fields.bytes,
                    seconds, sstream_log_rate (rate, sizeof (rate), fields.bytes, seconds));
    self->completed++;
    s_stream_remove (self, stream);
    return NULL;
}

//  A message for the source, as it came
static sstream_party_t *
s_pass_upstream (self_t *self, sstream_stream_t *stream, const sstream_wire_t *header)
{
    (void) self;
    sstream_party_t *source = sstream_stream_source (stream);
    zframe_t *frame = source? sstream_wire_encode (header): NULL;
    if (frame && sstream_party_send (source, &frame, NULL) != SSTREAM_OK)
        return source;
    return NULL;
}

sstream_party_t *
sstream_streams_control (sstream_streams_t *self, sstream_party_t *party,
                         const sstream_wire_t *header)
{
    sstream_stream_t *stream = (sstream_stream_t *) zhashx_lookup (self->by_name, header->stream);
    //  Accepted and end-ack may still be on their way when a stream ends:
    //  those are dropped. An end for a stream that is not there means the
    //  sender has missed its end: tell it. Never answer an error with an
    //  error.
    if (!stream) {
        if (header->type == SSTREAM_WIRE_END)
            s_send_error (self, party, SSTREAM_EPROTO, header->stream,
                          "no stream '%s' here (it ended, was aborted, or never opened)",
                          header->stream);
        return NULL;
    }
    bool from_source = sstream_stream_source (stream) == party;
    bool from_sink = sstream_stream_sink (stream) == party;
    if (!from_source && !from_sink) {
        if (header->type == SSTREAM_WIRE_END)
            s_send_error (self, party, SSTREAM_EDENIED, header->stream,
                          "stream '%s' is not yours", header->stream);
        return NULL;
    }
    int rc = SSTREAM_OK;
    switch (header->type) {
        case SSTREAM_WIRE_END:
            rc = from_source? sstream_stream_push_end (stream, header)
               : sstream_error_set (SSTREAM_EPROTO, "%s sent end on stream '%s' it receives",
                                    sstream_party_name (party), header->stream);
            return s_outcome (self, stream, rc);
        case SSTREAM_WIRE_ACCEPTED:
            if (!from_sink || sstream_party_kind (party) != SSTREAM_PARTY_GATEWAY
            ||  sstream_stream_sink_is_open (stream) || header->window == 0)
                return s_outcome (self, stream, sstream_error_set (SSTREAM_EPROTO,
                    "unexpected accepted for stream '%s'", header->stream));
            sstream_stream_open_sink (stream, header->sid, header->window);
            return s_outcome (self, stream, sstream_stream_pump (stream));
        case SSTREAM_WIRE_RESUME:
            //  From the peer that has the consumer: from where, for the source
            if (!from_sink || sstream_party_kind (party) != SSTREAM_PARTY_GATEWAY)
                return s_outcome (self, stream, sstream_error_set (SSTREAM_EPROTO,
                    "resume for stream '%s' from %s", header->stream, sstream_party_name (party)));
            rc = sstream_stream_resume_at (stream, header->seq);
            if (rc)
                return s_outcome (self, stream, rc);
            return s_pass_upstream (self, stream, header);
        case SSTREAM_WIRE_ACK:
            //  What the consumer's application has taken: for the producer
            if (!from_sink)
                return s_outcome (self, stream, sstream_error_set (SSTREAM_EPROTO,
                    "ack for stream '%s' from its source", header->stream));
            return s_pass_upstream (self, stream, header);
        case SSTREAM_WIRE_END_ACK:
            if (!from_sink)
                return s_outcome (self, stream, sstream_error_set (SSTREAM_EPROTO,
                    "end-ack for stream '%s' from its source", header->stream));
            return s_end_ack (self, stream, party, header);
        case SSTREAM_WIRE_ERROR: {
            //  Pass the party's own words on to the other side
            int code = header->code > 0 && header->code < SSTREAM_EINTERNAL
                     ? (int) header->code: SSTREAM_EABORTED;
            s_abort (self, stream, party, code, header->text);
            return NULL;
        }
        default:
            return s_outcome (self, stream, sstream_error_set (SSTREAM_EPROTO,
                "unexpected %s message on stream '%s'", sstream_wire_type_name (header->type),
                header->stream));
    }
}


sstream_party_t *
sstream_streams_key (sstream_streams_t *self, sstream_party_t *party, const sstream_wire_t *header,
                     zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    sstream_stream_t *stream = (sstream_stream_t *) zhashx_lookup (self->by_name, header->stream);
    if (!stream || sstream_stream_source (stream) != party) {
        zmq_msg_close (frame0);
        zmq_msg_close (frame1);
        s_send_error (self, party, SSTREAM_EPROTO, header->stream,
                      "a key for stream '%s', which is not yours to produce here", header->stream);
        return NULL;
    }
    int rc = sstream_stream_push_key (stream, frame0, frame1);
    if (rc == SSTREAM_OK) {
        //  A consumer that came before the key said who may read: if it
        //  is not one, it goes before anything is sent to it (the key
        //  stays queued for the next consumer), and the stream waits for
        //  one who is
        sstream_party_t *sink = sstream_stream_sink (stream);
        if (sink && sstream_party_kind (sink) == SSTREAM_PARTY_CLIENT
        &&  !sstream_stream_admits_reader (stream, sstream_party_key (sink))) {
            s_send_error (self, sink, SSTREAM_EDENIED, header->stream,
                          "not a reader of stream '%s': its producer did not seal it for key %s",
                          header->stream, sstream_party_key (sink));
            sstream_stream_drop_sink (stream);
            sstream_party_drop_stream (sink);
        }
        rc = sstream_stream_pump (stream);
    }
    return s_outcome (self, stream, rc);
}


//  --------------------------------------------------------------------------
//  Parties gone, and the end

void
sstream_streams_party_lost (sstream_streams_t *self, sstream_party_t *party, int code,
                            const char *why)
{
    bool gateway = sstream_party_kind (party) == SSTREAM_PARTY_GATEWAY;
    if (gateway || sstream_party_streams (party)) {
        sstream_log_fields_t fields = {
            .key = gateway? NULL: sstream_party_key_name (party),
            .peer = gateway && self->peering? sstream_peering_name (self->peering): NULL
        };
        sstream_log_at (SSTREAM_LOG_WARNING, &fields, "lost %s: %s", sstream_party_name (party),
                        why);
    }
    zlistx_t *doomed = zlistx_new ();
    sstream_stream_t *stream;
    for (stream = (sstream_stream_t *) zhashx_first (self->by_name); stream;
         stream = (sstream_stream_t *) zhashx_next (self->by_name))
        if (sstream_stream_source (stream) == party || sstream_stream_sink (stream) == party)
            zlistx_add_end (doomed, stream);
    for (stream = (sstream_stream_t *) zlistx_first (doomed); stream;
         stream = (sstream_stream_t *) zlistx_next (doomed)) {
        bool source = sstream_stream_source (stream) == party;
        const char *what = source? (gateway? "the producer's side": "the producer")
                                 : (gateway? "the consumer's side": "the consumer");
        //  The lost party is told too, in case it is alive after all. A
        //  loss (ELOST) is no end: the others may resume (PROTOCOL.md 3.10)
        s_abortf (self, stream, NULL, code,
                  "lost %s of stream '%s' (%s: %s)", what, sstream_stream_name (stream),
                  sstream_party_name (party), why);
    }
    zlistx_destroy (&doomed);
}

void
sstream_streams_peer_down (sstream_streams_t *self)
{
    if (!self->peering || sstream_peering_is_up (self->peering))
        return;
    const char *down = sstream_peering_why_down (self->peering);
    zlistx_t *waiting = zlistx_new ();
    sstream_stream_t *stream;
    //  A stream that waits for the peer to take it, and a consumer that
    //  waits here for a stream that can only come from the peer
    for (stream = (sstream_stream_t *) zhashx_first (self->by_name); stream;
         stream = (sstream_stream_t *) zhashx_next (self->by_name))
        if ((sstream_stream_to_peer (stream) && !sstream_stream_sink (stream))
        ||  (sstream_stream_sink (stream) && !sstream_stream_source (stream)))
            zlistx_add_end (waiting, stream);
    for (stream = (sstream_stream_t *) zlistx_first (waiting); stream;
         stream = (sstream_stream_t *) zlistx_next (waiting))
        s_abortf (self, stream, NULL, SSTREAM_ELOST, "stream '%s' cannot go on: peer gateway %s "
                  "is not connected (%s)", sstream_stream_name (stream),
                  sstream_peering_name (self->peering), down? down: "it has not said hello");
    zlistx_destroy (&waiting);
}

void
sstream_streams_shutdown (sstream_streams_t *self)
{
    zlistx_t *open = zlistx_new ();
    sstream_stream_t *stream;
    for (stream = (sstream_stream_t *) zhashx_first (self->by_name); stream;
         stream = (sstream_stream_t *) zhashx_next (self->by_name))
        zlistx_add_end (open, stream);
    for (stream = (sstream_stream_t *) zlistx_first (open); stream;
         stream = (sstream_stream_t *) zlistx_next (open))
        s_abortf (self, stream, NULL, SSTREAM_ELOST, "the gateway is shutting down");
    zlistx_destroy (&open);
}

//  --------------------------------------------------------------------------
//  For people: status and metrics

static void
s_party_label (self_t *self, sstream_party_t *party, char *label, size_t size)
{
    *label = 0;
    if (party && sstream_party_kind (party) == SSTREAM_PARTY_GATEWAY)
        snprintf (label, size, "via %s", self->peering? sstream_peering_name (self->peering): "peer");
    else
    if (party)
        sstream_link_key_name (sstream_party_link (party), sstream_party_key (party), label, size);
}

sstream_stream_row_t *
sstream_streams_rows (sstream_streams_t *self, size_t *count)
{
    *count = 0;
    size_t size = zhashx_size (self->by_name);
    sstream_stream_row_t *rows = size? (sstream_stream_row_t *) malloc (size * sizeof (*rows)): NULL;
    if (!rows)
        return NULL;
    int64_t now = zclock_mono ();
    sstream_stream_t *stream;
    for (stream = (sstream_stream_t *) zhashx_first (self->by_name); stream && *count < size;
         stream = (sstream_stream_t *) zhashx_next (self->by_name)) {
        sstream_stream_row_t *row = &rows [(*count)++];
        sstream_stream_row (stream, row, now);
        s_party_label (self, sstream_stream_source (stream), row->producer, sizeof (row->producer));
        s_party_label (self, sstream_stream_sink (stream), row->consumer, sizeof (row->consumer));
    }
    return rows;
}

void
sstream_streams_tick (sstream_streams_t *self, int64_t now)
{
    sstream_stream_t *stream;
    for (stream = (sstream_stream_t *) zhashx_first (self->by_name); stream;
         stream = (sstream_stream_t *) zhashx_next (self->by_name))
        sstream_stream_sample (stream, now);
}

int
sstream_streams_stat (sstream_streams_t *self, const char *name, uint64_t *value)
{
    if (streq (name, "streams"))
        *value = zhashx_size (self->by_name);
    else
    if (streq (name, "buffered"))
        *value = self->stats.buffered;
    else
    if (streq (name, "buffered-peak"))
        *value = self->stats.buffered_peak;
    else
    if (streq (name, "bytes-in"))
        *value = self->stats.bytes_in;
    else
    if (streq (name, "bytes-out"))
        *value = self->stats.bytes_out;
    else
    if (streq (name, "aborted"))
        *value = self->aborted;
    else
    if (streq (name, "completed"))
        *value = self->completed;
    else
    if (streq (name, "resumes"))
        *value = self->resumes;
    else
        return SSTREAM_EINVAL;
    return SSTREAM_OK;
}
