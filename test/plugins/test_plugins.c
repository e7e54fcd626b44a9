/*  =========================================================================
    test_plugins - finding and loading transport plugins, what the tcp and
    ipc plugins check, and their bulk path (transport ABI 2)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The bulk tests drive both ends of a connection from one thread, as the
    core's poll loop would: poll what bulk_poll asks for, progress what is
    ready. A plugin that asks for the wrong events stalls, and every wait
    ends at a deadline that fails the test.
*/

#include "sstream_common.h"
#include "support.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

Test (plugins, tcp_and_ipc_are_found_by_scheme)
{
    const sstream_transport_t *transport;
    cr_assert_eq (sstream_plugins_find ("tcp://127.0.0.1:7001", NULL, &transport), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    cr_assert_str_eq (transport->name, "tcp");
    cr_assert_eq (transport->abi_version, SSTREAM_TRANSPORT_ABI_VERSION);
    const sstream_transport_t *again;
    cr_assert_eq (sstream_plugins_load ("tcp", &again), SSTREAM_OK);
    cr_assert_eq (again, transport, "a plugin is loaded once per process");
    cr_assert_eq (sstream_plugins_find ("ipc:///tmp/x.sock", NULL, &transport), SSTREAM_OK);
    cr_assert_str_eq (transport->name, "ipc");
    //  An explicit transport must serve the scheme
    cr_assert_eq (sstream_plugins_find ("ipc:///tmp/x.sock", "tcp", &transport), SSTREAM_EPLUGIN);
    cr_assert (strstr (sstream_errmsg (), "does not serve ipc://"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_plugins_find ("127.0.0.1:7001", NULL, &transport), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "has no scheme"), "%s", sstream_errmsg ());
}

Test (plugins, missing_plugin_names_where_it_looked)
{
    setenv ("SSTREAM_PLUGIN_PATH", "/nonexistent/one:/nonexistent/two", 1);
    const sstream_transport_t *transport = (void *) 1;
    cr_assert_eq (sstream_plugins_load ("rdma", &transport), SSTREAM_EPLUGIN);
    cr_assert_null (transport);
    const char *said = sstream_errmsg ();
    cr_assert (strstr (said, "no transport plugin 'rdma'"), "%s", said);
    cr_assert (strstr (said, "sstream-transport-rdma.so"), "%s", said);
    //  In search order: SSTREAM_PLUGIN_PATH, install folder, build tree
    const char *one = strstr (said, "/nonexistent/one");
    const char *two = strstr (said, "/nonexistent/two");
    const char *install = strstr (said, SSTREAM_PLUGIN_INSTALL_DIR);
    cr_assert (one && two && install && one < two && two < install, "%s", said);
    cr_assert (strstr (said, "SSTREAM_PLUGIN_PATH"), "%s", said);
    cr_assert_eq (sstream_plugins_load ("../etc", &transport), SSTREAM_EPLUGIN);
    cr_assert (strstr (sstream_errmsg (), "not a transport name"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_plugins_find ("nothere://x", NULL, &transport), SSTREAM_EPLUGIN);
}

Test (plugins, a_file_that_is_not_a_plugin_is_refused)
{
    setenv ("SSTREAM_PLUGIN_PATH", SSTREAM_TEST_FIXTURES, 1);
    const sstream_transport_t *transport;
    cr_assert_eq (sstream_plugins_load ("garbage", &transport), SSTREAM_EPLUGIN);
    cr_assert (strstr (sstream_errmsg (), "sstream-transport-garbage.so cannot be loaded"),
               "%s", sstream_errmsg ());
    cr_assert_eq (sstream_plugins_load ("noentry", &transport), SSTREAM_EPLUGIN);
    cr_assert (strstr (sstream_errmsg (), "is not an sstream transport plugin"),
               "%s", sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "sstream_transport_plugin"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_plugins_load ("wrongname", &transport), SSTREAM_EPLUGIN);
    cr_assert (strstr (sstream_errmsg (), "calls itself 'tcp', not 'wrongname'"),
               "%s", sstream_errmsg ());
}

Test (plugins, wrong_abi_version_is_refused)
{
    setenv ("SSTREAM_PLUGIN_PATH", SSTREAM_TEST_FIXTURES, 1);
    const sstream_transport_t *transport;
    cr_assert_eq (sstream_plugins_load ("badabi", &transport), SSTREAM_EPLUGIN);
    char expected [64];
    snprintf (expected, sizeof (expected), "transport ABI %d", SSTREAM_TRANSPORT_ABI_VERSION + 998);
    cr_assert (strstr (sstream_errmsg (), expected), "%s", sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "rebuild the plugin"), "%s", sstream_errmsg ());
}

Test (plugins, a_client_with_a_missing_plugin_fails_clearly)
{
    sstream_config_t *options;
    sstream_config_new (&options);
    sstream_config_set (options, "client/security", "none");
    //  Unsealed: a sealing producer would stop first for want of readers
    sstream_config_set (options, "client/payload", "hop");
    sstream_config_set (options, "client/transport", "rdma");
    sstream_producer_t *producer = NULL;
    cr_assert_eq (sstream_producer_new (&producer, "tcp://127.0.0.1:1", "s", options),
                  SSTREAM_EPLUGIN);
    cr_assert_null (producer);
    cr_assert (strstr (sstream_errmsg (), "no transport plugin 'rdma'"), "%s", sstream_errmsg ());
    sstream_config_destroy (&options);
}

static int
s_check (const char *name, const char *endpoint, int bind, const char *const *options,
         char *error, size_t size)
{
    const sstream_transport_t *transport;
    cr_assert_eq (sstream_plugins_load (name, &transport), SSTREAM_OK);
    static const char *s_none [] = { NULL };
    sstream_transport_link_t link = {
        .endpoint = endpoint, .bind = bind, .options = options? options: s_none,
        .error = error, .error_size = size
    };
    error [0] = 0;
    return transport->check (&link);
}

Test (plugins, tcp_checks_endpoints_and_options)
{
    char error [256];
    cr_assert_eq (s_check ("tcp", "tcp://127.0.0.1:7001", 0, NULL, error, sizeof (error)), 0, "%s", error);
    cr_assert_eq (s_check ("tcp", "tcp://*:*", 1, NULL, error, sizeof (error)), 0, "%s", error);
    cr_assert_eq (s_check ("tcp", "tcp://[::1]:7001", 0, NULL, error, sizeof (error)), 0, "%s", error);
    struct { const char *endpoint; int bind; const char *said; } bad [] = {
        { "tcp://127.0.0.1", 0, "needs a host and a port" },
        { "tcp://:7001", 0, "needs a host and a port" },
        { "tcp://host:70000", 0, "bad port" },
        { "tcp://host:http", 0, "bad port" },
        { "tcp://host:*", 0, "needs a real port" },
        { "tcp://*:7001", 0, "needs a host" },
        { "tcp://[::1:7001", 0, "closing ']'" },
    };
    size_t index;
    for (index = 0; index < sizeof (bad) / sizeof (bad [0]); index++) {
        cr_assert_eq (s_check ("tcp", bad [index].endpoint, bad [index].bind, NULL, error,
                               sizeof (error)), -1, "%s was taken", bad [index].endpoint);
        cr_assert (strstr (error, bad [index].said), "%s: '%s'", bad [index].endpoint, error);
    }
    const char *good_options [] = { "keepalive", "off", "sndbuf", "4MiB", "rcvbuf", "1M",
                                    "keepalive-idle", "60", "bulk-port", "0", NULL };
    cr_assert_eq (s_check ("tcp", "tcp://127.0.0.1:1", 0, good_options, error, sizeof (error)), 0, "%s", error);
    const char *unknown [] = { "nagle", "off", NULL };
    cr_assert_eq (s_check ("tcp", "tcp://127.0.0.1:1", 0, unknown, error, sizeof (error)), -1);
    cr_assert (strstr (error, "unknown tcp option 'nagle'"), "%s", error);
    const char *bad_size [] = { "sndbuf", "lots", NULL };
    cr_assert_eq (s_check ("tcp", "tcp://127.0.0.1:1", 0, bad_size, error, sizeof (error)), -1);
    const char *bad_switch [] = { "keepalive", "maybe", NULL };
    cr_assert_eq (s_check ("tcp", "tcp://127.0.0.1:1", 0, bad_switch, error, sizeof (error)), -1);
    const char *bad_port [] = { "bulk-port", "65536", NULL };
    cr_assert_eq (s_check ("tcp", "tcp://127.0.0.1:1", 0, bad_port, error, sizeof (error)), -1);
    cr_assert (strstr (error, "bulk-port is 0 to 65535, not '65536'"), "%s", error);
}

Test (plugins, tcp_refuses_to_connect_to_a_host_that_does_not_resolve)
{
    //  Only where the resolver here can say so (not if no name server answers)
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *found = NULL;
    int verdict = getaddrinfo ("no-such-host.invalid", NULL, &hints, &found);
    if (found)
        freeaddrinfo (found);
    if (verdict != EAI_NONAME)
        cr_skip_test ("the resolver says '%s' for no-such-host.invalid", gai_strerror (verdict));
    char error [256];
    const char *endpoints [] = { "tcp://no-such-host.invalid:7001",
                                 "tcp://[no-such-host.invalid]:7001",
                                 "tcp://127.0.0.1;no-such-host.invalid:7001" };
    size_t index;
    for (index = 0; index < sizeof (endpoints) / sizeof (endpoints [0]); index++) {
        cr_assert_eq (s_check ("tcp", endpoints [index], 0, NULL, error, sizeof (error)), -1,
                      "%s was taken", endpoints [index]);
        cr_assert (strstr (error, "cannot resolve host 'no-such-host.invalid'"), "%s", error);
    }
    //  Names that resolve, and a source address before the host
    cr_assert_eq (s_check ("tcp", "tcp://localhost:7001", 0, NULL, error, sizeof (error)), 0,
                  "%s", error);
    cr_assert_eq (s_check ("tcp", "tcp://127.0.0.1;127.0.0.1:7001", 0, NULL, error,
                           sizeof (error)), 0, "%s", error);
    //  A side that binds looks nothing up (libzmq takes interface names)
    cr_assert_eq (s_check ("tcp", "tcp://no-such-host.invalid:7001", 1, NULL, error,
                           sizeof (error)), 0, "%s", error);
}

Test (plugins, ipc_checks_paths_and_refuses_a_socket_in_use)
{
    char error [256];
    char *folder = support_scratch ();
    char endpoint [512];
    snprintf (endpoint, sizeof (endpoint), "ipc://%s/a.sock", folder);
    cr_assert_eq (s_check ("ipc", endpoint, 1, NULL, error, sizeof (error)), 0, "%s", error);

    //  Somebody serves it: a second bind would silently steal it from them
    zsock_t *server = zsock_new (ZMQ_ROUTER);
    cr_assert_eq (zsock_bind (server, "%s", endpoint), 0);
    cr_assert_eq (s_check ("ipc", endpoint, 1, NULL, error, sizeof (error)), -1);
    cr_assert (strstr (error, "in use by another process"), "%s", error);
    cr_assert_eq (s_check ("ipc", endpoint, 0, NULL, error, sizeof (error)), 0, "%s", error);
    zsock_destroy (&server);

    char longer [300];
    memset (longer, 'x', sizeof (longer));
    memcpy (longer, "ipc:///tmp/", 11);
    longer [sizeof (longer) - 1] = 0;
    cr_assert_eq (s_check ("ipc", longer, 1, NULL, error, sizeof (error)), -1);
    cr_assert (strstr (error, "over the system's limit"), "%s", error);
    cr_assert_eq (s_check ("ipc", "ipc:///nonexistent/folder/x.sock", 1, NULL, error,
                           sizeof (error)), -1);
    cr_assert (strstr (error, "does not exist"), "%s", error);
    cr_assert_eq (s_check ("ipc", "ipc://", 1, NULL, error, sizeof (error)), -1);
    //  The socket closes in libzmq's own thread, a moment after destroy
    const char *mode [] = { "mode", "0600", NULL };
    int rc = -1;
    double start = support_now ();
    while (rc != 0 && support_now () - start < 30) {
        usleep (10000);
        rc = s_check ("ipc", endpoint, 1, mode, error, sizeof (error));
    }
    cr_assert_eq (rc, 0, "%s", error);
    const char *bad_mode [] = { "mode", "rw-------", NULL };
    cr_assert_eq (s_check ("ipc", endpoint, 1, bad_mode, error, sizeof (error)), -1);
    support_rmtree (folder);
    free (folder);
}

Test (plugins, ipc_mode_is_applied_after_bind)
{
    char *folder = support_scratch ();
    char *config_text = NULL;
    char endpoint [512];
    snprintf (endpoint, sizeof (endpoint), "ipc://%s/gw.sock", folder);
    sstream_config_t *config;
    sstream_config_new (&config);
    sstream_config_set (config, "local/endpoint", endpoint);
    sstream_config_set (config, "local/security", "none");
    sstream_config_set (config, "local/ipc/mode", "0640");
    sstream_gateway_t *gateway;
    cr_assert_eq (sstream_gateway_new (&gateway, config), SSTREAM_OK, "%s", sstream_errmsg ());
    struct stat stat_buf;
    cr_assert_eq (stat (endpoint + 6, &stat_buf), 0);
    cr_assert_eq (stat_buf.st_mode & 0777, 0640);
    //  A second gateway on the same path is refused, not silently let in
    sstream_gateway_t *second = NULL;
    cr_assert_eq (sstream_gateway_new (&second, config), SSTREAM_EPLUGIN);
    cr_assert (strstr (sstream_errmsg (), "in use by another process"), "%s", sstream_errmsg ());
    sstream_gateway_destroy (&gateway);
    sstream_config_destroy (&config);
    free (config_text);
    support_rmtree (folder);
    free (folder);
}


//  --------------------------------------------------------------------------
//  Loading ABI 2

Test (plugins, tcp_and_ipc_have_a_bulk_path)
{
    const char *names [] = { "tcp", "ipc" };
    size_t index;
    for (index = 0; index < 2; index++) {
        const sstream_transport_t *transport;
        cr_assert_eq (sstream_plugins_load (names [index], &transport), SSTREAM_OK,
                      "%s", sstream_errmsg ());
        cr_assert_eq (transport->abi_version, 2);
        cr_assert_eq (transport->flags, SSTREAM_TRANSPORT_BULK);
        cr_assert (transport->bulk_listen && transport->bulk_accept && transport->bulk_connect
                && transport->bulk_poll && transport->bulk_send && transport->bulk_recv
                && transport->bulk_progress && transport->bulk_close, "%s", names [index]);
    }
}

Test (plugins, an_abi1_plugin_loads_without_a_bulk_path)
{
    setenv ("SSTREAM_PLUGIN_PATH", SSTREAM_TEST_FIXTURES, 1);
    const sstream_transport_t *transport;
    cr_assert_eq (sstream_plugins_load ("abione", &transport), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (transport->abi_version, 1);
    cr_assert_eq (transport->flags, 0);
    cr_assert (transport->check && transport->configure && transport->bound);
    //  The fixture's table ends here: these come from the loader's copy
    cr_assert (!transport->bulk_listen && !transport->bulk_accept && !transport->bulk_connect
            && !transport->bulk_poll && !transport->bulk_send && !transport->bulk_recv
            && !transport->bulk_progress && !transport->bulk_close);
}

Test (plugins, bulk_claims_and_unknown_flags_are_refused)
{
    setenv ("SSTREAM_PLUGIN_PATH", SSTREAM_TEST_FIXTURES, 1);
    struct { const char *name; const char *said; } bad [] = {
        { "abionebulk", "claims the bulk path, but its ABI 1 table has no bulk operations" },
        { "nobulkop", "claims the bulk path but leaves bulk_progress empty" },
        { "unknownflag", "needs features (flags 0x4) that this libsstream lacks" },
    };
    size_t index;
    for (index = 0; index < sizeof (bad) / sizeof (bad [0]); index++) {
        const sstream_transport_t *transport = (void *) 1;
        cr_assert_eq (sstream_plugins_load (bad [index].name, &transport), SSTREAM_EPLUGIN,
                      "%s was taken", bad [index].name);
        cr_assert_null (transport);
        const char *said = sstream_errmsg ();
        char file [64];
        snprintf (file, sizeof (file), "/sstream-transport-%s.so ", bad [index].name);
        cr_assert (strstr (said, file), "%s", said);
        cr_assert (strstr (said, bad [index].said), "%s", said);
        cr_assert (!strchr (said, '\n'), "one line: %s", said);
    }
}


//  --------------------------------------------------------------------------
//  The bulk path: helpers

//  No wait in these tests lasts longer
#define BULK_WAIT_SECONDS 60
#define BULK_DONE_MAX 64

//  A bulk listener or one end of a bulk connection, with its link
typedef struct {
    const sstream_transport_t *transport;
    sstream_transport_link_t link;
    char error [256];
    sstream_bulk_t *bulk;
    sstream_bulk_done_t done [BULK_DONE_MAX];   //  Completions, as reported
    int done_count;
} s_side_t;

static const char *s_no_options [] = { NULL };

static void
s_side_init (s_side_t *side, const char *name, const char *endpoint, int bind,
             const char *const *options)
{
    memset (side, 0, sizeof (*side));
    cr_assert_eq (sstream_plugins_load (name, &side->transport), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    side->link.endpoint = endpoint;
    side->link.bind = bind;
    side->link.options = options? options: s_no_options;
    side->link.error = side->error;
    side->link.error_size = sizeof (side->error);
}

//  Poll the sides for what bulk_poll asks, at most timeout_ms; ready [i]
//  says which are.

static void
s_poll (s_side_t *sides [], int count, int timeout_ms, bool ready [])
{
    struct pollfd items [4];
    cr_assert (count <= 4);
    int index;
    for (index = 0; index < count; index++) {
        short events;
        sides [index]->transport->bulk_poll (sides [index]->bulk, &items [index].fd, &events);
        cr_assert (items [index].fd >= 0);
        cr_assert_eq (events & ~(ZMQ_POLLIN | ZMQ_POLLOUT), 0, "events 0x%x", events);
        items [index].events = (short) ((events & ZMQ_POLLIN? POLLIN: 0)
                                      | (events & ZMQ_POLLOUT? POLLOUT: 0));
        items [index].revents = 0;
    }
    int rc = poll (items, (nfds_t) count, timeout_ms);
    cr_assert (rc >= 0 || errno == EINTR, "poll: %s", strerror (errno));
    for (index = 0; index < count; index++)
        ready [index] = rc > 0 && items [index].revents != 0;
}

static int
s_progress (s_side_t *side)
{
    int room = BULK_DONE_MAX - side->done_count;
    cr_assert (room > 0, "more completions than the test expects");
    side->error [0] = 0;
    int rc = side->transport->bulk_progress (side->bulk, side->done + side->done_count, room,
                                             side->error, sizeof (side->error));
    cr_assert (rc >= -1 && rc <= room, "progress returned %d", rc);
    if (rc == -1)
        cr_assert (side->error [0] && !strchr (side->error, '\n'), "-1 says why, in a line");
    if (rc > 0)
        side->done_count += rc;
    return rc;
}

//  Progress one or two sides (other may be NULL) as they poll ready, until
//  each has reported as many completions as it wants: true, or false as
//  soon as one's progress fails. Past the deadline the test fails.

static bool
s_pump (s_side_t *one, int one_wants, s_side_t *other, int other_wants)
{
    s_side_t *sides [2] = { one, other };
    int wants [2] = { one_wants, other_wants };
    int count = other? 2: 1;
    //  What was just posted may complete at the next progress, ready or not
    bool ready [2] = { true, true };
    double deadline = support_now () + BULK_WAIT_SECONDS;
    while (true) {
        bool satisfied = true;
        int index;
        for (index = 0; index < count; index++) {
            if (ready [index] && s_progress (sides [index]) < 0)
                return false;
            if (sides [index]->done_count < wants [index])
                satisfied = false;
        }
        if (satisfied)
            return true;
        cr_assert (support_now () < deadline, "bulk operations pending after %d s (%d of %d, "
                   "%d of %d done)", BULK_WAIT_SECONDS, one->done_count, one_wants,
                   other? other->done_count: 0, other_wants);
        s_poll (sides, count, 100, ready);
    }
}

//  Wait for fd to be readable (data or the end of the stream), with a
//  deadline.

static void
s_wait_readable (s_side_t *side)
{
    int fd;
    short events;
    side->transport->bulk_poll (side->bulk, &fd, &events);
    struct pollfd item = { .fd = fd, .events = POLLIN };
    double deadline = support_now () + BULK_WAIT_SECONDS;
    while (poll (&item, 1, 100) <= 0)
        cr_assert (support_now () < deadline, "nothing to read after %d s", BULK_WAIT_SECONDS);
}

static void
s_send (s_side_t *side, const void *data, size_t size, void *context)
{
    cr_assert_eq (side->transport->bulk_send (side->bulk, data, size, context, side->error,
                                              sizeof (side->error)), 0, "%s", side->error);
}

static void
s_recv (s_side_t *side, void *data, size_t size, void *context)
{
    cr_assert_eq (side->transport->bulk_recv (side->bulk, data, size, context, side->error,
                                              sizeof (side->error)), 0, "%s", side->error);
}

static void
s_close (s_side_t *side)
{
    if (side->transport) {
        side->transport->bulk_close (&side->bulk);
        cr_assert_null (side->bulk);
        side->transport->bulk_close (&side->bulk);     //  Idempotent
        cr_assert_null (side->bulk);
    }
}

//  Listen beside bound, connect from a link that reached reached, accept:
//  both ends of a bulk connection, which carries the connecting side's
//  first bytes (the core's token), posted before the connect completed.

static void
s_open (const char *name, const char *bound, const char *reached,
        const char *const *bind_options, const char *const *connect_options,
        s_side_t *listener, s_side_t *server, s_side_t *client,
        char address [SSTREAM_BULK_ADDRESS_MAX])
{
    s_side_init (listener, name, bound, 1, bind_options);
    s_side_init (server, name, bound, 1, bind_options);
    s_side_init (client, name, reached, 0, connect_options);
    cr_assert_eq (listener->transport->bulk_listen (&listener->link, bound, &listener->bulk,
                                                    address, SSTREAM_BULK_ADDRESS_MAX),
                  0, "%s", listener->error);
    cr_assert_not_null (listener->bulk);
    cr_assert_eq (listener->transport->bulk_accept (listener->bulk, &server->bulk, &server->link),
                  0, "nothing is pending yet: %s", server->error);
    cr_assert_eq (client->transport->bulk_connect (&client->link, address, &client->bulk), 0,
                  "%s", client->error);
    static const char token [] = "token-1234567890";
    s_send (client, token, sizeof (token), (void *) token);

    double deadline = support_now () + BULK_WAIT_SECONDS;
    int rc = 0;
    while (rc == 0) {
        s_side_t *sides [1] = { listener };
        bool ready [1];
        s_poll (sides, 1, 100, ready);
        if (ready [0])
            rc = listener->transport->bulk_accept (listener->bulk, &server->bulk, &server->link);
        cr_assert (rc != 0 || support_now () < deadline, "no connection after %d s",
                   BULK_WAIT_SECONDS);
    }
    cr_assert_eq (rc, 1, "%s", server->error);
    cr_assert_not_null (server->bulk);

    char received [sizeof (token)];
    s_recv (server, received, sizeof (received), received);
    cr_assert (s_pump (client, 1, server, 1), "%s%s", client->error, server->error);
    cr_assert_eq (client->done [0].kind, SSTREAM_BULK_SENT);
    cr_assert_eq (client->done [0].context, token);
    cr_assert_eq (server->done [0].kind, SSTREAM_BULK_RECEIVED);
    cr_assert_eq (server->done [0].context, received);
    cr_assert_str_eq (received, token);
    client->done_count = 0;
    server->done_count = 0;
}

//  The contexts of one kind of completion, in the order reported, must be
//  expected's.

static void
s_assert_completed (s_side_t *side, int kind, void *const expected [], int count)
{
    int seen = 0;
    int index;
    for (index = 0; index < side->done_count; index++) {
        cr_assert (side->done [index].kind == SSTREAM_BULK_SENT
                || side->done [index].kind == SSTREAM_BULK_RECEIVED);
        if (side->done [index].kind != kind)
            continue;
        cr_assert (seen < count, "more completions of kind %d than posted", kind);
        cr_assert_eq (side->done [index].context, expected [seen],
                      "completion %d of kind %d out of order", seen, kind);
        seen++;
    }
    cr_assert_eq (seen, count, "%d of %d operations of kind %d completed", seen, count, kind);
}


//  --------------------------------------------------------------------------
//  The bulk path: both ways at once

#define SIZES 5
static const size_t s_sizes [SIZES] = { 0, 1, 1000, 4 << 20, 64 << 20 };

static void
s_exchange (const char *name, const char *bound, const char *reached,
            const char *const *bind_options, const char *const *connect_options)
{
    s_side_t listener, server, client;
    char address [SSTREAM_BULK_ADDRESS_MAX];
    s_open (name, bound, reached, bind_options, connect_options,
            &listener, &server, &client, address);

    //  [0]: server to client; [1]: client to server. Each buffer's bytes
    //  are its own, so a byte in the wrong place shows.
    unsigned char *sent [2][SIZES], *received [2][SIZES];
    void *sent_contexts [2][SIZES], *received_contexts [2][SIZES];
    int direction, index;
    for (direction = 0; direction < 2; direction++)
        for (index = 0; index < SIZES; index++) {
            size_t size = s_sizes [index];
            //  Size 0 needs no buffer
            sent [direction][index] = size? malloc (size): NULL;
            received [direction][index] = size? malloc (size): NULL;
            cr_assert (!size || (sent [direction][index] && received [direction][index]));
            if (size) {
                support_fill (sent [direction][index],
                              (uint64_t) (direction * SIZES + index) << 32, size);
                memset (received [direction][index], 0xA5, size);
            }
            sent_contexts [direction][index] = &sent [direction][index];
            received_contexts [direction][index] = &received [direction][index];
        }

    //  Receives posted before the bytes arrive (sizes 0 and 1), and after
    //  (1000)
    for (index = 0; index < 2; index++)
        s_recv (&client, received [0][index], s_sizes [index], received_contexts [0][index]);
    for (index = 0; index < 3; index++)
        s_send (&server, sent [0][index], s_sizes [index], sent_contexts [0][index]);
    cr_assert (s_pump (&server, 3, &client, 2), "%s%s", server.error, client.error);
    s_wait_readable (&client);
    s_recv (&client, received [0][2], s_sizes [2], received_contexts [0][2]);
    cr_assert (s_pump (&server, 3, &client, 3), "%s%s", server.error, client.error);

    //  Everything else, both ways at once, sends and receives interleaved
    for (index = 0; index < SIZES; index++) {
        if (index >= 3)
            s_send (&server, sent [0][index], s_sizes [index], sent_contexts [0][index]);
        s_recv (&server, received [1][index], s_sizes [index], received_contexts [1][index]);
        s_send (&client, sent [1][index], s_sizes [index], sent_contexts [1][index]);
        if (index >= 3)
            s_recv (&client, received [0][index], s_sizes [index], received_contexts [0][index]);
    }
    cr_assert (s_pump (&server, 10, &client, 10), "%s%s", server.error, client.error);

    s_assert_completed (&server, SSTREAM_BULK_SENT, sent_contexts [0], SIZES);
    s_assert_completed (&server, SSTREAM_BULK_RECEIVED, received_contexts [1], SIZES);
    s_assert_completed (&client, SSTREAM_BULK_SENT, sent_contexts [1], SIZES);
    s_assert_completed (&client, SSTREAM_BULK_RECEIVED, received_contexts [0], SIZES);
    for (direction = 0; direction < 2; direction++)
        for (index = 0; index < SIZES; index++) {
            if (s_sizes [index])
                cr_assert (memcmp (received [direction][index], sent [direction][index],
                                   s_sizes [index]) == 0,
                           "%zu bytes differ (direction %d)", s_sizes [index], direction);
            free (sent [direction][index]);
            free (received [direction][index]);
        }
    s_close (&client);
    s_close (&server);
    s_close (&listener);
}

Test (plugins, tcp_bulk_moves_bytes_both_ways, .timeout = 240)
{
    const char *options [] = { "sndbuf", "1MiB", "rcvbuf", "1MiB", NULL };
    s_exchange ("tcp", "tcp://127.0.0.1:7001", "tcp://127.0.0.1:7001", options, options);
}

Test (plugins, ipc_bulk_moves_bytes_both_ways, .timeout = 240)
{
    char *folder = support_scratch ();
    char endpoint [512];
    snprintf (endpoint, sizeof (endpoint), "ipc://%s/gw.sock", folder);
    s_exchange ("ipc", endpoint, endpoint, NULL, NULL);
    support_rmtree (folder);
    free (folder);
}


//  --------------------------------------------------------------------------
//  The bulk path: the other side goes away, or was never there

static void
s_peer_goes_away (const char *name, const char *endpoint)
{
    s_side_t listener, server, client;
    char address [SSTREAM_BULK_ADDRESS_MAX];

    //  In the middle of a receive
    s_open (name, endpoint, endpoint, NULL, NULL, &listener, &server, &client, address);
    unsigned char buffer [1000];
    static const char ten [10] = "0123456789";
    s_recv (&client, buffer, sizeof (buffer), buffer);
    s_send (&server, ten, sizeof (ten), (void *) ten);
    cr_assert (s_pump (&server, 1, NULL, 0), "%s", server.error);
    s_wait_readable (&client);
    cr_assert_eq (s_progress (&client), 0, "%s", client.error);
    cr_assert_eq (memcmp (buffer, ten, sizeof (ten)), 0);
    s_close (&server);
    cr_assert_not (s_pump (&client, 1, NULL, 0));
    cr_assert_str_eq (client.error, "the other side closed the bulk connection");
    cr_assert_eq (client.done_count, 0, "no operation completes after a failure");
    //  It stays failed: what is posted now never completes
    s_recv (&client, buffer, 1, buffer);
    cr_assert_eq (s_progress (&client), -1);
    cr_assert_str_eq (client.error, "the other side closed the bulk connection");
    cr_assert_eq (client.done_count, 0);
    s_close (&client);
    s_close (&listener);

    //  While nothing was posted: noticed at the first receive posted
    s_open (name, endpoint, endpoint, NULL, NULL, &listener, &server, &client, address);
    s_close (&server);
    s_wait_readable (&client);
    cr_assert_eq (s_progress (&client), 0, "nothing posted, nothing to notice yet");
    s_recv (&client, buffer, 1, buffer);
    cr_assert_not (s_pump (&client, 1, NULL, 0));
    cr_assert (strstr (client.error, "closed the bulk connection"), "%s", client.error);
    s_close (&client);
    s_close (&listener);

    //  While sending: more than any socket buffer holds
    s_open (name, endpoint, endpoint, NULL, NULL, &listener, &server, &client, address);
    s_close (&server);
    size_t size = 32 << 20;
    unsigned char *big = calloc (1, size);
    s_send (&client, big, size, big);
    s_send (&client, big, size, big);
    cr_assert_not (s_pump (&client, 2, NULL, 0));
    cr_assert (strstr (client.error, "writing: "), "%s", client.error);
    s_close (&client);
    s_close (&listener);
    free (big);
}

Test (plugins, tcp_bulk_notices_the_other_side_go_away, .timeout = 240)
{
    s_peer_goes_away ("tcp", "tcp://127.0.0.1:7001");

    //  Reset, not closed: the reason is the system's
    s_side_t listener, server, client;
    char address [SSTREAM_BULK_ADDRESS_MAX];
    s_open ("tcp", "tcp://127.0.0.1:7001", "tcp://127.0.0.1:7001", NULL, NULL,
            &listener, &server, &client, address);
    int fd;
    short events;
    server.transport->bulk_poll (server.bulk, &fd, &events);
    struct linger linger = { .l_onoff = 1, .l_linger = 0 };
    cr_assert_eq (setsockopt (fd, SOL_SOCKET, SO_LINGER, &linger, sizeof (linger)), 0);
    s_close (&server);
    unsigned char byte;
    s_recv (&client, &byte, 1, &byte);
    cr_assert_not (s_pump (&client, 1, NULL, 0));
    cr_assert_str_eq (client.error, "reading: Connection reset by peer");
    s_close (&client);
    s_close (&listener);
}

Test (plugins, ipc_bulk_notices_the_other_side_go_away, .timeout = 240)
{
    char *folder = support_scratch ();
    char endpoint [512];
    snprintf (endpoint, sizeof (endpoint), "ipc://%s/gw.sock", folder);
    s_peer_goes_away ("ipc", endpoint);
    support_rmtree (folder);
    free (folder);
}

Test (plugins, tcp_bulk_connect_to_nobody_fails_in_progress)
{
    int port;
    int holder = support_refused_port (&port);
    cr_assert (holder >= 0);
    s_side_t client;
    s_side_init (&client, "tcp", "tcp://127.0.0.1:7001", 0, NULL);
    char address [16];
    snprintf (address, sizeof (address), "%d", port);
    cr_assert_eq (client.transport->bulk_connect (&client.link, address, &client.bulk), 0,
                  "%s", client.error);
    unsigned char byte;
    s_recv (&client, &byte, 1, &byte);
    cr_assert_not (s_pump (&client, 1, NULL, 0));
    char expected [64];
    snprintf (expected, sizeof (expected), "connecting to 127.0.0.1:%d: ", port);
    cr_assert (strstr (client.error, expected), "%s", client.error);
    cr_assert (strstr (client.error, "refused"), "%s", client.error);
    cr_assert_eq (client.done_count, 0);
    s_close (&client);
    close (holder);

    //  What bulk_connect itself refuses
    const char *bad_ports [] = { "0", "70000", "http", "", "1x" };
    size_t index;
    for (index = 0; index < sizeof (bad_ports) / sizeof (bad_ports [0]); index++) {
        cr_assert_eq (client.transport->bulk_connect (&client.link, bad_ports [index],
                                                      &client.bulk), -1);
        cr_assert_null (client.bulk);
        cr_assert (strstr (client.error, "is not a bulk port"), "%s", client.error);
    }
    s_side_init (&client, "tcp", "tcp://no-such-host.invalid:7001", 0, NULL);
    cr_assert_eq (client.transport->bulk_connect (&client.link, "7001", &client.bulk), -1);
    cr_assert (strstr (client.error, "cannot resolve no-such-host.invalid"), "%s", client.error);
    cr_assert_null (client.bulk);
}

Test (plugins, ipc_bulk_connect_to_nobody_fails_in_progress)
{
    char *folder = support_scratch ();
    char endpoint [512], address [512];
    snprintf (endpoint, sizeof (endpoint), "ipc://%s/gw.sock", folder);
    snprintf (address, sizeof (address), "%s/gw.sock.bulk-000000", folder);
    s_side_t client;
    s_side_init (&client, "ipc", endpoint, 0, NULL);
    cr_assert_eq (client.transport->bulk_connect (&client.link, address, &client.bulk), 0,
                  "%s", client.error);
    unsigned char byte;
    s_recv (&client, &byte, 1, &byte);
    cr_assert_not (s_pump (&client, 1, NULL, 0));
    cr_assert (strstr (client.error, "connecting to "), "%s", client.error);
    cr_assert (strstr (client.error, "No such file or directory"), "%s", client.error);
    s_close (&client);
    cr_assert_eq (client.transport->bulk_connect (&client.link, "gw.sock.bulk-1", &client.bulk), -1);
    cr_assert (strstr (client.error, "is not a bulk socket path"), "%s", client.error);
    support_rmtree (folder);
    free (folder);
}


//  --------------------------------------------------------------------------
//  The bulk path: where listeners listen, and what sockets they make

static bool
s_ipv6_works (void)
{
    int fd = socket (AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 address = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    bool works = bind (fd, (struct sockaddr *) &address, sizeof (address)) == 0;
    close (fd);
    return works;
}

static int
s_option_value (int fd, int level, int option)
{
    int value = -1;
    socklen_t length = sizeof (value);
    cr_assert_eq (getsockopt (fd, level, option, &value, &length), 0, "%s", strerror (errno));
    return value;
}

Test (plugins, tcp_bulk_listens_where_the_link_did)
{
    struct { const char *bound, *reached; } pairs [] = {
        { "tcp://0.0.0.0:7001", "tcp://localhost:7001" },
        { "tcp://127.0.0.1:7001", "tcp://127.0.0.2:0;127.0.0.1:7001" },
        { "tcp://[::1]:7001", "tcp://[::1]:7001" },
    };
    size_t index;
    for (index = 0; index < sizeof (pairs) / sizeof (pairs [0]); index++) {
        if (strchr (pairs [index].bound, '[') && !s_ipv6_works ()) {
            cr_log_warn ("no IPv6 loopback here: %s not tried", pairs [index].bound);
            continue;
        }
        s_side_t listener, server, client;
        char address [SSTREAM_BULK_ADDRESS_MAX];
        s_open ("tcp", pairs [index].bound, pairs [index].reached, NULL, NULL,
                &listener, &server, &client, address);
        //  The port alone: the other side knows the host
        char *end;
        long port = strtol (address, &end, 10);
        cr_assert (!*end && port > 0 && port < 65536 && port != 7001, "%s", address);
        s_close (&client);
        s_close (&server);
        s_close (&listener);
    }
    s_side_t listener;
    s_side_init (&listener, "tcp", "ipc:///tmp/x", 1, NULL);
    char address [SSTREAM_BULK_ADDRESS_MAX];
    cr_assert_eq (listener.transport->bulk_listen (&listener.link, "ipc:///tmp/x",
                                                   &listener.bulk, address, sizeof (address)), -1);
    cr_assert (strstr (listener.error, "is not a bound tcp:// endpoint"), "%s", listener.error);
    cr_assert_null (listener.bulk);
}

Test (plugins, tcp_bulk_sockets_take_the_link_options)
{
    const char *options [] = { "sndbuf", "1MiB", "rcvbuf", "2MiB", "keepalive-idle", "45", NULL };
    const char *no_keepalive [] = { "keepalive", "off", NULL };
    s_side_t listener, server, client;
    char address [SSTREAM_BULK_ADDRESS_MAX];
    s_open ("tcp", "tcp://127.0.0.1:7001", "tcp://127.0.0.1:7001", options, options,
            &listener, &server, &client, address);
    s_side_t *sides [] = { &listener, &server, &client };
    size_t index;
    for (index = 0; index < 3; index++) {
        int fd;
        short events;
        sides [index]->transport->bulk_poll (sides [index]->bulk, &fd, &events);
        cr_assert (fcntl (fd, F_GETFL) & O_NONBLOCK);
        cr_assert (fcntl (fd, F_GETFD) & FD_CLOEXEC);
        cr_assert_eq (s_option_value (fd, IPPROTO_TCP, TCP_NODELAY), 1);
        cr_assert_eq (s_option_value (fd, SOL_SOCKET, SO_KEEPALIVE), 1);
        cr_assert_eq (s_option_value (fd, IPPROTO_TCP, TCP_KEEPIDLE), 45);
        cr_assert_eq (s_option_value (fd, IPPROTO_TCP, TCP_KEEPINTVL), 10);
        //  Linux doubles what it is given, for its own bookkeeping
        cr_assert_geq (s_option_value (fd, SOL_SOCKET, SO_SNDBUF), 1 << 20);
        cr_assert_geq (s_option_value (fd, SOL_SOCKET, SO_RCVBUF), 2 << 20);
    }
    short events;
    int fd;
    listener.transport->bulk_poll (listener.bulk, &fd, &events);
    cr_assert_eq (events, ZMQ_POLLIN, "a listener polls for connections");
    client.transport->bulk_poll (client.bulk, &fd, &events);
    cr_assert_eq (events, 0, "nothing posted, nothing to poll for");
    s_close (&client);
    s_close (&server);
    s_close (&listener);

    s_open ("tcp", "tcp://127.0.0.1:7001", "tcp://127.0.0.1:7001", no_keepalive, no_keepalive,
            &listener, &server, &client, address);
    server.transport->bulk_poll (server.bulk, &fd, &events);
    cr_assert_eq (s_option_value (fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    client.transport->bulk_poll (client.bulk, &fd, &events);
    cr_assert_eq (s_option_value (fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    s_close (&client);
    s_close (&server);
    s_close (&listener);
}

Test (plugins, ipc_bulk_socket_file_sits_beside_the_link_and_goes_at_close)
{
    char *folder = support_scratch ();
    char endpoint [512];
    snprintf (endpoint, sizeof (endpoint), "ipc://%s/gw.sock", folder);
    const char *mode [] = { "mode", "0600", NULL };
    s_side_t listener, server, client;
    char address [SSTREAM_BULK_ADDRESS_MAX];
    s_open ("ipc", endpoint, endpoint, mode, NULL, &listener, &server, &client, address);
    char prefix [600];
    snprintf (prefix, sizeof (prefix), "%s.bulk-", endpoint + 6);
    cr_assert_eq (strncmp (address, prefix, strlen (prefix)), 0, "%s", address);
    const char *suffix = address + strlen (prefix);
    cr_assert_eq (strlen (suffix), 6, "%s", address);
    cr_assert_eq (strspn (suffix, "0123456789abcdef"), 6, "%s", address);
    struct stat stat_buf;
    cr_assert_eq (stat (address, &stat_buf), 0, "%s", strerror (errno));
    cr_assert (S_ISSOCK (stat_buf.st_mode));
    cr_assert_eq (stat_buf.st_mode & 0777, 0600);

    //  A second listener beside the same link gets a name of its own
    s_side_t second;
    char second_address [SSTREAM_BULK_ADDRESS_MAX];
    s_side_init (&second, "ipc", endpoint, 1, mode);
    cr_assert_eq (second.transport->bulk_listen (&second.link, endpoint, &second.bulk,
                                                 second_address, sizeof (second_address)),
                  0, "%s", second.error);
    cr_assert_str_neq (second_address, address);
    s_close (&second);
    cr_assert_eq (stat (second_address, &stat_buf), -1);

    //  Connections leave the file; closing the listener takes it away
    s_close (&client);
    s_close (&server);
    cr_assert_eq (stat (address, &stat_buf), 0);
    s_close (&listener);
    cr_assert_eq (stat (address, &stat_buf), -1);
    cr_assert_eq (errno, ENOENT);

    //  A link path with no room left for the suffix
    char longer [600];
    snprintf (longer, sizeof (longer), "ipc://%s/", folder);
    while (strlen (longer) < 6 + 100)
        strcat (longer, "x");
    s_side_init (&listener, "ipc", longer, 1, NULL);
    cr_assert_eq (listener.transport->bulk_listen (&listener.link, longer, &listener.bulk,
                                                   address, sizeof (address)), -1);
    cr_assert (strstr (listener.error, "over the system's limit of"), "%s", listener.error);
    cr_assert_null (listener.bulk);
    support_rmtree (folder);
    free (folder);
}

Test (plugins, ipc_bulk_works_beside_an_abstract_name)
{
    char endpoint [128];
    snprintf (endpoint, sizeof (endpoint), "ipc://@sstream-test-%d", (int) getpid ());
    s_side_t listener, server, client;
    char address [SSTREAM_BULK_ADDRESS_MAX];
    s_open ("ipc", endpoint, endpoint, NULL, NULL, &listener, &server, &client, address);
    cr_assert_eq (strncmp (address, endpoint + 6, strlen (endpoint + 6)), 0, "%s", address);
    s_close (&client);
    s_close (&server);
    s_close (&listener);
}

Test (plugins, bulk_posts_are_capped)
{
    s_side_t listener, server, client;
    char address [SSTREAM_BULK_ADDRESS_MAX];
    s_open ("tcp", "tcp://127.0.0.1:7001", "tcp://127.0.0.1:7001", NULL, NULL,
            &listener, &server, &client, address);
    static unsigned char bytes [4096];
    size_t index;
    for (index = 0; index < sizeof (bytes); index++)
        s_recv (&client, bytes + index, 1, bytes + index);
    cr_assert_eq (client.transport->bulk_recv (client.bulk, bytes, 1, NULL, client.error,
                                               sizeof (client.error)), -1);
    cr_assert (strstr (client.error, "too many posted"), "%s", client.error);
    //  Each direction has its own
    s_send (&client, bytes, 1, bytes);
    //  A listener carries nothing
    cr_assert_eq (listener.transport->bulk_send (listener.bulk, bytes, 1, NULL, client.error,
                                                 sizeof (client.error)), -1);
    cr_assert (strstr (client.error, "a bulk listener carries no data"), "%s", client.error);
    //  Closing with operations posted frees them (the sanitizer build checks)
    s_close (&client);
    s_close (&server);
    s_close (&listener);
}
