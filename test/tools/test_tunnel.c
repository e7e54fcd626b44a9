/*  =========================================================================
    test_tunnel - transparent TCP tunnels through two gateway processes:
    iperf3, socat and a pyzmq PUB/SUB pair through them, half-closes and
    resets, independent connections, port ranges and rate limits

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Facility A has the TCP servers (the inbound end of each tunnel); the
    applications at facility B connect to the port the outbound end prints.
*/

#define _GNU_SOURCE
#include "support.h"
#include "gateways.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void
s_setup (void)
{
    support_fixture_setup ();
    cr_assert_eq (sodium_init () < 0, false);
}

TestSuite (tunnel, .init = s_setup, .fini = support_fixture_teardown, .timeout = 240);

static char *
s_path (const char *name)
{
    char *path;
    cr_assert (asprintf (&path, "%s/%s", support_folder, name) > 0);
    return path;
}

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double) now.tv_sec + (double) now.tv_nsec / 1e9;
}


//  --------------------------------------------------------------------------
//  sstream-pipe tunnel as a process

typedef struct {
    pid_t pid;
    int port;                   //  Where applications at B connect
    char out [600], err [600];
} s_tunnel_t;

static void
s_tunnel_start (s_tunnel_t *self, gateways_t *gateways, const char *name, const char *target,
                const char *extra)
{
    snprintf (self->out, sizeof (self->out), "%s/tunnel-%s.out", support_folder, name);
    snprintf (self->err, sizeof (self->err), "%s/tunnel-%s.err", support_folder, name);
    self->pid = gateways_pipe_spawn (self->out, self->err, "tunnel", name, target,
                                     "--inbound", gateways->control_a,
                                     "--inbound-key", gateways->gateway_a_pub,
                                     "--outbound", gateways->control_b,
                                     "--outbound-key", gateways->gateway_b_pub,
                                     "-k", gateways->operator_key, extra, NULL);
    cr_assert (support_wait_for_output (self->pid, self->out, "connect to 127.0.0.1:", 60000),
               "the tunnel did not open: %s", support_read_file (self->err));
    char *text = support_read_file (self->out);
    const char *at = strstr (text, "connect to 127.0.0.1:");
    self->port = atoi (at + strlen ("connect to 127.0.0.1:"));
    free (text);
    cr_assert_gt (self->port, 0);
}

static void
s_tunnel_stop (s_tunnel_t *self)
{
    kill (self->pid, SIGINT);
    int status = support_wait (self->pid, 30000);
    cr_assert_eq (status, 0, "tunnel exited %d: %s", status, support_read_file (self->err));
}


//  --------------------------------------------------------------------------
//  Plain sockets

static int
s_listen (int *port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq (fd, 0);
    int on = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof (on));
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) *port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (bind (fd, (struct sockaddr *) &address, sizeof (address)), 0,
                  "bind %d: %s", *port, strerror (errno));
    cr_assert_eq (listen (fd, 64), 0);
    socklen_t length = sizeof (address);
    getsockname (fd, (struct sockaddr *) &address, &length);
    *port = ntohs (address.sin_port);
    return fd;
}

static void
s_timeouts (int fd, int seconds)
{
    struct timeval timeout = { .tv_sec = seconds };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof (timeout));
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof (timeout));
}

static int
s_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq (fd, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (connect (fd, (struct sockaddr *) &address, sizeof (address)), 0,
                  "connect %d: %s", port, strerror (errno));
    s_timeouts (fd, 30);
    return fd;
}

static int
s_accept (int listener)
{
    int fd = accept (listener, NULL, NULL);
    cr_assert_geq (fd, 0, "accept: %s", strerror (errno));
    s_timeouts (fd, 30);
    return fd;
}

//  Write all of size bytes; false if the connection failed
static bool
s_write_all (int fd, const void *data, size_t size)
{
    const unsigned char *cursor = (const unsigned char *) data;
    while (size) {
        ssize_t done = send (fd, cursor, size, MSG_NOSIGNAL);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return false;
        cursor += done;
        size -= (size_t) done;
    }
    return true;
}

