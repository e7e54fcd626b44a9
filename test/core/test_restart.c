/*  =========================================================================
    test_restart - a gateway that fails to start gives back what it bound
    before it says so: the next start at the same address gets it

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>

TestSuite (restart, .timeout = 240);

static sstream_config_t *
s_config (const char *endpoint, const char *ports)
{
    sstream_config_t *config;
    cr_assert_eq (sstream_config_new (&config), SSTREAM_OK);
    cr_assert_eq (sstream_config_set (config, "local/endpoint", endpoint), SSTREAM_OK);
    cr_assert_eq (sstream_config_set (config, "local/security", "none"), SSTREAM_OK);
    cr_assert_eq (sstream_config_set (config, "control/endpoint", "tcp://127.0.0.1:*"), SSTREAM_OK);
    cr_assert_eq (sstream_config_set (config, "control/security", "none"), SSTREAM_OK);
    //  Checked after the links are bound
    cr_assert_eq (sstream_config_set (config, "tunnels/ports", ports), SSTREAM_OK);
    return config;
}

//  tunnels/ports is read after the local link is bound: each failed start
//  must have let go of the socket file by the time it returns, or the
//  next start finds it "in use by another process"
Test (restart, a_failed_start_releases_its_ipc_socket_at_once)
{
    char *folder = support_scratch ();
    cr_assert_not_null (folder);
    char *endpoint = zsys_sprintf ("ipc://%s/gateway.sock", folder);
    sstream_config_t *bad = s_config (endpoint, "nonsense");
    sstream_config_t *good = s_config (endpoint, "5100-5200");
    int round;
    for (round = 0; round < 200; round++) {
        sstream_gateway_t *gateway = NULL;
        int rc = sstream_gateway_new (&gateway, bad);
        cr_assert_eq (rc, SSTREAM_ECONFIG, "round %d: %s", round, sstream_errmsg ());
        cr_assert (strstr (sstream_errmsg (), "ports is a range"), "round %d: %s", round,
                   sstream_errmsg ());
    }
    //  And a good start after a failed one, the same
    for (round = 0; round < 20; round++) {
        sstream_gateway_t *gateway = NULL;
        cr_assert_eq (sstream_gateway_new (&gateway, bad), SSTREAM_ECONFIG);
        int rc = sstream_gateway_new (&gateway, good);
        cr_assert_eq (rc, SSTREAM_OK, "round %d: %s", round, sstream_errmsg ());
        sstream_gateway_destroy (&gateway);
    }
    sstream_config_destroy (&bad);
    sstream_config_destroy (&good);
    zstr_free (&endpoint);
    support_rmtree (folder);
    free (folder);
}
