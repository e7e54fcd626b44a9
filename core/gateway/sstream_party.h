/*  =========================================================================
    sstream_party - one party a gateway talks to: a producer or consumer
    on its local link, or its peer gateway (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A party is known by the link it is on and, on a bound (ROUTER) link,
    by its routing id; by its CURVE key; and by when it was last heard
    from, which tells when it is lost.
*/

#ifndef SSTREAM_PARTY_H_INCLUDED
#define SSTREAM_PARTY_H_INCLUDED

typedef enum {
    SSTREAM_PARTY_CLIENT,       //  A producer or consumer on the local link
    SSTREAM_PARTY_GATEWAY       //  The other facility's gateway
} sstream_party_kind_t;

typedef struct _sstream_party_t sstream_party_t;

//  routing_id is NULL when we are the connecting side (a DEALER). key is
//  the party's CURVE key (Z85), or "" without security. timeout is the
//  silence after which it is lost.
sstream_party_t *
    sstream_party_new (sstream_party_kind_t kind, sstream_link_t *link, const byte *routing_id,
                       size_t routing_id_size, const char *key, const char *name,
                       int64_t timeout);

void
    sstream_party_destroy (sstream_party_t **self_p);

//  Offer it the link's bulk path, where the link has one and the party
//  has not been offered it yet: reply (an accepted or welcome) gets where
//  to connect and the token to show. The path forgets it with the party,
//  or when told to (the party's session starts over).
void
    sstream_party_offer_bulk (sstream_party_t *self, sstream_wire_t *reply);
void
    sstream_party_forget_bulk (sstream_party_t *self);

sstream_party_kind_t
    sstream_party_kind (sstream_party_t *self);
const char *
    sstream_party_name (sstream_party_t *self);
const char *
    sstream_party_key (sstream_party_t *self);
//  Its key as log lines name it (sstream_link_key_name).
const char *
    sstream_party_key_name (sstream_party_t *self);
sstream_link_t *
    sstream_party_link (sstream_party_t *self);

//  True if a message with this routing id (NULL on a DEALER link) is
//  from this party.
bool
    sstream_party_is (sstream_party_t *self, const byte *routing_id, size_t size);

//  Liveness: heard from it now; the longest silence it may keep (grown,
//  never shrunk, when it pings less often than we expect); lost when the
//  silence is over; needs a ping from us when we have been quiet for
//  heartbeat msecs.
void
    sstream_party_heard (sstream_party_t *self, int64_t now);
void
    sstream_party_expect_heartbeat (sstream_party_t *self, int64_t heartbeat);
bool
    sstream_party_is_silent (sstream_party_t *self, int64_t now);
bool
    sstream_party_needs_ping (sstream_party_t *self, int64_t now, int64_t heartbeat);
int64_t
    sstream_party_timeout (sstream_party_t *self);

//  Send a control message, or a data message (frames spent whatever
//  happens). SSTREAM_ELOST when it is gone.
int
    sstream_party_send (sstream_party_t *self, zframe_t **header, zframe_t **payload);
int
    sstream_party_send_data (sstream_party_t *self, zmq_msg_t *frame0, zmq_msg_t *frame1);

//  Streams it is source or sink of.
size_t
    sstream_party_streams (sstream_party_t *self);
void
    sstream_party_add_stream (sstream_party_t *self);
void
    sstream_party_drop_stream (sstream_party_t *self);

#endif
