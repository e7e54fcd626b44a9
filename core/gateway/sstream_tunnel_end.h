/*  =========================================================================
    sstream_tunnel_end - one end of a tunnel session: where its connections
    come from or go to, how fast it may read, and what it has done (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    An outbound end listens on a port of the gateway's range, where the
    applications of its facility connect; an inbound end knows the TCP
    server its connections go to. With a rate, the end's connections
    together read no faster than it: a token bucket holding a tenth of a
    second's worth, and at least 64 KiB (PROTOCOL.md section 9).
*/

#ifndef SSTREAM_TUNNEL_END_H_INCLUDED
#define SSTREAM_TUNNEL_END_H_INCLUDED

typedef struct _sstream_tunnel_end_t sstream_tunnel_end_t;

//  What a session's tunnel has done
typedef struct {
    uint64_t connections;       //  Open now
    uint64_t connections_total;
    uint64_t bytes_in;          //  Read from this side's TCP connections
    uint64_t bytes_out;         //  Written to them
    int64_t last_active;        //  zclock_mono of the last byte either way
} sstream_tunnel_stats_t;

//  The most one read takes from a connection
#define SSTREAM_TUNNEL_READ_MAX (1024 * 1024)

//  An outbound end: listen on the first free port of address:low-high;
//  *port gets it.
int
    sstream_tunnel_end_listen (sstream_tunnel_end_t **self_p, const char *name,
                               const char *address, int low, int high, uint64_t rate,
                               int *port);

//  An inbound end: connections go to target ("host:port").
int
    sstream_tunnel_end_target (sstream_tunnel_end_t **self_p, const char *name,
                               const char *target, uint64_t rate);

void
    sstream_tunnel_end_destroy (sstream_tunnel_end_t **self_p);

const char *
    sstream_tunnel_end_name (sstream_tunnel_end_t *self);
bool
    sstream_tunnel_end_outbound (sstream_tunnel_end_t *self);
sstream_tunnel_stats_t *
    sstream_tunnel_end_stats (sstream_tunnel_end_t *self);

//  Outbound: the listening socket; -1 while accepting rests (after an
//  accept failed, most likely for want of descriptors).
int
    sstream_tunnel_end_listener (sstream_tunnel_end_t *self, int64_t now);
void
    sstream_tunnel_end_rest (sstream_tunnel_end_t *self, int64_t until);

//  Inbound: where connections go, and its text for messages.
const struct sockaddr *
    sstream_tunnel_end_address (sstream_tunnel_end_t *self, socklen_t *length);
const char *
    sstream_tunnel_end_target_text (sstream_tunnel_end_t *self);

//  A number for the next connection, from a random base, so that a
//  session of the same name opened again numbers afresh.
uint64_t
    sstream_tunnel_end_next_conn (sstream_tunnel_end_t *self);

//  The rate: bring the bucket up to now; is it worth polling to read (the
//  bucket holds a read worth its cost); how much of wanted may be read
//  now (0: none); what was read; when the bucket will hold a read worth
//  its cost again (0: it is not waiting for one).
void
    sstream_tunnel_end_refill (sstream_tunnel_end_t *self, int64_t now);
bool
    sstream_tunnel_end_may_read (sstream_tunnel_end_t *self);
size_t
    sstream_tunnel_end_budget (sstream_tunnel_end_t *self, size_t wanted);
void
    sstream_tunnel_end_spend (sstream_tunnel_end_t *self, size_t bytes);
int64_t
    sstream_tunnel_end_next_wake (sstream_tunnel_end_t *self);

#endif
