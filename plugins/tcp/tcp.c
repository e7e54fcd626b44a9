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
*/

#include <sstream.h>
#include <sstream_transport.h>
#include <zmq.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return 0;
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
            return s_fail (link, "unknown tcp option '%s' (known: keepalive, keepalive-idle, "
                                 "sndbuf, rcvbuf)", key);
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

static const char *s_schemes [] = { "tcp", NULL };

static const sstream_transport_t s_tcp = {
    .abi_version = SSTREAM_TRANSPORT_ABI_VERSION,
    .size = sizeof (sstream_transport_t),
    .name = "tcp",
    .description = "TCP over ZeroMQ, with keepalive and tunable socket buffers",
    .schemes = s_schemes,
    .flags = 0,
    .check = s_check,
    .configure = s_configure,
    .bound = s_bound
};

SSTREAM_TRANSPORT_EXPORT const sstream_transport_t *
sstream_transport_plugin (void)
{
    return &s_tcp;
}