//  Read until the end of input (or an error: then errno is set and the
//  result is -1); digest and count what came.
static ssize_t
s_read_to_end (int fd, unsigned char digest [32])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    unsigned char buffer [65536];
    ssize_t total = 0;
    while (true) {
        ssize_t got = recv (fd, buffer, sizeof (buffer), 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        crypto_generichash_update (&state, buffer, (size_t) got);
        total += got;
    }
    crypto_generichash_final (&state, digest, 32);
    return total;
}

static void
s_digest (const unsigned char *data, size_t size, unsigned char digest [32])
{
    crypto_generichash (digest, 32, data, size, NULL, 0);
}

//  A listening socket at facility A, and a tunnel to it
static int
s_tunnel_to_listener (s_tunnel_t *tunnel, gateways_t *gateways, const char *name, const char *extra)
{
    int port = 0;
    int listener = s_listen (&port);
    char target [64];
    snprintf (target, sizeof (target), "127.0.0.1:%d", port);
    s_tunnel_start (tunnel, gateways, name, target, extra);
    return listener;
}

//  An echo server's connection: what comes in goes back; the end of input
//  becomes the end of output (a half-close), then the socket closes.
static void *
s_echo (void *args)
{
    int fd = (int) (intptr_t) args;
    unsigned char buffer [65536];
    while (true) {
        ssize_t got = recv (fd, buffer, sizeof (buffer), 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (!s_write_all (fd, buffer, (size_t) got))
            break;
    }
    shutdown (fd, SHUT_WR);
    close (fd);
    return NULL;
}

typedef struct {
    int listener;
    int connections;            //  Accept this many, an echo thread each
    pthread_t thread;
} s_echo_server_t;

static void *
s_echo_server_run (void *args)
{
    s_echo_server_t *self = (s_echo_server_t *) args;
    int index;
    for (index = 0; index < self->connections; index++) {
        int fd = accept (self->listener, NULL, NULL);
        if (fd < 0)
            break;
        pthread_t thread;
        pthread_create (&thread, NULL, s_echo, (void *) (intptr_t) fd);
        pthread_detach (thread);
    }
    return NULL;
}


//  --------------------------------------------------------------------------
//  Real programs through the tunnel

//  iperf3 -s for one test, on a port of this process's own (it cannot say
//  which port the kernel gave it): the next one if something outside the
//  tests holds it. Returns its pid; its port in port.
static pid_t
s_iperf3_server (const char *out, const char *err, int *port)
{
    int attempt;
    for (attempt = 0; attempt < 10; attempt++) {
        *port = support_ports (1);
        cr_assert_gt (*port, 0, "no port for iperf3 -s");
        char port_text [16];
        snprintf (port_text, sizeof (port_text), "%d", *port);
        char *argv [] = { SSTREAM_TEST_IPERF3, "-s", "-1", "--forceflush", "-B", "127.0.0.1",
                          "-p", port_text, NULL };
        pid_t pid = support_spawn (argv, NULL, out, err);
        if (support_wait_for_output (pid, out, "Server listening", 60000))
            return pid;
        support_wait (pid, 10000);
        fprintf (stderr, "iperf3 -s on port %d: %s", *port, support_read_file (err));
    }
    cr_assert_fail ("iperf3 -s did not start on any of 10 ports");
    return -1;
}

Test (tunnel, iperf3_runs_through_the_tunnel_both_ways)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    const char *directions [] = { "forward", "reverse" };
    int index;
    for (index = 0; index < 2; index++) {
        //  A server and a tunnel of their own each time: a stale "Server
        //  listening" would send the client off before the server is there
        char name [64];
        snprintf (name, sizeof (name), "iperf-server-%d.out", index);
        char *server_out = s_path (name);
        snprintf (name, sizeof (name), "iperf-server-%d.err", index);
        char *server_err = s_path (name);
        snprintf (name, sizeof (name), "iperf-client-%d.json", index);
        char *client_out = s_path (name);
        snprintf (name, sizeof (name), "iperf-client-%d.err", index);
        char *client_err = s_path (name);
        int server_port;
        pid_t server = s_iperf3_server (server_out, server_err, &server_port);
        char target [64];
        snprintf (target, sizeof (target), "127.0.0.1:%d", server_port);
        s_tunnel_t tunnel;
        snprintf (name, sizeof (name), "iperf-%s", directions [index]);
        s_tunnel_start (&tunnel, &gateways, name, target, NULL);
        char tunnel_port [16];
        snprintf (tunnel_port, sizeof (tunnel_port), "%d", tunnel.port);
        //  Four parallel connections, each its own through the tunnel
        char *client_argv [] = { SSTREAM_TEST_IPERF3, "-c", "127.0.0.1", "-p", tunnel_port, "-t", "2",
                                 "-P", "4", "-J", index? "-R": NULL, NULL };
        pid_t client = support_spawn (client_argv, NULL, client_out, client_err);
        cr_assert_eq (support_wait (client, 60000), 0, "iperf3 -c failed: %s %s",
                      support_read_file (client_out), support_read_file (client_err));
        char *json = support_read_file (client_out);
        int status = support_wait (server, 30000);
        cr_assert_eq (status, 0, "iperf3 -s exited %d: %s %s\nclient: %.1500s", status,
                      support_read_file (server_out), support_read_file (server_err), json);
        const char *error = strstr (json, "\"error\"");
        cr_assert_null (error, "iperf3 -c: %.500s\nserver: %s", error, support_read_file (server_out));
        const char *sum = strstr (json, "\"sum_received\"");
        cr_assert_not_null (sum, "%s", json);
        const char *bytes = strstr (sum, "\"bytes\":");
        const char *rate = strstr (sum, "\"bits_per_second\":");
        cr_assert (bytes && rate);
        double received = atof (bytes + strlen ("\"bytes\":"));
        double bits = atof (rate + strlen ("\"bits_per_second\":"));
        cr_assert_gt (received, 1e6, "iperf3 moved %.0f bytes", received);
        fprintf (stderr, "iperf3 %s through the tunnel, 4 connections: %.2f Gbit/s (%.0f bytes)\n",
                 directions [index], bits / 1e9, received);
        s_tunnel_stop (&tunnel);
        free (json);
        free (server_out);
        free (server_err);
        free (client_out);
        free (client_err);
    }
    gateways_stop (&gateways);
}

