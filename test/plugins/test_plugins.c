/*  =========================================================================
    test_plugins - finding and loading transport plugins, and what the
    tcp and ipc plugins check

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"
#include "support.h"

#include <criterion/criterion.h>

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
                                    "keepalive-idle", "60", NULL };
    cr_assert_eq (s_check ("tcp", "tcp://h:1", 0, good_options, error, sizeof (error)), 0, "%s", error);
    const char *unknown [] = { "nagle", "off", NULL };
    cr_assert_eq (s_check ("tcp", "tcp://h:1", 0, unknown, error, sizeof (error)), -1);
    cr_assert (strstr (error, "unknown tcp option 'nagle'"), "%s", error);
    const char *bad_size [] = { "sndbuf", "lots", NULL };
    cr_assert_eq (s_check ("tcp", "tcp://h:1", 0, bad_size, error, sizeof (error)), -1);
    const char *bad_switch [] = { "keepalive", "maybe", NULL };
    cr_assert_eq (s_check ("tcp", "tcp://h:1", 0, bad_switch, error, sizeof (error)), -1);
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
