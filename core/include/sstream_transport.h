/*  =========================================================================
    sstream_transport - the transport plugin ABI

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A transport plugin is a shared object, sstream-transport-NAME.so, that
    exports one function, sstream_transport_plugin (), returning a table of
    operations (the model is nng's transport ops and Redis's ConnectionType).
    libsstream loads it with dlopen when an endpoint needs it: by the
    endpoint's scheme ("tcp://" loads "tcp") or by a link's explicit
    "transport" setting. It searches, in order:

        1. each folder of SSTREAM_PLUGIN_PATH (colon-separated),
        2. the install folder (<libdir>/sstream/plugins),
        3. the build tree's plugins folder.

    A plugin is refused, with an error naming the file, when its table's
    abi_version is not SSTREAM_TRANSPORT_ABI_VERSION, when its size is
    smaller than this version's table, or when its name does not match the
    file name.

    How a link uses a transport (ABI 1)
    -----------------------------------
    Every link has a ZeroMQ socket that carries the protocol (core/PROTOCOL.md)
    under CURVE. libsstream creates that socket and applies its security in
    one place; the plugin then:

        check       validates the endpoint and the link's "<name>" options
                    before anything is created (fail early, one clear line);
        configure   sets transport-specific socket options before bind or
                    connect (TCP keepalive and buffer sizes, ...);
        bound       acts after a bind (for example, sets the permissions of
                    an ipc socket file).

    The bulk path (ABI 2)
    ---------------------
    Sealed batches (core/PROTOCOL.md section 3.9) need no per-hop crypto:
    their payload travels on a bulk path beside the link, while the link's
    CURVE socket keeps carrying everything else (control, headers, credit).
    A plugin with SSTREAM_TRANSPORT_BULK in flags provides the bulk path:

        bulk_listen     the binding side of a link listens for bulk
                        connections beside it (same interface, a port or
                        file of its own), and says where: an address the
                        core hands the other side over the CURVE link;
        bulk_accept     takes a pending connection;
        bulk_connect    the connecting side connects to that address (the
                        core passes the link, whose endpoint names the host
                        the link reached);
        bulk_poll       the descriptor to poll, and for what, right now;
        bulk_send       posts a send of a buffer, bulk_recv a receive of
                        exactly so many bytes into a buffer: the core keeps
                        the memory untouched (send) or unread (recv) until
                        the operation completes; operations of one kind
                        complete in the order posted;
        bulk_progress   moves bytes without blocking and reports completed
                        operations;
        bulk_close      ends a listener or a connection.

    Everything is non-blocking and driven by the core's poll loop. A bulk
    connection is anonymous to the plugin: the core authenticates it (the
    first bytes the connecting side sends are a single-use token it got
    over the CURVE link) before it forwards anything from it. tcp and ipc
    move bytes on a stream socket; an rdma plugin posts the same operations
    to its fabric (FI_MSG / FI_RMA) and reports their completions.

    A plugin of ABI 1 (no bulk table) still loads: its links carry sealed
    payloads in frame 1, as every payload travels without a bulk path. A
    plugin whose flags carry a bit this libsstream does not know is
    refused at load.
*/

#ifndef SSTREAM_TRANSPORT_H_INCLUDED
#define SSTREAM_TRANSPORT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SSTREAM_TRANSPORT_ABI_VERSION 2

//  The plugin provides the bulk path (the bulk_* operations).
#define SSTREAM_TRANSPORT_BULK 0x1u

//  A bulk listener or connection: the plugin's own
typedef struct _sstream_bulk_t sstream_bulk_t;

//  What a completed bulk operation was
typedef enum {
    SSTREAM_BULK_SENT = 1,
    SSTREAM_BULK_RECEIVED = 2
} sstream_bulk_kind_t;

typedef struct {
    void *context;              //  As posted
    int kind;                   //  sstream_bulk_kind_t
} sstream_bulk_done_t;

//  The longest bulk address (NUL included)
#define SSTREAM_BULK_ADDRESS_MAX 256