Test (tunnel, socat_moves_256_MiB_byte_exact)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    const size_t size = 256u << 20;
    char *input = s_path ("input.bin"), *output = s_path ("output.bin");
    FILE *file = fopen (input, "wb");
    cr_assert_not_null (file);
    unsigned char *chunk = malloc (1 << 20);
    unsigned char sent [32], received [32];
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    size_t offset;
    for (offset = 0; offset < size; offset += 1 << 20) {
        support_fill (chunk, offset, 1 << 20);
        crypto_generichash_update (&state, chunk, 1 << 20);
        cr_assert_eq (fwrite (chunk, 1, 1 << 20, file), 1u << 20);
    }
    crypto_generichash_final (&state, sent, 32);
    fclose (file);
    free (chunk);

    //  The server listens on a port the kernel picks, and says which (-d -d)
    char target [64], listen_spec [] = "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr";
    char open_spec [700], connect_spec [128], file_spec [700];
    snprintf (open_spec, sizeof (open_spec), "OPEN:%s,creat,trunc", output);
    char *server_err = s_path ("socat-server.err");
    char *server_argv [] = { SSTREAM_TEST_SOCAT, "-d", "-d", "-u", listen_spec, open_spec, NULL };
    pid_t server = support_spawn (server_argv, NULL, NULL, server_err);
    const char *listening = "listening on AF=2 127.0.0.1:";
    cr_assert (support_wait_for_output (server, server_err, listening, 60000), "socat did not listen: %s",
               support_read_file (server_err));
    char *said = support_read_file (server_err);
    snprintf (target, sizeof (target), "127.0.0.1:%d", atoi (strstr (said, listening) + strlen (listening)));
    free (said);
    s_tunnel_t tunnel;
    s_tunnel_start (&tunnel, &gateways, "socat", target, NULL);
    snprintf (connect_spec, sizeof (connect_spec), "TCP:127.0.0.1:%d", tunnel.port);
    snprintf (file_spec, sizeof (file_spec), "OPEN:%s,rdonly", input);
    char *client_argv [] = { SSTREAM_TEST_SOCAT, "-u", file_spec, connect_spec, NULL };
    double started = s_now ();
    pid_t client = support_spawn (client_argv, NULL, NULL, NULL);
    cr_assert_eq (support_wait (client, 120000), 0, "socat client failed");
    //  The server's socat ends when the half-close reaches it, after the
    //  last byte
    cr_assert_eq (support_wait (server, 60000), 0, "socat server failed: %s", support_read_file (server_err));
    double seconds = s_now () - started;
    file = fopen (output, "rb");
    cr_assert_not_null (file);
    unsigned char buffer [65536];
    crypto_generichash_init (&state, NULL, 0, 32);
    size_t got, total = 0;
    while ((got = fread (buffer, 1, sizeof (buffer), file)) > 0) {
        crypto_generichash_update (&state, buffer, got);
        total += got;
    }
    fclose (file);
    crypto_generichash_final (&state, received, 32);
    cr_assert_eq (total, size, "received %zu bytes of %zu", total, size);
    cr_assert_arr_eq (sent, received, 32, "the digests differ");
    fprintf (stderr, "socat: 256 MiB through the tunnel in %.2f s (%.2f GB/s), digests equal\n",
             seconds, size / seconds / 1e9);

    //  The outbound session counted what it carried
    char *json = s_path ("status.json"), *err = s_path ("status.err");
    cr_assert_eq (gateways_pipe_run (NULL, json, err, "status", gateways.control_b, "--json",
                                     "-k", gateways.operator_key, "-g", gateways.gateway_b_pub, NULL), 0,
                  "%s", support_read_file (err));
    char *text = support_read_file (json);
    const char *bytes_in = strstr (text, "\"bytes_in\": ");
    cr_assert_not_null (bytes_in, "%s", text);
    cr_assert_geq (strtoull (bytes_in + strlen ("\"bytes_in\": "), NULL, 10), size, "%s", text);
    cr_assert (strstr (text, "\"name\": \"socat\""), "%s", text);
    free (text);
    s_tunnel_stop (&tunnel);
    gateways_stop (&gateways);
    free (input);
    free (output);
    free (server_err);
    free (json);
    free (err);
}

