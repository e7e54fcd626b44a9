/*  =========================================================================
    pipe_session - sstream-pipe open, status and release: sessions on
    gateways' control links

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "pipe.h"

#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PING_INTERVAL_MS 1000

//  Options every control command takes
typedef struct {
    pipe_client_args_t client;
    bool json;
} s_args_t;

#define CONTROL_OPTIONS \
    "  -k, --key FILE          our secret key (trusted by the gateway's control link)\n" \
    "  -g, --gateway-key FILE  the gateway's public key\n" \
    "  -c, --config FILE       read options from a ZPL file (section 'client')\n" \
    "      --timeout DURATION  how long to wait for the gateway (default 10s)\n" \
    "      --security MODE     curve (default) or none\n"

//  The long options every control command takes, and their handling
#define CONTROL_LONG_OPTIONS \
    { "key", required_argument, NULL, 'k' }, \
    { "gateway-key", required_argument, NULL, 'g' }, \
    { "config", required_argument, NULL, 'c' }, \
    { "timeout", required_argument, NULL, 't' }, \
    { "security", required_argument, NULL, 'S' }, \
    { "help", no_argument, NULL, 'h' }, \
    { NULL, 0, NULL, 0 }

static bool
s_control_option (s_args_t *args, int option)
{
    switch (option) {
        case 'k': args->client.key = optarg; return true;
        case 'g': args->client.gateway_key = optarg; return true;
        case 'c': args->client.config_file = optarg; return true;
        case 't': args->client.timeout = optarg; return true;
        case 'S': args->client.security = optarg; return true;
        default: return false;
    }
}

static int
s_connect (const pipe_client_args_t *args, const char *endpoints, sstream_control_t **control_p)
{
    sstream_config_t *options;
    int rc = pipe_client_options (args, &options);
    if (rc)
        return pipe_fail (rc);
    rc = sstream_control_new (control_p, endpoints, options);
    sstream_config_destroy (&options);
    return rc? pipe_fail (rc): PIPE_EXIT_OK;
}

//  Release a session this command held; a second signal cutting that short
//  is no disaster: the gateway lets go once it stops hearing from us.
int
pipe_release_held (sstream_control_t *control, const char *id)
{
    int rc = sstream_control_release (control, id);
    if (rc == SSTREAM_EINTR) {
        pipe_error ("interrupted while releasing session %s: gateway control at %s releases it "
                    "when it stops hearing from us (its peer-timeout)", id,
                    sstream_control_endpoint (control));
        return PIPE_EXIT_FAILED;
    }
    return rc? pipe_fail (rc): PIPE_EXIT_OK;
}

//  Hold sessions until a signal (then say which), or until one ends.
int
pipe_hold (sstream_control_t **controls, char **ids, size_t count, size_t *lost,
           char *why, size_t why_size)
{
    while (!pipe_interrupted ()) {
        usleep (PING_INTERVAL_MS * 1000);
        size_t index;
        for (index = 0; index < count && !pipe_interrupted (); index++) {
            //  Asking after the session keeps it, and tells us if it ended
            sstream_session_list_t *session = NULL;
            int rc = sstream_control_list (controls [index], ids [index], &session);
            sstream_session_list_destroy (&session);
            if (rc == SSTREAM_ECLOSED) {
                pipe_error ("session %s at %s has ended: %s", ids [index],
                            sstream_control_endpoint (controls [index]), sstream_errmsg ());
                free (ids [index]);
                ids [index] = NULL;         //  Nothing to release
                return PIPE_EXIT_FAILED;
            }
            if (rc && rc != SSTREAM_EINTR) {
                //  The gateway is silent, or was started again and knows
                //  nothing of ours: nothing there to release
                free (ids [index]);
                ids [index] = NULL;
                if (why) {
                    *lost = index;
                    snprintf (why, why_size, "lost gateway control at %s: %s",
                              sstream_control_endpoint (controls [index]), sstream_errmsg ());
                    return PIPE_HOLD_LOST;
                }
                pipe_error ("lost gateway control at %s: %s",
                            sstream_control_endpoint (controls [index]), sstream_errmsg ());
                return PIPE_EXIT_FAILED;
            }
        }
    }
    fprintf (stderr, "%s: signal %d: releasing\n", pipe_command, pipe_signal_number ());
    return PIPE_EXIT_OK;
}


//  --------------------------------------------------------------------------
//  open

static void
s_open_help (void)
{
    printf (
        "Usage: sstream-pipe open [options] CONTROL NAME --role inbound|outbound\n"
        "\n"
        "Opens a tunnel session on the gateway whose control link is at CONTROL\n"
        "(several, comma-separated: the first that answers). An inbound session,\n"
        "at the facility of the TCP server, needs --target; an outbound session,\n"
        "at the other facility, listens on a port from the gateway's range, and\n"
        "prints it. The two carry the same NAME. The session stays until\n"
        "'sstream-pipe release', its idle timeout, or, with --hold, this command\n"
        "ending.\n"
        "\n"
        "Options:\n"
        "      --role ROLE         inbound or outbound (required)\n"
        "      --target HOST:PORT  inbound: the TCP server to reach\n"
        "      --rate RATE         bytes per second, enforced (e.g. 100M)\n"
        "      --links N           parallel links (1 in this version)\n"
        "      --mode MODE         lossless (the one mode of this version)\n"
        "      --hold              keep the session only while this runs\n"
        "      --json              print the session as JSON\n"
        CONTROL_OPTIONS
        "  -h, --help              show this help\n"
        "\n" PIPE_EXIT_STATUSES
        "\n"
        "Examples:\n"
        "  sstream-pipe open tcp://gw-a:7201 db --role inbound --target 127.0.0.1:5432 \\\n"
        "      -k operator.secret -g gateway-a.pub\n"
        "  sstream-pipe open tcp://gw-b:7202 db --role outbound -k operator.secret \\\n"
        "      -g gateway-b.pub\n");
}

int
pipe_open_main (int argc, char **argv)
{
    static const struct option s_options [] = {
        { "role", required_argument, NULL, 'r' },
        { "target", required_argument, NULL, 'T' },
        { "rate", required_argument, NULL, 'R' },
        { "links", required_argument, NULL, 'L' },
        { "mode", required_argument, NULL, 'M' },
        { "hold", no_argument, NULL, 'H' },
        { "json", no_argument, NULL, 'j' },
        CONTROL_LONG_OPTIONS
    };
    s_args_t args = { { 0 }, false };
    const char *role = NULL, *target = NULL, *rate = NULL, *links = NULL, *mode = NULL;
    bool hold = false;
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":k:g:c:h", s_options, NULL)) != -1) {
        switch (option) {
            case 'r': role = optarg; break;
            case 'T': target = optarg; break;
            case 'R': rate = optarg; break;
            case 'L': links = optarg; break;
            case 'M': mode = optarg; break;
            case 'H': hold = true; break;
            case 'j': args.json = true; break;
            case 'h': s_open_help (); return PIPE_EXIT_OK;
            default:
                if (!s_control_option (&args, option))
                    return pipe_bad_option (argv, option);
        }
    }
    if (argc - optind != 2)
        return pipe_usage_error ("give CONTROL and NAME (got %d arguments)", argc - optind);
    if (!role)
        return pipe_usage_error ("give the session's role: --role inbound or --role outbound");
    if (strcmp (role, "inbound") && strcmp (role, "outbound"))
        return pipe_usage_error ("--role is inbound or outbound, not '%s'", role);
    if (strcmp (role, "inbound") == 0 && !target)
        return pipe_usage_error ("an inbound session needs --target HOST:PORT");
    if (sstream_check_stream_name (argv [optind + 1]))
        return pipe_usage_error ("%s", sstream_errmsg ());

    sstream_control_t *control;
    int status = s_connect (&args.client, argv [optind], &control);
    if (status)
        return status;
    sstream_config_t *params;
    sstream_config_new (&params);
    if (target) sstream_config_set (params, "target", target);
    if (rate) sstream_config_set (params, "rate", rate);
    if (links) sstream_config_set (params, "links", links);
    if (mode) sstream_config_set (params, "mode", mode);
    sstream_config_set (params, "hold", hold? "yes": "no");
    sstream_session_list_t *session;
    int rc = sstream_control_open (control, argv [optind + 1], role, params, &session);
    sstream_config_destroy (&params);
    if (rc) {
        status = pipe_fail (rc);
        sstream_control_destroy (&control);
        return status;
    }
    if (args.json)
        pipe_print_sessions_json (session);
    else
        printf ("session %s: %s tunnel '%s' %s %s at %s\n",
                sstream_session_list_get (session, 0, "id"), role, argv [optind + 1],
                strcmp (role, "inbound") == 0? "to": "listening on",
                sstream_session_list_get (session, 0, "address"),
                sstream_session_list_get (session, 0, "gateway"));
    fflush (stdout);
    char *id = strdup (sstream_session_list_get (session, 0, "id"));
    sstream_session_list_destroy (&session);
    if (hold) {
        status = pipe_hold (&control, &id, 1, NULL, NULL, 0);
        int failed = id? pipe_release_held (control, id): 0;
        if (failed && status == PIPE_EXIT_OK)
            status = failed;
    }
    free (id);
    sstream_control_destroy (&control);
    return status;
}


//  --------------------------------------------------------------------------
//  status

static void
s_status_help (void)
{
    printf (
        "Usage: sstream-pipe status [options] CONTROL [ID]\n"
        "\n"
        "Lists the sessions of the gateway whose control link is at CONTROL, or\n"
        "the one with ID: address, connections, bytes each way, average rate and\n"
        "age. IN counts bytes read from this gateway's TCP connections, OUT bytes\n"
        "written to them.\n"
        "\n"
        "Without ID, also its streams: state (waiting for producer or consumer,\n"
        "flowing, idle, stalled, ending), producer and consumer (the names of\n"
        "their keys in the gateway's trusted keys; the peer gateway as 'via\n"
        "NAME'), payload bytes in and out, the rate out over the last 5 s, the\n"
        "bytes held here, and how long batches waited for the next hop's credit.\n"
        "\n"
        "Options:\n"
        "      --json              print JSON for scripts: {\"sessions\": [...],\n"
        "                          \"streams\": [...]} (with ID, the session alone),\n"
        "                          keys in snake_case\n"
        CONTROL_OPTIONS
        "  -h, --help              show this help\n"
        "\n" PIPE_EXIT_STATUSES
        "\n"
        "Examples:\n"
        "  sstream-pipe status tcp://gw-b:7202 -k operator.secret -g gateway-b.pub\n"
        "  sstream-pipe status tcp://gw-b:7202 ID --json -k operator.secret \\\n"
        "      -g gateway-b.pub\n");
}

int
pipe_status_main (int argc, char **argv)
{
    static const struct option s_options [] = {
        { "json", no_argument, NULL, 'j' },
        CONTROL_LONG_OPTIONS
    };
    s_args_t args = { { 0 }, false };
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":k:g:c:h", s_options, NULL)) != -1) {
        switch (option) {
            case 'j': args.json = true; break;
            case 'h': s_status_help (); return PIPE_EXIT_OK;
            default:
                if (!s_control_option (&args, option))
                    return pipe_bad_option (argv, option);
        }
    }
    if (argc - optind < 1 || argc - optind > 2)
        return pipe_usage_error ("give CONTROL, and perhaps a session ID");
    sstream_control_t *control;
    int status = s_connect (&args.client, argv [optind], &control);
    if (status)
        return status;
    const char *id = argc - optind == 2? argv [optind + 1]: NULL;
    sstream_session_list_t *sessions = NULL, *streams = NULL;
    int rc = sstream_control_list (control, id, &sessions);
    if (rc == SSTREAM_OK && !id)
        rc = sstream_control_streams (control, NULL, &streams);
    if (rc)
        status = pipe_fail (rc);
    else
    if (args.json)
        pipe_print_status_json (sessions, streams);
    else
        pipe_print_status_table (sessions, streams);
    sstream_session_list_destroy (&sessions);
    sstream_session_list_destroy (&streams);
    sstream_control_destroy (&control);
    return status;
}


//  --------------------------------------------------------------------------
//  release

static void
s_release_help (void)
{
    printf (
        "Usage: sstream-pipe release [options] CONTROL ID...\n"
        "\n"
        "Releases sessions of the gateway whose control link is at CONTROL: its\n"
        "port is freed and its connections are reset, at once.\n"
        "\n"
        "Options:\n"
        CONTROL_OPTIONS
        "  -h, --help              show this help\n"
        "\n" PIPE_EXIT_STATUSES
        "\n"
        "Example:\n"
        "  sstream-pipe release tcp://gw-b:7202 ID -k operator.secret -g gateway-b.pub\n");
}

int
pipe_release_main (int argc, char **argv)
{
    static const struct option s_options [] = {
        CONTROL_LONG_OPTIONS
    };
    s_args_t args = { { 0 }, false };
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":k:g:c:h", s_options, NULL)) != -1) {
        switch (option) {
            case 'h': s_release_help (); return PIPE_EXIT_OK;
            default:
                if (!s_control_option (&args, option))
                    return pipe_bad_option (argv, option);
        }
    }
    if (argc - optind < 2)
        return pipe_usage_error ("give CONTROL and at least one session ID");
    sstream_control_t *control;
    int status = s_connect (&args.client, argv [optind], &control);
    if (status)
        return status;
    int index;
    for (index = optind + 1; index < argc; index++) {
        int rc = sstream_control_release (control, argv [index]);
        if (rc)
            status = pipe_fail (rc);
        else
            printf ("released %s\n", argv [index]);
    }
    sstream_control_destroy (&control);
    return status;
}
