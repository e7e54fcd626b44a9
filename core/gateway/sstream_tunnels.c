/*  =========================================================================
    sstream_tunnels - transparent TCP tunnels through two gateways

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    All sockets are non-blocking and polled by the gateway's actor. A
    connection reads from its TCP socket only while it has credit towards
    the other gateway (and its session's rate allows), seals what it read
    in place and sends it as a chunk; what arrives from the other gateway
    is opened in place, queued, written as the socket takes it, and only
    then given back as credit. So a slow TCP peer slows its own connection,
    never the gateway or the other connections.

    Each side numbers its connections (a table slot and a generation, as
    a gateway numbers its streams): a chunk carries the receiver's number,
    found without a search.
*/

#define _GNU_SOURCE             //  accept4
#include "sstream_gateway_classes.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define READ_BUFFERS 16         //  Kept for reuse
//  What a chunk costs in credit: its bytes as they travel and a fixed part
#define DATA_COST(size) ((uint64_t) (size) + 64)
#define OPEN_TIMEOUT 30000      //  msecs the other side may take to connect
#define ACCEPT_PAUSE 200        //  msecs a listener rests after accept fails
#define CONNS_MAX 0xffff        //  Open at once, all sessions (their numbers)

typedef enum {
    CONN_OPENING,               //  Waiting for the other side (or connect)
    CONN_OPEN
} s_state_t;

//  A chunk from the other side, opened, waiting for our socket
typedef struct {
    zmq_msg_t chunk;
    size_t length;              //  Bytes of it to write
    uint64_t cost;              //  Credit it gives back once written
} s_out_t;

typedef struct {
    char key [SSTREAM_STREAM_NAME_MAX + 24];    //  "name/conn"
    sstream_tunnel_end_t *end;
    uint64_t conn;
    uint32_t sid;               //  Our number for it
    uint32_t peer_sid;          //  Theirs: what our chunks carry
    int fd;
    s_state_t state;
    int64_t credit;             //  What we may still send the other side
    int64_t peer_window;
    uint64_t to_grant;          //  Written out, not yet given back
    uint64_t held;              //  Their data here, not yet given back
    uint64_t sent_chunks;       //  Numbered from 0, each way
    uint64_t received_chunks;
    sstream_tunnel_seal_t *seal;    //  Both ways; NULL without keys
    zlistx_t *out;              //  s_out_t waiting for our socket
    size_t out_offset;          //  Bytes of the first already written
    bool read_eof;              //  Our socket's input ended (told them)
    bool peer_eof;              //  Theirs did: shut our output once flushed
    bool wrote_eof;
    int64_t created;            //  zclock_mono
} s_conn_t;

struct _sstream_tunnels_t {
    char gateway [65];
    char address [SSTREAM_WIRE_ADDRESS_MAX + 1];
    int port_low;
    int port_high;
    uint64_t window;
    uint64_t max_connections;
    bool sealed;
    zcert_t *cert;
    bool has_peer_key;
    byte peer_key [32];
    uint64_t rekey;
    sstream_tunnels_send_fn *send;
    sstream_tunnels_send_data_fn *send_data;
    void *send_arg;
    zhashx_t *ends;             //  Name -> sstream_tunnel_end_t
    zhashx_t *listeners;        //  "fd" -> sstream_tunnel_end_t
    zhashx_t *conns;            //  "name/conn" -> s_conn_t
    zhashx_t *by_fd;            //  "fd" -> s_conn_t
    sstream_numbers_t *numbers; //  Ours for the connections, to s_conn_t
    sstream_pool_t *buffers;    //  What reads go into, and travel in
    uint64_t refused;           //  Chunks that did not open, or out of turn
};

static void
s_end_destructor (void **item_p)
{
    sstream_tunnel_end_destroy ((sstream_tunnel_end_t **) item_p);
}

static void
s_out_destructor (void **item_p)
{
    s_out_t *out = (s_out_t *) *item_p;
    if (out) {
        zmq_msg_close (&out->chunk);
        free (out);
        *item_p = NULL;
    }
}

static void
s_conn_destructor (void **item_p)
{
    s_conn_t *conn = (s_conn_t *) *item_p;
    if (conn) {
        if (conn->fd >= 0)
            close (conn->fd);
        zlistx_destroy (&conn->out);
        sstream_tunnel_seal_destroy (&conn->seal);
        free (conn);
        *item_p = NULL;
    }
}