Test (tunnel, an_unmodified_zeromq_pub_sub_pair_runs_through_the_tunnel)
{
#ifndef SSTREAM_TEST_PYTHON
    cr_skip_test ("configured without the Python tests (SSTREAM_PYTHON_TESTS=OFF): no pyzmq");
#else
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    char script [600];
    snprintf (script, sizeof (script), "%s/test/tools/zmq_pubsub.py", SSTREAM_SOURCE_DIR);
    char *pub_out = s_path ("pub.out"), *pub_err = s_path ("pub.err");
    char *sub_out = s_path ("sub.out"), *sub_err = s_path ("sub.err");
    //  The publisher binds a port the kernel picks, and says which
    char *pub_argv [] = { SSTREAM_TEST_PYTHON, script, "pub", "tcp://127.0.0.1:*", NULL };
    pid_t publisher = support_spawn (pub_argv, NULL, pub_out, pub_err);
    const char *bound = "bound tcp://127.0.0.1:";
    cr_assert (support_wait_for_output (publisher, pub_out, bound, 60000), "the publisher did not bind: %s",
               support_read_file (pub_err));
    char *said = support_read_file (pub_out);
    char target [64], connect_endpoint [64];
    snprintf (target, sizeof (target), "127.0.0.1:%d", atoi (strstr (said, bound) + strlen (bound)));
    free (said);
    s_tunnel_t tunnel;
    s_tunnel_start (&tunnel, &gateways, "zmq", target, NULL);
    snprintf (connect_endpoint, sizeof (connect_endpoint), "tcp://127.0.0.1:%d", tunnel.port);
    char *sub_argv [] = { SSTREAM_TEST_PYTHON, script, "sub", connect_endpoint, "20000", NULL };
    pid_t subscriber = support_spawn (sub_argv, NULL, sub_out, sub_err);
    int status = support_wait (subscriber, 90000);
    kill (publisher, SIGKILL);
    support_wait (publisher, 5000);
    cr_assert_eq (status, 0, "the subscriber failed (%d): %s %s; publisher: %s", status,
                  support_read_file (sub_out), support_read_file (sub_err), support_read_file (pub_err));
    said = support_read_file (sub_out);
    cr_assert (strstr (said, "received 20000 messages"), "%s", said);
    fprintf (stderr, "pyzmq PUB/SUB through the tunnel: %s", said);
    free (said);
    s_tunnel_stop (&tunnel);
    gateways_stop (&gateways);
    free (pub_out);
    free (pub_err);
    free (sub_out);
    free (sub_err);
#endif
}


