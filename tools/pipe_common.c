/*  =========================================================================
    pipe_common - errors, signals and client options for sstream-pipe

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "pipe.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

const char *pipe_command = "sstream-pipe";

void
pipe_error (const char *format, ...)
{
    char line [2048];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof (line), format, args);
    va_end (args);
    fprintf (stderr, "%s: error: %s\n", pipe_command, line);
}

int
pipe_fail (int code)
{
    pipe_error ("%s", sstream_errmsg ());
    return pipe_exit_code (code);
}

int
pipe_exit_code (int code)
{
    switch (code) {
        case SSTREAM_EINVAL:
            return PIPE_EXIT_USAGE;
        case SSTREAM_ECONFIG:
        case SSTREAM_EKEY:
        case SSTREAM_EPLUGIN:
            return PIPE_EXIT_CONFIG;
        case SSTREAM_EAUTH:
            return PIPE_EXIT_AUTH;
        case SSTREAM_ETIMEDOUT:
            return PIPE_EXIT_TIMEOUT;
        default:
            return PIPE_EXIT_FAILED;
    }
}

int
pipe_usage_error (const char *format, ...)
{
    char line [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof (line), format, args);
    va_end (args);
    fprintf (stderr, "%s: error: %s (see %s --help)\n", pipe_command, line, pipe_command);
    return PIPE_EXIT_USAGE;
}

int
pipe_bad_option (char **argv, int verdict)
{
    //  With optstring starting ':', getopt_long says ':' for a missing
    //  value and '?' for an unknown option; optind is past the culprit
    const char *given = argv [optind - 1];
    if (verdict == ':')
        return pipe_usage_error ("option '%s' needs a value", given);
    if (optopt && given && strncmp (given, "--", 2) != 0)
        return pipe_usage_error ("unknown option '-%c'", optopt);
    return pipe_usage_error ("unknown option '%s'", given? given: "?");
}


//  --------------------------------------------------------------------------
//  Signals: one thread waits for them, then interrupts the main thread

static pthread_t s_main_thread;
static atomic_int s_signal;
static atomic_bool s_hangup_reloads;
static atomic_int s_hangups;

static void
s_wake (int signal_number)
{
    (void) signal_number;           //  Only there to interrupt a system call
}

static void *
s_signal_waiter (void *args)
{
    sigset_t *set = (sigset_t *) args;
    while (true) {
        int number;
        if (sigwait (set, &number) == 0) {
            if (number == SIGHUP && atomic_load (&s_hangup_reloads))
                atomic_fetch_add (&s_hangups, 1);
            else
                atomic_store (&s_signal, number);
            pthread_kill (s_main_thread, SIGUSR1);
        }
    }
    return NULL;
}

void
pipe_signals_start (void)
{
    static sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGHUP);
    //  Every thread created from here on inherits this mask
    pthread_sigmask (SIG_BLOCK, &set, NULL);
    struct sigaction action;
    memset (&action, 0, sizeof (action));
    action.sa_handler = s_wake;
    sigemptyset (&action.sa_mask);
    action.sa_flags = 0;            //  No SA_RESTART: interrupt the call
    sigaction (SIGUSR1, &action, NULL);
    signal (SIGPIPE, SIG_IGN);
    s_main_thread = pthread_self ();
    pthread_t waiter;
    if (pthread_create (&waiter, NULL, s_signal_waiter, &set) == 0)
        pthread_detach (waiter);
}

bool
pipe_interrupted (void)
{
    return atomic_load (&s_signal) != 0;
}

int
pipe_signal_number (void)
{
    return atomic_load (&s_signal);
}

void
pipe_signals_hangup_reloads (void)
{
    atomic_store (&s_hangup_reloads, true);
}

bool
pipe_hangup (void)
{
    return atomic_exchange (&s_hangups, 0) > 0;
}


//  --------------------------------------------------------------------------
//  Client options

int
pipe_client_set (pipe_client_args_t *args, const char *setting)
{
    const char *equals = strchr (setting, '=');
    if (!equals || equals == setting || strncmp (setting, "client/", 7) != 0)
        return pipe_usage_error ("--set (-s) takes client/PATH=VALUE, not '%s'", setting);
    if (args->set_count == (int) (sizeof (args->sets) / sizeof (args->sets [0])))
        return pipe_usage_error ("at most %zu --set options",
                                 sizeof (args->sets) / sizeof (args->sets [0]));
    args->sets [args->set_count++] = setting;
    return 0;
}

//  Each flag and the client setting it gives
static const struct {
    size_t offset;              //  Of its value in pipe_client_args_t
    const char *flag;
    const char *path;
} s_client_flags [] = {
    { offsetof (pipe_client_args_t, key), "--key", "client/secret-key" },
    { offsetof (pipe_client_args_t, gateway_key), "--gateway-key", "client/gateway-key" },
    { offsetof (pipe_client_args_t, transport), "--transport", "client/transport" },
    { offsetof (pipe_client_args_t, timeout), "--timeout", "client/connect-timeout" },
    { offsetof (pipe_client_args_t, security), "--security", "client/security" },
    { offsetof (pipe_client_args_t, window), "--window", "client/window" },
    { offsetof (pipe_client_args_t, batch), "--batch", "client/batch" },
    { offsetof (pipe_client_args_t, linger), "--linger", "client/linger" },
    { offsetof (pipe_client_args_t, readers), "--readers", "client/readers" },
    { offsetof (pipe_client_args_t, payload), "--payload", "client/payload" },
    { offsetof (pipe_client_args_t, resume_timeout), "--resume-timeout", "client/resume-timeout" },
    { offsetof (pipe_client_args_t, replay_buffer), "--replay-buffer", "client/replay-buffer" },
    { offsetof (pipe_client_args_t, wait), "--wait", "client/wait" },
};

int
pipe_client_options (const pipe_client_args_t *args, sstream_config_t **options_p)
{
    sstream_config_t *options = NULL;
    int rc = args->config_file? sstream_config_load (&options, args->config_file)
                              : sstream_config_new (&options);
    if (rc)
        return rc;
    //  Flags override the file. Each is set with its name, so that a bad
    //  value is a bad command line (SSTREAM_EINVAL) naming the flag, and
    //  not blamed on the file
    size_t index;
    for (index = 0; !rc && index < sizeof (s_client_flags) / sizeof (s_client_flags [0]); index++) {
        const char *value = *(const char *const *) ((const char *) args
                                                    + s_client_flags [index].offset);
        if (value)
            rc = sstream_config_set_from (options, s_client_flags [index].path, value,
                                          s_client_flags [index].flag);
    }
    int set;
    for (set = 0; !rc && set < args->set_count; set++) {
        char path [256], origin [300];
        const char *equals = strchr (args->sets [set], '=');
        snprintf (path, sizeof (path), "%.*s", (int) (equals - args->sets [set]), args->sets [set]);
        snprintf (origin, sizeof (origin), "--set %s", path);
        rc = sstream_config_set_from (options, path, equals + 1, origin);
    }
    if (rc)
        sstream_config_destroy (&options);
    *options_p = options;
    return rc;
}