sstream_tunnels_t *
sstream_tunnels_new (const sstream_tunnels_config_t *config)
{
    sstream_tunnels_t *self = (sstream_tunnels_t *) zmalloc (sizeof (sstream_tunnels_t));
    if (!self)
        return NULL;
    snprintf (self->gateway, sizeof (self->gateway), "%s", config->gateway);
    snprintf (self->address, sizeof (self->address), "%s", config->address);
    self->port_low = config->port_low;
    self->port_high = config->port_high;
    self->window = config->window;
    self->max_connections = config->max_connections? config->max_connections: 128;
    self->cert = config->cert;
    self->has_peer_key = config->peer_key != NULL;
    if (config->peer_key)
        memcpy (self->peer_key, config->peer_key, sizeof (self->peer_key));
    self->sealed = config->sealed && self->cert && self->has_peer_key;
    self->rekey = config->rekey;
    self->send = config->send;
    self->send_data = config->send_data;
    self->send_arg = config->send_arg;
    self->ends = zhashx_new ();
    self->listeners = zhashx_new ();
    self->conns = zhashx_new ();
    self->by_fd = zhashx_new ();
    self->buffers = sstream_pool_new (SSTREAM_TUNNEL_READ_MAX + SSTREAM_TUNNEL_SEAL_TAG,
                                      READ_BUFFERS);
    self->numbers = sstream_numbers_new (CONNS_MAX);
    if (!self->ends || !self->listeners || !self->conns || !self->by_fd || !self->buffers
    ||  !self->numbers) {
        sstream_tunnels_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->ends, s_end_destructor);
    zhashx_set_destructor (self->conns, s_conn_destructor);
    return self;
}

void
sstream_tunnels_destroy (sstream_tunnels_t **self_p)
{
    if (self_p && *self_p) {
        sstream_tunnels_t *self = *self_p;
        zhashx_destroy (&self->conns);
        zhashx_destroy (&self->listeners);
        zhashx_destroy (&self->ends);
        zhashx_destroy (&self->by_fd);
        sstream_numbers_destroy (&self->numbers);
        sstream_pool_release (&self->buffers);
        free (self);
        *self_p = NULL;
    }
}

//  Descriptors to what they belong to

static void
s_fd_key (int fd, char *key, size_t size)
{
    snprintf (key, size, "%d", fd);
}

static void
s_index (zhashx_t *table, int fd, void *owner)
{
    char key [16];
    s_fd_key (fd, key, sizeof (key));
    zhashx_update (table, key, owner);
}

static void
s_unindex (zhashx_t *table, int fd)
{
    char key [16];
    s_fd_key (fd, key, sizeof (key));
    zhashx_delete (table, key);
}

static void *
s_owner (zhashx_t *table, int fd)
{
    char key [16];
    s_fd_key (fd, key, sizeof (key));
    return zhashx_lookup (table, key);
}


//  --------------------------------------------------------------------------
//  Sessions' ends

static int
s_add_end (sstream_tunnels_t *self, sstream_tunnel_end_t *end)
{
    zhashx_insert (self->ends, sstream_tunnel_end_name (end), end);
    int fd = sstream_tunnel_end_listener (end, zclock_mono ());
    if (fd >= 0)
        s_index (self->listeners, fd, end);
    return SSTREAM_OK;
}

int
sstream_tunnels_listen (sstream_tunnels_t *self, const char *name, uint64_t rate, int *port)
{
    if (zhashx_lookup (self->ends, name))
        return sstream_error_set (SSTREAM_EDENIED, "a tunnel named '%s' is already here", name);
    sstream_tunnel_end_t *end;
    int rc = sstream_tunnel_end_listen (&end, name, self->address, self->port_low,
                                        self->port_high, rate, port);
    return rc? rc: s_add_end (self, end);
}

int
sstream_tunnels_target (sstream_tunnels_t *self, const char *name, const char *target, uint64_t rate)
{
    if (zhashx_lookup (self->ends, name))
        return sstream_error_set (SSTREAM_EDENIED, "a tunnel named '%s' is already here", name);
    sstream_tunnel_end_t *end;
    int rc = sstream_tunnel_end_target (&end, name, target, rate);
    return rc? rc: s_add_end (self, end);
}

bool
sstream_tunnels_stats (sstream_tunnels_t *self, const char *name, sstream_tunnel_stats_t *stats)
{
    sstream_tunnel_end_t *end = (sstream_tunnel_end_t *) zhashx_lookup (self->ends, name);
    if (end)
        *stats = *sstream_tunnel_end_stats (end);
    return end != NULL;
}


