/*  =========================================================================
    ipc - the IPC (Unix domain socket) transport plugin

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    For a producer on the gateway's own host. ZeroMQ's ipc bind silently
    takes over a socket file that another process still serves; this plugin
    refuses that, checks path lengths before the kernel would, and can set
    the socket file's permissions. Options (section "<link>/ipc"):

        mode        permissions of the socket file after bind, in octal
                    (e.g. 0660); default: as the umask leaves them

    The bulk path (transport ABI 2) runs on Unix stream connections of its
    own. A listener's socket file sits beside the link's, named after it
    with a random suffix (gw.sock.bulk-3f9a1c), so that listeners of
    several links or of a restarted gateway never meet; it gets the
    link's mode before it listens, so no connection comes in under looser
    permissions, and closing the listener removes it. Its address is the
    whole path. An abstract link name (ipc://@name) gets an abstract
    bulk name the same way.
*/

#include <sstream.h>
#include <sstream_transport.h>
#include <zmq.h>

#include "bulk_stream.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

static const char *
s_option (const sstream_transport_link_t *link, const char *key)
{
    const char *const *pair;
    for (pair = link->options; pair [0]; pair += 2)
        if (strcmp (pair [0], key) == 0)
            return pair [1];
    return NULL;
}

//  True when some process accepts connections on the socket file path.

