/*  =========================================================================
    sstream_streams - a gateway's streams: opening them, routing them,
    passing their batches, credit and ends, and ending them (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Streams are found by name (control messages) and by number (data and
    credit: the number this gateway gave the stream, which holds its slot
    in a table and a generation, so that a number from an ended stream
    finds nothing).

    Handlers return the party they found gone (a send to it failed), or
    NULL; the router then ends everything that went through it.
*/

#ifndef SSTREAM_STREAMS_H_INCLUDED
#define SSTREAM_STREAMS_H_INCLUDED

typedef struct _sstream_streams_t sstream_streams_t;

typedef struct {
    const char *gateway;        //  Our name, for messages
    uint64_t buffer;            //  Bytes held per stream, at most
    uint64_t max_streams;
    uint64_t client_streams_max;
    int64_t heartbeat;          //  msecs, said in accepted
    sstream_peering_t *peering; //  Borrowed; NULL without a peer
    sstream_replies_t *replies; //  Borrowed: errors within a budget
} sstream_streams_config_t;

sstream_streams_t *
    sstream_streams_new (const sstream_streams_config_t *config);

void
    sstream_streams_destroy (sstream_streams_t **self_p);

//  Rules for who may produce and consume what (borrowed; NULL: anybody
//  a link admits).
void
    sstream_streams_set_access (sstream_streams_t *self, sstream_access_t *access);

//  An open from party (a client, or the peer gateway).
sstream_party_t *
    sstream_streams_open (sstream_streams_t *self, sstream_party_t *party,
                          const sstream_wire_t *header);

//  A batch (frames taken) or credit, by stream number, from the sender
//  whose routing id is given (NULL on a DEALER link) and whose CURVE key
//  the first frame carried (NULL without security). The sender must be the
//  stream's source (data) or sink (credit).
sstream_party_t *
    sstream_streams_data (sstream_streams_t *self, sstream_link_t *link, const byte *routing_id,
                          size_t routing_id_size, const char *key,
                          const sstream_wire_batch_t *header, zmq_msg_t *frame0,
                          zmq_msg_t *frame1);

//  A control message about a stream by name (end, end-ack, accepted,
//  error), from party.
sstream_party_t *
    sstream_streams_control (sstream_streams_t *self, sstream_party_t *party,
                             const sstream_wire_t *header);

//  A key message of a sealed stream, from its source (frames taken):
//  forwarded in order; a consumer that is not among its readers goes.
sstream_party_t *
    sstream_streams_key (sstream_streams_t *self, sstream_party_t *party,
                         const sstream_wire_t *header, zmq_msg_t *frame0, zmq_msg_t *frame1);

//  The peer gateway is up: open the streams routed to it.
sstream_party_t *
    sstream_streams_peer_up (sstream_streams_t *self);

//  A party is gone: end every stream that passed through it, telling the
//  other side with code: SSTREAM_ELOST for a loss, which the other side
//  may resume from (PROTOCOL.md section 3.10), or why it had to go
//  (SSTREAM_EAUTH: its key was revoked; SSTREAM_EPROTO: it broke the
//  protocol).
void
    sstream_streams_party_lost (sstream_streams_t *self, sstream_party_t *party, int code,
                                const char *why);

//  The peer gateway has been down for long (the router says when): the
//  streams that wait for it, and the consumers that wait for a stream only
//  it could bring, are told why (SSTREAM_ELOST, so that they may try again,
//  or another gateway, until their resume-timeout).
void
    sstream_streams_peer_down (sstream_streams_t *self);

//  Abort every stream, telling both ends: the gateway is stopping.
void
    sstream_streams_shutdown (sstream_streams_t *self);

//  Every stream as it is now, with the names of its producer and consumer
//  (a client's key name, sstream_link_key_name; the peer gateway as "via
//  NAME"): an array to free, its size in *count. NULL (count 0) when
//  there are none, or no memory.
sstream_stream_row_t *
    sstream_streams_rows (sstream_streams_t *self, size_t *count);

//  Timed work: samples for the streams' rates.
void
    sstream_streams_tick (sstream_streams_t *self, int64_t now);

//  A statistic (see sstream_gateway_stat): SSTREAM_EINVAL if unknown.
int
    sstream_streams_stat (sstream_streams_t *self, const char *name, uint64_t *value);

#endif
