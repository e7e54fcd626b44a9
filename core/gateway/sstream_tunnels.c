/*  =========================================================================
    sstream_tunnel - transparent TCP tunnels through two gateways

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    All sockets are non-blocking and polled by the gateway's actor. A
    connection reads from its TCP socket only while it has credit towards
    the other gateway (and its session's rate allows); what arrives from
    the other gateway is queued, written as the socket takes it, and only
    then given back as credit. So a slow TCP peer slows its own connection,
    never the gateway or the other connections.
*/

#define _GNU_SOURCE             //  accept4
#include "sstream_gateway_classes.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define READ_MAX (128 * 1024)
#define READ_BUFFERS 16         //  Kept for reuse
//  What tunnel-data costs in credit: its payload and a fixed part
#define DATA_COST(size) ((uint64_t) (size) + 64)
#define OPEN_TIMEOUT 30000      //  msecs the other side may take to connect
#define ACCEPT_PAUSE 200        //  msecs a listener rests after accept fails

typedef enum {
    CONN_OPENING,               //  Waiting for the other side (or connect)
    CONN_OPEN
} s_state_t;

typedef struct _s_end_t s_end_t;

//  What a file descriptor belongs to: both structures start with this
typedef enum {
    OWNER_END = 1,              //  A listener
    OWNER_CONN
} s_owner_t;

typedef struct {
    s_owner_t owner;
    char key [SSTREAM_STREAM_NAME_MAX + 24];    //  "name/conn"
    s_end_t *end;
    uint64_t conn;
    int fd;
    s_state_t state;
    int64_t credit;             //  What we may still send the other side
    int64_t peer_window;
    uint64_t to_grant;          //  Written out, not yet given back
    uint64_t held;              //  Their data here, not yet given back
    zlistx_t *out;              //  zmq_msg_t waiting for our socket
    size_t out_offset;          //  Bytes of the first already written
    bool read_eof;              //  Our socket's input ended (told them)
    bool peer_eof;              //  Theirs did: shut our output once flushed
    bool wrote_eof;
    int64_t created;            //  zclock_mono
} s_conn_t;

struct _s_end_t {
    s_owner_t owner;
    char name [SSTREAM_STREAM_NAME_MAX + 1];
    bool outbound;
    int listen_fd;              //  Outbound
    struct sockaddr_storage target;     //  Inbound
    socklen_t target_length;
    char target_text [SSTREAM_WIRE_ADDRESS_MAX + 1];
    uint64_t rate;              //  Bytes per second, 0: no limit
    double tokens;
    int64_t refilled;
    int64_t accept_paused;      //  Until then (zclock_mono), not polled
    uint64_t next_conn;         //  From a random base, so that a session of the
                                //  same name opened again numbers afresh
    sstream_tunnel_stats_t stats;
};

struct _sstream_tunnels_t {
    char gateway [65];
    char address [SSTREAM_WIRE_ADDRESS_MAX + 1];
    int port_low;
    int port_high;
    uint64_t window;
    uint64_t max_connections;
    sstream_tunnels_send_fn *send;
    void *send_arg;
    zhashx_t *ends;             //  Name -> s_end_t
    zhashx_t *conns;            //  "name/conn" -> s_conn_t
    zhashx_t *by_fd;            //  "fd" -> s_end_t (listener) or s_conn_t
    sstream_pool_t *buffers;    //  What reads go into, and travel in
};

static void
s_end_destroy (void **item_p)
{
    s_end_t *end = (s_end_t *) *item_p;
    if (end) {
        if (end->listen_fd >= 0)
            close (end->listen_fd);
        free (end);
        *item_p = NULL;
    }
}

static void
s_msg_destroy (void **item_p)
{
    zmq_msg_t *msg = (zmq_msg_t *) *item_p;
    if (msg) {
        zmq_msg_close (msg);
        free (msg);
        *item_p = NULL;
    }
}