//  --------------------------------------------------------------------------
//  Connections

static int
s_send (sstream_tunnels_t *self, sstream_wire_t *header, const char *name, uint64_t conn_id,
        const char *text)
{
    header->conn = conn_id;
    snprintf (header->stream, sizeof (header->stream), "%s", name);
    if (text)
        snprintf (header->text, sizeof (header->text), "%s: %s", self->gateway, text);
    zframe_t *frame = sstream_wire_encode (header);
    return frame? self->send (self->send_arg, &frame): SSTREAM_ENOMEM;
}

//  A message about a connection: type, and its number (window, bytes)
static int
s_tell (sstream_tunnels_t *self, s_conn_t *conn, int type, uint64_t number)
{
    sstream_wire_t header = { .type = type };
    if (type == SSTREAM_WIRE_TUNNEL_CREDIT)
        header.bytes = number;
    else
    if (type == SSTREAM_WIRE_TUNNEL_OPEN || type == SSTREAM_WIRE_TUNNEL_OPENED) {
        header.window = number;
        header.sid = conn->sid;
    }
    return s_send (self, &header, sstream_tunnel_end_name (conn->end), conn->conn, NULL);
}

static int
s_reset (sstream_tunnels_t *self, const char *name, uint64_t conn_id, const char *why)
{
    sstream_wire_t header = { .type = SSTREAM_WIRE_TUNNEL_RESET };
    return s_send (self, &header, name, conn_id, why);
}

//  End a connection: with a reset (RST on our socket, and a word to the
//  other side unless it is the one that reset), or a plain close.

static void
s_conn_end (sstream_tunnels_t *self, s_conn_t *conn, bool reset, bool tell, const char *why)
{
    const char *name = sstream_tunnel_end_name (conn->end);
    if (reset && conn->fd >= 0) {
        struct linger linger = { 1, 0 };
        setsockopt (conn->fd, SOL_SOCKET, SO_LINGER, &linger, sizeof (linger));
    }
    if (reset && tell)
        s_reset (self, name, conn->conn, why);
    if (reset)
        sstream_log_debug ("tunnel '%s' connection %" PRIu64 " reset: %s", name, conn->conn, why);
    sstream_tunnel_end_stats (conn->end)->connections--;
    s_unindex (self->by_fd, conn->fd);
    sstream_numbers_give (self->numbers, conn->sid);
    zhashx_delete (self->conns, conn->key);
}

//  A connection the peer broke the protocol on: reset, with a warning
static void
s_conn_broken (sstream_tunnels_t *self, s_conn_t *conn, const char *why)
{
    sstream_log_warning ("tunnel '%s' connection %" PRIu64 ": %s: reset",
                         sstream_tunnel_end_name (conn->end), conn->conn, why);
    s_conn_end (self, conn, true, true, why);
}

static s_conn_t *
s_conn_new (sstream_tunnels_t *self, sstream_tunnel_end_t *end, uint64_t conn_id, int fd)
{
    s_conn_t *conn = (s_conn_t *) zmalloc (sizeof (s_conn_t));
    if (!conn)
        return NULL;
    const char *name = sstream_tunnel_end_name (end);
    snprintf (conn->key, sizeof (conn->key), "%s/%" PRIu64, name, conn_id);
    conn->end = end;
    conn->conn = conn_id;
    conn->fd = fd;
    conn->created = zclock_mono ();
    conn->out = zlistx_new ();
    //  Keys, to open what the peer seals and seal what we read
    if (self->cert && self->has_peer_key)
        conn->seal = sstream_tunnel_seal_new (name, conn_id, self->cert, self->peer_key,
                                              self->rekey);
    conn->sid = conn->out? sstream_numbers_take (self->numbers, conn): 0;
    if (!conn->out || !conn->sid || (self->cert && self->has_peer_key && !conn->seal)) {
        if (conn->sid)
            sstream_numbers_give (self->numbers, conn->sid);
        zlistx_destroy (&conn->out);
        sstream_tunnel_seal_destroy (&conn->seal);
        free (conn);
        return NULL;
    }
    zlistx_set_destructor (conn->out, s_out_destructor);
    int on = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof (on));
    zhashx_insert (self->conns, conn->key, conn);
    s_index (self->by_fd, fd, conn);
    sstream_tunnel_stats_t *stats = sstream_tunnel_end_stats (end);
    stats->connections++;
    stats->connections_total++;
    return conn;
}

