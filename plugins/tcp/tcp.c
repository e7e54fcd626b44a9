/*  =========================================================================
    tcp - the TCP transport plugin

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    ZeroMQ carries the protocol over TCP itself; this plugin checks
    endpoints before anything is created, and sets what a long-lived WAN
    stream wants from its sockets. Options (section "<link>/tcp"):

        keepalive       on (default) or off: TCP keepalive probes, so that a
                        silent dead peer is noticed by the kernel too
        keepalive-idle  seconds of silence before probes start (default 30)
        sndbuf, rcvbuf  kernel socket buffer sizes, e.g. 4MiB (default: the
                        kernel's autotuning); raise them for long fat pipes
        bulk-port       the port a binding link's bulk path listens on
                        (default 0: one the kernel picks); give one where a
                        firewall must let sealed payloads through

    The bulk path (transport ABI 2) runs on TCP connections of its own,
    with the same options, and without Nagle's algorithm: bulk writes are
    large, and the last short segment of one must not wait for an ACK. A
    listener takes bulk-port (or a kernel-chosen port) on the interface the link bound,
    and its address is that port alone: the connecting side already knows
    the host, since its link reached it, and takes nothing else from the
    other side.
*/

#include <sstream.h>
#include <sstream_transport.h>
#include <zmq.h>

