/*  =========================================================================
    test_netbed - the test bed of network namespaces (test/netbed): the
    instrument has no route to the WAN, the gateways do not forward, the
    WAN cuts and heals; and a sealed 64 MiB stream goes from sstream-pipe
    send on the instrument through two sstream-pipe gateway processes, one
    per facility, to sstream-pipe recv on the analysis host; a second pair
    of gateways on the same segments (the failover bed) carries streams too

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE
#include "netbed.h"
#include "support.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static netbed_t s_bed;

//  The bed goes first: it kills what runs in it
static void
s_teardown (void)
{
    netbed_down (&s_bed);
    support_fixture_teardown ();
}

TestSuite (netbed, .init = support_fixture_setup, .fini = s_teardown, .timeout = 300);

static const char *
s_address (const char *host, const char *link)
{
    const char *address = netbed_address (&s_bed, host, link);
    cr_assert_not_null (address, "netbed.sh up gave no address for %s's %s", host, link);
    return address;
}

static const char *
s_value (const char *key)
{
    const char *value = netbed_value (&s_bed, key);
    cr_assert_not_null (value, "netbed.sh up gave no %s", key);
    return value;
}

//  A gateway's bound endpoint (tcp://ADDRESS:PORT) on host's link
static void
s_assert_on (const char *endpoint, const char *host, const char *link)
{
    const char *address = strstr (endpoint, "://");
    const char *colon = strrchr (endpoint, ':');
    cr_assert (address && colon && colon > address + 3, "not tcp://ADDRESS:PORT: %s", endpoint);
    address += 3;
    const char *expected = s_address (host, link);
    cr_assert (strlen (expected) == (size_t) (colon - address)
            && strncmp (address, expected, strlen (expected)) == 0,
               "%s is not on %s's %s link (%s)", endpoint, host, link, expected);
}

Test (netbed, the_instrument_has_no_route_to_the_wan_and_the_gateways_do_not_forward)
{
    netbed_up_or_skip (&s_bed, support_folder, NULL);
    const char *gwa_lan = s_address ("gwa", "lan"), *gwa_wan = s_address ("gwa", "wan");
    const char *gwb_wan = s_address ("gwb", "wan");
    //  A port nobody listens on: a connection that gets there is refused
    int port = 7100;
    cr_assert_eq (netbed_connect (&s_bed, "instr", gwa_lan, port, 30000), ECONNREFUSED,
                  "the instrument does not reach its gateway's LAN address");
    cr_assert_eq (netbed_connect (&s_bed, "instr", gwb_wan, port, 30000), ENETUNREACH,
                  "the instrument has a route to gateway B's WAN address");
    cr_assert_eq (netbed_connect (&s_bed, "instr", gwa_wan, port, 30000), ENETUNREACH,
                  "the instrument has a route to gateway A's WAN address");
    cr_assert_eq (netbed_connect (&s_bed, "gwa", gwb_wan, port, 30000), ECONNREFUSED,
                  "gateway A does not reach gateway B");
    cr_assert_eq (netbed_connect (&s_bed, "ana", gwb_wan, port, 30000), ENETUNREACH,
                  "the analysis host has a route to the WAN");
    //  The gateways do not forward
    char out [600], err [600];
    snprintf (out, sizeof (out), "%s/sysctl.out", support_folder);
    snprintf (err, sizeof (err), "%s/run.err", support_folder);
    const char *gateways [] = { "gwa", "gwb" };
    size_t index;
    for (index = 0; index < 2; index++) {
        cr_assert_eq (netbed_run (&s_bed, gateways [index], out, err, "sysctl", "-n",
                                  "net.ipv4.ip_forward", NULL), 0, "%s", support_read_file (err));
        char *forwarding = support_read_file (out);
        cr_assert_str_eq (forwarding, "0\n", "%s forwards", gateways [index]);
        free (forwarding);
    }
    //  So, given a route through gateway A, and B one back, the instrument
    //  still gets nowhere: A drops what is not for itself without a word
    //  (were it forwarding, B's refusal would come back)
    cr_assert_eq (netbed_run (&s_bed, "instr", NULL, err, "ip", "route", "add",
                              s_value ("WAN_SUBNET"), "via", gwa_lan, NULL), 0,
                  "%s", support_read_file (err));
    cr_assert_eq (netbed_run (&s_bed, "gwb", NULL, err, "ip", "route", "add",
                              s_value ("LAN_A_SUBNET"), "via", gwa_wan, NULL), 0,
                  "%s", support_read_file (err));
    cr_assert_eq (netbed_connect (&s_bed, "instr", gwb_wan, port, 3000), ETIMEDOUT,
                  "the instrument reaches the WAN through gateway A");

    //  A cut WAN is silence; healed, it carries again
    netbed_cut (&s_bed, "wan", NULL);
    cr_assert_eq (netbed_connect (&s_bed, "gwa", gwb_wan, port, 2000), ETIMEDOUT,
                  "the cut WAN carries");
    netbed_heal (&s_bed, "wan", NULL);
    cr_assert_eq (netbed_connect (&s_bed, "gwa", gwb_wan, port, 30000), ECONNREFUSED,
                  "the healed WAN does not carry");
}

static void
s_keys (gateways_t *keys)
{
    memset (keys, 0, sizeof (*keys));
    gateways_keys (keys, support_folder);
}

Test (netbed, a_sealed_stream_goes_from_the_instrument_to_the_analysis_host)
{
    netbed_up_or_skip (&s_bed, support_folder, NULL);
    gateways_t keys;
    s_keys (&keys);
    netbed_pair_t pair;
    netbed_pair_start (&s_bed, &pair, &keys, NULL);
    //  Each facility's clients have their gateway's LAN address
    s_assert_on (pair.a.local, "gwa", "lan");
    s_assert_on (pair.a.peer, "gwa", "wan");
    s_assert_on (pair.b.local, "gwb", "lan");
    netbed_stream (&s_bed, &keys, &pair, "netbed-64", 64 << 20);
    netbed_pair_stop (&pair);
}

//  The failover bed: a second pair on the same LANs and WAN, with the
//  first pair's keys, carries a stream of its own beside the first's
Test (netbed, a_second_pair_of_gateways_shares_the_lans_and_the_wan)
{
    netbed_options_t options = { .second_pair = true };
    netbed_up_or_skip (&s_bed, support_folder, &options);
    gateways_t keys;
    s_keys (&keys);
    netbed_pair_t first, second;
    netbed_pair_start (&s_bed, &first, &keys, NULL);
    netbed_pair_options_t pair_options = { .second = true };
    netbed_pair_start (&s_bed, &second, &keys, &pair_options);
    s_assert_on (second.a.local, "gwa2", "lan");
    s_assert_on (second.a.peer, "gwa2", "wan");
    s_assert_on (second.b.local, "gwb2", "lan");
    netbed_stream (&s_bed, &keys, &second, "second-8", 8 << 20);
    netbed_stream (&s_bed, &keys, &first, "first-8", 8 << 20);
    netbed_pair_stop (&second);
    netbed_pair_stop (&first);
}