//  Done both ways: close quietly.
static void
s_conn_check_done (sstream_tunnels_t *self, s_conn_t *conn)
{
    if (conn->read_eof && conn->wrote_eof)
        s_conn_end (self, conn, false, false, NULL);
}

//  Write what is queued, as far as the socket takes it; give the room
//  back as credit.

static void
s_conn_write (sstream_tunnels_t *self, s_conn_t *conn)
{
    s_out_t *out;
    sstream_tunnel_stats_t *stats = sstream_tunnel_end_stats (conn->end);
    while ((out = (s_out_t *) zlistx_first (conn->out))) {
        ssize_t done = out->length > conn->out_offset
                     ? send (conn->fd, (byte *) zmq_msg_data (&out->chunk) + conn->out_offset,
                             out->length - conn->out_offset, MSG_NOSIGNAL): 0;
        if (done < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            char why [128];
            snprintf (why, sizeof (why), "writing to the connection: %s", strerror (errno));
            s_conn_end (self, conn, true, true, why);
            return;
        }
        conn->out_offset += (size_t) done;
        stats->bytes_out += (uint64_t) done;
        stats->last_active = zclock_mono ();
        if (conn->out_offset < out->length)
            break;
        conn->to_grant += out->cost;
        conn->out_offset = 0;
        zlistx_delete (conn->out, NULL);
    }
    //  Room goes back a quarter window at a time: the other side still
    //  has three quarters to send meanwhile, and it takes one message
    //  for many chunks (whatever is written is at least a quarter once
    //  the other side has no credit left)
    bool empty = zlistx_size (conn->out) == 0;
    if (conn->to_grant >= self->window / 4
    &&  s_tell (self, conn, SSTREAM_WIRE_TUNNEL_CREDIT, conn->to_grant) == SSTREAM_OK) {
        conn->held -= conn->to_grant;
        conn->to_grant = 0;
    }
    if (empty && conn->peer_eof && !conn->wrote_eof) {
        shutdown (conn->fd, SHUT_WR);       //  Their half-close, passed on
        conn->wrote_eof = true;
        s_conn_check_done (self, conn);
    }
}

//  One chunk of what we read, sealed in place unless this side sends in
//  clear (its key message first when one is due), to the peer. Takes the
//  buffer.
static int
s_send_chunk (sstream_tunnels_t *self, s_conn_t *conn, byte *buffer, size_t size)
{
    uint16_t flags = 0;
    int rc = SSTREAM_OK;
    if (self->sealed) {
        sstream_wire_t key = { 0 };
        if (sstream_tunnel_seal_key_due (conn->seal, &key)) {
            rc = s_send (self, &key, sstream_tunnel_end_name (conn->end), conn->conn, NULL);
            if (sstream_fault_forward) {        //  Tests only
                sstream_fault_t fault = { .kind = SSTREAM_FAULT_TUNNEL_KEY, .to_peer = true,
                                          .stream = sstream_tunnel_end_name (conn->end) };
                sstream_fault_forward (&fault);
            }
        }
        if (!rc)
            rc = sstream_tunnel_seal_chunk (conn->seal, conn->sent_chunks, buffer, size);
        size += SSTREAM_TUNNEL_SEAL_TAG;
        flags = SSTREAM_WIRE_SEALED;
    }
    zmq_msg_t frame0, frame1;
    if (rc || zmq_msg_init_size (&frame0, SSTREAM_WIRE_BATCH_HEADER)) {
        sstream_pool_give (buffer, self->buffers);
        return rc? rc: SSTREAM_ENOMEM;
    }
    if (zmq_msg_init_data (&frame1, buffer, size, sstream_pool_give, self->buffers)) {
        sstream_pool_give (buffer, self->buffers);
        zmq_msg_close (&frame0);
        return SSTREAM_ENOMEM;
    }
    sstream_wire_batch_t header = {
        .type = SSTREAM_WIRE_TUNNEL_DATA, .flags = flags, .sid = conn->peer_sid,
        .seq = conn->sent_chunks, .count = 1, .length = size
    };
    sstream_wire_batch_write (&header, (byte *) zmq_msg_data (&frame0));
    conn->sent_chunks++;
    conn->credit -= (int64_t) DATA_COST (size);
    if (sstream_fault_forward) {        //  Tests only
        sstream_fault_t fault = {
            .kind = SSTREAM_FAULT_TUNNEL_CHUNK, .stream = sstream_tunnel_end_name (conn->end),
            .to_peer = true, .batch = &header, .frame0 = &frame0, .frame1 = &frame1
        };
        int copies = sstream_fault_forward (&fault);
        if (copies == 2) {
            zmq_msg_t again0, again1;
            zmq_msg_init (&again0);
            zmq_msg_init (&again1);
            zmq_msg_copy (&again0, &frame0);
            zmq_msg_copy (&again1, &frame1);
            rc = self->send_data (self->send_arg, &again0, &again1);
        }
        if (copies == 0 || rc) {
            zmq_msg_close (&frame0);
            zmq_msg_close (&frame1);
            return rc;
        }
    }
    return self->send_data (self->send_arg, &frame0, &frame1);
}

