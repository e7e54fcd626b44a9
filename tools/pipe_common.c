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
        return pipe_usage_error ("--set takes client/PATH=VALUE, not '%s'", setting);
    if (args->set_count == (int) (sizeof (args->sets) / sizeof (args->sets [0])))
        return pipe_usage_error ("at most %zu --set options",
                                 sizeof (args->sets) / sizeof (args->sets [0]));
    args->sets [args->set_count++] = setting;
    return 0;
}

int
pipe_client_options (const pipe_client_args_t *args, sstream_config_t **options_p)
{
    sstream_config_t *options = NULL;
    int rc = args->config_file? sstream_config_load (&options, args->config_file)
                              : sstream_config_new (&options);
    if (rc)
        return rc;
    if (!rc && args->key)
        rc = sstream_config_set (options, "client/secret-key", args->key);
    if (!rc && args->gateway_key)
        rc = sstream_config_set (options, "client/gateway-key", args->gateway_key);
    if (!rc && args->transport)
        rc = sstream_config_set (options, "client/transport", args->transport);
    if (!rc && args->timeout)
        rc = sstream_config_set (options, "client/connect-timeout", args->timeout);
    if (!rc && args->security)
        rc = sstream_config_set (options, "client/security", args->security);
    if (!rc && args->window)
        rc = sstream_config_set (options, "client/window", args->window);
    if (!rc && args->batch)
        rc = sstream_config_set (options, "client/batch", args->batch);
    if (!rc && args->linger)
        rc = sstream_config_set (options, "client/linger", args->linger);
    if (!rc && args->readers)
        rc = sstream_config_set (options, "client/readers", args->readers);
    if (!rc && args->payload)
        rc = sstream_config_set (options, "client/payload", args->payload);
    if (!rc && args->resume_timeout)
        rc = sstream_config_set (options, "client/resume-timeout", args->resume_timeout);
    if (!rc && args->replay_buffer)
        rc = sstream_config_set (options, "client/replay-buffer", args->replay_buffer);
    if (!rc && args->wait)
        rc = sstream_config_set (options, "client/wait", args->wait);
    int index;
    for (index = 0; !rc && index < args->set_count; index++) {
        char path [256];
        const char *equals = strchr (args->sets [index], '=');
        snprintf (path, sizeof (path), "%.*s", (int) (equals - args->sets [index]),
                  args->sets [index]);
        rc = sstream_config_set (options, path, equals + 1);
    }
    if (rc)
        sstream_config_destroy (&options);
    *options_p = options;
    return rc;
}