static void
s_conn_destroy (void **item_p)
{
    s_conn_t *conn = (s_conn_t *) *item_p;
    if (conn) {
        if (conn->fd >= 0)
            close (conn->fd);
        zlistx_destroy (&conn->out);
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
    self->send = config->send;
    self->send_arg = config->send_arg;
    self->ends = zhashx_new ();
    self->conns = zhashx_new ();
    self->by_fd = zhashx_new ();
    self->buffers = sstream_pool_new (READ_MAX, READ_BUFFERS);
    if (!self->ends || !self->conns || !self->by_fd || !self->buffers) {
        sstream_tunnels_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->ends, s_end_destroy);
    zhashx_set_destructor (self->conns, s_conn_destroy);
    return self;
}

void
sstream_tunnels_destroy (sstream_tunnels_t **self_p)
{
    if (self_p && *self_p) {
        sstream_tunnels_t *self = *self_p;
        zhashx_destroy (&self->conns);
        zhashx_destroy (&self->ends);
        zhashx_destroy (&self->by_fd);
        sstream_pool_release (&self->buffers);
        free (self);
        *self_p = NULL;
    }
}

//  Which listener or connection a file descriptor belongs to
static void
s_index (sstream_tunnels_t *self, int fd, void *owner)
{
    char key [16];
    snprintf (key, sizeof (key), "%d", fd);
    zhashx_update (self->by_fd, key, owner);
}

static void
s_unindex (sstream_tunnels_t *self, int fd)
{
    char key [16];
    snprintf (key, sizeof (key), "%d", fd);
    zhashx_delete (self->by_fd, key);
}

static void *
s_owner (sstream_tunnels_t *self, int fd)
{
    char key [16];
    snprintf (key, sizeof (key), "%d", fd);
    return zhashx_lookup (self->by_fd, key);
}

static s_end_t *
s_end_new (sstream_tunnels_t *self, const char *name, bool outbound, uint64_t rate)
{
    s_end_t *end = (s_end_t *) zmalloc (sizeof (s_end_t));
    if (!end)
        return NULL;
    end->owner = OWNER_END;
    snprintf (end->name, sizeof (end->name), "%s", name);
    end->outbound = outbound;
    end->listen_fd = -1;
    end->rate = rate;
    end->refilled = end->stats.last_active = zclock_mono ();
    end->tokens = rate? (double) rate / 10: 0;
    end->next_conn = (uint64_t) randombytes_random () << 20;
    (void) self;
    return end;
}

//  Split "host:port" or "[v6]:port"
static bool
s_split (const char *text, char *host, size_t host_size, char *port, size_t port_size)
{
    const char *colon = strrchr (text, ':');
    if (!colon || colon == text || !colon [1])
        return false;
    const char *start = text, *finish = colon;
    if (*text == '[') {
        if (colon [-1] != ']')
            return false;
        start++;
        finish--;
    }
    size_t length = (size_t) (finish - start);
    if (length == 0 || length >= host_size || strlen (colon + 1) >= port_size)
        return false;
    memcpy (host, start, length);
    host [length] = 0;
    snprintf (port, port_size, "%s", colon + 1);
    return true;
}

int
sstream_tunnels_listen (sstream_tunnels_t *self, const char *name, uint64_t rate, int *port_p)
{
    if (zhashx_lookup (self->ends, name))
        return sstream_error_set (SSTREAM_EDENIED, "a tunnel named '%s' is already here", name);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (self->address, "0", &hints, &found);
    if (rc || !found)
        return sstream_error_set (SSTREAM_ECONFIG, "tunnels/address '%s' is not an IP address: %s",
                                  self->address, gai_strerror (rc));
    int fd = -1, port;
    int last_error = EADDRINUSE;
    for (port = self->port_low; port <= self->port_high && fd < 0; port++) {
        fd = socket (found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last_error = errno;
            break;
        }
        int on = 1;
        setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof (on));
        if (found->ai_family == AF_INET6)
            ((struct sockaddr_in6 *) found->ai_addr)->sin6_port = htons ((uint16_t) port);
        else
            ((struct sockaddr_in *) found->ai_addr)->sin_port = htons ((uint16_t) port);
        if (bind (fd, found->ai_addr, found->ai_addrlen) != 0 || listen (fd, 128) != 0) {
            last_error = errno;
            close (fd);
            fd = -1;        //  In use, by us or anybody: the next one
        }
    }
    freeaddrinfo (found);
    if (fd < 0)
        return sstream_error_set (last_error == EADDRINUSE? SSTREAM_EDENIED: SSTREAM_EIO,
            "no free port for tunnel '%s' in %s:%d-%d (%s)", name, self->address,
            self->port_low, self->port_high, strerror (last_error));
    s_end_t *end = s_end_new (self, name, true, rate);
    if (!end) {
        close (fd);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    end->listen_fd = fd;
    zhashx_insert (self->ends, end->name, end);
    s_index (self, fd, end);
    *port_p = port - 1;
    return SSTREAM_OK;
}

int
sstream_tunnels_target (sstream_tunnels_t *self, const char *name, const char *target, uint64_t rate)
{
    if (zhashx_lookup (self->ends, name))
        return sstream_error_set (SSTREAM_EDENIED, "a tunnel named '%s' is already here", name);
    char host [SSTREAM_WIRE_ADDRESS_MAX + 1], port [16];
    if (!target || !s_split (target, host, sizeof (host), port, sizeof (port)))
        return sstream_error_set (SSTREAM_EINVAL,
            "tunnel target '%s' is not host:port", target? target: "");
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV };
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (host, port, &hints, &found);
    if (rc || !found)
        return sstream_error_set (SSTREAM_EINVAL, "tunnel target '%s': %s", target,
                                  rc? gai_strerror (rc): "no address");
    s_end_t *end = s_end_new (self, name, false, rate);
    if (!end) {
        freeaddrinfo (found);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    memcpy (&end->target, found->ai_addr, found->ai_addrlen);
    end->target_length = found->ai_addrlen;
    snprintf (end->target_text, sizeof (end->target_text), "%s", target);
    freeaddrinfo (found);
    zhashx_insert (self->ends, end->name, end);
    return SSTREAM_OK;
}

bool
sstream_tunnels_stats (sstream_tunnels_t *self, const char *name, sstream_tunnel_stats_t *stats)
{
    s_end_t *end = (s_end_t *) zhashx_lookup (self->ends, name);
    if (end)
        *stats = end->stats;
    return end != NULL;
}


//  --------------------------------------------------------------------------
//  Connections

static int
s_send (sstream_tunnels_t *self, int type, s_conn_t *conn, const char *name, uint64_t conn_id,
        uint64_t number, zmq_msg_t *payload, const char *text)
{
    sstream_wire_t header = { .type = type, .conn = conn_id };
    snprintf (header.stream, sizeof (header.stream), "%s", conn? conn->end->name: name);
    if (type == SSTREAM_WIRE_TUNNEL_DATA)
        header.len = number;
    else
    if (type == SSTREAM_WIRE_TUNNEL_CREDIT)
        header.bytes = number;
    else
    if (type == SSTREAM_WIRE_TUNNEL_OPEN || type == SSTREAM_WIRE_TUNNEL_OPENED)
        header.window = number;
    if (text)
        snprintf (header.text, sizeof (header.text), "%s: %s", self->gateway, text);
    zframe_t *frame = sstream_wire_encode (&header);
    if (!frame) {
        if (payload)
            zmq_msg_close (payload);
        return SSTREAM_ENOMEM;
    }
    return self->send (self->send_arg, &frame, payload);
}

//  End a connection: with a reset (RST on our socket, and a word to the
//  other side unless it is the one that reset), or a plain close.

static void
s_conn_end (sstream_tunnels_t *self, s_conn_t *conn, bool reset, bool tell, const char *why)
{
    if (reset && conn->fd >= 0) {
        struct linger linger = { 1, 0 };
        setsockopt (conn->fd, SOL_SOCKET, SO_LINGER, &linger, sizeof (linger));
    }
    if (reset && tell)
        s_send (self, SSTREAM_WIRE_TUNNEL_RESET, conn, NULL, conn->conn, 0, NULL, why);
    if (reset)
        sstream_log_debug ("%s: tunnel '%s' connection %" PRIu64 " reset: %s", self->gateway,
                           conn->end->name, conn->conn, why);
    conn->end->stats.connections--;
    s_unindex (self, conn->fd);
    zhashx_delete (self->conns, conn->key);
}

static s_conn_t *
s_conn_new (sstream_tunnels_t *self, s_end_t *end, uint64_t conn_id, int fd)
{
    s_conn_t *conn = (s_conn_t *) zmalloc (sizeof (s_conn_t));
    if (!conn)
        return NULL;
    conn->owner = OWNER_CONN;
    snprintf (conn->key, sizeof (conn->key), "%s/%" PRIu64, end->name, conn_id);
    conn->end = end;
    conn->conn = conn_id;
    conn->fd = fd;
    conn->created = zclock_mono ();
    conn->out = zlistx_new ();
    if (!conn->out) {
        free (conn);
        return NULL;
    }
    zlistx_set_destructor (conn->out, s_msg_destroy);
    int on = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof (on));
    zhashx_insert (self->conns, conn->key, conn);
    s_index (self, fd, conn);
    end->stats.connections++;
    end->stats.connections_total++;
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
    zmq_msg_t *frame;
    while ((frame = (zmq_msg_t *) zlistx_first (conn->out))) {
        size_t size = zmq_msg_size (frame);
        ssize_t done = size > conn->out_offset
                     ? send (conn->fd, (byte *) zmq_msg_data (frame) + conn->out_offset,
                             size - conn->out_offset, MSG_NOSIGNAL): 0;
        if (done < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            char why [128];
            snprintf (why, sizeof (why), "writing to the connection: %s", strerror (errno));
            s_conn_end (self, conn, true, true, why);
            return;
        }
        conn->out_offset += (size_t) done;
        conn->end->stats.bytes_out += (uint64_t) done;
        conn->end->stats.last_active = zclock_mono ();
        if (conn->out_offset < size)
            break;
        conn->to_grant += DATA_COST (size);
        conn->out_offset = 0;
        zlistx_delete (conn->out, NULL);
    }
    bool empty = zlistx_size (conn->out) == 0;
    if (conn->to_grant && (conn->to_grant >= self->window / 4 || empty)) {
        if (s_send (self, SSTREAM_WIRE_TUNNEL_CREDIT, conn, NULL, conn->conn, conn->to_grant,
                    NULL, NULL) == SSTREAM_OK) {
            conn->held -= conn->to_grant;
            conn->to_grant = 0;
        }
    }
    if (empty && conn->peer_eof && !conn->wrote_eof) {
        shutdown (conn->fd, SHUT_WR);       //  Their half-close, passed on
        conn->wrote_eof = true;
        s_conn_check_done (self, conn);
    }
}

