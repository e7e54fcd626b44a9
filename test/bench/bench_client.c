/*  =========================================================================
    bench_client - what bench_send and bench_recv share

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "bench_client.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

const char *bench_program = "bench";

void
bench_error (const char *format, ...)
{
    char line [2048];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof (line), format, args);
    va_end (args);
    fprintf (stderr, "%s: error: %s\n", bench_program, line);
}

int
bench_fail (const char *doing, int code)
{
    bench_error ("%s: %s", doing, sstream_errmsg ());
    switch (code) {
        case SSTREAM_EINVAL:
            return BENCH_EXIT_USAGE;
        case SSTREAM_ECONFIG:
        case SSTREAM_EKEY:
        case SSTREAM_EPLUGIN:
            return BENCH_EXIT_CONFIG;
        case SSTREAM_EAUTH:
            return BENCH_EXIT_AUTH;
        case SSTREAM_ETIMEDOUT:
            return BENCH_EXIT_TIMEOUT;
        default:
            return BENCH_EXIT_FAILED;
    }
}

int
bench_usage_error (const char *format, ...)
{
    char line [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof (line), format, args);
    va_end (args);
    fprintf (stderr, "%s: error: %s (see %s --help)\n", bench_program, line, bench_program);
    return BENCH_EXIT_USAGE;
}

int
bench_bad_option (char **argv, int verdict)
{
    //  With optstring starting ':', getopt_long says ':' for a missing
    //  value and '?' for an unknown option; optind is past the culprit
    const char *given = argv [optind - 1];
    if (verdict == ':')
        return bench_usage_error ("option '%s' needs a value", given);
    if (optopt && given && strncmp (given, "--", 2) != 0)
        return bench_usage_error ("unknown option '-%c'", optopt);
    return bench_usage_error ("unknown option '%s'", given? given: "?");
}

int
bench_client_arg (bench_client_args_t *args, int option, const char *value)
{
    switch (option) {
        case 'k': args->key = value; return 1;
        case 'g': args->gateway_key = value; return 1;
        case 'S': args->security = value; return 1;
        case 's':
            if (args->set_count == BENCH_SETS_MAX) {
                bench_usage_error ("more than %d --set options", BENCH_SETS_MAX);
                return -1;
            }
            if (!strchr (value, '=') || *value == '=') {
                bench_usage_error ("--set takes PATH=VALUE, not '%s'", value);
                return -1;
            }
            args->sets [args->set_count++] = value;
            return 1;
        case 'T': {
            int64_t msecs;
            if (sstream_parse_duration (value, &msecs) || msecs < 1 || msecs > 86400000) {
                bench_usage_error ("--timeout takes a duration such as 30s, not '%s'", value);
                return -1;
            }
            args->timeout_ms = (int) msecs;
            return 1;
        }
        default:
            return 0;
    }
}

int
bench_client_options (const bench_client_args_t *args, sstream_config_t **options_p)
{
    sstream_config_t *options = NULL;
    int rc = sstream_config_new (&options);
    if (!rc && args->key)
        rc = sstream_config_set (options, "client/secret-key", args->key);
    if (!rc && args->gateway_key)
        rc = sstream_config_set (options, "client/gateway-key", args->gateway_key);
    if (!rc && args->security)
        rc = sstream_config_set (options, "client/security", args->security);
    int index;
    for (index = 0; index < args->set_count && !rc; index++) {
        //  Unknown paths are the library's to refuse, so that options it
        //  gains later need nothing here
        const char *equals = strchr (args->sets [index], '=');
        size_t length = (size_t) (equals - args->sets [index]);
        char path [256];
        bool bare = memchr (args->sets [index], '/', length) == NULL;
        if (length + 8 >= sizeof (path)) {
            rc = SSTREAM_EINVAL;
            bench_error ("--set %s: the path is too long", args->sets [index]);
            break;
        }
        snprintf (path, sizeof (path), "%s%.*s", bare? "client/": "", (int) length,
                  args->sets [index]);
        rc = sstream_config_set (options, path, equals + 1);
    }
    if (rc)
        sstream_config_destroy (&options);
    *options_p = options;
    return rc;
}

int64_t
bench_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
}

double
bench_cpu_seconds (void)
{
    struct rusage usage;
    if (getrusage (RUSAGE_SELF, &usage))
        return 0;
    return (double) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
         + (double) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}