//  --------------------------------------------------------------------------
//  TCP semantics

Test (tunnel, half_closes_pass_through_both_ways)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    s_tunnel_t tunnel;
    int listener = s_tunnel_to_listener (&tunnel, &gateways, "halfclose", NULL);

    //  Client half-closes: the server reads to the end, then answers on
    //  the same connection, and the client reads the answer
    const size_t size = 3u << 20;
    unsigned char *data = malloc (size), digest [32], echoed [32];
    support_fill (data, 7, size);
    s_digest (data, size, digest);
    int client = s_connect (tunnel.port);
    int server = s_accept (listener);
    cr_assert (s_write_all (client, data, size));
    cr_assert_eq (shutdown (client, SHUT_WR), 0);
    unsigned char got_digest [32];
    cr_assert_eq (s_read_to_end (server, got_digest), (ssize_t) size,
                  "the server did not see the client's end of input after all the data");
    cr_assert_arr_eq (got_digest, digest, 32);
    const char answer [] = "all of it, thanks";
    cr_assert (s_write_all (server, answer, sizeof (answer)), "the server cannot answer after the half-close");
    close (server);
    cr_assert_eq (s_read_to_end (client, echoed), (ssize_t) sizeof (answer),
                  "the client did not get the answer sent after its half-close");
    s_digest ((const unsigned char *) answer, sizeof (answer), got_digest);
    cr_assert_arr_eq (echoed, got_digest, 32);
    close (client);

    //  Server half-closes first: the client reads to the end, then sends
    client = s_connect (tunnel.port);
    server = s_accept (listener);
    cr_assert (s_write_all (server, data, size));
    cr_assert_eq (shutdown (server, SHUT_WR), 0);
    cr_assert_eq (s_read_to_end (client, got_digest), (ssize_t) size);
    cr_assert_arr_eq (got_digest, digest, 32);
    cr_assert (s_write_all (client, answer, sizeof (answer)));
    close (client);
    cr_assert_eq (s_read_to_end (server, echoed), (ssize_t) sizeof (answer));
    close (server);

    close (listener);
    free (data);
    s_tunnel_stop (&tunnel);
    gateways_stop (&gateways);
}

//  Reset with SO_LINGER 0: the far side must see ECONNRESET, not an end
static void
s_reset (int fd)
{
    struct linger linger = { 1, 0 };
    setsockopt (fd, SOL_SOCKET, SO_LINGER, &linger, sizeof (linger));
    close (fd);
}

static int
s_read_error (int fd)
{
    unsigned char buffer [4096];
    while (true) {
        ssize_t got = recv (fd, buffer, sizeof (buffer), 0);
        if (got > 0)
            continue;
        if (got < 0 && errno == EINTR)
            continue;
        return got == 0? 0: errno;
    }
}

Test (tunnel, resets_pass_through_and_leave_other_connections_alone)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    s_tunnel_t tunnel;
    int listener = s_tunnel_to_listener (&tunnel, &gateways, "resets", NULL);

    //  Eight connections at once
    enum { CONNECTIONS = 8 };
    int clients [CONNECTIONS], servers [CONNECTIONS];
    int index;
    for (index = 0; index < CONNECTIONS; index++) {
        clients [index] = s_connect (tunnel.port);
        cr_assert (s_write_all (clients [index], "hello", 5));
        servers [index] = s_accept (listener);
        char hello [5];
        cr_assert_eq (recv (servers [index], hello, 5, MSG_WAITALL), 5);
    }
    //  The server resets connection 0: its client sees a reset
    s_reset (servers [0]);
    int error = s_read_error (clients [0]);
    cr_assert_eq (error, ECONNRESET, "the client saw %s, not a reset", error? strerror (error): "an end");
    close (clients [0]);
    //  Client 1 resets: its server sees a reset
    s_reset (clients [1]);
    error = s_read_error (servers [1]);
    cr_assert_eq (error, ECONNRESET, "the server saw %s, not a reset", error? strerror (error): "an end");
    close (servers [1]);
    //  The other six still carry data both ways, each its own
    const size_t size = 1u << 20;
    unsigned char *data = malloc (size);
    for (index = 2; index < CONNECTIONS; index++) {
        support_fill (data, (uint64_t) index * 1000, size);
        unsigned char digest [32], got [32];
        s_digest (data, size, digest);
        cr_assert (s_write_all (clients [index], data, size));
        shutdown (clients [index], SHUT_WR);
        cr_assert_eq (s_read_to_end (servers [index], got), (ssize_t) size, "connection %d", index);
        cr_assert_arr_eq (got, digest, 32, "connection %d", index);
        cr_assert (s_write_all (servers [index], data, size));
        close (servers [index]);
        cr_assert_eq (s_read_to_end (clients [index], got), (ssize_t) size, "connection %d", index);
        cr_assert_arr_eq (got, digest, 32, "connection %d", index);
        close (clients [index]);
    }
    free (data);
    close (listener);
    s_tunnel_stop (&tunnel);
    gateways_stop (&gateways);
}