//  Read what credit and rate allow, and send it over.

static void
s_conn_read (sstream_tunnels_t *self, s_conn_t *conn)
{
    s_end_t *end = conn->end;
    while (conn->state == CONN_OPEN && !conn->read_eof
       &&  conn->credit > (int64_t) DATA_COST (0) && (!end->rate || end->tokens > 0)) {
        size_t most = (size_t) (conn->credit - (int64_t) DATA_COST (0));
        if (most > READ_MAX)
            most = READ_MAX;
        if (end->rate && most > (size_t) end->tokens + 1)
            most = (size_t) end->tokens + 1;
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
            s_send (self, SSTREAM_WIRE_TUNNEL_EOF, conn, NULL, conn->conn, 0, NULL, NULL);
            s_conn_check_done (self, conn);
            return;
        }
        zmq_msg_t payload;
        if (zmq_msg_init_data (&payload, buffer, (size_t) got, sstream_pool_give, self->buffers)) {
            sstream_pool_give (buffer, self->buffers);
            return;
        }
        int rc = s_send (self, SSTREAM_WIRE_TUNNEL_DATA, conn, NULL, conn->conn,
                         (uint64_t) got, &payload, NULL);
        if (rc) {
            s_conn_end (self, conn, true, false, "the other gateway is gone");
            return;
        }
        conn->credit -= (int64_t) DATA_COST (got);
        end->stats.bytes_in += (uint64_t) got;
        end->stats.last_active = zclock_mono ();
        if (end->rate)
            end->tokens -= (double) got;
    }
}

