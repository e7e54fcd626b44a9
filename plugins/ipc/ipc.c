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
*/

#include <sstream.h>
#include <sstream_transport.h>
#include <zmq.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static const char *s_schemes [] = { "ipc", NULL };

static const sstream_transport_t s_ipc = {
    .abi_version = SSTREAM_TRANSPORT_ABI_VERSION,
    .size = sizeof (sstream_transport_t),
    .name = "ipc",
    .description = "Unix domain sockets over ZeroMQ, for clients on the gateway's host",
    .schemes = s_schemes,
    .flags = 0,
    .check = s_check,
    .configure = s_configure,
    .bound = s_bound
};

SSTREAM_TRANSPORT_EXPORT const sstream_transport_t *
sstream_transport_plugin (void)
{
    return &s_ipc;
}