//  Read what credit and rate allow, and send it over.

static void
s_conn_read (sstream_tunnels_t *self, s_conn_t *conn)
{
    sstream_tunnel_end_t *end = conn->end;
    int64_t least = (int64_t) DATA_COST (self->sealed? SSTREAM_TUNNEL_SEAL_TAG: 0);
    while (conn->state == CONN_OPEN && !conn->read_eof && conn->credit > least) {
        size_t most = (size_t) (conn->credit - least);
        most = sstream_tunnel_end_budget (end, most < SSTREAM_TUNNEL_READ_MAX
                                               ? most: SSTREAM_TUNNEL_READ_MAX);
        if (!most)
            return;
        //  Straight into the buffer it travels in
        byte *buffer = (byte *) sstream_pool_take (self->buffers);
        if (!buffer)
            return;
        ssize_t got = recv (conn->fd, buffer, most, 0);
        if (got <= 0)
            sstream_pool_give (buffer, self->buffers);
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            char why [128];
            snprintf (why, sizeof (why), "reading from the connection: %s", strerror (errno));
            s_conn_end (self, conn, true, true, why);
            return;
        }
        if (got == 0) {
            //  Their half-close: tell the other side, after all the data
            conn->read_eof = true;
            s_tell (self, conn, SSTREAM_WIRE_TUNNEL_EOF, 0);
            s_conn_check_done (self, conn);
            return;
        }
        if (s_send_chunk (self, conn, buffer, (size_t) got)) {
            s_conn_end (self, conn, true, false, "the other gateway is gone");
            return;
        }
        sstream_tunnel_end_spend (end, (size_t) got);
    }
}

static void
s_accept (sstream_tunnels_t *self, sstream_tunnel_end_t *end, int listener)
{
    const char *name = sstream_tunnel_end_name (end);
    sstream_tunnel_stats_t *stats = sstream_tunnel_end_stats (end);
    while (true) {
        int fd = accept4 (listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
                //  Out of descriptors, most likely: rest, rather than spin
                sstream_log_warning ("tunnel '%s' cannot accept a connection: %s", name,
                                     strerror (errno));
                sstream_tunnel_end_rest (end, zclock_mono () + ACCEPT_PAUSE);
            }
            return;
        }
        if (stats->connections >= self->max_connections) {
            sstream_log_warning ("tunnel '%s' has %" PRIu64 " connections, the most it takes "
                                 "(tunnels/max-connections): one refused", name,
                                 stats->connections);
            struct linger linger = { 1, 0 };
            setsockopt (fd, SOL_SOCKET, SO_LINGER, &linger, sizeof (linger));
            close (fd);
            continue;
        }
        s_conn_t *conn = s_conn_new (self, end, sstream_tunnel_end_next_conn (end), fd);
        if (!conn) {
            close (fd);
            continue;
        }
        if (s_tell (self, conn, SSTREAM_WIRE_TUNNEL_OPEN, self->window)) {
            sstream_log_warning ("tunnel '%s' reset a new connection: the peer gateway is "
                                 "not connected", name);
            s_conn_end (self, conn, true, false, "the other gateway is not connected");
        }
    }
}

//  The connect of an inbound connection finished, one way or the other.
static void
s_connected (sstream_tunnels_t *self, s_conn_t *conn)
{
    int error = 0;
    socklen_t length = sizeof (error);
    getsockopt (conn->fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error) {
        char why [SSTREAM_WIRE_TEXT_MAX];
        snprintf (why, sizeof (why), "cannot connect to %s: %s",
                  sstream_tunnel_end_target_text (conn->end), strerror (error));
        s_conn_end (self, conn, true, true, why);
        return;
    }
    conn->state = CONN_OPEN;
    if (s_tell (self, conn, SSTREAM_WIRE_TUNNEL_OPENED, self->window))
        s_conn_end (self, conn, true, false, "the other gateway is gone");
}

