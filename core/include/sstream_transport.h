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

    For tcp and ipc the payload of every data message travels in frame 1 of
    the same ZeroMQ message, so ABI 1 needs nothing more.

    How a transport whose bulk data does not travel over ZeroMQ fits
    -----------------------------------------------------------------
    An rdma plugin (libfabric, FI_EP_RDM) keeps the ZeroMQ/CURVE socket for
    control and headers and moves payloads itself. ABI 2 will append, after
    the ABI 1 fields (the size field is what lets a loader tell the versions
    apart), a bulk table:

        bulk_open (link, &bulk)            endpoint + memory registration
        bulk_address (bulk, buf, &len)     local fabric address; libsstream
                                           sends it to the peer in the link's
                                           hello/open exchange, under CURVE
        bulk_connect (bulk, addr, len)     address received from the peer
        bulk_key (bulk, key[32])           an AEAD key agreed with crypto_kx
                                           over the CURVE channel: CURVE does
                                           not protect a non-ZeroMQ data path
        bulk_post (bulk, data, len, tag)   start moving one payload
        bulk_fd (bulk)                     a file descriptor that polls
                                           readable when completions are
                                           pending (for zmq_poll)
        bulk_complete (bulk, &event)       reap one completion
        bulk_close (&bulk)

    and set SSTREAM_TRANSPORT_BULK in flags. A data message then goes out as
    its header frame alone, with flags bit 0x4 ("bulk") and a "bulk" map
    saying where the payload is (PROTOCOL.md section 6); credit, sequence
    numbers and end-of-stream work unchanged, because they are counted on
    headers. A plugin whose flags carry a bit this libsstream does not know
    is refused at load.
*/

#ifndef SSTREAM_TRANSPORT_H_INCLUDED
#define SSTREAM_TRANSPORT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SSTREAM_TRANSPORT_ABI_VERSION 1

//  Reserved for ABI 2: the plugin moves payloads over its own data path.
#define SSTREAM_TRANSPORT_BULK 0x1u

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
    uint32_t flags;             //  SSTREAM_TRANSPORT_* bits; 0 in ABI 1

    //  Each returns 0 on success, or -1 after writing link->error.
    //  zmq_socket is a libzmq socket handle (void *).
    int (*check) (const sstream_transport_link_t *link);
    int (*configure) (void *zmq_socket, const sstream_transport_link_t *link);
    int (*bound) (void *zmq_socket, const char *bound_endpoint,
                  const sstream_transport_link_t *link);
} sstream_transport_t;

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
