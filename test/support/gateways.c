/*  =========================================================================
    gateways - two gateway processes from conf/, and sstream-pipe runs

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE
#include "gateways.h"
#include "support.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARGS_MAX 48

static pid_t
s_spawn (const char *in, const char *out, const char *err, const char *first, va_list args)
{
    char *argv [ARGS_MAX];
    int count = 0;
    argv [count++] = SSTREAM_PIPE;
    const char *arg;
    for (arg = first; arg && count < ARGS_MAX - 1; arg = va_arg (args, const char *))
        argv [count++] = (char *) arg;
    argv [count] = NULL;
    return support_spawn (argv, in, out, err);
}

int
gateways_pipe_run (const char *in, const char *out, const char *err, const char *first, ...)
{
    va_list args;
    va_start (args, first);
    pid_t pid = s_spawn (in, out, err, first, args);
    va_end (args);
    return support_wait (pid, 60000);
}

pid_t
gateways_pipe_spawn (const char *out, const char *err, const char *first, ...)
{
    va_list args;
    va_start (args, first);
    pid_t pid = s_spawn (NULL, out, err, first, args);
    va_end (args);
    return pid;
}

void
gateways_keys (gateways_t *self, const char *folder)
{
    snprintf (self->folder, sizeof (self->folder), "%s", folder);
    const char *pairs [][2] = {
        { "gateway-a", "keys" }, { "gateway-b", "keys" }, { "producer", "keys/facility-a" },
        { "consumer", "keys/facility-b" }, { "operator", "keys/operators" }
    };
    size_t index;
    for (index = 0; index < sizeof (pairs) / sizeof (pairs [0]) && !self->options.reuse_keys; index++) {
        char dir [600], err [600];
        snprintf (dir, sizeof (dir), "%s/%s", folder, pairs [index][1]);
        snprintf (err, sizeof (err), "%s/keygen.err", folder);
        cr_assert_eq (gateways_pipe_run (NULL, NULL, err, "keygen", pairs [index][0], "--dir", dir, NULL),
                      0, "keygen %s failed: %s", pairs [index][0], support_read_file (err));
    }
    snprintf (self->producer_key, sizeof (self->producer_key), "%s/keys/facility-a/producer.secret", folder);
    snprintf (self->consumer_key, sizeof (self->consumer_key), "%s/keys/facility-b/consumer.secret", folder);
    snprintf (self->consumer_pub, sizeof (self->consumer_pub), "%s/keys/facility-b/consumer.pub", folder);
    snprintf (self->operator_key, sizeof (self->operator_key), "%s/keys/operators/operator.secret", folder);
    snprintf (self->gateway_a_pub, sizeof (self->gateway_a_pub), "%s/keys/gateway-a.pub", folder);
    snprintf (self->gateway_b_pub, sizeof (self->gateway_b_pub), "%s/keys/gateway-b.pub", folder);
}

bool
gateways_ready_endpoint (const char *ready, const char *name, char *endpoint, size_t size)
{
    const char *at = strstr (ready, name);
    if (!at)
        return false;
    at += strlen (name);
    size_t length = strcspn (at, " \n");
    if (length == 0 || length >= size)
        return false;
    memcpy (endpoint, at, length);
    endpoint [length] = 0;
    return true;
}

char *
gateways_wait_ready (pid_t pid, const char *out, const char *err, const char *name)
{
    //  The line is whole once its newline is there
    cr_assert (support_wait_for_output (pid, out, "\n", 60000),
               "%s did not start: %s", name, support_read_file (err));
    char *ready = support_read_file (out);
    cr_assert (ready && strncmp (ready, "ready ", 6) == 0, "%s said: %s", name, ready);
    return ready;
}

//  Start gateway a or b on ports it picks, and read them from what it says
//  once it listens: "ready local=... [peer=...] [control=...]". B connects
//  to A's WAN link, so A goes first.
pid_t
gateways_start_one (gateways_t *self, char which)
{
    const gateways_options_t *options = &self->options;
    char config [600], out [600], err [600];
    snprintf (config, sizeof (config), "%s/conf/gateway-%c.cfg", SSTREAM_SOURCE_DIR, which);
    if (which == 'a' && options->config_a)
        snprintf (config, sizeof (config), "%s", options->config_a);
    const char *tag = options->tag? options->tag: "";
    snprintf (out, sizeof (out), "%s/gateway-%c%s.out", self->folder, which, tag);
    snprintf (err, sizeof (err), "%s/gateway-%c%s.err", self->folder, which, tag);
    bool a = which == 'a';
    int tunnel_low = a? self->tunnel_low_a: self->tunnel_low_b;
    char set [16][700];
    int sets = 0;
    snprintf (set [sets++], sizeof (set [0]), "gateway/secret-key=%s/keys/gateway-%c.secret", self->folder, which);
    snprintf (set [sets++], sizeof (set [0]), "local/trusted-keys=%s/keys/facility-%c", self->folder, which);
    snprintf (set [sets++], sizeof (set [0]), "local/endpoint=tcp://127.0.0.1:*");
    snprintf (set [sets++], sizeof (set [0]), "peer/endpoint=%s", a? "tcp://127.0.0.1:*": self->endpoint_wan);
    snprintf (set [sets++], sizeof (set [0]), "peer/public-key=%s/keys/gateway-%c.pub", self->folder, a? 'b': 'a');
    snprintf (set [sets++], sizeof (set [0]), "gateway/buffer=%s", options->buffer? options->buffer: "64MiB");
    snprintf (set [sets++], sizeof (set [0]), "gateway/heartbeat=200ms");
    if (options->peer_timeout)
        snprintf (set [sets++], sizeof (set [0]), "gateway/peer-timeout=%s", options->peer_timeout);
    snprintf (set [sets++], sizeof (set [0]), "control/endpoint=tcp://127.0.0.1:*");
    snprintf (set [sets++], sizeof (set [0]), "control/trusted-keys=%s/keys/operators", self->folder);
    snprintf (set [sets++], sizeof (set [0]), "tunnels/ports=%d-%d", tunnel_low,
              tunnel_low + options->tunnel_ports - 1);
    if (options->idle_timeout)
        snprintf (set [sets++], sizeof (set [0]), "sessions/idle-timeout=%s", options->idle_timeout);
    char *argv [ARGS_MAX];
    int count = 0;
    argv [count++] = SSTREAM_PIPE;
    argv [count++] = "gateway";
    argv [count++] = "-c";
    argv [count++] = config;
    int index;
    for (index = 0; index < sets; index++) {
        argv [count++] = "--set";
        argv [count++] = set [index];
    }
    const char *const *extra = a? options->extra_a: options->extra_b;
    for (index = 0; index < GATEWAYS_EXTRA_MAX && extra [index]; index++) {
        argv [count++] = "--set";
        argv [count++] = (char *) extra [index];
    }
    argv [count] = NULL;
    cr_assert_lt (count, ARGS_MAX);
    pid_t pid = support_spawn (argv, NULL, out, err);
    char *ready = gateways_wait_ready (pid, out, err, a? "gateway a": "gateway b");
    cr_assert (gateways_ready_endpoint (ready, " local=", a? self->endpoint_a: self->endpoint_b,
                                        sizeof (self->endpoint_a))
            && gateways_ready_endpoint (ready, " control=", a? self->control_a: self->control_b,
                                        sizeof (self->control_a))
            && (!a || gateways_ready_endpoint (ready, " peer=", self->endpoint_wan,
                                               sizeof (self->endpoint_wan))),
               "gateway %c said: %s", which, ready);
    char *metrics = a? self->metrics_a: self->metrics_b;
    if (!gateways_ready_endpoint (ready, " metrics=", metrics, sizeof (self->metrics_a)))
        *metrics = 0;
    free (ready);
    return pid;
}

void
gateways_prepare (gateways_t *self, const char *folder, const gateways_options_t *options)
{
    memset (self, 0, sizeof (*self));
    if (options)
        self->options = *options;
    if (!self->options.tunnel_ports)
        self->options.tunnel_ports = 100;
    gateways_keys (self, folder);
    self->tunnel_low_a = support_ports (2 * self->options.tunnel_ports);
    cr_assert_gt (self->tunnel_low_a, 0, "no ports for %d tunnels", 2 * self->options.tunnel_ports);
    self->tunnel_low_b = self->tunnel_low_a + self->options.tunnel_ports;
}

void
gateways_start (gateways_t *self, const char *folder, const gateways_options_t *options)
{
    gateways_prepare (self, folder, options);
    self->a = gateways_start_one (self, 'a');
    self->b = gateways_start_one (self, 'b');
    //  Paired once each has heard the other: until then a gateway has no
    //  peer to pass streams and tunnel connections to
    const char *which;
    for (which = "ab"; *which; which++) {
        char err [600];
        snprintf (err, sizeof (err), "%s/gateway-%c%s.err", self->folder, *which,
                  self->options.tag? self->options.tag: "");
        cr_assert (support_wait_for_text (err, " is up", 60000), "gateway %c did not pair: %s",
                   *which, support_read_file (err));
    }
}

void
gateways_stop (gateways_t *self)
{
    if (self->a > 0) {
        kill (self->a, SIGTERM);
        cr_assert_eq (support_wait (self->a, 60000), 0, "gateway a did not stop cleanly");
        self->a = 0;
    }
    if (self->b > 0) {
        kill (self->b, SIGTERM);
        cr_assert_eq (support_wait (self->b, 60000), 0, "gateway b did not stop cleanly");
        self->b = 0;
    }
}


void
gateways_assert_one_line (const char *err, const char *said)
{
    char *text = support_read_file (err);
    cr_assert_not_null (text, "no %s", err);
    size_t lines = 0;
    const char *reader;
    for (reader = text; *reader; reader++)
        lines += *reader == '\n';
    cr_assert_eq (lines, 1, "stderr has %zu lines:\n%s", lines, text);
    cr_assert (strstr (text, said), "stderr does not say '%s':\n%s", said, text);
    free (text);
}


//  --------------------------------------------------------------------------
//  What a process holds

int
gateways_fd_count (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof (path), "/proc/%d/fd", (int) pid);
    DIR *dir = opendir (path);
    if (!dir)
        return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        count += entry->d_name [0] != '.';
    closedir (dir);
    return count;
}

//  Socket inodes of a process; returns how many (at most max)
static size_t
s_socket_inodes (pid_t pid, unsigned long *inodes, size_t max)
{
    char path [64];
    snprintf (path, sizeof (path), "/proc/%d/fd", (int) pid);
    DIR *dir = opendir (path);
    if (!dir)
        return 0;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) && count < max) {
        char link [600], target [128];
        snprintf (link, sizeof (link), "%s/%s", path, entry->d_name);
        ssize_t size = readlink (link, target, sizeof (target) - 1);
        if (size <= 0)
            continue;
        target [size] = 0;
        unsigned long inode;
        if (sscanf (target, "socket:[%lu]", &inode) == 1)
            inodes [count++] = inode;
    }
    closedir (dir);
    return count;
}

int
gateways_listen_count (pid_t pid)
{
    static unsigned long inodes [65536];
    size_t sockets = s_socket_inodes (pid, inodes, sizeof (inodes) / sizeof (inodes [0]));
    int count = 0;
    const char *tables [] = { "/proc/net/tcp", "/proc/net/tcp6" };
    size_t table;
    for (table = 0; table < 2; table++) {
        FILE *file = fopen (tables [table], "r");
        if (!file)
            continue;
        char line [512];
        if (!fgets (line, sizeof (line), file)) {      //  The heading
            fclose (file);
            continue;
        }
        while (fgets (line, sizeof (line), file)) {
            unsigned state;
            unsigned long inode;
            //  sl local remote st tx:rx tr:when retrnsmt uid timeout inode
            if (sscanf (line, "%*s %*s %*s %x %*s %*s %*s %*s %*s %lu", &state, &inode) != 2)
                continue;
            if (state != 0x0A)          //  LISTEN
                continue;
            size_t index;
            for (index = 0; index < sockets; index++)
                if (inodes [index] == inode) {
                    count++;
                    break;
                }
        }
        fclose (file);
    }
    return count;
}