static void
s_accept (sstream_tunnels_t *self, s_end_t *end)
{
    while (true) {
        int fd = accept4 (end->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
                //  Out of descriptors, most likely: rest, rather than spin
                sstream_log_warning ("%s: tunnel '%s' cannot accept a connection: %s", self->gateway,
                                     end->name, strerror (errno));
                end->accept_paused = zclock_mono () + ACCEPT_PAUSE;
            }
            return;
        }
        if (end->stats.connections >= self->max_connections) {
            sstream_log_warning ("%s: tunnel '%s' has %" PRIu64 " connections, the most it takes "
                                 "(tunnels/max-connections): one refused", self->gateway,
                                 end->name, end->stats.connections);
            struct linger linger = { 1, 0 };
            setsockopt (fd, SOL_SOCKET, SO_LINGER, &linger, sizeof (linger));
            close (fd);
            continue;
        }
        uint64_t conn_id = ++end->next_conn;
        s_conn_t *conn = s_conn_new (self, end, conn_id, fd);
        if (!conn) {
            close (fd);
            continue;
        }
        if (s_send (self, SSTREAM_WIRE_TUNNEL_OPEN, conn, NULL, conn_id, self->window, NULL, NULL)) {
            sstream_log_warning ("%s: tunnel '%s' reset a new connection: the peer gateway is "
                                 "not connected", self->gateway, end->name);
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
        snprintf (why, sizeof (why), "cannot connect to %s: %s", conn->end->target_text,
                  strerror (error));
        s_conn_end (self, conn, true, true, why);
        return;
    }
    conn->state = CONN_OPEN;
    if (s_send (self, SSTREAM_WIRE_TUNNEL_OPENED, conn, NULL, conn->conn, self->window, NULL, NULL))
        s_conn_end (self, conn, true, false, "the other gateway is gone");
}

