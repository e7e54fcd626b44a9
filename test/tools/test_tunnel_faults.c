/*  =========================================================================
    test_tunnel_faults - tunnels on gateway processes when something is
    wrong: connections that arrive while the peer gateway is down

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE
#include "support.h"
#include "gateways.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

TestSuite (tunnel_faults, .init = support_fixture_setup, .fini = support_fixture_teardown, .timeout = 240);

static char *
s_path (const char *name)
{
    char *path;
    cr_assert (asprintf (&path, "%s/%s", support_folder, name) > 0);
    return path;
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
    struct timeval timeout = { .tv_sec = 30 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof (timeout));
    return fd;
}

//  Read until the end or an error: 0 for an end, else errno
static int
s_read_error (int fd)
{
    unsigned char buffer [4096];
    while (true) {
        ssize_t got = recv (fd, buffer, sizeof (buffer), 0);
        if (got > 0 || (got < 0 && errno == EINTR))
            continue;
        return got == 0? 0: errno;
    }
}

//  Open a session with sstream-pipe open on a gateway's control link;
//  an outbound one's port comes back.
static int
s_open (gateways_t *gateways, char which, const char *name, const char *target)
{
    char *out = s_path ("open.out"), *err = s_path ("open.err");
    const char *control = which == 'a'? gateways->control_a: gateways->control_b;
    const char *key = which == 'a'? gateways->gateway_a_pub: gateways->gateway_b_pub;
    int rc = target
        ? gateways_pipe_run (NULL, out, err, "open", control, name, "--role", "inbound",
                             "--target", target, "-k", gateways->operator_key, "-g", key, NULL)
        : gateways_pipe_run (NULL, out, err, "open", control, name, "--role", "outbound",
                             "-k", gateways->operator_key, "-g", key, NULL);
    cr_assert_eq (rc, 0, "open %s on %c: %s", name, which, support_read_file (err));
    int port = 0;
    if (!target) {
        char *text = support_read_file (out);
        const char *at = strstr (text, "127.0.0.1:");
        cr_assert_not_null (at, "%s", text);
        port = atoi (at + strlen ("127.0.0.1:"));
        free (text);
    }
    free (out);
    free (err);
    return port;
}

//  A connection to the outbound port of a gateway whose peer is down is
//  reset at once, and the gateway carries on
static void
s_expect_reset (pid_t gateway, int port, const char *when)
{
    int client = s_connect (port);
    int error = s_read_error (client);
    cr_assert_eq (error, ECONNRESET, "%s: the client saw %s, not a reset", when,
                  error? strerror (error): "an end");
    close (client);
    cr_assert_not (support_ended (gateway), "%s: the gateway ended", when);
}

//  which: the gateway with the outbound end (listening); its peer has the
//  inbound end and is stopped
static void
s_peer_down (char which)
{
    gateways_t gateways;
    gateways_start (&gateways, support_folder, NULL);
    int port = 0, listener = support_refused_port (&port);
    cr_assert_geq (listener, 0);
    char target [64];
    snprintf (target, sizeof (target), "127.0.0.1:%d", port);
    char other = which == 'a'? 'b': 'a';
    s_open (&gateways, other, "lonely", target);
    int outbound = s_open (&gateways, which, "lonely", NULL);
    pid_t *peer = other == 'a'? &gateways.a: &gateways.b;
    pid_t gateway = which == 'a'? gateways.a: gateways.b;
    kill (*peer, SIGTERM);
    cr_assert_eq (support_wait (*peer, 60000), 0, "the peer did not stop cleanly");
    *peer = 0;
    //  At once, whether or not the gateway has noticed yet
    s_expect_reset (gateway, outbound, "just after the peer stopped");
    //  And once it has given the peer up: each reset, with a line that says why
    char err [600];
    snprintf (err, sizeof (err), "%s/gateway-%c.err", support_folder, which);
    cr_assert (support_wait_for_text (err, "lost peer", 60000), "%s", support_read_file (err));
    int attempt;
    for (attempt = 0; attempt < 3; attempt++)
        s_expect_reset (gateway, outbound, "with the peer down");
    const char *said = "tunnel 'lonely' reset a new connection: the peer gateway is not connected";
    cr_assert (support_wait_for_text (err, said, 10000), "%s", support_read_file (err));
    close (listener);
    gateways_stop (&gateways);
}

Test (tunnel_faults, a_connection_while_the_binding_peer_is_down_is_reset)
{
    s_peer_down ('b');
}

Test (tunnel_faults, a_connection_while_the_connecting_peer_is_down_is_reset)
{
    s_peer_down ('a');
}
