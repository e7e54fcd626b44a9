/*  =========================================================================
    test_auth - CURVE with ZAP on every link: who gets in, who does not,
    and what they are told

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include <czmq.h>
#include "support.h"

#include <criterion/criterion.h>

static support_path_t s_path;

static void
s_setup (void)
{
    cr_assert_eq (support_path_start (&s_path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
}

static void
s_teardown (void)
{
    support_path_stop (&s_path);
}

TestSuite (auth, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  Client options with a given secret key and gateway key
static sstream_config_t *
s_client (const char *secret, const char *gateway_key, const char *timeout)
{
    sstream_config_t *options;
    sstream_config_new (&options);
    sstream_config_set (options, "client/secret-key", secret);
    sstream_config_set (options, "client/gateway-key", gateway_key);
    sstream_config_set (options, "client/connect-timeout", timeout? timeout: "10s");
    //  Sealed for the path's consumer, as the support's producers are
    char *readers = zsys_sprintf ("%s/consumer.pub", s_path.facility_b);
    sstream_config_set (options, "client/readers", readers);
    zstr_free (&readers);
    return options;
}

static int64_t
s_elapsed_since (int64_t start)
{
    return zclock_mono () - start;
}

Test (auth, an_allowed_key_streams)
{
    support_consumer_t consumer = {
        .endpoint = sstream_gateway_endpoint (s_path.b, "local"),
        .stream = "allowed", .options = s_path.consumer_options
    };
    support_consumer_start (&consumer);
    unsigned char sent [32];
    int rc = support_produce (sstream_gateway_endpoint (s_path.a, "local"), "allowed",
                              s_path.producer_options, 3 << 20, 65536, sent);
    support_consumer_join (&consumer);
    cr_assert_eq (rc, SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (consumer.rc, SSTREAM_OK, "%s", consumer.error);
    cr_assert_eq (memcmp (sent, consumer.digest, 32), 0);
    //  On the link the clients use: the peer link may see a stray from a
    //  test gateway of another process still dialling a port that the
    //  kernel has given this gateway since (gateways keep trying their peer)
    uint64_t failures = 99;
    cr_assert_eq (sstream_gateway_stat (s_path.a, "local-handshake-failures", &failures),
                  SSTREAM_OK);
    cr_assert_eq (failures, 0);
}

Test (auth, an_unknown_key_is_refused_quickly_and_told_why)
{
    char *strangers = zsys_sprintf ("%s/strangers", s_path.folder);
    cr_assert_eq (sstream_keygen ("stranger", strangers), SSTREAM_OK);
    char *secret = zsys_sprintf ("%s/stranger.secret", strangers);
    char *gateway_key = zsys_sprintf ("%s/gateway-a.pub", s_path.gateways);
    sstream_config_t *options = s_client (secret, gateway_key, "10s");

    int64_t start = zclock_mono ();
    sstream_producer_t *producer = NULL;
    int rc = sstream_producer_new (&producer, sstream_gateway_endpoint (s_path.a, "local"),
                                   "refused", options);
    cr_assert_eq (rc, SSTREAM_EAUTH, "got %d: %s", rc, sstream_errmsg ());
    cr_assert_null (producer);
    cr_assert_lt (s_elapsed_since (start), 3000, "the refusal took %" PRId64 " ms",
                  s_elapsed_since (start));
    cr_assert (strstr (sstream_errmsg (), "refused our key"), "%s", sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "authentication failed"), "%s", sstream_errmsg ());

    //  A consumer, too, at the other facility
    char *gateway_b_key = zsys_sprintf ("%s/gateway-b.pub", s_path.gateways);
    sstream_config_set (options, "client/gateway-key", gateway_b_key);
    zstr_free (&gateway_b_key);
    sstream_consumer_t *consumer = NULL;
    rc = sstream_consumer_new (&consumer, sstream_gateway_endpoint (s_path.b, "local"),
                               "refused", options);
    cr_assert_eq (rc, SSTREAM_EAUTH, "%s", sstream_errmsg ());

    uint64_t failures = 0;
    sstream_gateway_stat (s_path.a, "handshake-failures", &failures);
    cr_assert_geq (failures, 1);
    uint64_t streams = 1;
    sstream_gateway_stat (s_path.a, "streams", &streams);
    cr_assert_eq (streams, 0, "a refused client opened a stream");
    sstream_config_destroy (&options);
    zstr_free (&strangers);
    zstr_free (&secret);
    zstr_free (&gateway_key);
}

Test (auth, pinning_the_wrong_gateway_key_fails_the_handshake)
{
    char *secret = zsys_sprintf ("%s/producer.secret", s_path.facility_a);
    char *wrong = zsys_sprintf ("%s/gateway-b.pub", s_path.gateways);
    sstream_config_t *options = s_client (secret, wrong, "10s");
    int64_t start = zclock_mono ();
    sstream_producer_t *producer = NULL;
    int rc = sstream_producer_new (&producer, sstream_gateway_endpoint (s_path.a, "local"),
                                   "pinned", options);
    cr_assert_eq (rc, SSTREAM_EAUTH, "got %d: %s", rc, sstream_errmsg ());
    cr_assert_lt (s_elapsed_since (start), 5000);
    cr_assert (strstr (sstream_errmsg (), "security handshake"), "%s", sstream_errmsg ());
    sstream_config_destroy (&options);
    zstr_free (&secret);
    zstr_free (&wrong);
}

Test (auth, a_key_trusted_by_another_link_is_not_a_client)
{
    //  Gateway A admits gateway B's key on its WAN link. Each link has a
    //  ZAP domain of its own, so on the local link that key is refused at
    //  the handshake: it is not among facility A's keys.
    char *secret = zsys_sprintf ("%s/gateway-b.secret", s_path.gateways);
    char *gateway_key = zsys_sprintf ("%s/gateway-a.pub", s_path.gateways);
    sstream_config_t *options = s_client (secret, gateway_key, "10s");
    sstream_producer_t *producer = NULL;
    int rc = sstream_producer_new (&producer, sstream_gateway_endpoint (s_path.a, "local"),
                                   "intruder", options);
    cr_assert_eq (rc, SSTREAM_EAUTH, "got %d: %s", rc, sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "refused our key"), "%s", sstream_errmsg ());
    sstream_config_destroy (&options);
    zstr_free (&secret);
    zstr_free (&gateway_key);
}

Test (auth, a_key_added_to_the_trusted_folder_gets_in_without_a_restart)
{
    char *newcomers = zsys_sprintf ("%s/newcomers", s_path.folder);
    cr_assert_eq (sstream_keygen ("newcomer", newcomers), SSTREAM_OK);
    char *secret = zsys_sprintf ("%s/newcomer.secret", newcomers);
    char *public_file = zsys_sprintf ("%s/newcomer.pub", newcomers);
    char *gateway_key = zsys_sprintf ("%s/gateway-a.pub", s_path.gateways);
    sstream_config_t *options = s_client (secret, gateway_key, "10s");
    const char *endpoint = sstream_gateway_endpoint (s_path.a, "local");
    sstream_producer_t *producer = NULL;
    cr_assert_eq (sstream_producer_new (&producer, endpoint, "newcomer", options), SSTREAM_EAUTH);

    char *trusted_copy = zsys_sprintf ("%s/newcomer.pub", s_path.facility_a);
    char *text = support_read_file (public_file);
    cr_assert_eq (support_write_file (trusted_copy, text), 0);
    free (text);
    //  Within a heartbeat (1 s); a loaded machine may take longer
    int rc = SSTREAM_EAUTH, attempt;
    int64_t start = zclock_mono ();
    for (attempt = 0; rc == SSTREAM_EAUTH && zclock_mono () - start < 30000; attempt++) {
        usleep (250 * 1000);
        rc = sstream_producer_new (&producer, endpoint, "newcomer", options);
    }
    cr_assert_eq (rc, SSTREAM_OK, "still refused after %d tries: %s", attempt, sstream_errmsg ());
    sstream_producer_destroy (&producer);

    //  And refused again once removed
    unlink (trusted_copy);
    rc = SSTREAM_OK;
    start = zclock_mono ();
    while (rc != SSTREAM_EAUTH && zclock_mono () - start < 30000) {
        usleep (250 * 1000);
        rc = sstream_producer_new (&producer, endpoint, "newcomer", options);
        sstream_producer_destroy (&producer);
    }
    cr_assert_eq (rc, SSTREAM_EAUTH, "still admitted after the key was removed");
    sstream_config_destroy (&options);
    zstr_free (&newcomers);
    zstr_free (&secret);
    zstr_free (&public_file);
    zstr_free (&gateway_key);
    zstr_free (&trusted_copy);
}

Test (auth, a_client_without_security_cannot_reach_a_curve_gateway)
{
    sstream_config_t *options;
    sstream_config_new (&options);
    sstream_config_set (options, "client/security", "none");
    sstream_config_set (options, "client/payload", "hop");
    sstream_producer_t *producer = NULL;
    int rc = sstream_producer_new (&producer, sstream_gateway_endpoint (s_path.a, "local"),
                                   "plain", options);
    cr_assert_eq (rc, SSTREAM_EAUTH, "got %d: %s", rc, sstream_errmsg ());
    sstream_config_destroy (&options);
}

Test (auth, curve_needs_keys_unless_security_is_off_explicitly)
{
    sstream_producer_t *producer = NULL;
    int rc = sstream_producer_new (&producer, sstream_gateway_endpoint (s_path.a, "local"),
                                   "nokeys", NULL);
    cr_assert_eq (rc, SSTREAM_EKEY, "%s", sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "no secret key given"), "%s", sstream_errmsg ());
}

//  Gateway B pins a key that is not gateway A's

Test (auth, a_gateway_pinning_a_wrong_peer_key_is_refused)
{
    char *others = zsys_sprintf ("%s/others", s_path.folder);
    cr_assert_eq (sstream_keygen ("impostor", others), SSTREAM_OK);
    sstream_config_t *config = support_gateway_config (&s_path, 'b');
    sstream_config_set (config, "gateway/name", "gateway-b2");
    char *impostor = zsys_sprintf ("%s/impostor.pub", others);
    sstream_config_set (config, "peer/public-key", impostor);
    zstr_free (&impostor);
    sstream_gateway_t *b2;
    cr_assert_eq (sstream_gateway_new (&b2, config), SSTREAM_OK, "%s", sstream_errmsg ());
    uint64_t up = 1, failures = 0;
    int64_t start = zclock_mono ();
    while (failures == 0 && zclock_mono () - start < 30000) {
        usleep (100 * 1000);
        sstream_gateway_stat (b2, "handshake-failures", &failures);
    }
    cr_assert_geq (failures, 1, "no handshake failure seen");
    sstream_gateway_stat (b2, "peer-up", &up);
    cr_assert_eq (up, 0);
    sstream_gateway_destroy (&b2);
    sstream_config_destroy (&config);
    zstr_free (&others);
}

//  Gateway A pins a key that is not the connecting gateway's: A's ZAP
//  handler refuses it.

Test (auth, a_peer_whose_key_is_not_pinned_is_refused)
{
    char *others = zsys_sprintf ("%s/others", s_path.folder);
    cr_assert_eq (sstream_keygen ("gateway-c", others), SSTREAM_OK);
    sstream_config_t *config = support_gateway_config (&s_path, 'b');
    sstream_config_set (config, "gateway/name", "gateway-c");
    char *secret = zsys_sprintf ("%s/gateway-c.secret", others);
    sstream_config_set (config, "gateway/secret-key", secret);
    zstr_free (&secret);
    sstream_gateway_t *c;
    cr_assert_eq (sstream_gateway_new (&c, config), SSTREAM_OK, "%s", sstream_errmsg ());
    uint64_t failures = 0;
    int64_t start = zclock_mono ();
    while (failures == 0 && zclock_mono () - start < 30000) {
        usleep (100 * 1000);
        sstream_gateway_stat (c, "handshake-failures", &failures);
    }
    cr_assert_geq (failures, 1);
    uint64_t up = 1;
    sstream_gateway_stat (c, "peer-up", &up);
    cr_assert_eq (up, 0, "a gateway with an unpinned key got in");
    //  The real peer stays up all the while
    sstream_gateway_stat (s_path.b, "peer-up", &up);
    cr_assert_eq (up, 1);
    sstream_gateway_destroy (&c);
    sstream_config_destroy (&config);
    zstr_free (&others);
}

//  A gateway started right after another stopped, in the same process,
//  gets the ZAP handler: the one before gave its endpoint back as it
//  ended (it used to be released only when libzmq's reaper came to it,
//  and a quick restart was refused now and then: "another one already
//  runs in this process"). Likewise its links' monitors, once named
//  after the link's address, which a new link could have before libzmq
//  had let go of the old name ("cannot start a socket monitor"). The
//  path's gateways stop first, so the handler goes and comes back every
//  round.
Test (auth, a_gateway_restarted_at_once_gets_the_zap_handler)
{
    sstream_gateway_destroy (&s_path.b);
    sstream_gateway_destroy (&s_path.a);
    char *secret = zsys_sprintf ("%s/gateway-a.secret", s_path.gateways);
    int round;
    for (round = 0; round < 2000; round++) {
        sstream_config_t *config;
        cr_assert_eq (sstream_config_new (&config), SSTREAM_OK);
        sstream_config_set (config, "gateway/secret-key", secret);
        sstream_config_set (config, "local/endpoint", "tcp://127.0.0.1:*");
        sstream_config_set (config, "local/trusted-keys", s_path.facility_a);
        sstream_gateway_t *gateway;
        int rc = sstream_gateway_new (&gateway, config);
        sstream_config_destroy (&config);
        cr_assert_eq (rc, SSTREAM_OK, "round %d: %s", round, sstream_errmsg ());
        sstream_gateway_destroy (&gateway);
    }
    zstr_free (&secret);
}
