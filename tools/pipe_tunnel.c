/*  =========================================================================
    pipe_tunnel - sstream-pipe tunnel: a TCP tunnel held open on two
    gateways, opened again when one of them is lost

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "pipe.h"

#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

//  Why the last open failed, for quiet retries
static char s_why [2200];

//  Open a held session on the first of endpoints (comma-separated) that
//  takes it. All but the last must have their peer gateway connected; with
//  peer, the gateway's peer must be the one named. Errors of our own making
//  (a bad key, a bad target) stop at once. quiet: say nothing (why is in
//  s_why).

static int
s_open_one_of (const pipe_client_args_t *args, const char *endpoints, const char *name,
               const char *role, const char *target, const char *rate, const char *peer,
               bool quiet, sstream_control_t **control_p, sstream_session_list_t **session_p)
{
    sstream_config_t *options;
    int rc = pipe_client_options (args, &options);
    if (rc)
        return pipe_fail (rc);          //  Our own mistake: said, never quiet
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
    if (rc && *tried && strchr (endpoints, ','))
        snprintf (s_why, sizeof (s_why), "no %s gateway took the session: %s", role, tried);
    else
    if (rc)
        snprintf (s_why, sizeof (s_why), "%s", sstream_errmsg ());
    if (rc && !quiet)
        pipe_error ("%s", s_why);
    return rc? pipe_exit_code (rc): PIPE_EXIT_OK;
}

//  A tunnel's two ends: [0] inbound, near the target; [1] outbound
typedef struct {
    const char *name, *target, *rate;
    const pipe_client_args_t *inbound, *outbound;
    const char *inbound_control, *outbound_control;
    sstream_control_t *controls [2];
    sstream_session_list_t *sessions [2];
    char *ids [2];
} s_tunnel_t;

//  Release what is held (not what a lost gateway had), and let go of both
static int
s_tunnel_close (s_tunnel_t *self)
{
    int status = 0, side;
    for (side = 1; side >= 0; side--) {
        int failed = self->ids [side]? pipe_release_held (self->controls [side], self->ids [side]): 0;
        if (failed && !status)
            status = failed;
        sstream_session_list_destroy (&self->sessions [side]);
        free (self->ids [side]);
        self->ids [side] = NULL;
        sstream_control_destroy (&self->controls [side]);
    }
    return status;
}

//  The inbound end first, on the first of its gateways that answers and
//  has its peer; then the outbound end, on the gateway that is that peer
//  (of several at a facility, gateways come in peered pairs)
static int
s_tunnel_open (s_tunnel_t *self, bool quiet)
{
    int status = s_open_one_of (self->inbound, self->inbound_control, self->name, "inbound",
                                self->target, self->rate, NULL, quiet,
                                &self->controls [0], &self->sessions [0]);
    if (!status) {
        self->ids [0] = strdup (sstream_session_list_get (self->sessions [0], 0, "id"));
        const char *gateway = sstream_session_list_get (self->sessions [0], 0, "gateway");
        status = s_open_one_of (self->outbound, self->outbound_control, self->name, "outbound",
                                NULL, self->rate, gateway, quiet,
                                &self->controls [1], &self->sessions [1]);
    }
    if (!status)
        self->ids [1] = strdup (sstream_session_list_get (self->sessions [1], 0, "id"));
    return status;
}

static void
s_tunnel_print (s_tunnel_t *self, const char *again)
{
    printf ("tunnel %s: %sconnect to %s (gateway %s) to reach %s (through gateway %s)\n",
            self->name, again? again: "", sstream_session_list_get (self->sessions [1], 0, "address"),
            sstream_session_list_get (self->sessions [1], 0, "gateway"), self->target,
            sstream_session_list_get (self->sessions [0], 0, "gateway"));
    fflush (stdout);
}

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

//  A gateway was lost: let go of the other end, and open both again within
//  timeout_ms, retrying every 0.25 s to 2 s. 0, or an exit status after
//  saying why not.
static int
s_tunnel_reopen (s_tunnel_t *self, const char *why, int64_t timeout_ms)
{
    double began = s_now ();
    fprintf (stderr, "%s: warning: tunnel %s: %s; its connections are reset; opening it again "
             "(within %g s)\n", pipe_command, self->name, why, timeout_ms / 1000.0);
    s_tunnel_close (self);
    int backoff_ms = 250, status = PIPE_EXIT_FAILED;
    while (!pipe_interrupted ()) {
        status = s_tunnel_open (self, true);
        if (!status)
            break;
        s_tunnel_close (self);
        if (status == PIPE_EXIT_USAGE || status == PIPE_EXIT_CONFIG || status == PIPE_EXIT_AUTH)
            break;                      //  Will not mend by waiting
        if ((s_now () - began) * 1000 + backoff_ms > timeout_ms) {
            pipe_error ("tunnel %s could not be opened again within %g s: %s", self->name,
                        timeout_ms / 1000.0, s_why);
            return PIPE_EXIT_TIMEOUT;
        }
        usleep (backoff_ms * 1000);
        backoff_ms = backoff_ms * 2 > 2000? 2000: backoff_ms * 2;
    }
    if (pipe_interrupted ()) {
        fprintf (stderr, "%s: signal %d: releasing\n", pipe_command, pipe_signal_number ());
        return PIPE_EXIT_OK;
    }
    if (status) {
        pipe_error ("tunnel %s cannot be opened again: %s", self->name, s_why);
        return status;
    }
    char again [64];
    snprintf (again, sizeof (again), "open again after %.1f s: ", s_now () - began);
    s_tunnel_print (self, again);
    return PIPE_EXIT_OK;
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
        "go of everything it held, as they do if this is killed). A gateway lost\n"
        "(killed, restarted, silent) ends the tunnel's connections with a reset,\n"
        "as TCP connections cannot move; this then opens the tunnel again, on\n"
        "the same gateways when they come back or on others of the lists, and\n"
        "prints where to connect again; new connections work as before.\n"
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
        "      --resume-timeout DURATION\n"
        "                              how long to keep trying to open the tunnel\n"
        "                              again once a gateway is lost (60s; 0: end)\n"
        "      --security MODE         curve (default) or none\n"
        "  -h, --help                  show this help\n"
        "\n" PIPE_EXIT_STATUSES
        "\n"
        "Examples:\n"
        "  sstream-pipe tunnel perf 127.0.0.1:5999 -k operator.secret \\\n"
        "      --inbound tcp://gw-a:7201 --inbound-key gateway-a.pub \\\n"
        "      --outbound tcp://gw-b:7202 --outbound-key gateway-b.pub\n"
        "  sstream-pipe tunnel perf 10.1.0.5:5999 -k operator.secret \\\n"
        "      --inbound tcp://a1:7201,tcp://a2:7201 --inbound-key gateway-a.pub \\\n"
        "      --outbound tcp://b1:7202,tcp://b2:7202 --outbound-key gateway-b.pub\n");
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
        { "resume-timeout", required_argument, NULL, 'r' },
        { "security", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    pipe_client_args_t inbound = { 0 }, outbound = { 0 };
    const char *inbound_control = NULL, *outbound_control = NULL, *rate = NULL;
    int64_t resume_timeout = 60000;
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
            case 'r':
                if (sstream_parse_duration (optarg, &resume_timeout))
                    return pipe_usage_error ("--resume-timeout: %s", sstream_errmsg ());
                break;
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

    s_tunnel_t tunnel = {
        .name = name, .target = target, .rate = rate,
        .inbound = &inbound, .outbound = &outbound,
        .inbound_control = inbound_control, .outbound_control = outbound_control
    };
    int status = s_tunnel_open (&tunnel, false);
    if (!status)
        s_tunnel_print (&tunnel, NULL);
    while (!status) {
        size_t lost;
        char why [2200];
        status = pipe_hold (tunnel.controls, tunnel.ids, 2, &lost,
                            resume_timeout? why: NULL, sizeof (why));
        if (status != PIPE_HOLD_LOST)
            break;
        status = s_tunnel_reopen (&tunnel, why, resume_timeout);
        if (pipe_interrupted ())
            break;                      //  Said so while reopening
    }
    int failed = s_tunnel_close (&tunnel);
    return status? status: failed;
}
