/*  =========================================================================
    test_peering - hello and welcome between gateways, with a gateway B
    played by hand (DEALER sockets under gateway B's key) against a real
    gateway A: which connection A takes for its peer

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"
#include "support.h"

#include <criterion/criterion.h>
#include <unistd.h>

TestSuite (peering, .timeout = 240);

//  Wait this long at most for what must happen (a loaded machine is slow)
#define S_LIMIT_MS 60000

static support_path_t s_path;

//  A connection of the hand-made gateway B to A's WAN link
static zsock_t *
s_dealer (void)
{
    char *path = zsys_sprintf ("%s/gateway-b.secret", s_path.gateways);
    zcert_t *ours = zcert_load (path);
    zstr_free (&path);
    path = zsys_sprintf ("%s/gateway-a.pub", s_path.gateways);
    zcert_t *theirs = zcert_load (path);
    zstr_free (&path);
    cr_assert (ours && theirs);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    cr_assert_not_null (dealer);
    zcert_apply (ours, dealer);
    zsock_set_curve_serverkey (dealer, zcert_public_txt (theirs));
    zsock_set_rcvtimeo (dealer, S_LIMIT_MS);
    zsock_set_linger (dealer, 0);
    cr_assert_eq (zsock_connect (dealer, "%s", sstream_gateway_endpoint (s_path.a, "peer")), 0);
    zcert_destroy (&ours);
    zcert_destroy (&theirs);
    return dealer;
}

static void
s_send (zsock_t *dealer, int type, uint64_t session)
{
    sstream_wire_t message = { .type = type, .role = SSTREAM_ROLE_GATEWAY, .session = session };
    snprintf (message.text, sizeof (message.text), "gateway-b");
    zframe_t *frame = sstream_wire_encode (&message);
    cr_assert_not_null (frame);
    cr_assert_eq (zframe_send (&frame, dealer, 0), 0);
}

//  The next message on dealer (one frame, decoded); false on a timeout
static bool
s_recv (zsock_t *dealer, sstream_wire_t *message)
{
    zframe_t *frame = zframe_recv (dealer);
    if (!frame)
        return false;
    cr_assert_eq (sstream_wire_decode (message, zframe_data (frame), zframe_size (frame)),
                  SSTREAM_OK, "%s", sstream_errmsg ());
    zframe_destroy (&frame);
    return true;
}

static void
s_expect (zsock_t *dealer, int type, const char *when)
{
    sstream_wire_t message;
    cr_assert (s_recv (dealer, &message), "%s: nothing came", when);
    cr_assert_eq (message.type, type, "%s: got %s (%s), not %s", when,
                  sstream_wire_type_name (message.type), message.text, sstream_wire_type_name (type));
}

//  Gateway B reconnects with a new session; a hello from its old
//  connection, with the old session, comes after the new one's (fair
//  queueing between connections lets it). A keeps the new connection: it
//  goes on pinging it, and the old one is told to say hello first.
Test (peering, a_late_hello_from_an_earlier_session_does_not_take_the_peer_back)
{
    support_options_t options = { .heartbeat = "100ms" };
    cr_assert_eq (support_path_start (&s_path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_gateway_destroy (&s_path.b);
    uint64_t up = 1;
    int64_t start = zclock_mono ();
    while (up && zclock_mono () - start < S_LIMIT_MS) {
        usleep (10 * 1000);
        sstream_gateway_stat (s_path.a, "peer-up", &up);
    }
    cr_assert_eq (up, 0, "gateway a did not notice that b went");
    zsock_t *old = s_dealer ();
    s_send (old, SSTREAM_WIRE_HELLO, 1111);
    s_expect (old, SSTREAM_WIRE_WELCOME, "first hello");
    zsock_t *new = s_dealer ();
    s_send (new, SSTREAM_WIRE_HELLO, 2222);
    s_expect (new, SSTREAM_WIRE_WELCOME, "hello on the new connection");
    //  The late hello, and a ping behind it on the same connection
    s_send (old, SSTREAM_WIRE_HELLO, 1111);
    s_send (old, SSTREAM_WIRE_PING, 0);
    sstream_wire_t message;
    cr_assert (s_recv (old, &message), "the old connection heard nothing");
    cr_assert_eq (message.type, SSTREAM_WIRE_ERROR, "the late hello got %s: a took it for its peer",
                  sstream_wire_type_name (message.type));
    cr_assert (strstr (message.text, "say hello first"), "%s", message.text);
    //  The new connection is still the peer: a pings it, and never says
    //  "say hello first" to it
    s_send (new, SSTREAM_WIRE_PING, 0);
    int pings = 0;
    while (pings < 3) {
        cr_assert (s_recv (new, &message), "a stopped talking to the new connection");
        cr_assert_neq (message.type, SSTREAM_WIRE_ERROR, "a said to the new connection: %s",
                       message.text);
        if (message.type == SSTREAM_WIRE_PING)
            pings++;
        s_send (new, SSTREAM_WIRE_PING, 0);
    }
    sstream_gateway_stat (s_path.a, "peer-up", &up);
    cr_assert_eq (up, 1);
    zsock_destroy (&old);
    zsock_destroy (&new);
    support_path_stop (&s_path);
}

//  Wait until the gateway's peer is down (or up) and why says what it
//  must; false after the limit
static bool
s_wait_why (sstream_gateway_t *gateway, bool down, const char *says, char *why, size_t size)
{
    int64_t start = zclock_mono ();
    while (zclock_mono () - start < S_LIMIT_MS) {
        bool is_down = sstream_gateway_peer_down (gateway, why, size) == 1;
        if (is_down == down && (!says || strstr (why, says)))
            return true;
        usleep (10 * 1000);
    }
    return false;
}

static uint64_t
s_stat (sstream_gateway_t *gateway, const char *name)
{
    uint64_t value = 0;
    cr_assert_eq (sstream_gateway_stat (gateway, name, &value), SSTREAM_OK, "%s", sstream_errmsg ());
    return value;
}

static sstream_gateway_t *
s_start (char which, const char *wan, const char *peer_key)
{
    sstream_config_t *config = support_gateway_config (&s_path, which);
    cr_assert_not_null (config);
    if (wan)
        cr_assert_eq (sstream_config_set (config, "peer/endpoint", wan), SSTREAM_OK);
    if (peer_key)
        cr_assert_eq (sstream_config_set (config, "peer/public-key", peer_key), SSTREAM_OK);
    sstream_gateway_t *gateway = NULL;
    cr_assert_eq (sstream_gateway_new (&gateway, config), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_config_destroy (&config);
    return gateway;
}

//  A pins a stranger's key for B: both say why they are not up (B that A
//  refused its key, A whose key it refused), B goes on dialling, and once
//  A pins B's key B is up by itself; when A goes, B says why, and is up
//  again once A is back
Test (peering, a_refused_peer_says_why_tries_again_and_comes_up_once_the_pin_is_right)
{
    support_options_t options = { .heartbeat = "100ms" };
    cr_assert_eq (support_path_start (&s_path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_gateway_destroy (&s_path.b);
    sstream_gateway_destroy (&s_path.a);
    char *strangers = zsys_sprintf ("%s/strangers", s_path.folder);
    cr_assert_eq (sstream_keygen ("stranger", strangers), SSTREAM_OK, "%s", sstream_errmsg ());
    char *stranger = zsys_sprintf ("%s/stranger.pub", strangers);
    //  A port of the test's own: A comes back there
    int port = support_ports (1);
    cr_assert_gt (port, 0);
    char wan [64];
    snprintf (wan, sizeof (wan), "tcp://127.0.0.1:%d", port);
    s_path.a = s_start ('a', wan, stranger);
    s_path.b = s_start ('b', wan, NULL);

    char why [512];
    cr_assert (s_wait_why (s_path.b, true, "gateway-a refused our key (its peer/public-key is not "
                           "this gateway's public key)", why, sizeof (why)), "b: %s", why);
    char *path = zsys_sprintf ("%s/gateway-b.pub", s_path.gateways);
    zcert_t *b_key = zcert_load (path);
    zstr_free (&path);
    cr_assert_not_null (b_key);
    char *expected = zsys_sprintf ("refused key %s: it is not the key pinned for gateway-b in "
                                   "peer/public-key", zcert_public_txt (b_key));
    cr_assert (s_wait_why (s_path.a, true, expected, why, sizeof (why)), "a: %s", why);
    zstr_free (&expected);
    zcert_destroy (&b_key);
    //  B tries again, and again
    int64_t start = zclock_mono ();
    while (s_stat (s_path.b, "peer-redials") < 3 && zclock_mono () - start < S_LIMIT_MS)
        usleep (10 * 1000);
    cr_assert_geq (s_stat (s_path.b, "peer-redials"), 3, "b did not dial again");
    cr_assert_eq (s_stat (s_path.b, "peer-up"), 0);
    cr_assert_eq (s_stat (s_path.a, "peer-up"), 0);
    cr_assert_geq (s_stat (s_path.a, "handshake-failures"), 3);

    //  The pin right: up, by itself, and nothing to say
    sstream_gateway_destroy (&s_path.a);
    s_path.a = s_start ('a', wan, NULL);
    cr_assert (s_wait_why (s_path.b, false, NULL, why, sizeof (why)), "b: %s", why);
    cr_assert_str_eq (why, "");
    cr_assert (s_wait_why (s_path.a, false, NULL, why, sizeof (why)), "a: %s", why);
    cr_assert_eq (s_stat (s_path.b, "peer-up"), 1);
    cr_assert_eq (s_stat (s_path.b, "peer-reconnects"), 0, "it was never up before");

    //  A goes: B says why; A comes back: B is up again, once more
    sstream_gateway_destroy (&s_path.a);
    cr_assert (s_wait_why (s_path.b, true, NULL, why, sizeof (why)), "b did not notice");
    cr_assert (strstr (why, "disconnected") || strstr (why, "connection refused at tcp://"),
               "b says: %s", why);
    s_path.a = s_start ('a', wan, NULL);
    cr_assert (s_wait_why (s_path.b, false, NULL, why, sizeof (why)), "b: %s", why);
    cr_assert_eq (s_stat (s_path.b, "peer-reconnects"), 1);
    zstr_free (&stranger);
    zstr_free (&strangers);
    support_path_stop (&s_path);
}
