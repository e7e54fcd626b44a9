/*  =========================================================================
    pipe_gateway - sstream-pipe gateway -c FILE

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "pipe.h"

#include <getopt.h>
#include <string.h>
#include <unistd.h>

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
        "  -h, --help               show this help\n"
        "\n"
        "Logs go to standard error. Once the gateway is up it prints one line,\n"
        "'ready local=ENDPOINT [peer=ENDPOINT] [control=ENDPOINT]', on standard\n"
        "output. A port that another program holds is a configuration error\n"
        "(exit status 3).\n"
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
    printf ("ready local=%s%s%s%s%s\n", sstream_gateway_endpoint (gateway, "local"),
            peer? " peer=": "", peer? peer: "", control? " control=": "", control? control: "");
    fflush (stdout);
    while (!pipe_interrupted ()) {
        usleep (200 * 1000);    //  A signal cuts it short
        if (pipe_hangup ()) {
            fprintf (stderr, "%s: SIGHUP: reloading %s\n", pipe_command, config_file);
            sstream_gateway_reload (gateway, NULL);     //  It logs the outcome
        }
    }
    fprintf (stderr, "%s: signal %d: stopping\n", pipe_command, pipe_signal_number ());
    sstream_gateway_destroy (&gateway);
    return PIPE_EXIT_OK;
}
