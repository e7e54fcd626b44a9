/*  =========================================================================
    sstream_common - private header for what both sides of the wire share:
    library set-up, errors, signals, logging, and the common classes

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Included by every source of libsstream, through the private header of
    its side (client/sstream_client_classes.h, gateway/sstream_gateway_classes.h).
*/

#ifndef SSTREAM_COMMON_H_INCLUDED
#define SSTREAM_COMMON_H_INCLUDED

#include <czmq.h>
#include <pthread.h>
#include <msgpack.h>
#include <sodium.h>

#include "sstream.h"
#include "sstream_transport.h"

//  Library-wide settings applied before the first socket: CZMQ logs to
//  stderr (stdout may carry a stream), installs no signal handler (the
//  application owns its signals), and gets one I/O thread per core.
void
    sstream_library_init (void);

//  ZeroMQ's I/O threads: set to wanted (0: leave them) if no socket has
//  been made yet; the number in effect. Everything that makes the first
//  socket of something says so first (sockets_made).
size_t
    sstream_library_io_threads (size_t wanted);
void
    sstream_library_sockets_made (void);

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
//  CZMQ works on its behalf (open, close, destroy), letting them through
//  only while it waits. The data path (send, recv) makes no CZMQ call in
//  the caller's thread and masks nothing: it waits in sstream_signals_wait_fd.
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

//  Wait until fd is readable, at most timeout_ms (-1: no limit), with the
//  caller's signals as they are. Returns 1 ready, 0 timed out, -1
//  interrupted by a signal.
int
    sstream_signals_wait_fd (int fd, long timeout_ms);

//  A descriptor one thread makes readable to wake another (an eventfd):
//  new (-1 on failure; close it with close), send a wake-up (they do not
//  queue up: one or many, the other wakes once), clear once woken.
int
    sstream_wakeup_new (void);
void
    sstream_wakeup_send (int fd);
void
    sstream_wakeup_clear (int fd);

//  Text from another party, made safe to log and to show: one line, with
//  nothing in it that a terminal or a viewer acts on. Control characters
//  become escapes (\n, \r, \t, \x1b), and so do bytes that are not UTF-8
//  (\xff), C1 controls, line separators and bidirectional overrides
//  (\u202e); the rest stays as it is, and a second pass changes nothing.
//  Into buffer (cut short between characters); returns buffer. The log
//  writer passes every line through it whole (sstream_log.h).
const char *
    sstream_printable (const char *text, char *buffer, size_t size);

//  Record a detailed message for sstream_errmsg () and return code.
int
    sstream_error_set (int code, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Copy a message received from another thread as this thread's errmsg.
int
    sstream_error_restore (int code, const char *message);

//  An error one thread records for another to report: the code and its
//  message, under a lock (the producer's and consumer's actors fail, their
//  callers report).
typedef struct {
    pthread_mutex_t lock;       //  Guards message
    _Atomic int code;
    char message [1024];
} sstream_failure_t;

void
    sstream_failure_init (sstream_failure_t *self);
void
    sstream_failure_fini (sstream_failure_t *self);
//  Record the calling thread's errmsg with code, unless one is recorded.
void
    sstream_failure_set (sstream_failure_t *self, int code);
//  The recorded code (0: none).
int
    sstream_failure_code (sstream_failure_t *self);
//  Make the recorded failure the calling thread's error; returns its code.
int
    sstream_failure_report (sstream_failure_t *self);

//  Logging at a level, through the one log writer (sstream_log.h): a
//  record per line on stderr, as text or JSON, or to journald. Lines that
//  may repeat go through sstream_log_repeat (once, then counted); fields
//  (sstream_log_fields_t, or NULL) are a record's structured part.
int
    sstream_log_level (void);

#define sstream_log_at(level, fields, ...) \
    do { \
        if (sstream_log_level () >= (level)) \
            sstream_log_write ((level), (fields), __VA_ARGS__); \
    } while (0)
#define sstream_log_debug(...)      sstream_log_at (SSTREAM_LOG_DEBUG, NULL, __VA_ARGS__)
#define sstream_log_info(...)       sstream_log_at (SSTREAM_LOG_INFO, NULL, __VA_ARGS__)
#define sstream_log_warning(...)    sstream_log_at (SSTREAM_LOG_WARNING, NULL, __VA_ARGS__)
#define sstream_log_error(...)      sstream_log_at (SSTREAM_LOG_ERROR, NULL, __VA_ARGS__)

//  Default timings, in milliseconds.
#define SSTREAM_HEARTBEAT_DEFAULT       1000
#define SSTREAM_PEER_TIMEOUT_DEFAULT    10000
#define SSTREAM_CONNECT_TIMEOUT_DEFAULT 10000

#include "sstream_log.h"
#include "sstream_settings.h"
#include "sstream_wire.h"
#include "sstream_seal.h"
#include "sstream_checksum.h"
#include "sstream_batch.h"
#include "sstream_keys.h"
#include "sstream_keyring.h"
#include "sstream_plugins.h"
#include "sstream_auth.h"
#include "sstream_link.h"
#include "sstream_bulkpath.h"

#endif
