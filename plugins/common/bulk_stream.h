/*  =========================================================================
    bulk_stream - the bulk path (transport ABI 2) on a stream socket

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    tcp and ipc move bulk bytes the same way once they have a connected
    stream socket; only how they listen and where they connect differ. This
    source is compiled into each plugin (each is a shared object of its
    own, with hidden symbols), so nothing here is a library of its own.

    The plugin makes and binds its listening socket, then hands it over
    with bulk_stream_listener_new; bulk_stream_connect and
    bulk_stream_accept make connections. The other functions have the
    signatures of the table's bulk_poll, bulk_send, bulk_recv,
    bulk_progress and bulk_close, so a plugin points its table at them.
*/

#ifndef BULK_STREAM_H_INCLUDED
#define BULK_STREAM_H_INCLUDED

#include <sstream_transport.h>

#include <sys/socket.h>

//  Operations of one kind posted and not yet reported complete: past
//  this, a post fails. A core that posts this many has stopped reaping.
#define BULK_STREAM_POSTED_MAX 4096

//  Sets a link's options on a new socket: before listen or connect, and
//  again after accept. 0, or -1 after writing link->error.
typedef int (bulk_stream_prepare_fn) (int fd, const sstream_transport_link_t *link);

//  Takes over fd, a non-blocking socket already listening. path, if not
//  NULL, is its socket file, which close removes. NULL when out of memory
//  (fd is then still the caller's).
sstream_bulk_t *
    bulk_stream_listener_new (int fd, const char *path);

//  Starts a non-blocking connect to address; peer names it in messages.
//  -1 (after writing link->error) only when no socket could be made: a
//  refused or unreachable address is reported by bulk_stream_progress,
//  like a connect that fails later.
int
    bulk_stream_connect (const struct sockaddr *address, socklen_t length, const char *peer,
                         bulk_stream_prepare_fn *prepare, const sstream_transport_link_t *link,
                         sstream_bulk_t **connection);

//  1 and *connection when a connection was pending, 0 when none was, or
//  -1 after writing link->error.
int
    bulk_stream_accept (sstream_bulk_t *listener, sstream_bulk_t **connection,
                        bulk_stream_prepare_fn *prepare, const sstream_transport_link_t *link);

void
    bulk_stream_poll (sstream_bulk_t *bulk, int *fd, short *events);

int
    bulk_stream_send (sstream_bulk_t *connection, const void *data, size_t size,
                      void *context, char *error, size_t error_size);

int
    bulk_stream_recv (sstream_bulk_t *connection, void *data, size_t size,
                      void *context, char *error, size_t error_size);

//  As the table's bulk_progress. When the connection fails while
//  operations that completed before are still unreported, those are
//  returned first and -1 comes at the next call.
int
    bulk_stream_progress (sstream_bulk_t *connection, sstream_bulk_done_t *done, int max,
                          char *error, size_t error_size);

void
    bulk_stream_close (sstream_bulk_t **bulk_p);

#endif
