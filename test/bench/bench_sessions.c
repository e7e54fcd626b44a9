/*  =========================================================================
    bench_sessions - how long it takes to open a tunnel's two sessions
    through two gateways, and to release them

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    bench_sessions CONTROL_A A.pub CONTROL_B B.pub KEY.secret [COUNT]

    Each round opens the inbound session at gateway A (to a target nobody
    needs to serve), then the outbound one at gateway B, as `sstream-pipe
    tunnel` does, with control clients already connected; then releases
    both. Prints one JSON line: milliseconds to open both (median, 90th
    percentile, min, max) and to release both (median).
*/

#include <sstream.h>
#include <sstream_control.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double) now.tv_sec * 1e3 + (double) now.tv_nsec / 1e6;
}

static int
s_compare (const void *left, const void *right)
{
    double a = *(const double *) left, b = *(const double *) right;
    return a < b? -1: a > b;
}

static sstream_control_t *
s_control (const char *endpoint, const char *gateway_key, const char *key)
{
    sstream_config_t *options;
    sstream_config_new (&options);
    sstream_config_set (options, "client/secret-key", key);
    sstream_config_set (options, "client/gateway-key", gateway_key);
    sstream_control_t *control = NULL;
    if (sstream_control_new (&control, endpoint, options))
        fprintf (stderr, "bench_sessions: %s\n", sstream_errmsg ());
    sstream_config_destroy (&options);
    return control;
}

static char *
s_open (sstream_control_t *control, const char *name, const char *role, const char *target)
{
    sstream_config_t *params;
    sstream_config_new (&params);
    if (target)
        sstream_config_set (params, "target", target);
    sstream_session_list_t *session = NULL;
    int rc = sstream_control_open (control, name, role, params, &session);
    sstream_config_destroy (&params);
    if (rc) {
        fprintf (stderr, "bench_sessions: open %s %s: %s\n", role, name, sstream_errmsg ());
        return NULL;
    }
    char *id = strdup (sstream_session_list_get (session, 0, "id"));
    sstream_session_list_destroy (&session);
    return id;
}

int
main (int argc, char **argv)
{
    if (argc < 6 || argc > 7) {
        fprintf (stderr, "usage: bench_sessions CONTROL_A A.pub CONTROL_B B.pub KEY.secret [COUNT]\n");
        return 2;
    }
    int count = argc == 7? atoi (argv [6]): 100;
    if (count < 1 || count > 100000) {
        fprintf (stderr, "bench_sessions: COUNT is 1 to 100000\n");
        return 2;
    }
    sstream_control_t *a = s_control (argv [1], argv [2], argv [5]);
    sstream_control_t *b = a? s_control (argv [3], argv [4], argv [5]): NULL;
    if (!a || !b)
        return 1;
    double *opens = calloc ((size_t) count, sizeof (double));
    double *releases = calloc ((size_t) count, sizeof (double));
    int round;
    for (round = 0; round < count; round++) {
        char name [32];
        snprintf (name, sizeof (name), "bench-%d", round);
        double started = s_now_ms ();
        char *inbound = s_open (a, name, "inbound", "127.0.0.1:9");
        char *outbound = inbound? s_open (b, name, "outbound", NULL): NULL;
        double opened = s_now_ms ();
        if (!outbound)
            return 1;
        if (sstream_control_release (b, outbound) || sstream_control_release (a, inbound)) {
            fprintf (stderr, "bench_sessions: release: %s\n", sstream_errmsg ());
            return 1;
        }
        opens [round] = opened - started;
        releases [round] = s_now_ms () - opened;
        free (inbound);
        free (outbound);
    }
    qsort (opens, (size_t) count, sizeof (double), s_compare);
    qsort (releases, (size_t) count, sizeof (double), s_compare);
    printf ("{\"sessions_through_two_gateways\": %d, \"open_ms_median\": %.3f, \"open_ms_p90\": %.3f, "
            "\"open_ms_min\": %.3f, \"open_ms_max\": %.3f, \"release_ms_median\": %.3f}\n",
            count, opens [count / 2], opens [count * 9 / 10], opens [0], opens [count - 1],
            releases [count / 2]);
    free (opens);
    free (releases);
    sstream_control_destroy (&a);
    sstream_control_destroy (&b);
    return 0;
}
