/*  =========================================================================
    sstream_classes - private header for libsstream's own sources

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#ifndef SSTREAM_CLASSES_H_INCLUDED
#define SSTREAM_CLASSES_H_INCLUDED

#include <czmq.h>
#include <msgpack.h>
#include <sodium.h>

#include "sstream.h"
#include "sstream_transport.h"

//  Library-wide settings applied before the first socket: CZMQ logs to
//  stderr (stdout may carry a stream), installs no signal handler (the
//  application owns its signals), and gets one I/O thread per core.
void
    sstream_library_init (void);

//  Every actor thread of the library counts itself in at its start and out
//  at its very end, and polls the descriptor enter returns (-1: none): when
//  it is readable the process is exiting, and the actor stops as if
//  destroyed, before CZMQ closes the sockets left open.
int
    sstream_actor_enter (void);
void
    sstream_actor_leave (void);

//  Signals belong to the application. CZMQ aborts the process when a
//  socket option call of its own is interrupted, so: the library's threads
//  never take a signal (refuse), and a caller's thread holds them off while
//  CZMQ works on its behalf, letting them through only while it waits in
//  zmq_poll, which reports an interruption cleanly (sstream_signals_wait).
void
    sstream_signals_refuse (void);
void
    sstream_signals_hold (sigset_t *saved);
void
    sstream_signals_release (const sigset_t *saved);

//  Wait until socket (a libzmq handle) is readable (events ZMQ_POLLIN) or
//  writable (ZMQ_POLLOUT), at most timeout_ms, with the caller's signals
//  let through meanwhile. Returns 1 ready, 0 timed out, -1 interrupted.
int
    sstream_signals_wait (void *socket, short events, long timeout_ms, const sigset_t *saved);

//  Record a detailed message for sstream_errmsg () and return code.
int
    sstream_error_set (int code, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Copy a message received from another thread as this thread's errmsg.
int
    sstream_error_restore (int code, const char *message);

//  Logging at a level, to stderr through CZMQ's zsys log
int
    sstream_log_level (void);

#define sstream_log_debug(...) \
    do { if (sstream_log_level () >= SSTREAM_LOG_DEBUG) zsys_debug (__VA_ARGS__); } while (0)
#define sstream_log_info(...) \
    do { if (sstream_log_level () >= SSTREAM_LOG_INFO) zsys_info (__VA_ARGS__); } while (0)
#define sstream_log_warning(...) \
    do { if (sstream_log_level () >= SSTREAM_LOG_WARNING) zsys_warning (__VA_ARGS__); } while (0)
#define sstream_log_error(...) zsys_error (__VA_ARGS__)

//  Default timings, in milliseconds.
#define SSTREAM_HEARTBEAT_DEFAULT       1000
#define SSTREAM_PEER_TIMEOUT_DEFAULT    10000
#define SSTREAM_CONNECT_TIMEOUT_DEFAULT 10000

#include "sstream_settings.h"
#include "sstream_wire.h"
#include "sstream_keys.h"
#include "sstream_keyring.h"
#include "sstream_access.h"
#include "sstream_plugins.h"
#include "sstream_auth.h"
#include "sstream_link.h"
#include "sstream_client.h"
#include "sstream_stream.h"
#include "sstream_tunnel.h"
#include "sstream_router.h"
#include "sstream_session.h"

#endif