Test (tunnel, many_concurrent_connections_each_get_their_own_bytes)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    enum { CONNECTIONS = 32 };
    s_tunnel_t tunnel;
    s_echo_server_t echo = { .connections = CONNECTIONS };
    echo.listener = s_tunnel_to_listener (&tunnel, &gateways, "echo", NULL);
    pthread_create (&echo.thread, NULL, s_echo_server_run, &echo);
    //  All open at once; each writes its own bytes, then reads them back
    int clients [CONNECTIONS];
    int index;
    for (index = 0; index < CONNECTIONS; index++)
        clients [index] = s_connect (tunnel.port);
    const size_t size = 256u << 10;
    unsigned char *data = malloc (size), *back = malloc (size);
    for (index = 0; index < CONNECTIONS; index++) {
        support_fill (data, (uint64_t) index << 32, size);
        cr_assert (s_write_all (clients [index], data, size));
    }
    for (index = 0; index < CONNECTIONS; index++) {
        support_fill (data, (uint64_t) index << 32, size);
        cr_assert_eq (recv (clients [index], back, size, MSG_WAITALL), (ssize_t) size, "connection %d", index);
        cr_assert_arr_eq (back, data, size, "connection %d got another's bytes", index);
        shutdown (clients [index], SHUT_WR);
        unsigned char digest [32];
        cr_assert_eq (s_read_to_end (clients [index], digest), 0, "connection %d", index);
        close (clients [index]);
    }
    pthread_join (echo.thread, NULL);
    close (echo.listener);
    free (data);
    free (back);
    s_tunnel_stop (&tunnel);
    gateways_stop (&gateways);
}

Test (tunnel, a_target_that_refuses_resets_the_connection_and_the_session_stays)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    //  Bound and not listening: connections to it are refused
    int port;
    int refusing = support_refused_port (&port);
    cr_assert_geq (refusing, 0);
    char target [64];
    snprintf (target, sizeof (target), "127.0.0.1:%d", port);
    s_tunnel_t tunnel;
    s_tunnel_start (&tunnel, &gateways, "nobody", target, NULL);
    int attempt;
    for (attempt = 0; attempt < 3; attempt++) {
        int client = s_connect (tunnel.port);
        double started = s_now ();
        int error = s_read_error (client);
        cr_assert_eq (error, ECONNRESET, "attempt %d: the client saw %s, not a reset", attempt,
                      error? strerror (error): "an end");
        cr_assert_lt (s_now () - started, 10.0);
        close (client);
    }
    //  The tunnel command is still holding both sessions
    cr_assert_eq (kill (tunnel.pid, 0), 0, "the tunnel command ended");
    s_tunnel_stop (&tunnel);
    gateways_stop (&gateways);
    close (refusing);
}