static int
s_in_use (const char *path)
{
    int fd = socket (AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_un address;
    memset (&address, 0, sizeof (address));
    address.sun_family = AF_UNIX;
    snprintf (address.sun_path, sizeof (address.sun_path), "%s", path);
    int in_use = connect (fd, (struct sockaddr *) &address, sizeof (address)) == 0;
    close (fd);
    return in_use;
}

static int
s_check (const sstream_transport_link_t *link)
{
    const char *endpoint = link->endpoint;
    if (strncmp (endpoint, "ipc://", 6) != 0)
        return s_fail (link, "'%s' is not an ipc:// endpoint", endpoint);
    const char *path = endpoint + 6;
    if (!*path)
        return s_fail (link, "'%s' has no path", endpoint);
    if (strcmp (path, "*") == 0)
        return s_fail (link, "'%s': give the socket a path", endpoint);
    if (strlen (path) >= sizeof (((struct sockaddr_un *) 0)->sun_path))
        return s_fail (link, "socket path is %zu bytes, over the system's limit of %zu: %.64s...",
                       strlen (path), sizeof (((struct sockaddr_un *) 0)->sun_path) - 1, path);
    const char *const *pair;
    for (pair = link->options; pair [0]; pair += 2) {
        if (strcmp (pair [0], "mode") == 0) {
            char *end;
            long mode = strtol (pair [1], &end, 8);
            if (!isdigit ((unsigned char) pair [1][0]) || *end || mode < 0 || mode > 0777)
                return s_fail (link, "mode is octal permissions like 0660, not '%s'", pair [1]);
            if (!link->bind)
                return s_fail (link, "mode applies only where the socket is bound");
        }
        else
            return s_fail (link, "unknown ipc option '%s' (known: mode)", pair [0]);
    }
    if (link->bind && path [0] != '@') {
        char folder [sizeof (((struct sockaddr_un *) 0)->sun_path)];
        snprintf (folder, sizeof (folder), "%s", path);
        char *slash = strrchr (folder, '/');
        if (slash)
            *(slash == folder? slash + 1: slash) = 0;
        else
            snprintf (folder, sizeof (folder), ".");
        struct stat stat_buf;
        if (stat (folder, &stat_buf) != 0 || !S_ISDIR (stat_buf.st_mode))
            return s_fail (link, "folder %s for the socket does not exist", folder);
        if (access (folder, W_OK) != 0)
            return s_fail (link, "cannot create a socket in %s: %s", folder, strerror (errno));
        if (s_in_use (path))
            return s_fail (link, "%s is in use by another process", path);
    }
    return 0;
}

static int
s_configure (void *socket, const sstream_transport_link_t *link)
{
    (void) socket;
    (void) link;
    return 0;
}

static int
s_bound (void *socket, const char *bound_endpoint, const sstream_transport_link_t *link)
{
    (void) socket;
    const char *mode = s_option (link, "mode");
    const char *path = bound_endpoint + 6;
    if (mode && path [0] != '@' && chmod (path, (mode_t) strtol (mode, NULL, 8)) != 0)
        return s_fail (link, "cannot set mode %s on %s: %s", mode, path, strerror (errno));
    return 0;
}


//  --------------------------------------------------------------------------
//  The bulk path

//  ".bulk-" and six hex digits
#define BULK_SUFFIX_LENGTH 12

//  A socket address for path, "@name" being an abstract name; its length.

static socklen_t
s_socket_address (const char *path, struct sockaddr_un *address)
{
    memset (address, 0, sizeof (*address));
    address->sun_family = AF_UNIX;
    if (path [0] == '@') {
        //  Abstract: a leading NUL, and the name's length says where it ends
        memcpy (address->sun_path + 1, path + 1, strlen (path) - 1);
        return (socklen_t) (offsetof (struct sockaddr_un, sun_path) + strlen (path));
    }
    memcpy (address->sun_path, path, strlen (path) + 1);
    return (socklen_t) sizeof (*address);
}

static int
s_bulk_listen (const sstream_transport_link_t *link, const char *bound_endpoint,
               sstream_bulk_t **listener, char *address, size_t address_size)
{
    *listener = NULL;
    if (strncmp (bound_endpoint, "ipc://", 6) != 0 || !bound_endpoint [6])
        return s_fail (link, "'%s' is not a bound ipc:// endpoint", bound_endpoint);
    const char *path = bound_endpoint + 6;
    size_t limit = sizeof (((struct sockaddr_un *) 0)->sun_path) - 1;
    if (strlen (path) + BULK_SUFFIX_LENGTH > limit)
        return s_fail (link, "the bulk socket beside %s would be %zu bytes long, over the "
                       "system's limit of %zu: give the link a shorter path",
                       path, strlen (path) + BULK_SUFFIX_LENGTH, limit);
    if (strlen (path) + BULK_SUFFIX_LENGTH >= address_size)
        return s_fail (link, "no room for the bulk address (%zu bytes)", address_size);
    const char *mode = s_option (link, "mode");
    bool abstract = path [0] == '@';

    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return s_fail (link, "cannot make a bulk socket: %s", strerror (errno));
    char bulk_path [sizeof (((struct sockaddr_un *) 0)->sun_path)];
    struct sockaddr_un name;
    int rc = -1;
    int attempt;
    //  A name taken (an earlier gateway's that crashed) gets another suffix
    for (attempt = 0; attempt < 16 && rc != 0; attempt++) {
        unsigned char random [3];
        if (getrandom (random, sizeof (random), 0) != (ssize_t) sizeof (random)) {
            close (fd);
            return s_fail (link, "no random bytes for the bulk socket's name: %s",
                           strerror (errno));
        }
        snprintf (bulk_path, sizeof (bulk_path), "%s.bulk-%02x%02x%02x",
                  path, random [0], random [1], random [2]);
        rc = bind (fd, (struct sockaddr *) &name, s_socket_address (bulk_path, &name));
        if (rc != 0 && errno != EADDRINUSE)
            break;
    }
    if (rc != 0) {
        s_fail (link, "cannot make the bulk socket %s: %s", bulk_path, strerror (errno));
        close (fd);
        return -1;
    }
    if (!abstract && mode && chmod (bulk_path, (mode_t) strtol (mode, NULL, 8)) != 0)
        rc = s_fail (link, "cannot set mode %s on %s: %s", mode, bulk_path, strerror (errno));
    else
    if (listen (fd, 128) != 0)
        rc = s_fail (link, "cannot listen on %s: %s", bulk_path, strerror (errno));
    else
    if (!(*listener = bulk_stream_listener_new (fd, abstract? NULL: bulk_path)))
        rc = s_fail (link, "out of memory");
    if (rc) {
        close (fd);
        if (!abstract)
            unlink (bulk_path);
        return -1;
    }
    snprintf (address, address_size, "%s", bulk_path);
    return 0;
}

static int
s_bulk_accept (sstream_bulk_t *listener, sstream_bulk_t **connection,
               const sstream_transport_link_t *link)
{
    return bulk_stream_accept (listener, connection, NULL, link);
}

static int
s_bulk_connect (const sstream_transport_link_t *link, const char *address,
                sstream_bulk_t **connection)
{
    *connection = NULL;
    size_t limit = sizeof (((struct sockaddr_un *) 0)->sun_path) - 1;
    if (address [0] != '/' && address [0] != '@')
        return s_fail (link, "'%s' is not a bulk socket path", address);
    if (strlen (address) > limit)
        return s_fail (link, "bulk socket path is %zu bytes, over the system's limit of %zu: "
                       "%.64s...", strlen (address), limit, address);
    struct sockaddr_un name;
    socklen_t length = s_socket_address (address, &name);
    return bulk_stream_connect ((struct sockaddr *) &name, length, address, NULL, link,
                                connection);
}

static const char *s_schemes [] = { "ipc", NULL };

static const sstream_transport_t s_ipc = {
    .abi_version = SSTREAM_TRANSPORT_ABI_VERSION,
    .size = sizeof (sstream_transport_t),
    .name = "ipc",
    .description = "Unix domain sockets over ZeroMQ, for clients on the gateway's host",
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
    return &s_ipc;
}
