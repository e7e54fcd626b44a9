/*  =========================================================================
    sstream_bulkpath - the bulk path beside one link: sealed payloads on
    connections of their own, without per-hop crypto (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A sealed batch needs no CURVE: the producer sealed it and only its
    readers can open it. So its payload (frame 1) may travel on a
    connection of the link's transport plugin (the bulk operations of
    sstream_transport.h), while its header and everything else keep to the
    link's CURVE socket. core/PROTOCOL.md section 3.9 says how.

    One bulk path per link; on it, one connection per peer (a gateway's
    ROUTER links have many). The binding side listens and offers each peer
    a single-use token over the CURVE link; the peer connects and sends the
    token first. A connection is tied to the peer whose token it presents,
    or closed before a byte from it is used.

    The link drives it (sstream_link_send_data, sstream_link_recv): a data
    header flagged SSTREAM_WIRE_BULK goes over the CURVE socket alone and
    its payload over the peer's connection, in the same order. On the
    receiving side the path holds that header, and every later message of
    the same peer, until its payload has arrived: then the link hands out
    the message whole, as if frame 1 had come with it, so nothing above
    the link knows which way a payload came.
*/

#ifndef SSTREAM_BULKPATH_H_INCLUDED
#define SSTREAM_BULKPATH_H_INCLUDED

typedef struct _sstream_bulkpath_t sstream_bulkpath_t;

//  A token, as it travels in accepted and welcome: hex
#define SSTREAM_BULKPATH_TOKEN 32
#define SSTREAM_BULKPATH_TOKEN_HEX (2 * SSTREAM_BULKPATH_TOKEN + 1)

//  A path for a link of name that uses transport (which must have
//  SSTREAM_TRANSPORT_BULK). A binding one listens beside bound_endpoint.
//  timeout: msecs a token, a stranger's connection, or a payload the
//  other side owes may take before it is given up.
int
    sstream_bulkpath_new (sstream_bulkpath_t **self_p, const char *name,
                          const sstream_transport_t *transport, const char *endpoint,
                          const char *const *options, bool bind, const char *bound_endpoint,
                          uint64_t max_payload, int64_t timeout);

void
    sstream_bulkpath_destroy (sstream_bulkpath_t **self_p);

//  Binding side: where the other side connects, to hand over the link.
const char *
    sstream_bulkpath_address (sstream_bulkpath_t *self);

//  Binding side: a single-use token for the peer with this routing id,
//  in hex (SSTREAM_BULKPATH_TOKEN_HEX bytes). A peer has one connection:
//  returns SSTREAM_EINVAL when it has one, or has a token out.
int
    sstream_bulkpath_offer (sstream_bulkpath_t *self, const byte *routing_id,
                            size_t routing_id_size, char *token);

//  Connecting side: connect to address and present token (hex).
int
    sstream_bulkpath_connect (sstream_bulkpath_t *self, const char *address, const char *token);

//  True when payloads to this peer may go on the path now.
bool
    sstream_bulkpath_ready (sstream_bulkpath_t *self, const byte *routing_id,
                            size_t routing_id_size);

//  Send a payload to a peer that is ready, after its header went over the
//  link. Takes the frame, whatever happens.
int
    sstream_bulkpath_send (sstream_bulkpath_t *self, const byte *routing_id,
                           size_t routing_id_size, zmq_msg_t *payload);

//  A message just read from the link: false when the path has taken it
//  (to hand out whole, in order, from sstream_bulkpath_next), true when
//  it goes on as it is.
bool
    sstream_bulkpath_admit (sstream_bulkpath_t *self, sstream_link_msg_t *message);

//  A message the path held that is whole now: true, and *message.
bool
    sstream_bulkpath_next (sstream_bulkpath_t *self, sstream_link_msg_t *message);

//  True when whole messages wait to be read.
bool
    sstream_bulkpath_readable (sstream_bulkpath_t *self);

//  What to poll: how many items at most, then the items themselves
//  (descriptors), and what came of them.
size_t
    sstream_bulkpath_poll_count (sstream_bulkpath_t *self);
size_t
    sstream_bulkpath_poll_items (sstream_bulkpath_t *self, zmq_pollitem_t *items, size_t max);
void
    sstream_bulkpath_handle_poll (sstream_bulkpath_t *self, const zmq_pollitem_t *items,
                                  size_t count);

//  When the path next needs a tick (monotonic msecs; INT64_MAX: never),
//  and the tick, which gives up on what took too long.
int64_t
    sstream_bulkpath_next_wake (sstream_bulkpath_t *self);
void
    sstream_bulkpath_tick (sstream_bulkpath_t *self);

//  A peer whose path failed (its connection broke, or what it owed never
//  came): true with its routing id and why. It is forgotten; what it held
//  is dropped. The link's owner treats the peer as gone.
bool
    sstream_bulkpath_has_lost (sstream_bulkpath_t *self);
bool
    sstream_bulkpath_lost (sstream_bulkpath_t *self, byte *routing_id, size_t *routing_id_size,
                           char *why, size_t why_size);

//  The peer is gone: close its connection, drop what it held.
void
    sstream_bulkpath_forget (sstream_bulkpath_t *self, const byte *routing_id,
                             size_t routing_id_size);

//  Counters: "connections", "refused" (connections without a valid
//  token), "bytes-in", "bytes-out"; false for an unknown name.
bool
    sstream_bulkpath_stat (sstream_bulkpath_t *self, const char *name, uint64_t *value);

#endif
