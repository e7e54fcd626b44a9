/*  =========================================================================
    test_config - config files, sizes, durations, stream names

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"
#include "support.h"

#include <criterion/criterion.h>

static char *s_folder;

static void
s_setup (void)
{
    s_folder = support_scratch ();
    cr_assert_not_null (s_folder);
}

static void
s_teardown (void)
{
    support_rmtree (s_folder);
    free (s_folder);
}

static char *
s_file (const char *name, const char *text)
{
    char *path = zsys_sprintf ("%s/%s", s_folder, name);
    cr_assert_eq (support_write_file (path, text), 0);
    return path;
}

static const sstream_setting_t s_schema [] = {
    { "gateway/name", SSTREAM_SETTING_TEXT, NULL },
    { "gateway/buffer", SSTREAM_SETTING_SIZE, NULL },
    { "gateway/heartbeat", SSTREAM_SETTING_DURATION, NULL },
    { "gateway/max-streams", SSTREAM_SETTING_COUNT, NULL },
    { "local/endpoint", SSTREAM_SETTING_TEXT, NULL },
    { "local/security", SSTREAM_SETTING_CHOICE, "curve|none" },
    { "local/trusted-keys", SSTREAM_SETTING_PATH, NULL },
    { "local/*", SSTREAM_SETTING_PASS, NULL },
    { NULL, 0, NULL }
};

TestSuite (config, .init = s_setup, .fini = s_teardown);

Test (config, loads_values_and_resolves_paths_against_its_folder)
{
    char *path = s_file ("good.cfg",
        "#   A comment\n"
        "gateway\n"
        "    name = \"gateway a\"   # quoted\n"
        "    buffer = 64MiB\n"
        "local\n"
        "    endpoint = tcp://127.0.0.1:7001\n"
        "    trusted-keys = keys/a\n"
        "    tcp\n"
        "        sndbuf = 4MiB\n");
    sstream_config_t *config;
    cr_assert_eq (sstream_config_load (&config, path), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_config_check (config, s_schema), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_str_eq (sstream_config_get (config, "gateway/name", NULL), "gateway a");
    cr_assert_str_eq (sstream_config_get (config, "local/endpoint", NULL), "tcp://127.0.0.1:7001");
    cr_assert_str_eq (sstream_config_get (config, "local/nothing", "fallback"), "fallback");
    uint64_t size;
    cr_assert_eq (sstream_config_size (config, "gateway/buffer", 1, &size), SSTREAM_OK);
    cr_assert_eq (size, 64ULL << 20);
    cr_assert_eq (sstream_config_size (config, "gateway/absent", 77, &size), SSTREAM_OK);
    cr_assert_eq (size, 77);
    char *keys;
    cr_assert_eq (sstream_config_path (config, "local/trusted-keys", &keys), SSTREAM_OK);
    char *expected = zsys_sprintf ("%s/keys/a", s_folder);
    cr_assert_str_eq (keys, expected);
    const char **pairs = sstream_config_section_pairs (config, "local/tcp");
    cr_assert_str_eq (pairs [0], "sndbuf");
    cr_assert_str_eq (pairs [1], "4MiB");
    cr_assert_null (pairs [2]);
    cr_assert_eq (sstream_config_check_transport (config, "local", "tcp"), SSTREAM_OK);
    cr_assert_eq (sstream_config_check_transport (config, "local", "ipc"), SSTREAM_ECONFIG);
    cr_assert (strstr (sstream_errmsg (), "good.cfg:8: local/tcp"), "%s", sstream_errmsg ());
    free (pairs);
    free (keys);
    zstr_free (&expected);
    sstream_config_destroy (&config);
    cr_assert_null (config);
    sstream_config_destroy (&config);        //  Idempotent
    zstr_free (&path);
}

Test (config, syntax_errors_name_file_and_line)
{
    struct {
        const char *text;
        const char *said;
    } cases [] = {
        { "gateway\n    name = a\n   buffer = 1M\n", "bad.cfg:3: indent 4 spaces at once" },
        { "gateway\n    name = \"unfinished\n", "bad.cfg:2: missing \"" },
        { "gateway\n\n\n        name = too deep\n", "bad.cfg:4: indentation error" },
        { "gateway\n    name = a\n    /bad = 1\n", "bad.cfg:3:" },
        { "gateway junk\n", "bad.cfg:1: invalid syntax" },
    };
    size_t index;
    for (index = 0; index < sizeof (cases) / sizeof (cases [0]); index++) {
        char *path = s_file ("bad.cfg", cases [index].text);
        sstream_config_t *config = NULL;
        cr_assert_eq (sstream_config_load (&config, path), SSTREAM_ECONFIG, "case %zu loaded", index);
        cr_assert_null (config);
        cr_assert (strstr (sstream_errmsg (), cases [index].said),
                   "case %zu: '%s' does not say '%s'", index, sstream_errmsg (), cases [index].said);
        zstr_free (&path);
    }
}

Test (config, unknown_repeated_and_bad_values_name_file_and_line)
{
    struct {
        const char *text;
        const char *said;
    } cases [] = {
        { "gateway\n    name = a\n    bufer = 1M\n",
          "bad.cfg:3: gateway/bufer: unknown key 'bufer' in section 'gateway'" },
        { "gateway\n    name = a\nlcoal\n    endpoint = x\n", "bad.cfg:3: lcoal: unknown section 'lcoal'" },
        { "gateway\n    buffer = 1M\n    buffer = 2M\n", "bad.cfg:3: gateway/buffer: 'buffer' is given twice" },
        { "gateway\n    buffer = 12 parsecs\n", "bad.cfg:2: gateway/buffer:" },
        { "gateway\n    heartbeat = soon\n", "bad.cfg:2: gateway/heartbeat: 'soon' is not a duration" },
        { "gateway\n    max-streams = -3\n", "bad.cfg:2: gateway/max-streams: '-3' is not a whole number" },
        { "local\n    security = maybe\n", "bad.cfg:2: local/security: 'maybe' is not one of curve|none" },
        { "local\n    endpont = tcp://x:1\n", "bad.cfg:2: local/endpont: unknown key 'endpont'" },
        { "local\n    endpoint\n        deeper = 1\n", "bad.cfg:2: local/endpoint: 'endpoint' is a value, not a section" },
        { "gateway = 3\n    name = a\n", "bad.cfg:1: gateway: 'gateway' is a section and takes no value" },
        { "local\n    endpoint =\n", "bad.cfg:2: local/endpoint: no value given" },
    };
    size_t index;
    for (index = 0; index < sizeof (cases) / sizeof (cases [0]); index++) {
        char *path = s_file ("bad.cfg", cases [index].text);
        sstream_config_t *config;
        cr_assert_eq (sstream_config_load (&config, path), SSTREAM_OK, "case %zu: %s", index, sstream_errmsg ());
        cr_assert_eq (sstream_config_check (config, s_schema), SSTREAM_ECONFIG, "case %zu passed", index);
        cr_assert (strstr (sstream_errmsg (), cases [index].said),
                   "case %zu: '%s' does not say '%s'", index, sstream_errmsg (), cases [index].said);
        sstream_config_destroy (&config);
        zstr_free (&path);
    }
}

Test (config, files_that_cannot_be_configs)
{
    sstream_config_t *config = NULL;
    char *missing = zsys_sprintf ("%s/none.cfg", s_folder);
    cr_assert_eq (sstream_config_load (&config, missing), SSTREAM_ECONFIG);
    cr_assert (strstr (sstream_errmsg (), "cannot open config file"), "%s", sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "No such file"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_config_load (&config, s_folder), SSTREAM_ECONFIG);
    cr_assert (strstr (sstream_errmsg (), "is a folder"), "%s", sstream_errmsg ());
    char *binary = zsys_sprintf ("%s/binary.cfg", s_folder);
    FILE *file = fopen (binary, "wb");
    fwrite ("gateway\n\0\0\0", 1, 11, file);
    fclose (file);
    cr_assert_eq (sstream_config_load (&config, binary), SSTREAM_ECONFIG);
    cr_assert (strstr (sstream_errmsg (), "NUL byte"), "%s", sstream_errmsg ());
    cr_assert_null (config);
    zstr_free (&missing);
    zstr_free (&binary);
}

Test (config, values_set_in_code_are_named_by_path)
{
    sstream_config_t *config;
    cr_assert_eq (sstream_config_new (&config), SSTREAM_OK);
    cr_assert_eq (sstream_config_set (config, "gateway/buffer", "lots"), SSTREAM_OK);
    cr_assert_eq (sstream_config_check (config, s_schema), SSTREAM_ECONFIG);
    cr_assert (strstr (sstream_errmsg (), "option 'gateway/buffer': 'lots' is not a size"),
               "%s", sstream_errmsg ());
    cr_assert_eq (sstream_config_set (config, "gateway/buffer", "1KiB"), SSTREAM_OK);
    cr_assert_eq (sstream_config_check (config, s_schema), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_config_set (config, "/bad", "x"), SSTREAM_EINVAL);
    cr_assert_eq (sstream_config_set (config, "bad/", "x"), SSTREAM_EINVAL);
    cr_assert_eq (sstream_config_set (config, "a b", "x"), SSTREAM_EINVAL);
    cr_assert_eq (sstream_config_set (config, "ok", NULL), SSTREAM_EINVAL);
    cr_assert_eq (sstream_config_set (NULL, "ok", "x"), SSTREAM_EINVAL);
    sstream_config_destroy (&config);
}

//  Values given on a command line over a file: named by their flag, a bad
//  argument rather than bad configuration, and paths taken from the
//  current folder, not the file's
Test (config, values_set_from_elsewhere_are_named_by_their_origin)
{
    char *path = s_file ("over.cfg",
        "gateway\n"
        "    buffer = 64MiB\n"
        "local\n"
        "    trusted-keys = keys/a\n");
    sstream_config_t *config;
    cr_assert_eq (sstream_config_load (&config, path), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_config_set_from (config, "gateway/buffer", "lots", "--buffer"),
                  SSTREAM_OK);
    cr_assert_eq (sstream_config_check (config, s_schema), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "--buffer: 'lots' is not a size"), "%s",
               sstream_errmsg ());
    cr_assert (!strstr (sstream_errmsg (), "over.cfg"), "%s", sstream_errmsg ());
    uint64_t size;
    cr_assert_eq (sstream_config_size (config, "gateway/buffer", 1, &size), SSTREAM_EINVAL);
    cr_assert_eq (sstream_config_fault (config, "gateway/buffer"), SSTREAM_EINVAL);
    cr_assert_str_eq (sstream_config_where (config, "gateway/buffer"), "--buffer");
    //  Set again without an origin: a value set in code, not the file's
    cr_assert_eq (sstream_config_set (config, "gateway/buffer", "lots"), SSTREAM_OK);
    cr_assert_eq (sstream_config_check (config, s_schema), SSTREAM_ECONFIG);
    cr_assert (strstr (sstream_errmsg (), "option 'gateway/buffer'"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_config_set (config, "gateway/buffer", "1MiB"), SSTREAM_OK);
    //  What the file says stays the file's
    cr_assert_eq (sstream_config_fault (config, "local/trusted-keys"), SSTREAM_ECONFIG);
    cr_assert (strstr (sstream_config_where (config, "local/trusted-keys"), "over.cfg:4"));
    char *keys;
    cr_assert_eq (sstream_config_path (config, "local/trusted-keys", &keys), SSTREAM_OK);
    char *expected = zsys_sprintf ("%s/keys/a", s_folder);
    cr_assert_str_eq (keys, expected);
    free (keys);
    zstr_free (&expected);
    //  A relative path given over it is the current folder's
    cr_assert_eq (sstream_config_set_from (config, "local/trusted-keys", "keys/b", "--keys"),
                  SSTREAM_OK);
    cr_assert_eq (sstream_config_path (config, "local/trusted-keys", &keys), SSTREAM_OK);
    cr_assert_str_eq (keys, "keys/b");
    free (keys);
    cr_assert_eq (sstream_config_set (config, "gateway/secret-key", "g.secret"), SSTREAM_OK);
    cr_assert_eq (sstream_config_path (config, "gateway/secret-key", &keys), SSTREAM_OK);
    cr_assert_str_eq (keys, "g.secret");
    free (keys);
    sstream_config_destroy (&config);
    zstr_free (&path);
}

Test (config, sizes)
{
    struct { const char *text; uint64_t value; } good [] = {
        { "0", 0 }, { "4096", 4096 }, { "64K", 64000 }, { "64KiB", 65536 },
        { "1M", 1000000 }, { "1MiB", 1048576 }, { "2G", 2000000000ULL },
        { "2GiB", 2ULL << 30 }, { "3B", 3 }, { "5kB", 5000 }, { " 7MB", 7000000 },
        { "1TiB", 1ULL << 40 },
        //  Decimals: exact, a fraction of a byte dropped
        { "1.5G", 1500000000ULL }, { "2.5MiB", 2621440 }, { "0.5K", 500 },
        { "1.3GiB", 1395864371ULL }, { "0.000000000000000001T", 0 },
        { "16777215.5TiB", 18446743523953737728ULL }, { "18446744073709551615", UINT64_MAX },
    };
    size_t index;
    for (index = 0; index < sizeof (good) / sizeof (good [0]); index++) {
        uint64_t value = 1;
        cr_assert_eq (sstream_parse_size (good [index].text, &value), SSTREAM_OK,
                      "'%s': %s", good [index].text, sstream_errmsg ());
        cr_assert_eq (value, good [index].value, "'%s' gave %" PRIu64, good [index].text, value);
    }
    const char *bad [] = { "", "M", "-1", "1 M", "1X", "1Mi", "99999999999999999999",
                           "20000000000000000000GiB", "1.5.5G", "1.G", ".5G", "1..5G",
                           "1,5G", "1e3", "1.5", "1.5B", "+1K", "0x10", "1.5 G",
                           "16777216TiB", "18446744073709551616", "1.0000000000000000001K",
                           "2EB", NULL };
    for (index = 0; bad [index]; index++) {
        uint64_t value;
        cr_assert_eq (sstream_parse_size (bad [index], &value), SSTREAM_EINVAL,
                      "'%s' was taken", bad [index]);
    }
    uint64_t value;
    cr_assert_eq (sstream_parse_size (NULL, &value), SSTREAM_EINVAL);
    cr_assert_eq (sstream_parse_size ("1.5", &value), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "not a whole number of bytes"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_parse_size ("1.5.5G", &value), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "unknown unit '.5G'"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_parse_size ("16777216TiB", &value), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "too large"), "%s", sstream_errmsg ());
}

Test (config, durations)
{
    struct { const char *text; int64_t msecs; } good [] = {
        { "250ms", 250 }, { "10s", 10000 }, { "10", 10000 }, { "1.5s", 1500 },
        { "2m", 120000 }, { "1h", 3600000 }, { "0", 0 }, { "0s", 0 }, { "2min", 120000 },
        //  Compound forms, largest unit first
        { "1h30m", 5400000 }, { "1m30s", 90000 }, { "500ms", 500 }, { "1s500ms", 1500 },
        { "1h30m15s250ms", 5415250 }, { "1h0m5s", 3605000 }, { "1.5h", 5400000 },
        { "0.5m30s", 60000 }, { " 3s", 3000 }, { "0.001s", 1 }, { "1.000s", 1000 },
        { "1000000000000s", 1000000000000000LL },
    };
    size_t index;
    for (index = 0; index < sizeof (good) / sizeof (good [0]); index++) {
        int64_t msecs = -1;
        cr_assert_eq (sstream_parse_duration (good [index].text, &msecs), SSTREAM_OK,
                      "'%s': %s", good [index].text, sstream_errmsg ());
        cr_assert_eq (msecs, good [index].msecs, "'%s' gave %" PRId64, good [index].text, msecs);
    }
    const char *bad [] = { "", "s", "-1s", "10 s", "10d", "soon", "1s1s", "30m1h", "1h30",
                           "1m 30s", "1.5.5s", "1e3", "1e3s", ".5s", "1.s", "0.5ms", "1.0001s",
                           "+1s", "1h-30m", "1sms", "1mm", "1m1min", "1000000000001s",
                           "99999999999999999999h", "9999999999999999999999999s", "inf",
                           "nan", "1s ", "1hour", NULL };
    for (index = 0; bad [index]; index++) {
        int64_t msecs;
        cr_assert_eq (sstream_parse_duration (bad [index], &msecs), SSTREAM_EINVAL,
                      "'%s' was taken", bad [index]);
    }
    int64_t msecs;
    cr_assert_eq (sstream_parse_duration ("30m1h", &msecs), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "in that order"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_parse_duration ("0.5ms", &msecs), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "finer than a millisecond"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_parse_duration ("1000000000001s", &msecs), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "too long"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_parse_duration ("1h30", &msecs), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "needs a unit"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_parse_duration (NULL, &msecs), SSTREAM_EINVAL);
}

Test (config, stream_names)
{
    cr_assert_eq (sstream_check_stream_name ("run-42/detector.a:frames@beamline+2_x"), SSTREAM_OK);
    cr_assert_eq (sstream_check_stream_name (""), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "empty"));
    cr_assert_eq (sstream_check_stream_name (NULL), SSTREAM_EINVAL);
    char name [SSTREAM_STREAM_NAME_MAX + 2];
    memset (name, 'a', sizeof (name) - 1);
    name [SSTREAM_STREAM_NAME_MAX] = 0;
    cr_assert_eq (sstream_check_stream_name (name), SSTREAM_OK);
    name [SSTREAM_STREAM_NAME_MAX] = 'a';
    name [SSTREAM_STREAM_NAME_MAX + 1] = 0;
    cr_assert_eq (sstream_check_stream_name (name), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "129 bytes long"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_check_stream_name ("two words"), SSTREAM_EINVAL);
    cr_assert_eq (sstream_check_stream_name ("tab\there"), SSTREAM_EINVAL);
    cr_assert_eq (sstream_check_stream_name ("caf\xc3\xa9"), SSTREAM_EINVAL);
}

Test (config, every_error_code_has_words)
{
    int code;
    for (code = SSTREAM_OK; code <= SSTREAM_EINTERNAL; code++)
        cr_assert_str_neq (sstream_strerror (code), "unknown error", "code %d", code);
    cr_assert_str_eq (sstream_strerror (9999), "unknown error");
    cr_assert_str_eq (sstream_strerror (-1), "unknown error");
    cr_assert_eq (strlen (sstream_version ()) > 4, true);
}