static void
s_tunnel_open (sstream_tunnels_t *self, const sstream_wire_t *header)
{
    sstream_tunnel_end_t *end = (sstream_tunnel_end_t *) zhashx_lookup (self->ends, header->stream);
    if (!end || sstream_tunnel_end_outbound (end)) {
        char why [SSTREAM_WIRE_TEXT_MAX];
        snprintf (why, sizeof (why), "no inbound tunnel session '%s' here", header->stream);
        s_reset (self, header->stream, header->conn, why);
        return;
    }
    char key [SSTREAM_STREAM_NAME_MAX + 24];
    snprintf (key, sizeof (key), "%s/%" PRIu64, header->stream, header->conn);
    if (zhashx_lookup (self->conns, key)) {
        //  Numbers are not reused: this is a broken peer. The connection
        //  that has it stands; the newcomer is refused
        sstream_log_warning ("tunnel '%s': a second open for connection %" PRIu64,
                             header->stream, header->conn);
        return;
    }
    socklen_t length;
    const struct sockaddr *target = sstream_tunnel_end_address (end, &length);
    int fd = socket (target->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    s_conn_t *conn = fd >= 0? s_conn_new (self, end, header->conn, fd): NULL;
    if (!conn) {
        if (fd >= 0)
            close (fd);
        s_reset (self, header->stream, header->conn, "cannot make a socket");
        return;
    }
    conn->credit = conn->peer_window = (int64_t) header->window;
    conn->peer_sid = header->sid;
    if (connect (fd, target, length) == 0)
        s_connected (self, conn);
    else
    if (errno != EINPROGRESS) {
        char why [SSTREAM_WIRE_TEXT_MAX];
        snprintf (why, sizeof (why), "cannot connect to %s: %s",
                  sstream_tunnel_end_target_text (end), strerror (errno));
        s_conn_end (self, conn, true, true, why);
    }
}

void
sstream_tunnels_handle (sstream_tunnels_t *self, const sstream_wire_t *header)
{
    if (header->type == SSTREAM_WIRE_TUNNEL_OPEN) {
        s_tunnel_open (self, header);
        return;
    }
    char key [SSTREAM_STREAM_NAME_MAX + 24];
    snprintf (key, sizeof (key), "%s/%" PRIu64, header->stream, header->conn);
    s_conn_t *conn = (s_conn_t *) zhashx_lookup (self->conns, key);
    if (!conn) {
        //  Gone here already (reset, released): late messages are dropped,
        //  and an answer to our open is reset, so that the other side
        //  lets go too
        if (header->type == SSTREAM_WIRE_TUNNEL_OPENED)
            s_reset (self, header->stream, header->conn, "that connection is gone");
        return;
    }
    switch (header->type) {
        case SSTREAM_WIRE_TUNNEL_OPENED:
            if (conn->state == CONN_OPENING && sstream_tunnel_end_outbound (conn->end)) {
                conn->state = CONN_OPEN;
                conn->credit = conn->peer_window = (int64_t) header->window;
                conn->peer_sid = header->sid;
            }
            break;
        case SSTREAM_WIRE_TUNNEL_KEY:
            if (!conn->seal)
                s_conn_broken (self, conn, "the other gateway sealed it, and this one has no "
                               "key of the other's to open it with (peer/public-key)");
            else
            if (sstream_tunnel_seal_take_key (conn->seal, header) != SSTREAM_OK) {
                char why [SSTREAM_WIRE_TEXT_MAX];
                snprintf (why, sizeof (why), "the other gateway's key: %s", sstream_errmsg ());
                s_conn_broken (self, conn, why);
            }
            break;
        case SSTREAM_WIRE_TUNNEL_CREDIT:
            if (header->bytes > (uint64_t) (conn->peer_window - conn->credit))
                s_conn_end (self, conn, true, true, "the other gateway granted too much credit");
            else {
                conn->credit += (int64_t) header->bytes;
                s_conn_read (self, conn);
            }
            break;
        case SSTREAM_WIRE_TUNNEL_EOF:
            conn->peer_eof = true;
            s_conn_write (self, conn);
            break;
        case SSTREAM_WIRE_TUNNEL_RESET:
            s_conn_end (self, conn, true, false, header->text);
            break;
        default:
            break;
    }
}

void
sstream_tunnels_chunk (sstream_tunnels_t *self, const sstream_wire_batch_t *header,
                       zmq_msg_t *chunk)
{
    s_conn_t *conn = (s_conn_t *) sstream_numbers_find (self->numbers, header->sid);
    if (!conn || conn->state != CONN_OPEN || conn->peer_eof) {
        //  Ended here (reset, released: the other side was told), or a
        //  broken peer
        sstream_log_debug ("dropped a tunnel chunk for connection number %" PRIu32
                           ", which is not open here", header->sid);
        zmq_msg_close (chunk);
        return;
    }
    char why [SSTREAM_WIRE_TEXT_MAX];
    size_t size = zmq_msg_size (chunk);
    uint64_t cost = DATA_COST (size);
    s_out_t *out = (s_out_t *) zmalloc (sizeof (s_out_t));
    int rc = out? SSTREAM_OK: sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    if (!rc && header->seq != conn->received_chunks)
        rc = sstream_error_set (SSTREAM_EPROTO, "chunk %" PRIu64 " came where %" PRIu64
                                " was due: %s", header->seq, conn->received_chunks,
                                header->seq > conn->received_chunks? "some never came"
                                                                   : "it came again");
    if (!rc && conn->held + cost > self->window)
        rc = sstream_error_set (SSTREAM_EPROTO, "the other gateway sent beyond the window "
                                "of %" PRIu64 " bytes", self->window);
    if (!rc && (header->flags & SSTREAM_WIRE_SEALED))
        rc = conn->seal? sstream_tunnel_seal_open_chunk (conn->seal, header->seq,
                                                         (byte *) zmq_msg_data (chunk), size)
           : sstream_error_set (SSTREAM_EPROTO, "a sealed chunk, and no key to open it");
    if (rc) {
        snprintf (why, sizeof (why), "%s", sstream_errmsg ());
        free (out);
        zmq_msg_close (chunk);
        if (rc == SSTREAM_EPROTO)
            self->refused++;
        s_conn_broken (self, conn, why);
        return;
    }
    conn->received_chunks++;
    conn->held += cost;
    zmq_msg_init (&out->chunk);
    zmq_msg_move (&out->chunk, chunk);
    out->length = header->flags & SSTREAM_WIRE_SEALED? size - SSTREAM_TUNNEL_SEAL_TAG: size;
    out->cost = cost;
    zlistx_add_end (conn->out, out);
    s_conn_write (self, conn);
}

uint64_t
sstream_tunnels_refused (sstream_tunnels_t *self)
{
    return self->refused;
}

void
sstream_tunnels_close (sstream_tunnels_t *self, const char *name)
{
    zlistx_t *doomed = zlistx_new ();
    s_conn_t *conn;
    for (conn = (s_conn_t *) zhashx_first (self->conns); conn;
         conn = (s_conn_t *) zhashx_next (self->conns))
        if (streq (sstream_tunnel_end_name (conn->end), name))
            zlistx_add_end (doomed, conn);
    for (conn = (s_conn_t *) zlistx_first (doomed); conn; conn = (s_conn_t *) zlistx_next (doomed))
        s_conn_end (self, conn, true, true, "the tunnel session was released");
    zlistx_destroy (&doomed);
    sstream_tunnel_end_t *end = (sstream_tunnel_end_t *) zhashx_lookup (self->ends, name);
    if (!end)
        return;
    //  Its listener, wherever it is in its rest
    const char *key;
    sstream_tunnel_end_t *listening;
    for (listening = (sstream_tunnel_end_t *) zhashx_first (self->listeners); listening;
         listening = (sstream_tunnel_end_t *) zhashx_next (self->listeners))
        if (listening == end) {
            key = (const char *) zhashx_cursor (self->listeners);
            zhashx_delete (self->listeners, key);
            break;
        }
    zhashx_delete (self->ends, name);
}

void
sstream_tunnels_peer_lost (sstream_tunnels_t *self, const char *why)
{
    zlistx_t *doomed = zlistx_new ();
    s_conn_t *conn;
    for (conn = (s_conn_t *) zhashx_first (self->conns); conn;
         conn = (s_conn_t *) zhashx_next (self->conns))
        zlistx_add_end (doomed, conn);
    for (conn = (s_conn_t *) zlistx_first (doomed); conn; conn = (s_conn_t *) zlistx_next (doomed))
        s_conn_end (self, conn, true, false, why);
    zlistx_destroy (&doomed);
}


//  --------------------------------------------------------------------------
//  Polling

size_t
sstream_tunnels_poll_count (sstream_tunnels_t *self)
{
    return zhashx_size (self->ends) + zhashx_size (self->conns);
}

size_t
sstream_tunnels_poll_items (sstream_tunnels_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t count = 0;
    int64_t now = zclock_mono ();
    sstream_tunnel_end_t *end;
    for (end = (sstream_tunnel_end_t *) zhashx_first (self->ends); end && count < max;
         end = (sstream_tunnel_end_t *) zhashx_next (self->ends)) {
        sstream_tunnel_end_refill (end, now);
        int listener = sstream_tunnel_end_listener (end, now);
        if (listener >= 0)
            items [count++] = (zmq_pollitem_t) { NULL, listener, ZMQ_POLLIN, 0 };
    }
    int64_t least = (int64_t) DATA_COST (self->sealed? SSTREAM_TUNNEL_SEAL_TAG: 0);
    s_conn_t *conn;
    for (conn = (s_conn_t *) zhashx_first (self->conns); conn && count < max;
         conn = (s_conn_t *) zhashx_next (self->conns)) {
        short events = 0;
        if (conn->state == CONN_OPENING && !sstream_tunnel_end_outbound (conn->end))
            events |= ZMQ_POLLOUT;              //  Connect in progress
        if (conn->state == CONN_OPEN && !conn->read_eof && conn->credit > least
        &&  sstream_tunnel_end_may_read (conn->end))
            events |= ZMQ_POLLIN;
        if (zlistx_size (conn->out))
            events |= ZMQ_POLLOUT;
        if (events)
            items [count++] = (zmq_pollitem_t) { NULL, conn->fd, events, 0 };
    }
    return count;
}

void
sstream_tunnels_handle_poll (sstream_tunnels_t *self, zmq_pollitem_t *items, size_t count)
{
    //  Items name file descriptors; find their owners now, as handling one
    //  may end others
    size_t index;
    for (index = 0; index < count; index++) {
        if (!items [index].revents)
            continue;
        int fd = items [index].fd;
        sstream_tunnel_end_t *end = (sstream_tunnel_end_t *) s_owner (self->listeners, fd);
        if (end) {
            s_accept (self, end, fd);
            continue;
        }
        s_conn_t *conn = (s_conn_t *) s_owner (self->by_fd, fd);
        if (!conn)
            continue;           //  Ended while handling an earlier item
        if (conn->state == CONN_OPENING && !sstream_tunnel_end_outbound (conn->end)) {
            if (items [index].revents & (ZMQ_POLLOUT | ZMQ_POLLERR))
                s_connected (self, conn);
            continue;
        }
        if (items [index].revents & ZMQ_POLLOUT) {
            s_conn_write (self, conn);
            //  It may be gone now: look again before reading
            conn = (s_conn_t *) s_owner (self->by_fd, fd);
        }
        if (conn && (items [index].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
            s_conn_read (self, conn);
    }
}

int64_t
sstream_tunnels_next_wake (sstream_tunnels_t *self)
{
    int64_t wake = 0;
    sstream_tunnel_end_t *end;
    for (end = (sstream_tunnel_end_t *) zhashx_first (self->ends); end;
         end = (sstream_tunnel_end_t *) zhashx_next (self->ends)) {
        int64_t due = sstream_tunnel_end_next_wake (end);
        if (due && (!wake || due < wake))
            wake = due;
    }
    return wake;
}

void
sstream_tunnels_tick (sstream_tunnels_t *self)
{
    int64_t now = zclock_mono ();
    zlistx_t *late = zlistx_new ();
    s_conn_t *conn;
    for (conn = (s_conn_t *) zhashx_first (self->conns); conn;
         conn = (s_conn_t *) zhashx_next (self->conns))
        if (conn->state == CONN_OPENING && now - conn->created > OPEN_TIMEOUT)
            zlistx_add_end (late, conn);
    for (conn = (s_conn_t *) zlistx_first (late); conn; conn = (s_conn_t *) zlistx_next (late))
        s_conn_end (self, conn, true, true, "the other side did not open the connection in time");
    zlistx_destroy (&late);
}
