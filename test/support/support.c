/*  =========================================================================
    support - what the tests share

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <poll.h>
#include <pty.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *
support_scratch (void)
{
    const char *tmp = getenv ("TMPDIR");
    char *folder = NULL;
    if (asprintf (&folder, "%s/sstream-test-XXXXXX", tmp && *tmp? tmp: "/tmp") < 0)
        return NULL;
    if (!mkdtemp (folder)) {
        free (folder);
        return NULL;
    }
    return folder;
}

char *support_folder;

void
support_fixture_setup (void)
{
    //  A write to a reader that has gone (a FIFO, a socket) fails, rather
    //  than kill the test
    signal (SIGPIPE, SIG_IGN);
    support_folder = support_scratch ();
    if (!support_folder) {
        fprintf (stderr, "support: no scratch folder: %s\n", strerror (errno));
        abort ();
    }
}

void
support_fixture_teardown (void)
{
    support_kill_children ();
    //  SSTREAM_TEST_KEEP=1 keeps it, logs and all, for a look after a failure
    const char *keep = getenv ("SSTREAM_TEST_KEEP");
    if (keep && strcmp (keep, "1") == 0)
        fprintf (stderr, "kept %s\n", support_folder);
    else
        support_rmtree (support_folder);
    free (support_folder);
    support_folder = NULL;
}

static int
s_remove (const char *path, const struct stat *stat_buf, int type, struct FTW *ftw)
{
    (void) stat_buf;
    (void) type;
    (void) ftw;
    remove (path);
    return 0;
}

void
support_rmtree (const char *path)
{
    if (path)
        nftw (path, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}

int
support_write_file (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    size_t length = strlen (text);
    int rc = fwrite (text, 1, length, file) == length? 0: -1;
    return fclose (file) == 0? rc: -1;
}

char *
support_read_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    size_t capacity = 4096, size = 0;
    char *text = malloc (capacity);
    size_t got;
    while (text && (got = fread (text + size, 1, capacity - size - 1, file)) > 0) {
        size += got;
        if (size + 1 == capacity)
            text = realloc (text, capacity *= 2);
    }
    fclose (file);
    if (text)
        text [size] = 0;
    return text;
}


//  --------------------------------------------------------------------------
//  A two-gateway path

static int
s_set (sstream_config_t *config, const char *path, const char *format, ...)
{
    char value [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (value, sizeof (value), format, args);
    va_end (args);
    return sstream_config_set (config, path, value);
}

static const char *
s_endpoint (support_path_t *path, const char *name, char *buffer, size_t size)
{
    if (path->options.transport && strcmp (path->options.transport, "ipc") == 0)
        snprintf (buffer, size, "ipc://%s/%s.sock", path->folder, name);
    else
        snprintf (buffer, size, "tcp://127.0.0.1:*");
    return buffer;
}

sstream_config_t *
support_gateway_config (support_path_t *path, char which)
{
    const support_options_t *options = &path->options;
    const char *security = options->insecure? "none": "curve";
    char endpoint [600];
    sstream_config_t *config;
    if (sstream_config_new (&config))
        return NULL;
    int rc = s_set (config, "gateway/name", "gateway-%c", which);
    if (!rc) rc = s_set (config, "local/endpoint", "%s",
                         s_endpoint (path, which == 'a'? "a": "b", endpoint, sizeof (endpoint)));
    if (!rc) rc = s_set (config, "local/security", "%s", security);
    if (!rc) rc = s_set (config, "peer/name", "gateway-%c", which == 'a'? 'b': 'a');
    if (!rc) rc = s_set (config, "peer/security", "%s", security);
    if (!rc && which == 'a') {
        rc = s_set (config, "peer/mode", "bind");
        if (!rc) rc = s_set (config, "peer/endpoint", "%s",
                             s_endpoint (path, "wan", endpoint, sizeof (endpoint)));
    }
    if (!rc && which == 'b') {
        rc = s_set (config, "peer/mode", "connect");
        if (!rc) rc = s_set (config, "peer/endpoint", "%s",
                             path->a? sstream_gateway_endpoint (path->a, "peer"): "tcp://127.0.0.1:1");
    }
    if (!rc && !options->insecure) {
        rc = s_set (config, "gateway/secret-key", "%s/gateway-%c.secret", path->gateways, which);
        if (!rc) rc = s_set (config, "local/trusted-keys", "%s",
                             which == 'a'? path->facility_a: path->facility_b);
        if (!rc) rc = s_set (config, "peer/public-key", "%s/gateway-%c.pub", path->gateways,
                             which == 'a'? 'b': 'a');
    }
    const char *buffer = which == 'b' && options->buffer_b? options->buffer_b: options->buffer;
    if (!rc && buffer)
        rc = s_set (config, "gateway/buffer", "%s", buffer);
    if (!rc && options->heartbeat)
        rc = s_set (config, "gateway/heartbeat", "%s", options->heartbeat);
    if (!rc && options->peer_timeout)
        rc = s_set (config, "gateway/peer-timeout", "%s", options->peer_timeout);
    if (!rc && options->tunnels) {
        int ports = support_ports (20);
        rc = ports < 0? SSTREAM_EINTERNAL: s_set (config, "tunnels/ports", "%d-%d", ports, ports + 19);
        if (!rc) rc = s_set (config, "control/endpoint", "tcp://127.0.0.1:*");
        if (!rc) rc = s_set (config, "control/security", "none");
    }
    if (!rc && options->tunnel_payload)
        rc = s_set (config, "tunnels/payload", "%s", options->tunnel_payload);
    if (!rc && options->tunnel_rekey)
        rc = s_set (config, "tunnels/rekey", "%s", options->tunnel_rekey);
    if (rc)
        sstream_config_destroy (&config);
    return config;
}

static sstream_config_t *
s_client_config (support_path_t *path, bool producer)
{
    const support_options_t *options = &path->options;
    sstream_config_t *config;
    if (sstream_config_new (&config))
        return NULL;
    int rc = s_set (config, "client/security", "%s", options->insecure? "none": "curve");
    if (!rc && !options->insecure) {
        rc = s_set (config, "client/secret-key", "%s/%s.secret",
                    producer? path->facility_a: path->facility_b,
                    producer? "producer": "consumer");
        if (!rc) rc = s_set (config, "client/gateway-key", "%s/gateway-%c.pub",
                             path->gateways, producer? 'a': 'b');
    }
    //  Sealed end to end, for the consumer's key, unless no link has
    //  security (then nobody has a key) or the test says hop
    bool sealed = !options->insecure && !options->hop;
    if (!rc && !sealed)
        rc = s_set (config, "client/payload", "hop");
    if (!rc && sealed && producer)
        rc = s_set (config, "client/readers", "%s/consumer.pub", path->facility_b);
    if (!rc && options->heartbeat)
        rc = s_set (config, "client/heartbeat", "%s", options->heartbeat);
    if (!rc && options->peer_timeout)
        rc = s_set (config, "client/peer-timeout", "%s", options->peer_timeout);
    if (!rc && options->window && !producer)
        rc = s_set (config, "client/window", "%s", options->window);
    if (rc)
        sstream_config_destroy (&config);
    return config;
}

//  Both gateways have heard each other: until then a test that takes one
//  away can race its first hello
static int
s_path_wait_paired (support_path_t *path)
{
    double deadline = support_now () + 60;
    while (support_now () < deadline) {
        uint64_t up_a = 0, up_b = 0;
        sstream_gateway_stat (path->a, "peer-up", &up_a);
        sstream_gateway_stat (path->b, "peer-up", &up_b);
        if (up_a && up_b)
            return SSTREAM_OK;
        usleep (10 * 1000);
    }
    fprintf (stderr, "support: the gateways did not pair within 60 s\n");
    return SSTREAM_ETIMEDOUT;
}

int
support_path_start (support_path_t *path, const support_options_t *options)
{
    memset (path, 0, sizeof (*path));
    if (options)
        path->options = *options;
    path->folder = support_scratch ();
    if (!path->folder)
        return SSTREAM_EIO;
    snprintf (path->gateways, sizeof (path->gateways), "%s/gateways", path->folder);
    snprintf (path->facility_a, sizeof (path->facility_a), "%s/facility-a", path->folder);
    snprintf (path->facility_b, sizeof (path->facility_b), "%s/facility-b", path->folder);
    int rc = SSTREAM_OK;
    if (!path->options.insecure) {
        rc = sstream_keygen ("gateway-a", path->gateways);
        if (!rc) rc = sstream_keygen ("gateway-b", path->gateways);
        if (!rc) rc = sstream_keygen ("producer", path->facility_a);
        if (!rc) rc = sstream_keygen ("consumer", path->facility_b);
        if (rc)
            return rc;
    }
    sstream_config_t *config = support_gateway_config (path, 'a');
    rc = config? sstream_gateway_new (&path->a, config): SSTREAM_ENOMEM;
    sstream_config_destroy (&config);
    if (rc)
        return rc;
    config = support_gateway_config (path, 'b');
    rc = config? sstream_gateway_new (&path->b, config): SSTREAM_ENOMEM;
    sstream_config_destroy (&config);
    if (!rc)
        rc = s_path_wait_paired (path);
    if (rc)
        return rc;
    path->producer_options = s_client_config (path, true);
    path->consumer_options = s_client_config (path, false);
    return path->producer_options && path->consumer_options? SSTREAM_OK: SSTREAM_ENOMEM;
}

void
support_path_stop (support_path_t *path)
{
    sstream_config_destroy (&path->producer_options);
    sstream_config_destroy (&path->consumer_options);
    sstream_gateway_destroy (&path->b);
    sstream_gateway_destroy (&path->a);
    support_rmtree (path->folder);
    free (path->folder);
    path->folder = NULL;
}


//  --------------------------------------------------------------------------
//  Producing and consuming

int
support_fill_file (const char *path, uint64_t bytes)
{
    FILE *file = fopen (path, "wb");
    if (!file)
        return -1;
    size_t chunk_size = 1 << 20;
    unsigned char *chunk = malloc (chunk_size);
    uint64_t written = 0;
    int rc = chunk? 0: -1;
    while (rc == 0 && written < bytes) {
        size_t size = bytes - written < chunk_size? (size_t) (bytes - written): chunk_size;
        support_fill (chunk, written, size);
        rc = fwrite (chunk, 1, size, file) == size? 0: -1;
        written += size;
    }
    free (chunk);
    return fclose (file) == 0? rc: -1;
}

int
support_digest_file (const char *path, unsigned char digest [32], uint64_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return -1;
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    static unsigned char buffer [1 << 16];
    size_t got;
    *size = 0;
    while ((got = fread (buffer, 1, sizeof (buffer), file)) > 0) {
        crypto_generichash_update (&state, buffer, got);
        *size += got;
    }
    int rc = ferror (file)? -1: 0;
    fclose (file);
    crypto_generichash_final (&state, digest, 32);
    return rc;
}

void
support_fill (unsigned char *buffer, uint64_t offset, size_t size)
{
    //  xorshift64 of each 8-byte word's index: cheap, and no two words of a
    //  stream alike, so a lost, doubled or swapped message changes the digest
    size_t index = 0;
    while (index < size) {
        uint64_t position = offset + index;
        uint64_t x = (position / 8) * 0x9E3779B97F4A7C15ULL + 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned byte;
        for (byte = (unsigned) (position % 8); byte < 8 && index < size; byte++)
            buffer [index++] = (unsigned char) (x >> (8 * byte));
    }
}

int
support_produce (const char *endpoint, const char *stream, sstream_config_t *options,
                 uint64_t bytes, size_t msg_size, unsigned char digest [32])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    sstream_producer_t *producer;
    int rc = sstream_producer_new (&producer, endpoint, stream, options);
    if (rc)
        return rc;
    unsigned char *buffer = malloc (msg_size? msg_size: 1);
    uint64_t sent = 0;
    while (rc == SSTREAM_OK && sent < bytes) {
        size_t size = bytes - sent < msg_size? (size_t) (bytes - sent): msg_size;
        support_fill (buffer, sent, size);
        rc = sstream_producer_send (producer, buffer, size, NULL, 0, SSTREAM_FOREVER);
        if (rc == SSTREAM_OK) {
            crypto_generichash_update (&state, buffer, size);
            sent += size;
        }
    }
    if (rc == SSTREAM_OK)
        rc = sstream_producer_close (producer, 60000);
    free (buffer);
    sstream_producer_destroy (&producer);
    if (digest)
        crypto_generichash_final (&state, digest, 32);
    return rc;
}

static void *
s_consumer_run (void *args)
{
    support_consumer_t *self = (support_consumer_t *) args;
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    self->in_order = true;
    sstream_consumer_t *consumer;
    int rc = sstream_consumer_new (&consumer, self->endpoint, self->stream, self->options);
    pthread_mutex_lock (&self->mutex);
    self->is_open = true;
    pthread_cond_signal (&self->opened);
    pthread_mutex_unlock (&self->mutex);
    if (rc == SSTREAM_OK && self->stall_ms)
        usleep ((useconds_t) self->stall_ms * 1000);
    while (rc == SSTREAM_OK) {
        sstream_message_t *message;
        rc = sstream_consumer_recv (consumer, &message, 60000);
        if (rc == SSTREAM_OK) {
            if (sstream_message_seq (message) != self->messages)
                self->in_order = false;
            crypto_generichash_update (&state, sstream_message_data (message),
                                       sstream_message_size (message));
            self->bytes += sstream_message_size (message);
            self->messages++;
            sstream_message_destroy (&message);
        }
    }
    if (rc == SSTREAM_EEND)
        rc = sstream_consumer_close (consumer, 10000);
    if (rc)
        snprintf (self->error, sizeof (self->error), "%s", sstream_errmsg ());
    sstream_consumer_destroy (&consumer);
    crypto_generichash_final (&state, self->digest, 32);
    self->rc = rc;
    return NULL;
}

void
support_consumer_start (support_consumer_t *self)
{
    self->rc = SSTREAM_EINTERNAL;
    self->bytes = self->messages = 0;
    self->is_open = false;
    pthread_mutex_init (&self->mutex, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init (&attributes);
    pthread_condattr_setclock (&attributes, CLOCK_MONOTONIC);
    pthread_cond_init (&self->opened, &attributes);
    pthread_condattr_destroy (&attributes);
    pthread_create (&self->thread, NULL, s_consumer_run, self);
    //  sstream_consumer_new gives up after the consumer's connect-timeout;
    //  this limit is only there in case it does not
    struct timespec deadline;
    clock_gettime (CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += 120;
    pthread_mutex_lock (&self->mutex);
    while (!self->is_open)
        if (pthread_cond_timedwait (&self->opened, &self->mutex, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock (&self->mutex);
}

void
support_consumer_join (support_consumer_t *self)
{
    pthread_join (self->thread, NULL);
    pthread_cond_destroy (&self->opened);
    pthread_mutex_destroy (&self->mutex);
}


//  --------------------------------------------------------------------------
//  Processes

//  Children still running, so that a failed test leaves none behind
#define CHILDREN_MAX 256
static pid_t s_children [CHILDREN_MAX];

static void
s_forget (pid_t pid)
{
    size_t index;
    for (index = 0; index < CHILDREN_MAX; index++)
        if (s_children [index] == pid)
            s_children [index] = 0;
}

static void
s_remember (pid_t pid)
{
    size_t index;
    for (index = 0; index < CHILDREN_MAX; index++)
        if (s_children [index] == 0) {
            s_children [index] = pid;
            break;
        }
}

void
support_kill_children (void)
{
    size_t index;
    for (index = 0; index < CHILDREN_MAX; index++)
        if (s_children [index] > 0) {
            kill (s_children [index], SIGKILL);
            waitpid (s_children [index], NULL, 0);
            s_children [index] = 0;
        }
}

//  The tests' environment without BoxFort's BXFI_MAP, which tells a test
//  worker where its sandbox is: a child linked with Criterion (as the
//  sanitizer build links the tests' helper programs) would take itself for
//  a worker, and abort. Made before fork: the child only calls execve.
static char **
s_child_environment (void)
{
    size_t count = 0, kept = 0, index;
    while (environ [count])
        count++;
    char **variables = (char **) calloc (count + 1, sizeof (char *));
    for (index = 0; variables && index < count; index++)
        if (strncmp (environ [index], "BXFI_MAP=", 9) != 0)
            variables [kept++] = environ [index];
    return variables;
}

//  fork, or with terminal forkpty; the parent remembers the child, which
//  gets the environment to run with in *variables
static pid_t
s_fork (int *terminal, char ***variables)
{
    *variables = s_child_environment ();
    if (terminal)
        *terminal = -1;
    pid_t pid = terminal? forkpty (terminal, NULL, NULL, NULL): fork ();
    if (pid != 0)
        free (*variables);
    if (pid > 0)
        s_remember (pid);
    return pid;
}

pid_t
support_spawn (char *const argv [], const char *in, const char *out, const char *err)
{
    return support_spawn_in (-1, argv, in, out, err);
}

pid_t
support_spawn_in (int netns, char *const argv [], const char *in, const char *out, const char *err)
{
    char **variables;
    pid_t pid = s_fork (NULL, &variables);
    if (pid != 0)
        return pid;
    const char *paths [3] = { in? in: "/dev/null", out? out: "/dev/null", err? err: "/dev/null" };
    int index;
    for (index = 0; index < 3; index++) {
        int fd = index == 0? open (paths [index], O_RDONLY)
                           : open (paths [index], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit (126);
        dup2 (fd, index);
        close (fd);
    }
    //  Children get a clean signal state whatever Criterion set up
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    if (netns >= 0 && setns (netns, CLONE_NEWNET) != 0)
        _exit (125);
    execve (argv [0], argv, variables? variables: environ);
    _exit (127);
}

pid_t
support_spawn_pty (char *const argv [], const char *in, const char *out, int *terminal)
{
    char **variables;
    pid_t pid = s_fork (terminal, &variables);
    if (pid != 0)
        return pid;
    //  Standard input and output from files where they are given; the
    //  terminal is already all three
    if (in) {
        int fd = open (in, O_RDONLY);
        if (fd < 0)
            _exit (126);
        dup2 (fd, STDIN_FILENO);
        close (fd);
    }
    if (out) {
        int fd = open (out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit (126);
        dup2 (fd, STDOUT_FILENO);
        close (fd);
    }
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    execve (argv [0], argv, variables? variables: environ);
    _exit (127);
}

bool
support_pty_read (int terminal, char *text, size_t size, size_t *used, const char *wanted,
                  int timeout_ms)
{
    double deadline = support_now () + timeout_ms / 1000.0;
    while (true) {
        if (wanted && strstr (text, wanted))
            return true;
        double left = deadline - support_now ();
        if (left <= 0)
            return false;
        struct pollfd item = { terminal, POLLIN, 0 };
        if (poll (&item, 1, (int) (left * 1000) + 1) <= 0)
            continue;
        if (*used + 1 >= size)
            return false;
        ssize_t got = read (terminal, text + *used, size - *used - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return wanted == NULL;  //  The child has gone (EIO): no more
        *used += (size_t) got;
        text [*used] = 0;
    }
}

int
support_wait (pid_t pid, int timeout_ms)
{
    struct timespec start, now;
    clock_gettime (CLOCK_MONOTONIC, &start);
    while (true) {
        int status;
        pid_t done = waitpid (pid, &status, WNOHANG);
        if (done == pid) {
            s_forget (pid);
            return WIFEXITED (status)? WEXITSTATUS (status): 128 + WTERMSIG (status);
        }
        if (done < 0) {
            s_forget (pid);
            return -2;
        }
        clock_gettime (CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed > timeout_ms) {
            kill (pid, SIGKILL);
            waitpid (pid, &status, 0);
            s_forget (pid);
            return -1;
        }
        usleep (10000);
    }
}

bool
support_ended (pid_t pid)
{
    siginfo_t info = { .si_pid = 0 };
    if (waitid (P_PID, (id_t) pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
        return true;            //  Not a child of ours, or reaped already
    return info.si_pid == pid;
}

double
support_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double) now.tv_sec + (double) now.tv_nsec / 1e9;
}

bool
support_wait_for_output (pid_t pid, const char *path, const char *text, int timeout_ms)
{
    double deadline = support_now () + timeout_ms / 1000.0;
    while (true) {
        //  Whether the child has ended is asked before the file is read:
        //  what it wrote before it ended is in the file then
        bool ended = pid > 0 && support_ended (pid);
        char *contents = support_read_file (path);
        bool found = contents && strstr (contents, text);
        free (contents);
        if (found)
            return true;
        if (ended || support_now () > deadline)
            return false;
        usleep (20000);
    }
}

bool
support_wait_for_text (const char *path, const char *text, int timeout_ms)
{
    return support_wait_for_output (0, path, text, timeout_ms);
}

uint64_t
support_file_size (const char *path)
{
    struct stat stat_buf;
    return stat (path, &stat_buf) == 0? (uint64_t) stat_buf.st_size: 0;
}

bool
support_wait_for_size (pid_t pid, const char *path, uint64_t size, int timeout_ms)
{
    double deadline = support_now () + timeout_ms / 1000.0;
    while (true) {
        //  As in support_wait_for_output: what it wrote before it ended counts
        bool ended = pid > 0 && support_ended (pid);
        if (support_file_size (path) >= size)
            return true;
        if (ended || support_now () > deadline)
            return false;
        usleep (10000);
    }
}


uint64_t
support_rss (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof (path), "/proc/%d/status", (int) pid);
    char *status = support_read_file (path);
    uint64_t rss = 0;
    char *line = status? strstr (status, "VmRSS:"): NULL;
    if (line)
        rss = strtoull (line + 6, NULL, 10) * 1024;
    free (status);
    return rss;
}


//  --------------------------------------------------------------------------
//  Ports

int
support_refused_port (int *port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = 0 };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t length = sizeof (address);
    //  Bound, never listening: connections to it are refused, and while it
    //  is bound neither a bind nor an outgoing connection can take the port
    if (bind (fd, (struct sockaddr *) &address, sizeof (address)) != 0
    ||  getsockname (fd, (struct sockaddr *) &address, &length) != 0) {
        close (fd);
        return -1;
    }
    *port = ntohs (address.sin_port);
    return fd;
}

//  Slices start at 10000 (below it are well-known services) and lie wholly
//  outside the ephemeral range, where the kernel picks the ports of
//  outgoing connections and of binds to port 0.
#define PORTS_FIRST     10000
#define PORTS_SLICE     1000
#define PORTS_LOCKS     "/tmp/sstream-test-ports"

static pid_t s_slice_owner;     //  The process that took the slice
static int s_slice_fd = -1;     //  Its lock file, locked
static int s_slice_low;         //  Its first port
static int s_slice_used;        //  Ports handed out so far

static int
s_slice_claim (void)
{
    int ephemeral_low = 32768, ephemeral_high = 60999;      //  Linux's defaults
    FILE *file = fopen ("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (file) {
        int low, high;
        if (fscanf (file, "%d %d", &low, &high) == 2 && low > 0 && high >= low) {
            ephemeral_low = low;
            ephemeral_high = high;
        }
        fclose (file);
    }
    int starts [64], count = 0, start;
    for (start = PORTS_FIRST; start + PORTS_SLICE - 1 <= 65535 && count < 64; start += PORTS_SLICE)
        if (start + PORTS_SLICE - 1 < ephemeral_low || start > ephemeral_high)
            starts [count++] = start;
    //  Anyone may lock here: tests of other users share the ports
    if (mkdir (PORTS_LOCKS, 0777) == 0)
        chmod (PORTS_LOCKS, 01777);
    //  The first free slice, from one that depends on the process, so that
    //  consecutive tests seldom get ports the last one just used
    int index;
    for (index = 0; index < count; index++) {
        start = starts [(getpid () + index) % count];
        char path [128];
        snprintf (path, sizeof (path), "%s/slice-%d", PORTS_LOCKS, start);
        int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            continue;
        fchmod (fd, 0666);
        //  The kernel lets go of the lock when this process ends
        if (flock (fd, LOCK_EX | LOCK_NB) == 0) {
            s_slice_fd = fd;
            s_slice_low = start;
            s_slice_used = 0;
            s_slice_owner = getpid ();
            return 0;
        }
        close (fd);
    }
    return -1;
}

int
support_ports (int count)
{
    //  Claimed in the process that uses it: a forked child shares the
    //  parent's lock, so it takes a slice of its own
    if (s_slice_fd >= 0 && s_slice_owner != getpid ()) {
        close (s_slice_fd);
        s_slice_fd = -1;
    }
    if (s_slice_fd < 0 && s_slice_claim () != 0)
        return -1;
    if (count <= 0 || s_slice_used + count > PORTS_SLICE)
        return -1;
    int first = s_slice_low + s_slice_used;
    s_slice_used += count;
    return first;
}


//  --------------------------------------------------------------------------
//  Logs

size_t
support_log_head (const char *line, const char *gateway)
{
    static const char *s_head = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}"
                                "[+-][0-9]{2}:[0-9]{2} (error|warning|info|debug) ";
    regex_t head;
    if (regcomp (&head, s_head, REG_EXTENDED) != 0)
        return 0;
    regmatch_t match;
    bool matched = regexec (&head, line, 1, &match, 0) == 0;
    regfree (&head);
    if (!matched)
        return 0;
    size_t length = (size_t) match.rm_eo;
    if (gateway) {
        size_t name = strlen (gateway);
        if (strncmp (line + length, gateway, name) != 0 || strncmp (line + length + name, ": ", 2))
            return 0;
        length += name + 2;
    }
    return length;
}

char *
support_json_lines (const char *path, char **why)
{
    char script [600], out [600], err [600];
    snprintf (script, sizeof (script), "%s/test/support/json_lines.py", SSTREAM_SOURCE_DIR);
    snprintf (out, sizeof (out), "%s.parsed", path);
    snprintf (err, sizeof (err), "%s.parse-errors", path);
    char *argv [] = { "/usr/bin/python3", script, (char *) path, NULL };
    int status = support_wait (support_spawn (argv, NULL, out, err), 60000);
    *why = NULL;
    if (status != 0) {
        char *said = support_read_file (err);
        size_t size = (said? strlen (said): 0) + 64;
        *why = (char *) malloc (size);
        if (*why)
            snprintf (*why, size, "json_lines.py exited %d: %s", status, said? said: "");
        free (said);
        return NULL;
    }
    return support_read_file (out);
}


//  --------------------------------------------------------------------------
//  A TCP echo server on 127.0.0.1

static bool
s_write_all (int fd, const unsigned char *data, size_t size)
{
    while (size) {
        ssize_t sent = send (fd, data, size, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0)
            return false;
        data += sent;
        size -= (size_t) sent;
    }
    return true;
}

static void *
s_echo_connection (void *args)
{
    int fd = (int) (intptr_t) args;
    unsigned char buffer [65536];
    while (true) {
        ssize_t got = recv (fd, buffer, sizeof (buffer), 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 || !s_write_all (fd, buffer, (size_t) got))
            break;
    }
    shutdown (fd, SHUT_WR);
    close (fd);
    return NULL;
}

static void *
s_echo_accept (void *args)
{
    int listener = (int) (intptr_t) args;
    while (true) {
        int fd = accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0 && errno == EINTR)
            continue;
        if (fd < 0)
            break;                  //  Closed: the test is over
        pthread_t thread;
        if (pthread_create (&thread, NULL, s_echo_connection, (void *) (intptr_t) fd) == 0)
            pthread_detach (thread);
        else
            close (fd);
    }
    return NULL;
}

int
support_echo_server (int *port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = 0 };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t length = sizeof (address);
    pthread_t thread;
    if (bind (fd, (struct sockaddr *) &address, sizeof (address)) != 0
    ||  getsockname (fd, (struct sockaddr *) &address, &length) != 0
    ||  listen (fd, 64) != 0
    ||  pthread_create (&thread, NULL, s_echo_accept, (void *) (intptr_t) fd) != 0) {
        close (fd);
        return -1;
    }
    pthread_detach (thread);
    *port = ntohs (address.sin_port);
    return fd;
}

bool
support_echo_once (const char *address, const char *text, char *why, size_t why_size)
{
    char host [64];
    snprintf (host, sizeof (host), "%s", address);
    char *colon = strrchr (host, ':');
    if (!colon) {
        snprintf (why, why_size, "'%s' has no port", address);
        return false;
    }
    *colon = 0;
    struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) atoi (colon + 1)) };
    if (inet_pton (AF_INET, host, &peer.sin_addr) != 1) {
        snprintf (why, why_size, "'%s' is not an IPv4 address", host);
        return false;
    }
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval timeout = { .tv_sec = 30 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof (timeout));
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof (timeout));
    size_t size = strlen (text), got = 0;
    char back [4096];
    bool ok = connect (fd, (struct sockaddr *) &peer, sizeof (peer)) == 0
           && size < sizeof (back) && s_write_all (fd, (const unsigned char *) text, size);
    while (ok && got < size) {
        ssize_t read_now = recv (fd, back + got, size - got, 0);
        if (read_now < 0 && errno == EINTR)
            continue;
        ok = read_now > 0;
        if (ok)
            got += (size_t) read_now;
    }
    if (!ok)
        snprintf (why, why_size, "echo through %s: %s after %zu of %zu bytes", address,
                  errno? strerror (errno): "closed", got, size);
    else
    if (memcmp (back, text, size) != 0) {
        snprintf (why, why_size, "echo through %s: other bytes came back", address);
        ok = false;
    }
    close (fd);
    return ok;
}
