/*  =========================================================================
    netbed - a test's own bed of network namespaces, and gateways in it

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE
#include "netbed.h"
#include "support.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NETBED_TOOL SSTREAM_SOURCE_DIR "/test/netbed/netbed.sh"
#define ARGS_MAX 48

//  Run netbed.sh COMMAND NAME ARGS... (NULL-terminated, after command);
//  returns its exit status, its output in out and err
static int
s_tool (netbed_t *self, const char *out, const char *err, const char *command, ...)
{
    char *argv [ARGS_MAX];
    int count = 0;
    argv [count++] = NETBED_TOOL;
    argv [count++] = (char *) command;
    argv [count++] = self->name;
    va_list args;
    va_start (args, command);
    const char *arg;
    while ((arg = va_arg (args, const char *)) && count < ARGS_MAX - 1)
        argv [count++] = (char *) arg;
    va_end (args);
    argv [count] = NULL;
    return support_wait (support_spawn (argv, NULL, out, err), 120000);
}

static void
s_log_path (netbed_t *self, const char *what, char *path, size_t size)
{
    snprintf (path, size, "%s/netbed-%s", self->folder, what);
}

bool
netbed_available (const char *folder, char *why, size_t size)
{
    if (geteuid () != 0) {
        snprintf (why, size, "not root");
        return false;
    }
    char err [600];
    snprintf (err, sizeof (err), "%s/netbed-check.err", folder);
    char *argv [] = { NETBED_TOOL, "check", NULL };
    int status = support_wait (support_spawn (argv, NULL, NULL, err), 60000);
    if (status != 0) {
        char *said = support_read_file (err);
        snprintf (why, size, "%s", said && *said? said: "netbed.sh check failed");
        why [strcspn (why, "\n")] = 0;
        free (said);
    }
    return status == 0;
}

//  A process that waits for the end of a pipe only this process writes,
//  and then takes the bed down: when netbed_down closes it, or when this
//  process ends, killed or not. In a session of its own, so that what
//  kills the test's process group leaves it to finish.
static void
s_keeper_start (netbed_t *self)
{
    int pipe_fds [2];
    cr_assert_eq (pipe2 (pipe_fds, O_CLOEXEC), 0, "pipe: %s", strerror (errno));
    char err [600];
    s_log_path (self, "down.err", err, sizeof (err));
    char *argv [] = { "/bin/sh", "-c", "cat > /dev/null; exec \"$0\" down \"$1\"",
                      NETBED_TOOL, self->name, NULL };
    //  Opened before fork: the child only calls what is safe after it
    int log = open (err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null = open ("/dev/null", O_WRONLY | O_CLOEXEC);
    cr_assert (log >= 0 && null >= 0, "%s: %s", err, strerror (errno));
    pid_t pid = fork ();
    cr_assert_geq (pid, 0, "fork: %s", strerror (errno));
    if (pid == 0) {
        setsid ();
        dup2 (pipe_fds [0], 0);
        dup2 (null, 1);
        dup2 (log, 2);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        execv (argv [0], argv);
        _exit (127);
    }
    close (pipe_fds [0]);
    close (log);
    close (null);
    self->keeper = pid;
    self->keeper_fd = pipe_fds [1];
}

static void
s_read_values (netbed_t *self, const char *path)
{
    char *text = support_read_file (path);
    cr_assert_not_null (text, "%s", path);
    char *cursor = text, *line;
    while ((line = strsep (&cursor, "\n"))) {
        char *equals = strchr (line, '=');
        if (!equals || self->values == NETBED_VALUES_MAX)
            continue;
        *equals = 0;
        snprintf (self->keys [self->values], sizeof (self->keys [0]), "%s", line);
        snprintf (self->text [self->values], sizeof (self->text [0]), "%s", equals + 1);
        self->values++;
    }
    free (text);
}

void
netbed_up (netbed_t *self, const char *folder, const netbed_options_t *options)
{
    memset (self, 0, sizeof (*self));
    self->keeper_fd = -1;
    if (options && options->name)
        snprintf (self->name, sizeof (self->name), "%s", options->name);
    else
        snprintf (self->name, sizeof (self->name), "nb%d", (int) getpid ());
    snprintf (self->folder, sizeof (self->folder), "%s", folder);
    //  First, so that whatever happens from here the bed goes
    s_keeper_start (self);
    char out [600], err [600];
    s_log_path (self, "up.out", out, sizeof (out));
    s_log_path (self, "up.err", err, sizeof (err));
    int status = s_tool (self, out, err, "up",
                         options && options->second_pair? "--second-pair": NULL, NULL);
    cr_assert_eq (status, 0, "netbed.sh up %s exited %d: %s", self->name, status,
                  support_read_file (err));
    s_read_values (self, out);
    self->up = true;
}

void
netbed_up_or_skip (netbed_t *self, const char *folder, const netbed_options_t *options)
{
    char why [512];
    if (!netbed_available (folder, why, sizeof (why)))
        cr_skip_test ("no network namespaces for a test bed here: %s", why);
    netbed_up (self, folder, options);
}

void
netbed_down (netbed_t *self)
{
    if (self->keeper <= 0)
        return;
    close (self->keeper_fd);
    self->keeper_fd = -1;
    int status = support_wait (self->keeper, 120000);
    self->keeper = 0;
    self->up = false;
    char err [600];
    s_log_path (self, "down.err", err, sizeof (err));
    cr_assert_eq (status, 0, "netbed.sh down %s exited %d: %s", self->name, status,
                  support_read_file (err));
}

const char *
netbed_value (const netbed_t *self, const char *key)
{
    size_t index;
    for (index = 0; index < self->values; index++)
        if (strcmp (self->keys [index], key) == 0)
            return self->text [index];
    return NULL;
}

const char *
netbed_address (const netbed_t *self, const char *host, const char *link)
{
    char key [32];
    snprintf (key, sizeof (key), "%s_%s", host, link);
    char *cursor;
    for (cursor = key; *cursor; cursor++)
        *cursor = (char) toupper ((unsigned char) *cursor);
    return netbed_value (self, key);
}

//  An open file of host's network namespace
static int
s_namespace (netbed_t *self, const char *host)
{
    cr_assert (self->up, "bed %s is not up", self->name);
    char path [128];
    snprintf (path, sizeof (path), "/run/netns/%s-%s", self->name, host);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq (fd, 0, "no host %s in bed %s: %s", host, self->name, strerror (errno));
    return fd;
}

pid_t
netbed_spawn (netbed_t *self, const char *host, char *const argv [], const char *in,
              const char *out, const char *err)
{
    int netns = s_namespace (self, host);
    pid_t pid = support_spawn_in (netns, argv, in, out, err);
    close (netns);
    return pid;
}

int
netbed_run (netbed_t *self, const char *host, const char *out, const char *err,
            const char *first, ...)
{
    char *argv [ARGS_MAX];
    int count = 0;
    argv [count++] = NETBED_TOOL;
    argv [count++] = "exec";
    argv [count++] = self->name;
    argv [count++] = (char *) host;
    va_list args;
    va_start (args, first);
    const char *arg;
    for (arg = first; arg && count < ARGS_MAX - 1; arg = va_arg (args, const char *))
        argv [count++] = (char *) arg;
    va_end (args);
    argv [count] = NULL;
    return support_wait (support_spawn (argv, NULL, out, err), 60000);
}

//  netbed.sh cut|heal|cap NAME SEGMENT [ARG] [HOST], which must succeed
static void
s_switch (netbed_t *self, const char *command, const char *segment, const char *arg,
          const char *host)
{
    char err [600];
    s_log_path (self, "switch.err", err, sizeof (err));
    int status = arg? s_tool (self, NULL, err, command, segment, arg, host, NULL)
                    : s_tool (self, NULL, err, command, segment, host, NULL);
    cr_assert_eq (status, 0, "netbed.sh %s %s %s%s%s exited %d: %s", command, self->name,
                  segment, host? " ": "", host? host: "", status, support_read_file (err));
}

void
netbed_cut (netbed_t *self, const char *segment, const char *host)
{
    s_switch (self, "cut", segment, NULL, host);
}

void
netbed_heal (netbed_t *self, const char *segment, const char *host)
{
    s_switch (self, "heal", segment, NULL, host);
}

void
netbed_cap (netbed_t *self, const char *segment, const char *rate, const char *host)
{
    s_switch (self, "cap", segment, rate, host);
}

int
netbed_connect (netbed_t *self, const char *host, const char *address, int port, int timeout_ms)
{
    struct sockaddr_in target = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    cr_assert_eq (inet_pton (AF_INET, address, &target.sin_addr), 1, "bad address %s", address);
    int netns = s_namespace (self, host);
    pid_t pid = fork ();
    cr_assert_geq (pid, 0, "fork: %s", strerror (errno));
    if (pid == 0) {
        //  The answer is the exit status: 0, an errno, or 255 (no namespace)
        if (setns (netns, CLONE_NEWNET) != 0)
            _exit (255);
        int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fd < 0)
            _exit (errno < 255? errno: 254);
        int error = 0;
        if (connect (fd, (struct sockaddr *) &target, sizeof (target)) != 0) {
            error = errno;
            if (error == EINPROGRESS) {
                struct pollfd item = { fd, POLLOUT, 0 };
                int ready;
                do
                    ready = poll (&item, 1, timeout_ms);
                while (ready < 0 && errno == EINTR);
                socklen_t length = sizeof (error);
                if (ready == 0)
                    error = ETIMEDOUT;
                else if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
                    error = errno;
            }
        }
        close (fd);
        _exit (error < 255? error: 254);
    }
    close (netns);
    int status = support_wait (pid, timeout_ms + 60000);
    cr_assert (status >= 0 && status != 255, "the connection test in %s did not run (%d)", host,
               status);
    return status;
}


//  --------------------------------------------------------------------------
//  Gateways

//  Start the gateway as gateway says, and wait until it is ready
static void
s_gateway_run (netbed_t *self, netbed_gateway_t *gateway)
{
    const char *host = gateway->host;
    //  Logs of earlier starts of the host's gateway stay
    int start = 1;
    do {
        snprintf (gateway->out, sizeof (gateway->out), "%s/gateway-%s-%d.out", self->folder, host, start);
        snprintf (gateway->err, sizeof (gateway->err), "%s/gateway-%s-%d.err", self->folder, host, start);
        start++;
    } while (access (gateway->out, F_OK) == 0);
    char *argv [ARGS_MAX];
    int count = 0;
    argv [count++] = SSTREAM_PIPE;
    argv [count++] = "gateway";
    argv [count++] = "-c";
    argv [count++] = gateway->config;
    size_t index;
    for (index = 0; index < gateway->sets; index++) {
        argv [count++] = "--set";
        argv [count++] = gateway->set [index];
    }
    argv [count] = NULL;
    gateway->pid = netbed_spawn (self, host, argv, NULL, gateway->out, gateway->err);
    char name [64];
    snprintf (name, sizeof (name), "the gateway in %s", host);
    char *ready = gateways_wait_ready (gateway->pid, gateway->out, gateway->err, name);
    cr_assert (gateways_ready_endpoint (ready, " local=", gateway->local, sizeof (gateway->local)),
               "%s said: %s", name, ready);
    gateways_ready_endpoint (ready, " peer=", gateway->peer, sizeof (gateway->peer));
    free (ready);
}

void
netbed_gateway_start (netbed_t *self, netbed_gateway_t *gateway, const char *host,
                      const char *config, const char *const *sets)
{
    memset (gateway, 0, sizeof (*gateway));
    snprintf (gateway->host, sizeof (gateway->host), "%s", host);
    snprintf (gateway->config, sizeof (gateway->config), "%s", config);
    for (gateway->sets = 0; sets && sets [gateway->sets]; gateway->sets++) {
        cr_assert_lt (gateway->sets, NETBED_SETS_MAX, "more than %d sets", NETBED_SETS_MAX);
        cr_assert_lt (strlen (sets [gateway->sets]), sizeof (gateway->set [0]), "set too long: %s",
                      sets [gateway->sets]);
        strcpy (gateway->set [gateway->sets], sets [gateway->sets]);
    }
    s_gateway_run (self, gateway);
}

void
netbed_gateway_restart (netbed_t *self, netbed_gateway_t *gateway)
{
    cr_assert_eq (gateway->pid, 0, "the gateway in %s still runs", gateway->host);
    s_gateway_run (self, gateway);
}

void
netbed_gateway_wait_paired (netbed_gateway_t *gateway)
{
    cr_assert (support_wait_for_output (gateway->pid, gateway->err, " is up", 60000),
               "the gateway in %s did not pair: %s", gateway->host, support_read_file (gateway->err));
}

//  Send it signal_number and reap it: it must end with expected
static void
s_gateway_end (netbed_gateway_t *gateway, int signal_number, int expected)
{
    if (gateway->pid <= 0)
        return;
    kill (gateway->pid, signal_number);
    int status = support_wait (gateway->pid, 60000);
    gateway->pid = 0;
    cr_assert_eq (status, expected, "the gateway in %s exited %d on signal %d: %s", gateway->host,
                  status, signal_number, support_read_file (gateway->err));
}

void
netbed_gateway_stop (netbed_gateway_t *gateway)
{
    s_gateway_end (gateway, SIGTERM, 0);
}

void
netbed_gateway_kill (netbed_gateway_t *gateway)
{
    s_gateway_end (gateway, SIGKILL, 128 + SIGKILL);
}

static void
s_write_config (const char *path, const char *text)
{
    cr_assert_eq (support_write_file (path, text), 0, "cannot write %s", path);
}

void
netbed_pair_start (netbed_t *self, netbed_pair_t *pair, const gateways_t *keys,
                   const netbed_pair_options_t *options)
{
    memset (pair, 0, sizeof (*pair));
    netbed_pair_options_t defaults = { .second = false };
    if (!options)
        options = &defaults;
    const char *heartbeat = options->heartbeat? options->heartbeat: "200ms";
    const char *peer_timeout = options->peer_timeout? options->peer_timeout: "10s";
    const char *suffix = options->second? "2": "";
    char host_a [8], host_b [8], config_a [600], config_b [600];
    snprintf (host_a, sizeof (host_a), "gwa%s", suffix);
    snprintf (host_b, sizeof (host_b), "gwb%s", suffix);
    snprintf (config_a, sizeof (config_a), "%s/gateway-%s.cfg", self->folder, host_a);
    snprintf (config_b, sizeof (config_b), "%s/gateway-%s.cfg", self->folder, host_b);
    const char *lan_a = netbed_address (self, host_a, "lan");
    const char *wan_a = netbed_address (self, host_a, "wan");
    const char *lan_b = netbed_address (self, host_b, "lan");
    cr_assert (lan_a && wan_a && lan_b, "bed %s has no %s and %s (up with second_pair?)",
               self->name, host_a, host_b);
    const char *port_a = options->fixed_ports? "7001": "*";
    const char *port_wan = options->fixed_ports? "7100": "*";
    const char *port_b = options->fixed_ports? "7002": "*";
    char *text;
    cr_assert (asprintf (&text,
        "#   Gateway A%s of test bed %s, in %s-%s: conf/gateway-a.cfg with the\n"
        "#   bed's addresses and the test's keys\n"
        "gateway\n"
        "    name = \"gateway-a%s\"\n"
        "    secret-key = \"%s/keys/gateway-a.secret\"\n"
        "    heartbeat = \"%s\"\n"
        "    peer-timeout = \"%s\"\n"
        "local\n"
        "    endpoint = \"tcp://%s:%s\"\n"
        "    security = curve\n"
        "    trusted-keys = \"%s/keys/facility-a\"\n"
        "peer\n"
        "    name = \"gateway-b%s\"\n"
        "    endpoint = \"tcp://%s:%s\"\n"
        "    mode = bind\n"
        "    public-key = \"%s\"\n"
        "    security = curve\n",
        suffix, self->name, self->name, host_a, suffix, keys->folder, heartbeat, peer_timeout,
        lan_a, port_a, keys->folder, suffix, wan_a, port_wan, keys->gateway_b_pub) > 0);
    s_write_config (config_a, text);
    free (text);
    netbed_gateway_start (self, &pair->a, host_a, config_a, options->sets_a);
    cr_assert (pair->a.peer [0], "gateway A in %s said no peer endpoint", host_a);
    //  B dials what A bound
    cr_assert (asprintf (&text,
        "#   Gateway B%s of test bed %s, in %s-%s: conf/gateway-b.cfg with the\n"
        "#   bed's addresses and the test's keys\n"
        "gateway\n"
        "    name = \"gateway-b%s\"\n"
        "    secret-key = \"%s/keys/gateway-b.secret\"\n"
        "    heartbeat = \"%s\"\n"
        "    peer-timeout = \"%s\"\n"
        "local\n"
        "    endpoint = \"tcp://%s:%s\"\n"
        "    security = curve\n"
        "    trusted-keys = \"%s/keys/facility-b\"\n"
        "peer\n"
        "    name = \"gateway-a%s\"\n"
        "    endpoint = \"%s\"\n"
        "    mode = connect\n"
        "    public-key = \"%s\"\n"
        "    security = curve\n"
        "    tcp\n"
        "        keepalive = on\n",
        suffix, self->name, self->name, host_b, suffix, keys->folder, heartbeat, peer_timeout,
        lan_b, port_b, keys->folder, suffix, pair->a.peer, keys->gateway_a_pub) > 0);
    s_write_config (config_b, text);
    free (text);
    netbed_gateway_start (self, &pair->b, host_b, config_b, options->sets_b);
    netbed_gateway_wait_paired (&pair->a);
    netbed_gateway_wait_paired (&pair->b);
}

void
netbed_pair_stop (netbed_pair_t *pair)
{
    netbed_gateway_stop (&pair->b);
    netbed_gateway_stop (&pair->a);
}


//  --------------------------------------------------------------------------
//  Clients

//  sstream-pipe send|recv -k KEY -g GATEWAY [-c FILE] [--readers PUB]
//  [MORE...] ENDPOINTS STREAM in host
static pid_t
s_client (netbed_t *self, const char *host, const char *command, const char *key,
          const char *gateway_key, const char *readers, const netbed_client_t *client)
{
    char *argv [ARGS_MAX];
    int count = 0;
    argv [count++] = SSTREAM_PIPE;
    argv [count++] = (char *) command;
    argv [count++] = "-k";
    argv [count++] = (char *) key;
    argv [count++] = "-g";
    argv [count++] = (char *) gateway_key;
    if (client->config) {
        argv [count++] = "-c";
        argv [count++] = (char *) client->config;
    }
    if (readers) {
        argv [count++] = "--readers";
        argv [count++] = (char *) readers;
    }
    size_t index;
    for (index = 0; client->more && client->more [index]; index++) {
        cr_assert_lt (count, ARGS_MAX - 3, "too many options for sstream-pipe %s", command);
        argv [count++] = (char *) client->more [index];
    }
    argv [count++] = (char *) client->endpoints;
    argv [count++] = (char *) client->stream;
    argv [count] = NULL;
    return netbed_spawn (self, host, argv, client->in, client->out, client->err);
}

pid_t
netbed_send (netbed_t *self, const gateways_t *keys, const netbed_client_t *client)
{
    return s_client (self, "instr", "send", keys->producer_key, keys->gateway_a_pub,
                     keys->consumer_pub, client);
}

pid_t
netbed_recv (netbed_t *self, const gateways_t *keys, const netbed_client_t *client)
{
    return s_client (self, "ana", "recv", keys->consumer_key, keys->gateway_b_pub, NULL, client);
}


//  --------------------------------------------------------------------------
//  A stream across the bed

void
netbed_stream (netbed_t *self, const gateways_t *keys, const netbed_pair_t *pair,
               const char *stream, uint64_t bytes)
{
    char data [600], received [600], send_err [600], recv_err [600];
    snprintf (data, sizeof (data), "%s/%s.bin", self->folder, stream);
    snprintf (received, sizeof (received), "%s/%s.received", self->folder, stream);
    snprintf (send_err, sizeof (send_err), "%s/%s-send.err", self->folder, stream);
    snprintf (recv_err, sizeof (recv_err), "%s/%s-recv.err", self->folder, stream);
    cr_assert_eq (support_fill_file (data, bytes), 0);
    netbed_client_t consumer = {
        .endpoints = pair->b.local, .stream = stream, .out = received, .err = recv_err
    };
    pid_t receiver = netbed_recv (self, keys, &consumer);
    netbed_client_t producer = {
        .endpoints = pair->a.local, .stream = stream, .in = data, .err = send_err
    };
    pid_t sender = netbed_send (self, keys, &producer);
    int sent = support_wait (sender, 120000);
    int got = support_wait (receiver, 120000);
    cr_assert_eq (sent, 0, "send exited %d: %s", sent, support_read_file (send_err));
    cr_assert_eq (got, 0, "recv exited %d: %s", got, support_read_file (recv_err));
    unsigned char one [32], two [32];
    uint64_t size_one, size_two;
    cr_assert_eq (support_digest_file (data, one, &size_one), 0);
    cr_assert_eq (support_digest_file (received, two, &size_two), 0);
    cr_assert_eq (size_two, bytes, "%llu bytes came", (unsigned long long) size_two);
    cr_assert_eq (memcmp (one, two, 32), 0, "the received file differs");
}