static void
s_tunnel_open (sstream_tunnels_t *self, const sstream_wire_t *header)
{
    s_end_t *end = (s_end_t *) zhashx_lookup (self->ends, header->stream);
    if (!end || end->outbound) {
        char why [SSTREAM_WIRE_TEXT_MAX];
        snprintf (why, sizeof (why), "no inbound tunnel session '%s' here", header->stream);
        s_send (self, SSTREAM_WIRE_TUNNEL_RESET, NULL, header->stream, header->conn, 0, NULL, why);
        return;
    }
    char key [SSTREAM_STREAM_NAME_MAX + 24];
    snprintf (key, sizeof (key), "%s/%" PRIu64, header->stream, header->conn);
    if (zhashx_lookup (self->conns, key)) {
        //  Numbers are not reused: this is a broken peer. The connection
        //  that has it stands; the newcomer is refused
        sstream_log_warning ("%s: tunnel '%s': a second open for connection %" PRIu64,
                             self->gateway, header->stream, header->conn);
        return;
    }
    int fd = socket (end->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    s_conn_t *conn = fd >= 0? s_conn_new (self, end, header->conn, fd): NULL;
    if (!conn) {
        if (fd >= 0)
            close (fd);
        s_send (self, SSTREAM_WIRE_TUNNEL_RESET, NULL, header->stream, header->conn, 0, NULL,
                "cannot make a socket");
        return;
    }
    conn->credit = conn->peer_window = (int64_t) header->window;
    if (connect (fd, (struct sockaddr *) &end->target, end->target_length) == 0)
        s_connected (self, conn);
    else
    if (errno != EINPROGRESS) {
        char why [SSTREAM_WIRE_TEXT_MAX];
        snprintf (why, sizeof (why), "cannot connect to %s: %s", end->target_text, strerror (errno));
        s_conn_end (self, conn, true, true, why);
    }
}

void
sstream_tunnels_handle (sstream_tunnels_t *self, const sstream_wire_t *header, zmq_msg_t *payload)
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
        //  and data is answered, so that the other side lets go too
        if (header->type == SSTREAM_WIRE_TUNNEL_DATA || header->type == SSTREAM_WIRE_TUNNEL_OPENED)
            s_send (self, SSTREAM_WIRE_TUNNEL_RESET, NULL, header->stream, header->conn, 0, NULL,
                    "that connection is gone");
        return;
    }
    switch (header->type) {
        case SSTREAM_WIRE_TUNNEL_OPENED:
            if (conn->state == CONN_OPENING && conn->end->outbound) {
                conn->state = CONN_OPEN;
                conn->credit = conn->peer_window = (int64_t) header->window;
            }
            break;
        case SSTREAM_WIRE_TUNNEL_DATA: {
            //  Their data must fit the window we gave them
            size_t size = zmq_msg_size (payload);
            uint64_t cost = DATA_COST (size);
            zmq_msg_t *queued = (zmq_msg_t *) malloc (sizeof (zmq_msg_t));
            if (!queued || conn->peer_eof || size != header->len || conn->held + cost > self->window) {
                free (queued);
                s_conn_end (self, conn, true, true, "the other gateway broke the tunnel protocol");
                break;
            }
            conn->held += cost;
            zmq_msg_init (queued);
            zmq_msg_move (queued, payload);
            zlistx_add_end (conn->out, queued);
            s_conn_write (self, conn);
            break;
        }
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
sstream_tunnels_close (sstream_tunnels_t *self, const char *name)
{
    zlistx_t *doomed = zlistx_new ();
    s_conn_t *conn;
    for (conn = (s_conn_t *) zhashx_first (self->conns); conn;
         conn = (s_conn_t *) zhashx_next (self->conns))
        if (streq (conn->end->name, name))
            zlistx_add_end (doomed, conn);
    for (conn = (s_conn_t *) zlistx_first (doomed); conn; conn = (s_conn_t *) zlistx_next (doomed))
        s_conn_end (self, conn, true, true, "the tunnel session was released");
    zlistx_destroy (&doomed);
    s_end_t *end = (s_end_t *) zhashx_lookup (self->ends, name);
    if (end && end->listen_fd >= 0)
        s_unindex (self, end->listen_fd);
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

//  Reads wait for this many tokens, so that a limited connection reads in
//  pieces worth their cost, not a few bytes at a time
static double
s_read_threshold (s_end_t *end)
{
    double burst = (double) end->rate / 10 > READ_MAX? (double) end->rate / 10: READ_MAX;
    return burst / 4 < READ_MAX? burst / 4: READ_MAX;
}

static void
s_refill (s_end_t *end, int64_t now)
{
    if (!end->rate)
        return;
    end->tokens += (double) end->rate * (double) (now - end->refilled) / 1000.0;
    double burst = (double) end->rate / 10 > READ_MAX? (double) end->rate / 10: READ_MAX;
    if (end->tokens > burst)
        end->tokens = burst;
    end->refilled = now;
}

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
    s_end_t *end;
    for (end = (s_end_t *) zhashx_first (self->ends); end && count < max;
         end = (s_end_t *) zhashx_next (self->ends)) {
        s_refill (end, now);
        if (end->accept_paused && now >= end->accept_paused)
            end->accept_paused = 0;
        if (end->listen_fd >= 0 && !end->accept_paused)
            items [count++] = (zmq_pollitem_t) { NULL, end->listen_fd, ZMQ_POLLIN, 0 };
    }
    s_conn_t *conn;
    for (conn = (s_conn_t *) zhashx_first (self->conns); conn && count < max;
         conn = (s_conn_t *) zhashx_next (self->conns)) {
        short events = 0;
        if (conn->state == CONN_OPENING && !conn->end->outbound)
            events |= ZMQ_POLLOUT;              //  Connect in progress
        if (conn->state == CONN_OPEN && !conn->read_eof
        &&  conn->credit > (int64_t) DATA_COST (0)
        &&  (!conn->end->rate || conn->end->tokens >= s_read_threshold (conn->end)))
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
        s_owner_t *owner = (s_owner_t *) s_owner (self, fd);
        if (!owner)
            continue;           //  Ended while handling an earlier item
        if (*owner == OWNER_END) {
            s_accept (self, (s_end_t *) owner);
            continue;
        }
        s_conn_t *conn = (s_conn_t *) owner;
        if (conn->state == CONN_OPENING && !conn->end->outbound) {
            if (items [index].revents & (ZMQ_POLLOUT | ZMQ_POLLERR))
                s_connected (self, conn);
            continue;
        }
        if (items [index].revents & ZMQ_POLLOUT) {
            s_conn_write (self, conn);
            //  It may be gone now: look again before reading
            conn = (s_conn_t *) s_owner (self, fd);
        }
        if (conn && (items [index].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
            s_conn_read (self, conn);
    }
}

int64_t
sstream_tunnels_next_wake (sstream_tunnels_t *self)
{
    int64_t wake = 0;
    s_end_t *end;
    for (end = (s_end_t *) zhashx_first (self->ends); end;
         end = (s_end_t *) zhashx_next (self->ends)) {
        int64_t due = 0;
        if (end->rate && end->stats.connections) {
            double wanted = s_read_threshold (end);
            if (end->tokens < wanted)
                due = end->refilled + (int64_t) ((wanted - end->tokens) * 1000 / (double) end->rate) + 1;
        }
        if (end->accept_paused && (!due || end->accept_paused < due))
            due = end->accept_paused;
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