//  What the core tells a plugin about the link it is working on.
typedef struct {
    const char *endpoint;       //  as configured, e.g. "tcp://10.0.0.1:7001"
    int bind;                   //  1 if this side binds, 0 if it connects
    //  The link's "<transport name>" config section, as key, value, key,
    //  value, ..., NULL. A plugin rejects keys it does not know.
    const char *const *options;
    //  Where a failing operation writes one line saying why.
    char *error;
    size_t error_size;
} sstream_transport_link_t;

typedef struct {
    uint32_t abi_version;       //  SSTREAM_TRANSPORT_ABI_VERSION
    uint32_t size;              //  sizeof (sstream_transport_t)
    const char *name;           //  "tcp"; the file is sstream-transport-tcp.so
    const char *description;    //  one line, for logs and --help
    const char *const *schemes; //  endpoint schemes served, NULL-terminated
    uint32_t flags;             //  SSTREAM_TRANSPORT_* bits

    //  Each returns 0 on success, or -1 after writing link->error.
    //  zmq_socket is a libzmq socket handle (void *).
    int (*check) (const sstream_transport_link_t *link);
    int (*configure) (void *zmq_socket, const sstream_transport_link_t *link);
    int (*bound) (void *zmq_socket, const char *bound_endpoint,
                  const sstream_transport_link_t *link);

    //  ABI 2: the bulk path, when flags has SSTREAM_TRANSPORT_BULK (else
    //  NULL). Each returns as said, or -1 after writing link->error (or
    //  error, where it is given).

    //  Listen beside the link bound at bound_endpoint; *address gets what
    //  bulk_connect on the other side needs (at most address_size bytes,
    //  NUL included).
    int (*bulk_listen) (const sstream_transport_link_t *link, const char *bound_endpoint,
                        sstream_bulk_t **listener, char *address, size_t address_size);
    //  A pending connection: 1 (and *connection), 0 when none is pending.
    int (*bulk_accept) (sstream_bulk_t *listener, sstream_bulk_t **connection,
                        const sstream_transport_link_t *link);
    //  Start connecting to address; operations may be posted at once.
    int (*bulk_connect) (const sstream_transport_link_t *link, const char *address,
                         sstream_bulk_t **connection);
    //  What to poll now: *fd, and *events (ZMQ_POLLIN, ZMQ_POLLOUT): in for
    //  a listener and for a connection with a receive posted, out while a
    //  send is posted or the connect is under way. *events may be 0.
    void (*bulk_poll) (sstream_bulk_t *bulk, int *fd, short *events);
    //  Post a send of size bytes from data, or a receive of exactly size
    //  bytes into data (size 0 completes at the next progress). 0, or -1.
    int (*bulk_send) (sstream_bulk_t *connection, const void *data, size_t size,
                      void *context, char *error, size_t error_size);
    int (*bulk_recv) (sstream_bulk_t *connection, void *data, size_t size,
                      void *context, char *error, size_t error_size);
    //  Move what can move now; write at most max completions into done
    //  and return how many, or -1 when the connection has failed or the
    //  other side closed it (no posted operation completes after that).
    int (*bulk_progress) (sstream_bulk_t *connection, sstream_bulk_done_t *done, int max,
                          char *error, size_t error_size);
    //  End a listener or a connection; idempotent, sets *bulk to NULL.
    void (*bulk_close) (sstream_bulk_t **bulk);
} sstream_transport_t;

//  The size of an ABI 1 table, which a loader still accepts
#define SSTREAM_TRANSPORT_ABI1_SIZE offsetof (sstream_transport_t, bulk_listen)

//  The one symbol a plugin exports, and its type for dlsym.
#if defined(__GNUC__)
#   define SSTREAM_TRANSPORT_EXPORT __attribute__ ((visibility ("default")))
#else
#   define SSTREAM_TRANSPORT_EXPORT
#endif
SSTREAM_TRANSPORT_EXPORT const sstream_transport_t *
    sstream_transport_plugin (void);

typedef const sstream_transport_t *(sstream_transport_plugin_fn) (void);
#define SSTREAM_TRANSPORT_ENTRY "sstream_transport_plugin"

#ifdef __cplusplus
}
#endif

#endif
