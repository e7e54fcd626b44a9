/*  =========================================================================
    sstream - a secure stream fabric: instrument memory to analysis memory,
    through gateway nodes, over ZeroMQ with CURVE.

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The public API. Every function is callable from ctypes: handles are
    opaque pointers, data is a pointer and a length, and every fallible call
    returns an int: 0 (SSTREAM_OK) or one of the error codes below. After a
    failure, sstream_errmsg () gives one line saying what went wrong, for the
    calling thread.

    No CZMQ or ZeroMQ type appears here.
*/

#ifndef SSTREAM_H_INCLUDED
#define SSTREAM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SSTREAM_VERSION_MAJOR 0
#define SSTREAM_VERSION_MINOR 1
#define SSTREAM_VERSION_PATCH 0

#if defined(__GNUC__)
#   define SSTREAM_EXPORT __attribute__ ((visibility ("default")))
#else
#   define SSTREAM_EXPORT
#endif

//  Error codes. 0 is success; the numbers are stable (they travel in the
//  protocol's error messages) and never reused.
typedef enum {
    SSTREAM_OK = 0,
    SSTREAM_EINVAL = 1,         //  invalid argument or option
    SSTREAM_ENOMEM = 2,         //  out of memory
    SSTREAM_ECONFIG = 3,        //  bad configuration (file, key, value)
    SSTREAM_EKEY = 4,           //  key file missing, malformed or unsafe
    SSTREAM_EAUTH = 5,          //  authentication failed (key not trusted)
    SSTREAM_EDENIED = 6,        //  refused by the gateway (e.g. stream busy)
    SSTREAM_ETIMEDOUT = 7,      //  timed out (unreachable gateway, no answer)
    SSTREAM_EPROTO = 8,         //  protocol error (malformed or unexpected)
    SSTREAM_EPLUGIN = 9,        //  transport plugin missing or unusable
    SSTREAM_ECLOSED = 10,       //  handle already closed or stream ended
    SSTREAM_EABORTED = 11,      //  stream aborted by another party
    SSTREAM_ELOST = 12,         //  connection to a peer lost mid-stream
    SSTREAM_ETOOBIG = 13,       //  message larger than the protocol allows
    SSTREAM_EINTR = 14,         //  interrupted by a signal
    SSTREAM_EIO = 15,           //  system I/O error
    SSTREAM_EEND = 16,          //  end of stream (a status, not a failure)
    SSTREAM_EINTERNAL = 17      //  a bug in sstream: please report it
} sstream_error_t;

//  Largest payload of one message (libzmq 4.3 fails beyond 2 GiB).
#define SSTREAM_MESSAGE_MAX     (1024ULL * 1024 * 1024)
//  Longest stream name, in bytes.
#define SSTREAM_STREAM_NAME_MAX 128
//  Timeout value meaning "wait as long as it takes".
#define SSTREAM_FOREVER         (-1)

//  Static description of an error code.
SSTREAM_EXPORT const char *
    sstream_strerror (int code);

//  One line describing the last error returned to this thread, with the
//  particulars (file, key, endpoint, stream). Never NULL.
SSTREAM_EXPORT const char *
    sstream_errmsg (void);

//  Library version as "major.minor.patch".
SSTREAM_EXPORT const char *
    sstream_version (void);

//  Parse a size such as "1048576", "64K", "1M", "1.5G", "64KiB", "2.5MiB",
//  "2GiB" (K/M/G/T are powers of 1000, KiB/MiB/GiB/TiB powers of 1024). A
//  fraction needs a unit; what it leaves below a byte is dropped.
SSTREAM_EXPORT int
    sstream_parse_size (const char *text, uint64_t *size);

//  Parse a duration such as "250ms", "10s", "1.5s", "2m", "1m30s",
//  "1h30m" (units h, m, s, ms, largest first, each once) or a bare number
//  of seconds, into milliseconds. Finer than a millisecond is refused.
SSTREAM_EXPORT int
    sstream_parse_duration (const char *text, int64_t *msecs);

//  Generate a CURVE key pair into DIR/NAME.pub and DIR/NAME.secret (mode
//  0600), creating DIR if needed. Refuses to overwrite existing files.
SSTREAM_EXPORT int
    sstream_keygen (const char *name, const char *dir);

//  How much the library logs on stderr. The default is SSTREAM_LOG_WARNING,
//  or what the environment variable SSTREAM_LOG says (error, warning, info,
//  debug).
typedef enum {
    SSTREAM_LOG_ERROR = 0,
    SSTREAM_LOG_WARNING = 1,
    SSTREAM_LOG_INFO = 2,
    SSTREAM_LOG_DEBUG = 3
} sstream_log_level_t;

SSTREAM_EXPORT void
    sstream_set_log_level (int level);

//  How the library logs: "text" (the default), one line per record on
//  stderr: time (ISO 8601, milliseconds, zone), level, the gateway, the
//  message,
//      2026-12-03T17:45:19.123+00:00 info gateway-a: stream 'run42' opened by producer alice
//  "json", one JSON object per line on stderr (time, level, gateway,
//  message, and fields such as stream and key); or "journal", to journald
//  with its priorities and fields (in a build with libsystemd). Without a
//  call, the environment variable SSTREAM_LOG_FORMAT says; without it,
//  journal when stderr is the journal's stream (JOURNAL_STREAM), else
//  text. SSTREAM_EINVAL for a format this build does not have.
SSTREAM_EXPORT int
    sstream_set_log_format (const char *format);

//  Log a line of the application's own through the library's log, at a
//  level (SSTREAM_LOG_ERROR ... SSTREAM_LOG_DEBUG), in its format.
SSTREAM_EXPORT void
    sstream_log (int level, const char *format, ...)
#if defined(__GNUC__)
    __attribute__ ((format (printf, 2, 3)))
#endif
    ;

//  Check a stream name: 1 to SSTREAM_STREAM_NAME_MAX bytes of
//  [A-Za-z0-9._:/@+-].
SSTREAM_EXPORT int
    sstream_check_stream_name (const char *name);

#ifdef __cplusplus
}
#endif

#include "sstream_config.h"
#include "sstream_producer.h"
#include "sstream_message.h"
#include "sstream_consumer.h"
#include "sstream_gateway.h"
#include "sstream_control.h"

#endif
