/*  =========================================================================
    bench_client - what bench_send and bench_recv share: the command line's
    client options, errors and exit statuses, clocks and CPU time

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Only the public API: the benchmarks must keep building, unchanged, when
    the library behind it is rewritten.
*/

#ifndef BENCH_CLIENT_H_INCLUDED
#define BENCH_CLIENT_H_INCLUDED

#include <sstream.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

//  Exit statuses, as sstream-pipe's
#define BENCH_EXIT_OK       0
#define BENCH_EXIT_FAILED   1   //  the stream failed (aborted, lost)
#define BENCH_EXIT_USAGE    2   //  bad command line
#define BENCH_EXIT_CONFIG   3   //  bad option (e.g. unknown to the library) or key file
#define BENCH_EXIT_AUTH     4   //  authentication refused
#define BENCH_EXIT_TIMEOUT  5   //  gateway unreachable, or nothing moved for --timeout
#define BENCH_EXIT_STATUSES \
    "Exit status: 0 success; 1 the stream failed; 2 bad command line; 3 bad\n" \
    "option or key; 4 authentication refused; 5 gateway unreachable or silent.\n"

//  Help text for the options every benchmark client takes
#define BENCH_CLIENT_OPTIONS_HELP \
    "  -k, --key FILE          our secret key (NAME.secret from sstream-pipe keygen)\n" \
    "  -g, --gateway-key FILE  the gateway's public key (NAME.pub)\n" \
    "      --security MODE     curve (default) or none (must match the gateway)\n" \
    "  -s, --set PATH=VALUE    any client option, passed to the library as it is,\n" \
    "                          e.g. --set client/window=256MiB (repeatable; a PATH\n" \
    "                          without '/' is taken under client/)\n" \
    "      --timeout DURATION  longest one send, receive or close may wait\n" \
    "                          (default 120s)\n"

#define BENCH_SETS_MAX 32

typedef struct {
    const char *key;
    const char *gateway_key;
    const char *security;
    const char *sets [BENCH_SETS_MAX];
    int set_count;
    int timeout_ms;
} bench_client_args_t;

//  "bench_send", for messages
extern const char *bench_program;

//  Print "PROGRAM: error: ..." on stderr.
void bench_error (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
//  Report the library's last error; return the exit status for its code.
int bench_fail (const char *doing, int code);
//  A bad command line: one line and BENCH_EXIT_USAGE.
int bench_usage_error (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
//  getopt_long's verdict (':' missing value, '?' unknown option), in words.
int bench_bad_option (char **argv, int verdict);

//  Take one of the shared options (getopt_long's option and optarg);
//  returns 1 if it was one, 0 if not, or -1 after reporting a bad value.
int bench_client_arg (bench_client_args_t *args, int option, const char *value);
//  getopt_long entries for the shared options (end with the caller's own)
#define BENCH_CLIENT_LONG_OPTIONS \
    { "key", required_argument, NULL, 'k' }, \
    { "gateway-key", required_argument, NULL, 'g' }, \
    { "security", required_argument, NULL, 'S' }, \
    { "set", required_argument, NULL, 's' }, \
    { "timeout", required_argument, NULL, 'T' }
#define BENCH_CLIENT_SHORT_OPTIONS "k:g:s:"

//  The library's options from the command line; an sstream error code.
int bench_client_options (const bench_client_args_t *args, sstream_config_t **options_p);

//  CLOCK_MONOTONIC in nanoseconds: shared by all processes of a machine.
int64_t bench_now_ns (void);
//  User plus system CPU seconds of this process so far.
double bench_cpu_seconds (void);

#endif