#include "bulk_stream.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int
s_fail (const sstream_transport_link_t *link, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static int
s_fail (const sstream_transport_link_t *link, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (link->error, link->error_size, format, args);
    va_end (args);
    return -1;
}

//  A host to connect to must resolve: libzmq would try a name that does
//  not for ever, and the connection time out saying nothing of why. A name
//  that is not known is a mistake to say at once; a lookup that fails for
//  the moment (no name server answered) is left to libzmq's retries.
//  host runs up to end; it may be "SOURCE;HOST" (libzmq's source address).

static int
s_check_host (const sstream_transport_link_t *link, const char *host, const char *end)
{
    const char *semicolon = memchr (host, ';', (size_t) (end - host));
    if (semicolon)
        host = semicolon + 1;
    char name [256];
    size_t length = (size_t) (end - host);
    if (length >= 2 && host [0] == '[' && end [-1] == ']') {
        host++;
        length -= 2;
    }
    if (length == 0 || length >= sizeof (name))
        return s_fail (link, "'%s' has no host name to connect to", link->endpoint);
    memcpy (name, host, length);
    name [length] = 0;
    struct addrinfo hints, *found = NULL;
    memset (&hints, 0, sizeof (hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo (name, NULL, &hints, &found);
    if (found)
        freeaddrinfo (found);
    if (rc == EAI_NONAME || rc == EAI_FAIL
#if defined (EAI_NODATA)
    ||  rc == EAI_NODATA
#endif
    )
        return s_fail (link, "cannot resolve host '%s' (%s)", name, gai_strerror (rc));
    return 0;
}

//  Check "tcp://HOST:PORT"; binding may use "*" for either.

static int
s_check_endpoint (const sstream_transport_link_t *link)
{
    const char *endpoint = link->endpoint;
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return s_fail (link, "'%s' is not a tcp:// endpoint", endpoint);
    const char *host = endpoint + 6;
    const char *colon = strrchr (host, ':');
    if (!colon || colon == host)
        return s_fail (link, "'%s' needs a host and a port, as tcp://host:port", endpoint);
    if (host [0] == '[' && colon [-1] != ']')
        return s_fail (link, "'%s' has an IPv6 address without its closing ']'", endpoint);
    const char *port = colon + 1;
    if (strcmp (port, "*") == 0 || strcmp (port, "0") == 0) {
        if (!link->bind)
            return s_fail (link, "'%s': a connection needs a real port", endpoint);
        return 0;
    }
    char *end;
    long number = strtol (port, &end, 10);
    if (!isdigit ((unsigned char) *port) || *end || number < 1 || number > 65535)
        return s_fail (link, "'%s' has a bad port: give 1 to 65535", endpoint);
    if (!link->bind && host [0] == '*')
        return s_fail (link, "'%s': a connection needs a host, not '*'", endpoint);
    return link->bind? 0: s_check_host (link, host, colon);
}

static const char *
s_option (const sstream_transport_link_t *link, const char *key)
{
    const char *const *pair;
    for (pair = link->options; pair [0]; pair += 2)
        if (strcmp (pair [0], key) == 0)
            return pair [1];
    return NULL;
}

static int
s_check (const sstream_transport_link_t *link)
{
    if (s_check_endpoint (link))
        return -1;
    const char *const *pair;
    for (pair = link->options; pair [0]; pair += 2) {
        const char *key = pair [0], *value = pair [1];
        uint64_t size;
        if (strcmp (key, "keepalive") == 0) {
            if (strcmp (value, "on") && strcmp (value, "off"))
                return s_fail (link, "keepalive is on or off, not '%s'", value);
        }
        else
        if (strcmp (key, "keepalive-idle") == 0) {
            char *end;
            long seconds = strtol (value, &end, 10);
            if (!isdigit ((unsigned char) *value) || *end || seconds < 1 || seconds > 86400)
                return s_fail (link, "keepalive-idle is 1 to 86400 seconds, not '%s'", value);
        }
        else
        if (strcmp (key, "sndbuf") == 0 || strcmp (key, "rcvbuf") == 0) {
            if (sstream_parse_size (value, &size) || size < 1024 || size > (1ULL << 30))
                return s_fail (link, "socket buffer sizes are 1KiB to 1GiB, not '%s'", value);
        }
        else
        if (strcmp (key, "bulk-port") == 0) {
            char *end;
            long port = strtol (value, &end, 10);
            if (!isdigit ((unsigned char) *value) || *end || port < 0 || port > 65535)
                return s_fail (link, "bulk-port is 0 to 65535, not '%s'", value);
        }
        else
            return s_fail (link, "unknown tcp option '%s' (known: keepalive, keepalive-idle, "
                                 "sndbuf, rcvbuf, bulk-port)", key);
    }
    return 0;
}

static int
s_set (const sstream_transport_link_t *link, void *socket, int option, int value,
       const char *name)
{
    if (zmq_setsockopt (socket, option, &value, sizeof (value)) != 0)
        return s_fail (link, "cannot set %s", name);
    return 0;
}

static int
s_configure (void *socket, const sstream_transport_link_t *link)
{
    const char *keepalive = s_option (link, "keepalive");
    bool enabled = !keepalive || strcmp (keepalive, "on") == 0;
    if (s_set (link, socket, ZMQ_TCP_KEEPALIVE, enabled? 1: 0, "TCP keepalive"))
        return -1;
    if (enabled) {
        const char *idle = s_option (link, "keepalive-idle");
        if (s_set (link, socket, ZMQ_TCP_KEEPALIVE_IDLE, idle? atoi (idle): 30, "keepalive-idle")
        ||  s_set (link, socket, ZMQ_TCP_KEEPALIVE_INTVL, 10, "keepalive interval"))
            return -1;
    }
    uint64_t size;
    const char *sndbuf = s_option (link, "sndbuf");
    if (sndbuf && (sstream_parse_size (sndbuf, &size)
               ||  s_set (link, socket, ZMQ_SNDBUF, (int) size, "sndbuf")))
        return -1;
    const char *rcvbuf = s_option (link, "rcvbuf");
    if (rcvbuf && (sstream_parse_size (rcvbuf, &size)
               ||  s_set (link, socket, ZMQ_RCVBUF, (int) size, "rcvbuf")))
        return -1;
    //  An IPv6 address, or a name that may resolve to one
    const char *host = link->endpoint + 6;
    if (host [0] == '[' || strchr (host, ':') != strrchr (host, ':'))
        if (s_set (link, socket, ZMQ_IPV6, 1, "IPv6"))
            return -1;
    return 0;
}

static int
s_bound (void *socket, const char *bound_endpoint, const sstream_transport_link_t *link)
{
    (void) socket;
    (void) bound_endpoint;
    (void) link;
    return 0;
}


//  --------------------------------------------------------------------------
//  The bulk path

static int
s_set_fd (const sstream_transport_link_t *link, int fd, int level, int option, int value,
          const char *name)
{
    if (setsockopt (fd, level, option, &value, sizeof (value)) != 0)
        return s_fail (link, "cannot set %s on a bulk socket: %s", name, strerror (errno));
    return 0;
}

//  What s_configure asks of ZeroMQ for the link, asked of the kernel for a
//  bulk socket; buffer sizes go on before listen or connect, while the
//  window scale is still to be agreed.

static int
s_bulk_prepare (int fd, const sstream_transport_link_t *link)
{
    if (s_set_fd (link, fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY"))
        return -1;
    const char *keepalive = s_option (link, "keepalive");
    bool enabled = !keepalive || strcmp (keepalive, "on") == 0;
    if (s_set_fd (link, fd, SOL_SOCKET, SO_KEEPALIVE, enabled? 1: 0, "TCP keepalive"))
        return -1;
    if (enabled) {
        const char *idle = s_option (link, "keepalive-idle");
        if (s_set_fd (link, fd, IPPROTO_TCP, TCP_KEEPIDLE, idle? atoi (idle): 30, "keepalive-idle")
        ||  s_set_fd (link, fd, IPPROTO_TCP, TCP_KEEPINTVL, 10, "keepalive interval"))
            return -1;
    }
    uint64_t size;
    const char *sndbuf = s_option (link, "sndbuf");
    if (sndbuf && (sstream_parse_size (sndbuf, &size)
               ||  s_set_fd (link, fd, SOL_SOCKET, SO_SNDBUF, (int) size, "sndbuf")))
        return -1;
    const char *rcvbuf = s_option (link, "rcvbuf");
    if (rcvbuf && (sstream_parse_size (rcvbuf, &size)
               ||  s_set_fd (link, fd, SOL_SOCKET, SO_RCVBUF, (int) size, "rcvbuf")))
        return -1;
    return 0;
}

//  The host of a tcp:// endpoint, brackets taken off an IPv6 address; for
//  a connection with a source address ("tcp://source;host:port"), the host
//  it connects to. 0, or -1 when there is none.

static int
s_endpoint_host (const char *endpoint, char *host, size_t host_size)
{
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return -1;
    const char *start = endpoint + 6;
    const char *semicolon = strchr (start, ';');
    if (semicolon)
        start = semicolon + 1;
    const char *colon = strrchr (start, ':');
    if (!colon)
        return -1;
    size_t length = (size_t) (colon - start);
    if (length >= 2 && start [0] == '[' && colon [-1] == ']') {
        start++;
        length -= 2;
    }
    if (length == 0 || length >= host_size)
        return -1;
    memcpy (host, start, length);
    host [length] = 0;
    return 0;
}

static int
s_bulk_listen (const sstream_transport_link_t *link, const char *bound_endpoint,
               sstream_bulk_t **listener, char *address, size_t address_size)
{
    *listener = NULL;
    char host [256];
    if (s_endpoint_host (bound_endpoint, host, sizeof (host)))
        return s_fail (link, "'%s' is not a bound tcp:// endpoint", bound_endpoint);
    //  ZeroMQ reports a wildcard bind as 0.0.0.0 or [::]; "*" is IPv4 for it
    bool any = strcmp (host, "*") == 0;
    struct addrinfo hints = {
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
        .ai_family = any? AF_INET: AF_UNSPEC,
        .ai_socktype = SOCK_STREAM
    };
    struct addrinfo *found;
    const char *fixed_port = s_option (link, "bulk-port");
    int rc = getaddrinfo (any? NULL: host, fixed_port? fixed_port: "0", &hints, &found);
    if (rc)
        return s_fail (link, "cannot listen for bulk connections on %s: %s", host,
                       gai_strerror (rc));
    int fd = socket (found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo (found);
        return s_fail (link, "cannot make a bulk socket: %s", strerror (errno));
    }
    //  A link bound to [::] takes IPv4 too (ZeroMQ turns IPV6_V6ONLY off)
    if (found->ai_family == AF_INET6
    &&  s_set_fd (link, fd, IPPROTO_IPV6, IPV6_V6ONLY, 0, "IPV6_V6ONLY"))
        rc = -1;
    else
    if (s_bulk_prepare (fd, link))
        rc = -1;
    else
    if (bind (fd, found->ai_addr, found->ai_addrlen) != 0 || listen (fd, 128) != 0)
        rc = s_fail (link, "cannot listen for bulk connections on %s: %s", host,
                     strerror (errno));
    freeaddrinfo (found);
    struct sockaddr_storage name;
    socklen_t length = sizeof (name);
    if (rc == 0 && getsockname (fd, (struct sockaddr *) &name, &length) != 0)
        rc = s_fail (link, "cannot learn the bulk listener's port: %s", strerror (errno));
    if (rc == 0) {
        unsigned port = ntohs (name.ss_family == AF_INET6
                               ? ((struct sockaddr_in6 *) &name)->sin6_port
                               : ((struct sockaddr_in *) &name)->sin_port);
        if ((size_t) snprintf (address, address_size, "%u", port) >= address_size)
            rc = s_fail (link, "no room for the bulk address (%zu bytes)", address_size);
    }
    if (rc == 0 && !(*listener = bulk_stream_listener_new (fd, NULL)))
        rc = s_fail (link, "out of memory");
    if (rc)
        close (fd);
    return rc;
}

static int
s_bulk_accept (sstream_bulk_t *listener, sstream_bulk_t **connection,
               const sstream_transport_link_t *link)
{
    return bulk_stream_accept (listener, connection, s_bulk_prepare, link);
}

static int
s_bulk_connect (const sstream_transport_link_t *link, const char *address,
                sstream_bulk_t **connection)
{
    *connection = NULL;
    char *end;
    long port = strtol (address, &end, 10);
    if (!isdigit ((unsigned char) *address) || *end || port < 1 || port > 65535)
        return s_fail (link, "'%s' is not a bulk port (1 to 65535)", address);
    char host [256];
    if (s_endpoint_host (link->endpoint, host, sizeof (host)))
        return s_fail (link, "'%s' is not a tcp:// endpoint with a host", link->endpoint);
    //  The address family ZeroMQ used for the link: an IPv6 address only
    //  when written as one (s_configure turns ZMQ_IPV6 on for that alone)
    struct addrinfo hints = {
        .ai_flags = AI_NUMERICSERV,
        .ai_family = strchr (host, ':')? AF_INET6: AF_INET,
        .ai_socktype = SOCK_STREAM
    };
    struct addrinfo *found;
    int rc = getaddrinfo (host, address, &hints, &found);
    if (rc)
        return s_fail (link, "cannot resolve %s for the bulk connection: %s", host,
                       gai_strerror (rc));
    char peer [sizeof (host) + 16];
    snprintf (peer, sizeof (peer), strchr (host, ':')? "[%s]:%s": "%s:%s", host, address);
    rc = bulk_stream_connect (found->ai_addr, found->ai_addrlen, peer, s_bulk_prepare, link,
                              connection);
    freeaddrinfo (found);
    return rc;
}

static const char *s_schemes [] = { "tcp", NULL };

static const sstream_transport_t s_tcp = {
    .abi_version = SSTREAM_TRANSPORT_ABI_VERSION,
    .size = sizeof (sstream_transport_t),
    .name = "tcp",
    .description = "TCP over ZeroMQ, with keepalive, tunable socket buffers and a bulk path",
    .schemes = s_schemes,
    .flags = SSTREAM_TRANSPORT_BULK,
    .check = s_check,
    .configure = s_configure,
    .bound = s_bound,
    .bulk_listen = s_bulk_listen,
    .bulk_accept = s_bulk_accept,
    .bulk_connect = s_bulk_connect,
    .bulk_poll = bulk_stream_poll,
    .bulk_send = bulk_stream_send,
    .bulk_recv = bulk_stream_recv,
    .bulk_progress = bulk_stream_progress,
    .bulk_close = bulk_stream_close
};

SSTREAM_TRANSPORT_EXPORT const sstream_transport_t *
sstream_transport_plugin (void)
{
    return &s_tcp;
}
