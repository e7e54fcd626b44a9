/*  =========================================================================
    sstream_tunnel_end - one end of a tunnel session

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_gateway_classes.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct _sstream_tunnel_end_t {
    char name [SSTREAM_STREAM_NAME_MAX + 1];
    bool outbound;
    int listen_fd;              //  Outbound
    int64_t resting;            //  Until then (zclock_mono), not accepting
    struct sockaddr_storage target;     //  Inbound
    socklen_t target_length;
    char target_text [SSTREAM_WIRE_ADDRESS_MAX + 1];
    uint64_t rate;              //  Bytes per second, 0: no limit
    double tokens;
    int64_t refilled;
    uint64_t next_conn;
    sstream_tunnel_stats_t stats;
};

static sstream_tunnel_end_t *
s_end_new (const char *name, bool outbound, uint64_t rate)
{
    sstream_tunnel_end_t *self = (sstream_tunnel_end_t *) zmalloc (sizeof (*self));
    if (!self)
        return NULL;
    snprintf (self->name, sizeof (self->name), "%s", name);
    self->outbound = outbound;
    self->listen_fd = -1;
    self->rate = rate;
    self->refilled = self->stats.last_active = zclock_mono ();
    self->tokens = rate? (double) rate / 10: 0;
    self->next_conn = (uint64_t) randombytes_random () << 20;
    return self;
}

void
sstream_tunnel_end_destroy (sstream_tunnel_end_t **self_p)
{
    if (self_p && *self_p) {
        if ((*self_p)->listen_fd >= 0)
            close ((*self_p)->listen_fd);
        free (*self_p);
        *self_p = NULL;
    }
}

int
sstream_tunnel_end_listen (sstream_tunnel_end_t **self_p, const char *name, const char *address,
                           int low, int high, uint64_t rate, int *port_p)
{
    *self_p = NULL;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (address, "0", &hints, &found);
    if (rc || !found)
        return sstream_error_set (SSTREAM_ECONFIG, "tunnels/address '%s' is not an IP address: %s",
                                  address, gai_strerror (rc));
    int fd = -1, port;
    int last_error = EADDRINUSE;
    for (port = low; port <= high && fd < 0; port++) {
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
            "no free port for tunnel '%s' in %s:%d-%d (%s)", name, address, low, high,
            strerror (last_error));
    sstream_tunnel_end_t *self = s_end_new (name, true, rate);
    if (!self) {
        close (fd);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    self->listen_fd = fd;
    *port_p = port - 1;
    *self_p = self;
    return SSTREAM_OK;
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
sstream_tunnel_end_target (sstream_tunnel_end_t **self_p, const char *name, const char *target,
                           uint64_t rate)
{
    *self_p = NULL;
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
    sstream_tunnel_end_t *self = s_end_new (name, false, rate);
    if (!self) {
        freeaddrinfo (found);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    memcpy (&self->target, found->ai_addr, found->ai_addrlen);
    self->target_length = found->ai_addrlen;
    snprintf (self->target_text, sizeof (self->target_text), "%s", target);
    freeaddrinfo (found);
    *self_p = self;
    return SSTREAM_OK;
}

const char *
sstream_tunnel_end_name (sstream_tunnel_end_t *self)
{
    return self->name;
}

bool
sstream_tunnel_end_outbound (sstream_tunnel_end_t *self)
{
    return self->outbound;
}

sstream_tunnel_stats_t *
sstream_tunnel_end_stats (sstream_tunnel_end_t *self)
{
    return &self->stats;
}

int
sstream_tunnel_end_listener (sstream_tunnel_end_t *self, int64_t now)
{
    if (self->resting && now >= self->resting)
        self->resting = 0;
    return self->resting? -1: self->listen_fd;
}

void
sstream_tunnel_end_rest (sstream_tunnel_end_t *self, int64_t until)
{
    self->resting = until;
}

const struct sockaddr *
sstream_tunnel_end_address (sstream_tunnel_end_t *self, socklen_t *length)
{
    *length = self->target_length;
    return (const struct sockaddr *) &self->target;
}

const char *
sstream_tunnel_end_target_text (sstream_tunnel_end_t *self)
{
    return self->target_text;
}

uint64_t
sstream_tunnel_end_next_conn (sstream_tunnel_end_t *self)
{
    return ++self->next_conn;
}


//  --------------------------------------------------------------------------
//  The rate

//  What the bucket holds at most: a tenth of a second's worth, and at
//  least 64 KiB, so that a slow rate still reads in pieces worth a chunk
#define BURST_LEAST (64.0 * 1024)

static double
s_burst (sstream_tunnel_end_t *self)
{
    double tenth = (double) self->rate / 10;
    return tenth > BURST_LEAST? tenth: BURST_LEAST;
}

//  Reads wait for this many tokens, so that a limited connection reads in
//  pieces worth their cost, not a few bytes at a time
static double
s_threshold (sstream_tunnel_end_t *self)
{
    double quarter = s_burst (self) / 4;
    return quarter < SSTREAM_TUNNEL_READ_MAX? quarter: SSTREAM_TUNNEL_READ_MAX;
}

void
sstream_tunnel_end_refill (sstream_tunnel_end_t *self, int64_t now)
{
    if (!self->rate)
        return;
    self->tokens += (double) self->rate * (double) (now - self->refilled) / 1000.0;
    if (self->tokens > s_burst (self))
        self->tokens = s_burst (self);
    self->refilled = now;
}

bool
sstream_tunnel_end_may_read (sstream_tunnel_end_t *self)
{
    return !self->rate || self->tokens >= s_threshold (self);
}

size_t
sstream_tunnel_end_budget (sstream_tunnel_end_t *self, size_t wanted)
{
    if (!self->rate)
        return wanted;
    if (self->tokens <= 0)
        return 0;
    return wanted > (size_t) self->tokens + 1? (size_t) self->tokens + 1: wanted;
}

void
sstream_tunnel_end_spend (sstream_tunnel_end_t *self, size_t bytes)
{
    self->stats.bytes_in += bytes;
    self->stats.last_active = zclock_mono ();
    if (self->rate)
        self->tokens -= (double) bytes;
}

int64_t
sstream_tunnel_end_next_wake (sstream_tunnel_end_t *self)
{
    int64_t due = 0;
    if (self->rate && self->stats.connections) {
        double wanted = s_threshold (self);
        if (self->tokens < wanted)
            due = self->refilled + (int64_t) ((wanted - self->tokens) * 1000 / (double) self->rate) + 1;
    }
    if (self->resting && (!due || self->resting < due))
        due = self->resting;
    return due;
}