Test (tunnel, the_rate_limit_is_enforced)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    s_tunnel_t tunnel;
    const double rate = 2e6;
    int listener = s_tunnel_to_listener (&tunnel, &gateways, "limited", "--rate=2M");
    const size_t size = 8000000;
    unsigned char *data = malloc (size), digest [32], got [32];
    support_fill (data, 0, size);
    s_digest (data, size, digest);
    int client = s_connect (tunnel.port);
    int server = s_accept (listener);
    double started = s_now ();
    cr_assert (s_write_all (client, data, size));
    shutdown (client, SHUT_WR);
    cr_assert_eq (s_read_to_end (server, got), (ssize_t) size);
    double seconds = s_now () - started;
    cr_assert_arr_eq (got, digest, 32);
    //  A burst of a tenth of a second's worth may go at once; the rest at
    //  the rate, at most
    double least = (size - rate / 10) / rate;
    fprintf (stderr, "8 MB at --rate=2M took %.2f s (%.2f MB/s); at least %.2f s allowed\n",
             seconds, size / seconds / 1e6, least);
    cr_assert_geq (seconds, least * 0.95, "8 MB went through in %.2f s: faster than 2 MB/s", seconds);
    close (client);
    close (server);
    close (listener);
    free (data);
    s_tunnel_stop (&tunnel);
    gateways_stop (&gateways);
}

Test (tunnel, listening_ports_come_from_the_range_and_skip_ports_in_use)
{
    gateways_t gateways;
    gateways_options_t options = { .tunnel_ports = 3 };
    gateways_start (&gateways, support_folder, &options);
    //  Somebody else has the first port of B's range
    int taken = gateways.tunnel_low_b;
    int squatter = s_listen (&taken);
    char *out = s_path ("open.out"), *err = s_path ("open.err");
    int ports [2];
    int index;
    for (index = 0; index < 2; index++) {
        char name [16];
        snprintf (name, sizeof (name), "ranged-%d", index);
        cr_assert_eq (gateways_pipe_run (NULL, out, err, "open", gateways.control_b, name,
                                         "--role", "outbound", "-k", gateways.operator_key,
                                         "-g", gateways.gateway_b_pub, NULL), 0,
                      "%s", support_read_file (err));
        char *text = support_read_file (out);
        const char *at = strstr (text, "127.0.0.1:");
        cr_assert_not_null (at, "%s", text);
        ports [index] = atoi (at + strlen ("127.0.0.1:"));
        free (text);
        cr_assert (ports [index] > taken && ports [index] <= gateways.tunnel_low_b + 2,
                   "session %d listens on %d; the range is %d-%d and %d is taken", index,
                   ports [index], gateways.tunnel_low_b, gateways.tunnel_low_b + 2, taken);
    }
    cr_assert_neq (ports [0], ports [1]);
    //  The range is used up: a clear error
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "open", gateways.control_b, "ranged-2",
                                     "--role", "outbound", "-k", gateways.operator_key,
                                     "-g", gateways.gateway_b_pub, NULL), 1);
    char *said = support_read_file (err);
    cr_assert (strstr (said, "no free port"), "%s", said);
    cr_assert_eq (strchr (said, '\n'), said + strlen (said) - 1, "not one line: %s", said);
    free (said);
    close (squatter);
    free (out);
    free (err);
    gateways_stop (&gateways);
}

Test (tunnel, connections_beyond_the_limit_are_refused_and_the_others_carry_on)
{
    gateways_t gateways;
    gateways_options_t options = { .extra_b = { "tunnels/max-connections=2" } };
    gateways_start (&gateways, support_folder, &options);
    s_tunnel_t tunnel;
    int listener = s_tunnel_to_listener (&tunnel, &gateways, "limit", NULL);
    int clients [2], servers [2];
    int index;
    for (index = 0; index < 2; index++) {
        clients [index] = s_connect (tunnel.port);
        cr_assert (s_write_all (clients [index], "hi", 2));
        servers [index] = s_accept (listener);
    }
    int third = s_connect (tunnel.port);
    int error = s_read_error (third);
    cr_assert_eq (error, ECONNRESET, "the third connection saw %s, not a reset",
                  error? strerror (error): "an end");
    close (third);
    for (index = 0; index < 2; index++) {
        char got [2];
        cr_assert_eq (recv (servers [index], got, 2, MSG_WAITALL), 2);
        cr_assert (s_write_all (servers [index], "ok", 2));
        cr_assert_eq (recv (clients [index], got, 2, MSG_WAITALL), 2);
        close (clients [index]);
        close (servers [index]);
    }
    close (listener);
    s_tunnel_stop (&tunnel);
    gateways_stop (&gateways);
}
