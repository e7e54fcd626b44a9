/*  =========================================================================
    pipe_gateway - sstream-pipe gateway -c FILE

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "pipe.h"

#include <getopt.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef SSTREAM_HAVE_SYSTEMD
#   include <systemd/sd-daemon.h>
#endif

//  Tell systemd how the service stands (Type=notify): nothing when it did
//  not start us (no NOTIFY_SOCKET), or in a build without libsystemd
static void
s_notify (const char *state)
{
#ifdef SSTREAM_HAVE_SYSTEMD
    sd_notify (0, state);
#else
    (void) state;
#endif
}

//  A reload starts: systemd wants the time it started (Type=notify-reload)
static void
s_notify_reloading (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    char state [96];
    unsigned long long usecs = (unsigned long long) now.tv_sec * 1000000ULL
                             + (unsigned long long) now.tv_nsec / 1000;
    snprintf (state, sizeof (state), "RELOADING=1\nMONOTONIC_USEC=%llu", usecs);
    s_notify (state);
}

static void
s_help (void)
{
    printf (
        "Usage: sstream-pipe gateway -c FILE [options]\n"
        "\n"
        "Runs one gateway until SIGINT or SIGTERM, then stops cleanly: open\n"
        "streams are aborted and both of their ends are told why, and every\n"
        "session is released. FILE is a ZPL config (see conf/gateway-a.cfg);\n"
        "relative paths in it are relative to FILE's folder.\n"
        "\n"
        "SIGHUP, or saving FILE, reloads its access rules (section 'access')\n"
        "without a restart; a FILE with errors is reported and the rules in\n"
        "force stay. Keys added to trusted-keys folders take effect by\n"
        "themselves; a key is removed once reads 2 s apart find no file holding\n"
        "it (a file rewritten in place, or a folder moved away for a moment,\n"
        "removes nothing). Other changes need a restart.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE        the gateway's config (required)\n"
        "  -s, --set PATH=VALUE     override a config value, e.g.\n"
        "                           --set local/endpoint=tcp://0.0.0.0:7001 (repeatable)\n"
        "  -q, --quiet              log warnings and errors only\n"
        "  -v, --verbose            log debugging detail\n"
        "      --log-format FORMAT  text (the default), json (an object per line)\n"
        "                           or journal (to journald, with priorities)\n"
        "  -h, --help               show this help\n"
        "\n"
        "Logs go to standard error, a record per line: time (ISO 8601, with\n"
        "milliseconds and zone), level, gateway, message. Under systemd (stderr\n"
        "is the journal) they go to journald; the gateway tells systemd when it\n"
        "is ready, reloading and stopping (sd_notify, for Type=notify). Once\n"
        "the gateway is up it prints one line, 'ready local=ENDPOINT\n"
        "[peer=ENDPOINT] [control=ENDPOINT] [metrics=http://HOST:PORT]', on\n"
        "standard output: the ports are the real ones when the config asks for\n"
        "any ('*', or 0 for metrics). With a 'metrics' section it serves\n"
        "Prometheus metrics at /metrics there. A port that another program\n"
        "holds is a configuration error (exit status 3).\n"
        "\n" PIPE_EXIT_STATUSES
        "\n"
        "Examples:\n"
        "  sstream-pipe gateway -c conf/gateway-a.cfg\n"
        "  sstream-pipe gateway -c conf/gateway-b.cfg \\\n"
        "      -s local/endpoint=tcp://0.0.0.0:7002 -s peer/endpoint=tcp://gw-a:7100\n");
}

int
pipe_gateway_main (int argc, char **argv)
{
    static const struct option s_options [] = {
        { "config", required_argument, NULL, 'c' },
        { "set", required_argument, NULL, 's' },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "log-format", required_argument, NULL, 'F' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *config_file = NULL;
    const char *sets [64];
    int set_count = 0;
    int level = SSTREAM_LOG_INFO;
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":c:s:qvh", s_options, NULL)) != -1) {
        switch (option) {
            case 'c': config_file = optarg; break;
            case 's':
                if (set_count == 64)
                    return pipe_usage_error ("too many --set options");
                sets [set_count++] = optarg;
                break;
            case 'q': level = SSTREAM_LOG_WARNING; break;
            case 'v': level = SSTREAM_LOG_DEBUG; break;
            case 'F':
                if (sstream_set_log_format (optarg))
                    return pipe_usage_error ("--log-format: %s", sstream_errmsg ());
                break;
            case 'h': s_help (); return PIPE_EXIT_OK;
            default: return pipe_bad_option (argv, option);
        }
    }
    if (!config_file)
        return pipe_usage_error ("no config file given (-c FILE)");
    if (optind < argc)
        return pipe_usage_error ("unexpected argument '%s'", argv [optind]);
    sstream_set_log_level (level);
    pipe_signals_hangup_reloads ();

    sstream_config_t *config;
    int rc = sstream_config_load (&config, config_file);
    if (rc)
        return pipe_fail (rc);
    int index;
    for (index = 0; index < set_count && rc == SSTREAM_OK; index++) {
        char path [256];
        const char *equals = strchr (sets [index], '=');
        if (!equals || equals == sets [index] || (size_t) (equals - sets [index]) >= sizeof (path)) {
            sstream_config_destroy (&config);
            return pipe_usage_error ("--set takes PATH=VALUE, not '%s'", sets [index]);
        }
        memcpy (path, sets [index], equals - sets [index]);
        path [equals - sets [index]] = 0;
        //  A bad value is the command line's fault, and is said so
        char origin [300];
        snprintf (origin, sizeof (origin), "--set %s", path);
        rc = sstream_config_set_from (config, path, equals + 1, origin);
    }
    sstream_gateway_t *gateway = NULL;
    if (rc == SSTREAM_OK)
        rc = sstream_gateway_new (&gateway, config);
    sstream_config_destroy (&config);
    if (rc)
        return pipe_fail (rc);

    const char *peer = sstream_gateway_endpoint (gateway, "peer");
    const char *control = sstream_gateway_endpoint (gateway, "control");
    const char *metrics = sstream_gateway_endpoint (gateway, "metrics");
    char ready [768];
    snprintf (ready, sizeof (ready), "ready local=%s%s%s%s%s%s%s",
              sstream_gateway_endpoint (gateway, "local"), peer? " peer=": "", peer? peer: "",
              control? " control=": "", control? control: "",
              metrics? " metrics=": "", metrics? metrics: "");
    printf ("%s\n", ready);
    fflush (stdout);
    char state [sizeof (ready) + 32];
    snprintf (state, sizeof (state), "READY=1\nSTATUS=%s", ready);
    s_notify (state);
    while (!pipe_interrupted ()) {
        usleep (200 * 1000);    //  A signal cuts it short
        if (pipe_hangup ()) {
            s_notify_reloading ();
            sstream_log (SSTREAM_LOG_INFO, "%s: SIGHUP: reloading %s", pipe_command, config_file);
            sstream_gateway_reload (gateway, NULL);     //  It logs the outcome
            s_notify (state);
        }
    }
    s_notify ("STOPPING=1");
    sstream_log (SSTREAM_LOG_INFO, "%s: signal %d: stopping", pipe_command, pipe_signal_number ());
    sstream_gateway_destroy (&gateway);
    return PIPE_EXIT_OK;
}
