/*  =========================================================================
    pipe_session - sstream-pipe open, status, release and tunnel: sessions
    on gateways' control links

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
static int
s_release_held (sstream_control_t *control, const char *id)
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
static int
s_hold (sstream_control_t **controls, char **ids, size_t count)
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
        status = s_hold (&control, &id, 1);
        int failed = id? s_release_held (control, id): 0;
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


//  --------------------------------------------------------------------------
//  tunnel

//  Open a held session on the first of endpoints (comma-separated) that
//  takes it. All but the last must have their peer gateway connected; with
//  peer, the gateway's peer must be the one named. Errors of our own making
//  (a bad key, a bad target) stop at once.

static int
s_open_one_of (const pipe_client_args_t *args, const char *endpoints, const char *name,
               const char *role, const char *target, const char *rate, const char *peer,
               sstream_control_t **control_p, sstream_session_list_t **session_p)
{
    sstream_config_t *options;
    int rc = pipe_client_options (args, &options);
    if (rc)
        return pipe_fail (rc);
    //  Each endpoint, trimmed; empty entries are a mistake
    char *list = strdup (endpoints);
    char *items [32];
    size_t count = 0;
    char *cursor = list, *item;
    while ((item = strsep (&cursor, ","))) {
        while (isspace ((unsigned char) *item))
            item++;
        size_t length = strlen (item);
        while (length && isspace ((unsigned char) item [length - 1]))
            item [--length] = 0;
        if (!*item || count == 32) {
            free (list);
            sstream_config_destroy (&options);
            return pipe_usage_error ("'%s' is not a list of up to 32 endpoints", endpoints);
        }
        items [count++] = item;
    }
    char tried [2048] = "";
    size_t index;
    rc = SSTREAM_EINVAL;
    for (index = 0; index < count; index++) {
        rc = sstream_control_new (control_p, items [index], options);
        if (!rc) {
            sstream_config_t *params;
            sstream_config_new (&params);
            sstream_config_set (params, "hold", "yes");
            if (target)
                sstream_config_set (params, "target", target);
            if (rate)
                sstream_config_set (params, "rate", rate);
            if (peer)
                sstream_config_set (params, "peer", peer);
            if (index + 1 < count)
                sstream_config_set (params, "need-peer", "yes");
            rc = sstream_control_open (*control_p, name, role, params, session_p);
            sstream_config_destroy (&params);
        }
        if (!rc)
            break;
        sstream_control_destroy (control_p);
        if (rc == SSTREAM_EINVAL || rc == SSTREAM_EKEY || rc == SSTREAM_ECONFIG
        ||  rc == SSTREAM_EINTR)
            break;
        size_t used = strlen (tried);
        snprintf (tried + used, sizeof (tried) - used, "%s%s", used? "; ": "", sstream_errmsg ());
    }
    free (list);
    sstream_config_destroy (&options);
    if (rc && *tried && strchr (endpoints, ',')) {
        pipe_error ("no %s gateway took the session: %s", role, tried);
        return pipe_exit_code (rc);
    }
    return rc? pipe_fail (rc): PIPE_EXIT_OK;
}

static void
s_tunnel_help (void)
{
    printf (
        "Usage: sstream-pipe tunnel [options] NAME TARGET --inbound CONTROL\n"
        "                           --outbound CONTROL\n"
        "\n"
        "Makes a TCP tunnel for unmodified applications: TARGET (host:port) is a\n"
        "TCP server at the facility of the --inbound gateway; applications at the\n"
        "facility of the --outbound gateway connect to the address this prints,\n"
        "and reach TARGET through both gateways, encrypted with CURVE between\n"
        "them. Each connection is its own; half-closes and resets pass through.\n"
        "The tunnel lasts while this runs (Ctrl-C ends it, and both gateways let\n"
        "go of everything it held, as they do if this is killed).\n"
        "\n"
        "Options:\n"
        "      --inbound CONTROL       control link of the gateway near TARGET\n"
        "                              (comma-separated: the first that answers)\n"
        "      --inbound-key FILE      that gateway's public key\n"
        "      --outbound CONTROL      control link of the applications' gateway\n"
        "      --outbound-key FILE     that gateway's public key\n"
        "  -k, --key FILE              our secret key (trusted by both control links)\n"
        "      --rate RATE             bytes per second each way, enforced\n"
        "      --timeout DURATION      how long to wait for each gateway (10s)\n"
        "      --security MODE         curve (default) or none\n"
        "  -h, --help                  show this help\n"
        "\n" PIPE_EXIT_STATUSES
        "\n"
        "Example:\n"
        "  sstream-pipe tunnel perf 127.0.0.1:5999 -k operator.secret \\\n"
        "      --inbound tcp://gw-a:7201 --inbound-key gateway-a.pub \\\n"
        "      --outbound tcp://gw-b:7202 --outbound-key gateway-b.pub\n");
}

int
pipe_tunnel_main (int argc, char **argv)
{
    static const struct option s_options [] = {
        { "inbound", required_argument, NULL, 'I' },
        { "inbound-key", required_argument, NULL, 'i' },
        { "outbound", required_argument, NULL, 'O' },
        { "outbound-key", required_argument, NULL, 'o' },
        { "key", required_argument, NULL, 'k' },
        { "rate", required_argument, NULL, 'R' },
        { "timeout", required_argument, NULL, 't' },
        { "security", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    pipe_client_args_t inbound = { 0 }, outbound = { 0 };
    const char *inbound_control = NULL, *outbound_control = NULL, *rate = NULL;
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":k:h", s_options, NULL)) != -1) {
        switch (option) {
            case 'I': inbound_control = optarg; break;
            case 'i': inbound.gateway_key = optarg; break;
            case 'O': outbound_control = optarg; break;
            case 'o': outbound.gateway_key = optarg; break;
            case 'k': inbound.key = outbound.key = optarg; break;
            case 'R': rate = optarg; break;
            case 't': inbound.timeout = outbound.timeout = optarg; break;
            case 'S': inbound.security = outbound.security = optarg; break;
            case 'h': s_tunnel_help (); return PIPE_EXIT_OK;
            default: return pipe_bad_option (argv, option);
        }
    }
    if (argc - optind != 2)
        return pipe_usage_error ("give NAME and TARGET (got %d arguments)", argc - optind);
    if (!inbound_control || !outbound_control)
        return pipe_usage_error ("give both gateways' control links: --inbound and --outbound");
    const char *name = argv [optind], *target = argv [optind + 1];
    if (sstream_check_stream_name (name))
        return pipe_usage_error ("%s", sstream_errmsg ());

    //  The inbound end first, on the first of its gateways that answers
    //  and has its peer; then the outbound end, on the gateway that is that
    //  peer (of several at a facility, gateways come in peered pairs)
    sstream_control_t *controls [2] = { NULL, NULL };
    sstream_session_list_t *sessions [2] = { NULL, NULL };
    char *ids [2] = { NULL, NULL };
    int status = s_open_one_of (&inbound, inbound_control, name, "inbound", target, rate, NULL,
                                &controls [0], &sessions [0]);
    if (!status) {
        const char *gateway = sstream_session_list_get (sessions [0], 0, "gateway");
        status = s_open_one_of (&outbound, outbound_control, name, "outbound", NULL, rate,
                                gateway, &controls [1], &sessions [1]);
    }
    int side;
    for (side = 0; side < 2; side++)
        if (sessions [side])
            ids [side] = strdup (sstream_session_list_get (sessions [side], 0, "id"));
    if (!status) {
        printf ("tunnel %s: connect to %s (gateway %s) to reach %s (through gateway %s)\n",
                name, sstream_session_list_get (sessions [1], 0, "address"),
                sstream_session_list_get (sessions [1], 0, "gateway"), target,
                sstream_session_list_get (sessions [0], 0, "gateway"));
        fflush (stdout);
        status = s_hold (controls, ids, 2);
    }
    for (side = 1; side >= 0; side--) {
        int failed = ids [side]? s_release_held (controls [side], ids [side]): 0;
        if (failed && !status)
            status = failed;
        sstream_session_list_destroy (&sessions [side]);
        free (ids [side]);
        sstream_control_destroy (&controls [side]);
    }
    return status;
}
