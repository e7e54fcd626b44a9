/*  =========================================================================
    test_access - per-stream authorization: allowed, denied, and a policy
    change that takes effect without a restart

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include <czmq.h>
#include "support.h"

#include <criterion/criterion.h>
#include <sys/socket.h>
#include <sys/un.h>

//  One gateway; its link admits three keys, which the rules tell apart
static char *s_folder;
static char s_config [600], s_trusted [600], s_keys [600];

static void
s_copy (const char *from, const char *to)
{
    char *text = support_read_file (from);
    cr_assert_not_null (text, "%s", from);
    cr_assert_eq (support_write_file (to, text), 0);
    free (text);
}

static void
s_write_config (const char *access)
{
    char *text = zsys_sprintf (
        "gateway\n"
        "    name = solo\n"
        "    secret-key = keys/gateway.secret\n"
        "    heartbeat = 100ms\n"
        "local\n"
        "    endpoint = ipc://%s/solo.sock\n"
        "    trusted-keys = trusted\n"
        "%s", s_folder, access);
    //  Written beside, then renamed: the gateway never reads half a file
    char *temporary = zsys_sprintf ("%s.new", s_config);
    cr_assert_eq (support_write_file (temporary, text), 0);
    cr_assert_eq (rename (temporary, s_config), 0);
    zstr_free (&temporary);
    zstr_free (&text);
}

static void
s_setup (void)
{
    s_folder = support_scratch ();
    snprintf (s_keys, sizeof (s_keys), "%s/keys", s_folder);
    snprintf (s_trusted, sizeof (s_trusted), "%s/trusted", s_folder);
    snprintf (s_config, sizeof (s_config), "%s/gateway.cfg", s_folder);
    const char *names [] = { "gateway", "beamline", "analysis", "visitor", NULL };
    const char **name;
    for (name = names; *name; name++) {
        char *dir = zsys_sprintf ("%s/%s", s_keys, *name);
        cr_assert_eq (sstream_keygen (*name, **name == 'g'? s_keys: dir), SSTREAM_OK);
        if (**name != 'g') {
            char *from = zsys_sprintf ("%s/%s.pub", dir, *name);
            char *to = zsys_sprintf ("%s/%s.pub", s_trusted, *name);
            zsys_dir_create ("%s", s_trusted);
            s_copy (from, to);
            zstr_free (&from);
            zstr_free (&to);
        }
        zstr_free (&dir);
    }
}

static void
s_teardown (void)
{
    support_rmtree (s_folder);
    free (s_folder);
}

TestSuite (access, .init = s_setup, .fini = s_teardown, .timeout = 60);

static sstream_config_t *
s_client (const char *who)
{
    sstream_config_t *options;
    sstream_config_new (&options);
    char *secret = zsys_sprintf ("%s/%s/%s.secret", s_keys, who, who);
    char *gateway = zsys_sprintf ("%s/gateway.pub", s_keys);
    sstream_config_set (options, "client/secret-key", secret);
    sstream_config_set (options, "client/gateway-key", gateway);
    //  What is checked here is who may open which stream, not who may
    //  read it: the streams are not sealed
    sstream_config_set (options, "client/payload", "hop");
    zstr_free (&secret);
    zstr_free (&gateway);
    return options;
}

//  Try to open stream as who, producing or consuming; the result.
static int
s_try (const char *who, bool produce, const char *stream)
{
    char endpoint [700];
    snprintf (endpoint, sizeof (endpoint), "ipc://%s/solo.sock", s_folder);
    sstream_config_t *options = s_client (who);
    int rc;
    if (produce) {
        sstream_producer_t *producer;
        rc = sstream_producer_new (&producer, endpoint, stream, options);
        sstream_producer_destroy (&producer);
    }
    else {
        sstream_consumer_t *consumer;
        rc = sstream_consumer_new (&consumer, endpoint, stream, options);
        sstream_consumer_destroy (&consumer);
    }
    sstream_config_destroy (&options);
    return rc;
}

#define RULES_BEAMLINE \
    "access\n" \
    "    default = deny\n" \
    "    rule\n" \
    "        streams = detector-*\n" \
    "        producers = keys/beamline\n" \
    "        consumers = keys/analysis\n" \
    "    rule\n" \
    "        streams = public/*\n" \
    "        producers = keys/beamline/beamline.pub\n" \
    "        consumers = *\n"

Test (access, allowed_and_denied)
{
    s_write_config (RULES_BEAMLINE);
    sstream_gateway_t *gateway;
    cr_assert_eq (sstream_gateway_load (&gateway, s_config), SSTREAM_OK, "%s", sstream_errmsg ());

    cr_assert_eq (s_try ("beamline", true, "detector-1"), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (s_try ("analysis", false, "detector-1"), SSTREAM_OK, "%s", sstream_errmsg ());
    //  Trusted by the link, not by the rule
    cr_assert_eq (s_try ("visitor", true, "detector-2"), SSTREAM_EDENIED);
    cr_assert (strstr (sstream_errmsg (), "not authorized for stream 'detector-2'"), "%s", sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "may not produce it"), "%s", sstream_errmsg ());
    cr_assert_eq (s_try ("beamline", false, "detector-3"), SSTREAM_EDENIED);
    cr_assert (strstr (sstream_errmsg (), "may not consume it"), "%s", sstream_errmsg ());
    //  '*' is anybody the link admits; a glob matches across '/'
    cr_assert_eq (s_try ("visitor", false, "public/run/7"), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (s_try ("analysis", true, "public/run/7"), SSTREAM_EDENIED);
    //  No rule: the default
    cr_assert_eq (s_try ("beamline", true, "calibration"), SSTREAM_EDENIED);
    cr_assert (strstr (sstream_errmsg (), "no rule names it, and the default is deny"),
               "%s", sstream_errmsg ());
    sstream_gateway_destroy (&gateway);
}

Test (access, a_changed_file_takes_effect_without_a_restart)
{
    s_write_config (RULES_BEAMLINE);
    sstream_gateway_t *gateway;
    cr_assert_eq (sstream_gateway_load (&gateway, s_config), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (s_try ("visitor", true, "detector-9"), SSTREAM_EDENIED);

    //  The visitor joins the beamline's producers
    s_write_config (
        "access\n"
        "    default = deny\n"
        "    rule\n"
        "        streams = detector-*\n"
        "        producers = *\n"
        "        consumers = keys/analysis\n");
    int rc = SSTREAM_EDENIED;
    int64_t start = zclock_mono ();
    while (rc == SSTREAM_EDENIED && zclock_mono () - start < 30000) {
        usleep (100 * 1000);
        rc = s_try ("visitor", true, "detector-9");
    }
    cr_assert_eq (rc, SSTREAM_OK, "the new rules did not take effect: %s", sstream_errmsg ());

    //  A broken file changes nothing
    s_write_config ("access\n    default = maybe\n");
    usleep (500 * 1000);
    cr_assert_eq (s_try ("visitor", true, "detector-9"), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_gateway_reload (gateway, NULL), SSTREAM_ECONFIG);
    cr_assert (strstr (sstream_errmsg (), "gateway.cfg:9: access/default: 'maybe' is not one of allow|deny"),
               "%s", sstream_errmsg ());

    //  Rules given in code, too
    sstream_config_t *config;
    sstream_config_new (&config);
    sstream_config_set (config, "access/default", "deny");
    cr_assert_eq (sstream_gateway_reload (gateway, config), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (s_try ("visitor", true, "detector-9"), SSTREAM_EDENIED);
    sstream_config_destroy (&config);
    sstream_gateway_destroy (&gateway);
}

Test (access, key_folders_named_by_rules_are_reread)
{
    s_write_config (RULES_BEAMLINE);
    sstream_gateway_t *gateway;
    cr_assert_eq (sstream_gateway_load (&gateway, s_config), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (s_try ("visitor", false, "detector-4"), SSTREAM_EDENIED);
    char *from = zsys_sprintf ("%s/visitor/visitor.pub", s_keys);
    char *to = zsys_sprintf ("%s/analysis/visitor.pub", s_keys);
    s_copy (from, to);
    int rc = SSTREAM_EDENIED;
    int64_t start = zclock_mono ();
    while (rc == SSTREAM_EDENIED && zclock_mono () - start < 30000) {
        usleep (100 * 1000);
        rc = s_try ("visitor", false, "detector-4");
    }
    cr_assert_eq (rc, SSTREAM_OK, "%s", sstream_errmsg ());
    zstr_free (&from);
    zstr_free (&to);
    sstream_gateway_destroy (&gateway);
}

//  A gateway that failed to start had bound its socket, and libzmq closes
//  it in its own thread a moment after: until then a new gateway finds it
//  in use. Wait for that.
static void
s_wait_until_closed (const char *path)
{
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    snprintf (address.sun_path, sizeof (address.sun_path), "%s", path);
    bool open = true;
    int64_t start = zclock_mono ();
    while (open && zclock_mono () - start < 30000) {
        int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        open = fd >= 0 && connect (fd, (struct sockaddr *) &address, sizeof (address)) == 0;
        if (fd >= 0)
            close (fd);
        if (open)
            usleep (10 * 1000);
    }
    cr_assert_not (open, "%s still takes connections after 30 s", path);
}

Test (access, bad_rules_are_refused_at_start)
{
    s_write_config ("access\n    rule\n        streams = x\n        producers = keys/none-such\n        consumers = *\n");
    sstream_gateway_t *gateway = NULL;
    int rc = sstream_gateway_load (&gateway, s_config);
    cr_assert_eq (rc, SSTREAM_ECONFIG, "got %d: %s", rc, sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "gateway.cfg:11: access/rule/producers"), "%s", sstream_errmsg ());
    char *socket_path = zsys_sprintf ("%s/solo.sock", s_folder);
    s_wait_until_closed (socket_path);
    zstr_free (&socket_path);
    s_write_config ("access\n    rule\n        producers = *\n        consumers = *\n");
    rc = sstream_gateway_load (&gateway, s_config);
    cr_assert_eq (rc, SSTREAM_ECONFIG, "got %d: %s", rc, sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "must say which streams"), "%s", sstream_errmsg ());
    cr_assert_null (gateway);
}
