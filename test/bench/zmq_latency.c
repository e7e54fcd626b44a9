/*  =========================================================================
    zmq_latency - what libzmq itself costs in one-way latency through two
    relays, every party its own process: the bound under sstream's own
    latency figure on the same machine

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    PUSH (sender) -> PULL|PUSH (relay) -> PULL|PUSH (relay) -> PULL
    (receiver), tcp on loopback, security none, as anchors.sh's zmq_relay2
    but paced: COUNT messages of SIZE bytes at RATE per second, each
    carrying the CLOCK_MONOTONIC time it was sent at. Every socket binds
    tcp://127.0.0.1:* and hands its real endpoint to the process that
    connects to it over a pipe: no port is borrowed.

    Usage: zmq_latency COUNT SIZE RATE
    Prints one JSON line: p50, p99, p99.9 and max in microseconds, from
    the moment each message was handed to libzmq. A sender that fell
    behind its schedule by over 1 ms says so on standard error.
*/

#include <zmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static int64_t
s_now_ns (void)
{
    struct timespec t;
    clock_gettime (CLOCK_MONOTONIC, &t);
    return (int64_t) t.tv_sec * 1000000000 + t.tv_nsec;
}

//  Bind sock to tcp://127.0.0.1:* and write the real endpoint into out.
static int
s_bind_any (void *sock, char *out, size_t size)
{
    if (zmq_bind (sock, "tcp://127.0.0.1:*"))
        return -1;
    return zmq_getsockopt (sock, ZMQ_LAST_ENDPOINT, out, &size);
}

static int
s_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

//  A relay: binds its PULL, says where on report, connects to next.
static void
s_relay (const char *next, int report, long count)
{
    void *ctx = zmq_ctx_new ();
    void *in = zmq_socket (ctx, ZMQ_PULL), *out = zmq_socket (ctx, ZMQ_PUSH);
    char endpoint [256] = "";
    if (s_bind_any (in, endpoint, sizeof (endpoint)) || zmq_connect (out, next)) {
        fprintf (stderr, "zmq_latency: relay: %s\n", zmq_strerror (zmq_errno ()));
        exit (1);
    }
    if (write (report, endpoint, sizeof (endpoint)) != (ssize_t) sizeof (endpoint))
        exit (1);
    close (report);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    for (long i = 0; i < count; i++) {
        zmq_msg_recv (&msg, in, 0);
        zmq_msg_send (&msg, out, 0);
    }
    zmq_msg_close (&msg);
    zmq_close (in);
    zmq_close (out);
    zmq_ctx_term (ctx);
    exit (0);
}

//  Fork a relay that sends to next; its own endpoint goes into endpoint.
static void
s_start_relay (const char *next, char *endpoint, long count)
{
    int fds [2];
    if (pipe (fds))
        exit (1);
    if (fork () == 0) {
        close (fds [0]);
        s_relay (next, fds [1], count);
    }
    close (fds [1]);
    if (read (fds [0], endpoint, 256) != 256) {
        fprintf (stderr, "zmq_latency: a relay did not start\n");
        exit (1);
    }
    close (fds [0]);
}

int
main (int argc, char **argv)
{
    if (argc != 4 || atol (argv [1]) < 2 || atol (argv [2]) < 8 || atol (argv [3]) < 1) {
        fprintf (stderr, "usage: zmq_latency COUNT SIZE RATE  (COUNT >= 2, SIZE >= 8)\n");
        return 2;
    }
    long count = atol (argv [1]);
    size_t size = (size_t) atol (argv [2]);
    long rate = atol (argv [3]);

    void *ctx = zmq_ctx_new ();
    void *in = zmq_socket (ctx, ZMQ_PULL);
    char last [256], second [256], first [256];
    if (s_bind_any (in, last, sizeof (last))) {
        fprintf (stderr, "zmq_latency: %s\n", zmq_strerror (zmq_errno ()));
        return 1;
    }
    s_start_relay (last, second, count);
    s_start_relay (second, first, count);
    if (fork () == 0) {
        void *sctx = zmq_ctx_new ();
        void *out = zmq_socket (sctx, ZMQ_PUSH);
        zmq_connect (out, first);
        char *buffer = calloc (1, size);
        long late = 0;
        int64_t start = s_now_ns () + 200 * 1000000LL;     //  Let the path connect
        int64_t interval = 1000000000LL / rate;
        for (long i = 0; i < count; i++) {
            int64_t due = start + i * interval, now;
            while ((now = s_now_ns ()) < due)
                if (due - now > 50000)
                    usleep ((useconds_t) ((due - now) / 1000 - 20));
            if (now - due > 1000000)
                late++;
            memcpy (buffer, &now, sizeof (now));
            zmq_send (out, buffer, size, 0);
        }
        zmq_close (out);
        zmq_ctx_term (sctx);
        free (buffer);
        if (late)
            fprintf (stderr, "zmq_latency: %ld messages sent over 1 ms late\n", late);
        exit (0);
    }
    int64_t *latency = malloc (count * sizeof (int64_t));
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    for (long i = 0; i < count; i++) {
        zmq_msg_recv (&msg, in, 0);
        int64_t sent;
        memcpy (&sent, zmq_msg_data (&msg), sizeof (sent));
        latency [i] = s_now_ns () - sent;
    }
    zmq_msg_close (&msg);
    qsort (latency, (size_t) count, sizeof (int64_t), s_compare);
    printf ("{\"anchor\": \"zmq_relay2_latency\", \"msg_size\": %zu, \"rate\": %ld, "
            "\"p50_us\": %.0f, \"p99_us\": %.0f, \"p999_us\": %.0f, \"max_us\": %.0f}\n",
            size, rate, latency [count / 2] / 1e3, latency [count * 99 / 100] / 1e3,
            latency [count * 999 / 1000] / 1e3, latency [count - 1] / 1e3);
    free (latency);
    zmq_close (in);
    zmq_ctx_term (ctx);
    while (wait (NULL) > 0)
        ;
    return 0;
}
