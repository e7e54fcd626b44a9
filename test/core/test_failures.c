/*  =========================================================================
    test_failures - what goes wrong, and how each party is told: refusals,
    aborts, lost parties, malformed frames from a raw ZeroMQ client

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include <czmq.h>
#include <msgpack.h>
#include "support.h"

#include <criterion/criterion.h>
#include <sys/resource.h>

static support_path_t s_path;

static void
s_setup (void)
{
    support_options_t options = { .heartbeat = "100ms", .peer_timeout = "1s" };
    cr_assert_eq (support_path_start (&s_path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
}

static void
s_teardown (void)
{
    support_path_stop (&s_path);
}

TestSuite (failures, .init = s_setup, .fini = s_teardown, .timeout = 60);

static const char *
s_a (void)
{
    return sstream_gateway_endpoint (s_path.a, "local");
}

static const char *
s_b (void)
{
    return sstream_gateway_endpoint (s_path.b, "local");
}

Test (failures, a_second_producer_or_consumer_of_a_stream_is_refused)
{
    sstream_producer_t *first, *second = NULL;
    cr_assert_eq (sstream_producer_new (&first, s_a (), "taken", s_path.producer_options), SSTREAM_OK);
    cr_assert_eq (sstream_producer_new (&second, s_a (), "taken", s_path.producer_options),
                  SSTREAM_EDENIED);
    cr_assert (strstr (sstream_errmsg (), "gateway-a: stream 'taken' is already being produced"),
               "%s", sstream_errmsg ());
    sstream_consumer_t *one, *two = NULL;
    cr_assert_eq (sstream_consumer_new (&one, s_b (), "taken", s_path.consumer_options), SSTREAM_OK);
    cr_assert_eq (sstream_consumer_new (&two, s_b (), "taken", s_path.consumer_options),
                  SSTREAM_EDENIED);
    cr_assert (strstr (sstream_errmsg (), "already has a consumer"), "%s", sstream_errmsg ());
    sstream_consumer_destroy (&one);
    sstream_producer_destroy (&first);
}

Test (failures, a_producer_that_goes_away_aborts_the_stream_for_the_consumer)
{
    sstream_consumer_t *consumer;
    cr_assert_eq (sstream_consumer_new (&consumer, s_b (), "orphan", s_path.consumer_options), SSTREAM_OK);
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, s_a (), "orphan", s_path.producer_options), SSTREAM_OK);
    char data [1000] = { 1 };
    cr_assert_eq (sstream_producer_send (producer, data, sizeof (data), NULL, 0, 5000), SSTREAM_OK);
    sstream_producer_destroy (&producer);           //  Without close
    //  Whatever had already arrived may come first; then the abort
    sstream_message_t *message;
    int rc;
    while ((rc = sstream_consumer_recv (consumer, &message, 5000)) == SSTREAM_OK)
        sstream_message_destroy (&message);
    cr_assert_eq (rc, SSTREAM_EABORTED, "got %d: %s", rc, sstream_errmsg ());
    //  The producer's own word, or, when gateway A sees its connection close
    //  before it reads that word (a loaded machine), the connection's end
    cr_assert (strstr (sstream_errmsg (), "producer went away without ending the stream")
            || strstr (sstream_errmsg (), "lost the producer of stream 'orphan'"),
               "%s", sstream_errmsg ());
    cr_assert_eq (sstream_consumer_close (consumer, 1000), SSTREAM_EINVAL);
    sstream_consumer_destroy (&consumer);
    uint64_t aborted = 0;
    sstream_gateway_stat (s_path.a, "aborted", &aborted);
    cr_assert_eq (aborted, 1);
}

Test (failures, a_consumer_that_gives_up_fails_the_producers_close)
{
    sstream_consumer_t *consumer;
    cr_assert_eq (sstream_consumer_new (&consumer, s_b (), "refused", s_path.consumer_options), SSTREAM_OK);
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, s_a (), "refused", s_path.producer_options), SSTREAM_OK);
    char data [1000] = { 1 };
    cr_assert_eq (sstream_producer_send (producer, data, sizeof (data), NULL, 0, 5000), SSTREAM_OK);
    sstream_message_t *message;
    cr_assert_eq (sstream_consumer_recv (consumer, &message, 5000), SSTREAM_OK);
    sstream_message_destroy (&message);
    cr_assert_eq (sstream_consumer_abort (consumer, "disk full"), SSTREAM_OK, "%s", sstream_errmsg ());
    int rc = sstream_producer_close (producer, 5000);
    cr_assert_eq (rc, SSTREAM_EABORTED, "got %d: %s", rc, sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "the consumer gave up: disk full"), "%s", sstream_errmsg ());
    //  Later calls keep failing: as closed if close had sent the end before
    //  the abort came, with the abort if it came first (the library lets
    //  timing decide which)
    rc = sstream_producer_send (producer, data, 1, NULL, 0, 100);
    cr_assert (rc == SSTREAM_ECLOSED || rc == SSTREAM_EABORTED, "got %d: %s", rc, sstream_errmsg ());
    if (rc == SSTREAM_EABORTED)
        cr_assert (strstr (sstream_errmsg (), "the consumer gave up: disk full"), "%s", sstream_errmsg ());
    sstream_consumer_destroy (&consumer);
    sstream_producer_destroy (&producer);
}

Test (failures, a_consumer_that_goes_away_mid_stream_fails_the_producer)
{
    sstream_consumer_t *consumer;
    cr_assert_eq (sstream_consumer_new (&consumer, s_b (), "vanish", s_path.consumer_options), SSTREAM_OK);
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, s_a (), "vanish", s_path.producer_options), SSTREAM_OK);
    char data [1000] = { 1 };
    cr_assert_eq (sstream_producer_send (producer, data, sizeof (data), NULL, 0, 5000), SSTREAM_OK);
    //  Once data flows end to end, the stream is connected at both gateways.
    //  (A consumer that leaves before that only leaves the stream waiting
    //  at its gateway for the next consumer.)
    sstream_message_t *message;
    cr_assert_eq (sstream_consumer_recv (consumer, &message, 5000), SSTREAM_OK);
    sstream_message_destroy (&message);
    sstream_consumer_destroy (&consumer);
    int rc = SSTREAM_OK;
    int64_t start = zclock_mono ();
    while (rc == SSTREAM_OK && zclock_mono () - start < 30000) {
        usleep (100 * 1000);
        rc = sstream_producer_send (producer, data, sizeof (data), NULL, 0, 100);
        if (rc == SSTREAM_ETIMEDOUT)
            rc = SSTREAM_OK;
    }
    cr_assert_eq (rc, SSTREAM_EABORTED, "got %d: %s", rc, sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "consumer went away"), "%s", sstream_errmsg ());
    sstream_producer_destroy (&producer);
}

//  A gateway that stops and does not come back: both ends try to resume,
//  and fail at their resume-timeout (1 s here), saying where they stand
Test (failures, a_gateway_that_stops_mid_stream_for_good_fails_both_ends)
{
    sstream_config_set (s_path.consumer_options, "client/resume-timeout", "1s");
    sstream_config_set (s_path.producer_options, "client/resume-timeout", "1s");
    sstream_consumer_t *consumer;
    cr_assert_eq (sstream_consumer_new (&consumer, s_b (), "cut", s_path.consumer_options), SSTREAM_OK);
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, s_a (), "cut", s_path.producer_options), SSTREAM_OK);
    char data [1000] = { 1 };
    cr_assert_eq (sstream_producer_send (producer, data, sizeof (data), NULL, 0, 5000), SSTREAM_OK);
    sstream_message_t *message;
    cr_assert_eq (sstream_consumer_recv (consumer, &message, 5000), SSTREAM_OK);
    sstream_message_destroy (&message);

    int64_t start = zclock_mono ();
    sstream_gateway_destroy (&s_path.b);
    //  Told, not left to time out: within moments of the peer-timeout (1 s),
    //  with room for a loaded machine
    int rc = sstream_consumer_recv (consumer, &message, 10000);
    cr_assert_eq (rc, SSTREAM_ELOST, "got %d: %s", rc, sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "could not resume within 1 s"), "%s", sstream_errmsg ());
    cr_assert_lt (zclock_mono () - start, 8000, "the consumer took %" PRId64 " ms to learn",
                  zclock_mono () - start);
    rc = sstream_producer_close (producer, 10000);
    cr_assert_eq (rc, SSTREAM_ELOST, "got %d: %s", rc, sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "could not resume"), "%s", sstream_errmsg ());
    cr_assert_lt (zclock_mono () - start, 10000, "the producer took %" PRId64 " ms to learn",
                  zclock_mono () - start);
    sstream_consumer_destroy (&consumer);
    sstream_producer_destroy (&producer);
}

//  A producer whose gateway's peer is gone, and stays gone, is told why
//  within a peer-timeout, tries again, and fails at its resume-timeout
//  with that reason, rather than wait without a word
Test (failures, a_stream_whose_peer_gateway_stays_down_is_told_why_and_fails_in_time)
{
    sstream_gateway_destroy (&s_path.b);
    sstream_config_set (s_path.producer_options, "client/resume-timeout", "3s");
    int64_t start = zclock_mono ();
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, s_a (), "no-peer", s_path.producer_options),
                  SSTREAM_OK, "%s", sstream_errmsg ());
    char data [1000] = { 1 };
    cr_assert_eq (sstream_producer_send (producer, data, sizeof (data), NULL, 0, 5000), SSTREAM_OK);
    int rc = sstream_producer_close (producer, 20000);
    cr_assert_eq (rc, SSTREAM_ELOST, "got %d: %s", rc, sstream_errmsg ());
    const char *said = sstream_errmsg ();
    cr_assert (strstr (said, "could not resume within 3 s") && strstr (said, "peer gateway gateway-b")
               && strstr (said, "is not connected"), "%s", said);
    cr_assert_lt (zclock_mono () - start, 15000, "it took %" PRId64 " ms", zclock_mono () - start);
    sstream_producer_destroy (&producer);
}

//  CPU time this process has used, in seconds
static double
s_cpu_seconds (void)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    return (double) usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6
         + (double) usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

Test (failures, failed_handles_kept_open_after_their_gateway_went_away_stay_idle)
{
    sstream_consumer_t *consumer;
    cr_assert_eq (sstream_consumer_new (&consumer, s_b (), "idle", s_path.consumer_options), SSTREAM_OK);
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, s_a (), "idle", s_path.producer_options), SSTREAM_OK);
    char data [1000] = { 1 };
    cr_assert_eq (sstream_producer_send (producer, data, sizeof (data), NULL, 0, 5000), SSTREAM_OK);
    sstream_message_t *message;
    cr_assert_eq (sstream_consumer_recv (consumer, &message, 5000), SSTREAM_OK);
    sstream_message_destroy (&message);
    sstream_gateway_destroy (&s_path.b);
    cr_assert_neq (sstream_consumer_recv (consumer, &message, 10000), SSTREAM_OK);
    cr_assert_neq (sstream_producer_close (producer, 10000), SSTREAM_OK);
    //  The application keeps both handles a while; their actors, whose
    //  links keep reporting a gateway that is not there, must not spin
    double before = s_cpu_seconds ();
    zclock_sleep (2000);
    double used = s_cpu_seconds () - before;
    cr_assert_lt (used, 0.5, "%.2f s of CPU in 2 s with nothing to do", used);
    sstream_consumer_destroy (&consumer);
    sstream_producer_destroy (&producer);
}

Test (failures, an_unreachable_gateway_times_out_with_a_reason)
{
    //  Bound and not listening: connections to it are refused
    int port;
    int refusing = support_refused_port (&port);
    cr_assert_geq (refusing, 0);
    char endpoint [64];
    snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%d", port);
    sstream_config_set (s_path.producer_options, "client/connect-timeout", "1s");
    int64_t start = zclock_mono ();
    sstream_producer_t *producer = NULL;
    int rc = sstream_producer_new (&producer, endpoint, "nowhere", s_path.producer_options);
    int64_t elapsed = zclock_mono () - start;
    close (refusing);
    cr_assert_eq (rc, SSTREAM_ETIMEDOUT, "%s", sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "is unreachable"), "%s", sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), endpoint), "%s", sstream_errmsg ());
    //  After its timeout; how long after depends on the machine's load
    cr_assert_geq (elapsed, 900);
    cr_assert_lt (elapsed, 20000);
}

Test (failures, bad_arguments_are_refused)
{
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, s_a (), "", s_path.producer_options), SSTREAM_EINVAL);
    cr_assert_eq (sstream_producer_new (&producer, s_a (), "bad name", s_path.producer_options), SSTREAM_EINVAL);
    cr_assert_eq (sstream_producer_new (&producer, "", "s", s_path.producer_options), SSTREAM_EINVAL);
    cr_assert_eq (sstream_producer_new (NULL, s_a (), "s", s_path.producer_options), SSTREAM_EINVAL);
    sstream_config_set (s_path.producer_options, "client/windw", "1M");
    cr_assert_eq (sstream_producer_new (&producer, s_a (), "s", s_path.producer_options), SSTREAM_ECONFIG);
    cr_assert (strstr (sstream_errmsg (), "unknown key 'windw'"), "%s", sstream_errmsg ());

    sstream_config_t *clean;
    sstream_config_new (&clean);
    sstream_config_set (clean, "client/security", "none");
    sstream_config_set (clean, "client/heartbeat", "1s");
    sstream_config_set (clean, "client/peer-timeout", "1s");
    cr_assert_eq (sstream_producer_new (&producer, s_a (), "s", clean), SSTREAM_ECONFIG);
    cr_assert (strstr (sstream_errmsg (), "at least twice the heartbeat"), "%s", sstream_errmsg ());
    sstream_config_destroy (&clean);

    cr_assert_eq (sstream_producer_new (&producer, s_a (), "limits", s_path.producer_options),
                  SSTREAM_ECONFIG);
    sstream_config_t *fixed;
    sstream_config_new (&fixed);
    sstream_config_set (fixed, "client/secret-key", sstream_config_get (s_path.producer_options, "client/secret-key", NULL));
    sstream_config_set (fixed, "client/gateway-key", sstream_config_get (s_path.producer_options, "client/gateway-key", NULL));
    sstream_config_set (fixed, "client/readers", sstream_config_get (s_path.producer_options, "client/readers", NULL));
    cr_assert_eq (sstream_producer_new (&producer, s_a (), "limits", fixed), SSTREAM_OK, "%s", sstream_errmsg ());
    char byte = 0;
    cr_assert_eq (sstream_producer_send (producer, &byte, SSTREAM_MESSAGE_MAX + 1, NULL, 0, 100),
                  SSTREAM_ETOOBIG);
    cr_assert_eq (sstream_producer_send (producer, NULL, 10, NULL, 0, 100), SSTREAM_EINVAL);
    const char not_a_map [] = { (char) 0x92, 1, 2 };
    cr_assert_eq (sstream_producer_send (producer, &byte, 1, not_a_map, sizeof (not_a_map), 100),
                  SSTREAM_EINVAL);
    cr_assert_eq (sstream_producer_send (NULL, &byte, 1, NULL, 0, 100), SSTREAM_EINVAL);
    sstream_producer_destroy (&producer);
    sstream_producer_destroy (&producer);           //  Idempotent
    sstream_config_destroy (&fixed);
}

//  A raw ZeroMQ client with the producer's own key: it passes CURVE, then
//  sends what no sstream producer would.

static zsock_t *
s_raw_socket (const char *secret, const char *server_key, const char *endpoint)
{
    zcert_t *cert = zcert_load (secret);
    zcert_t *server = zcert_load (server_key);
    cr_assert (cert && server);
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, zcert_public_txt (server));
    zsock_set_rcvtimeo (sock, 5000);
    cr_assert_eq (zsock_connect (sock, "%s", endpoint), 0);
    zcert_destroy (&cert);
    zcert_destroy (&server);
    return sock;
}

static zsock_t *
s_raw_client (void)
{
    return s_raw_socket (sstream_config_get (s_path.producer_options, "client/secret-key", NULL),
                         sstream_config_get (s_path.producer_options, "client/gateway-key", NULL),
                         s_a ());
}

//  Messages built from a msgpack map given as alternating keys and values;
//  a value starting with '#' is an unsigned integer. Version 2 is added.
static void
s_send_fields (zsock_t *sock, const char *const *fields)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    size_t count = 0;
    while (fields [2 * count])
        count++;
    msgpack_pack_map (&packer, count + 1);
    msgpack_pack_str (&packer, 1); msgpack_pack_str_body (&packer, "v", 1);
    msgpack_pack_uint8 (&packer, 2);
    size_t index;
    for (index = 0; index < count; index++) {
        const char *key = fields [2 * index], *value = fields [2 * index + 1];
        msgpack_pack_str (&packer, strlen (key)); msgpack_pack_str_body (&packer, key, strlen (key));
        if (*value == '#')
            msgpack_pack_uint64 (&packer, strtoull (value + 1, NULL, 10));
        else {
            msgpack_pack_str (&packer, strlen (value));
            msgpack_pack_str_body (&packer, value, strlen (value));
        }
    }
    zmsg_t *message = zmsg_new ();
    zmsg_addmem (message, buffer.data, buffer.size);
    zmsg_send (&message, sock);
    msgpack_sbuffer_destroy (&buffer);
}

//  The binary header of protocol version 2 (core/PROTOCOL.md section 3.3),
//  written out by hand: little-endian, 32 bytes
static void
s_put (byte *out, uint64_t value, int width)
{
    int index;
    for (index = 0; index < width; index++)
        out [index] = (byte) (value >> (8 * index));
}

static void
s_binary_header (byte *out, int type, uint32_t sid, uint64_t seq, uint32_t count,
                 uint32_t index, uint64_t length)
{
    memset (out, 0, 32);
    out [0] = 2;
    out [1] = (byte) type;
    s_put (out + 4, sid, 4);
    s_put (out + 8, seq, 8);
    s_put (out + 16, count, 4);
    s_put (out + 20, index, 4);
    s_put (out + 24, length, 8);
}

//  A batch of one record of size bytes (its frame 1), whose header says
//  claimed bytes of payload
static void
s_send_batch (zsock_t *sock, uint32_t sid, uint64_t seq, size_t size, uint64_t claimed)
{
    byte head [40];
    s_binary_header (head, 5, sid, seq, 1, 8, claimed);
    s_put (head + 32, size, 4);         //  The record's length, no metadata
    s_put (head + 36, 0, 4);
    zmsg_t *message = zmsg_new ();
    zmsg_addmem (message, head, sizeof (head));
    byte *payload = (byte *) zmalloc (size? size: 1);
    zmsg_addmem (message, payload, size);
    free (payload);
    zmsg_send (&message, sock);
}

//  Credit, in the binary header
static void
s_send_credit (zsock_t *sock, uint32_t sid, uint64_t bytes)
{
    byte head [32];
    s_binary_header (head, 6, sid, 0, 0, 0, bytes);
    zmsg_t *message = zmsg_new ();
    zmsg_addmem (message, head, sizeof (head));
    zmsg_send (&message, sock);
}

//  A msgpack field of a message: its text, or its number as text ("" if
//  absent); NULL if the message is not a msgpack map.
static char *
s_field (zmsg_t *message, const char *key)
{
    zframe_t *frame = zmsg_first (message);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    char *value = NULL;
    if (msgpack_unpack_next (&unpacked, (const char *) zframe_data (frame), zframe_size (frame), NULL)
        == MSGPACK_UNPACK_SUCCESS && unpacked.data.type == MSGPACK_OBJECT_MAP) {
        value = strdup ("");
        uint32_t index;
        for (index = 0; index < unpacked.data.via.map.size; index++) {
            msgpack_object_kv *pair = &unpacked.data.via.map.ptr [index];
            if (pair->key.type != MSGPACK_OBJECT_STR || pair->key.via.str.size != strlen (key)
            ||  memcmp (pair->key.via.str.ptr, key, strlen (key)))
                continue;
            free (value);
            if (pair->val.type == MSGPACK_OBJECT_STR)
                value = strndup (pair->val.via.str.ptr, pair->val.via.str.size);
            else
            if (pair->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                value = zsys_sprintf ("%" PRIu64, pair->val.via.u64);
            else
                value = strdup ("");
        }
    }
    msgpack_unpacked_destroy (&unpacked);
    return value;
}

//  Open a stream as a raw client, with our number 1 for it; the number
//  the gateway gave it (from its accepted).
static uint32_t
s_raw_open (zsock_t *sock, const char *stream, const char *role)
{
    const char *open [] = { "t", "open", "stream", stream, "role", role, "sid", "#1",
                            "window", "#1048576", NULL };
    s_send_fields (sock, open);
    //  Past what is still coming about earlier streams
    zmsg_t *reply = NULL;
    char *type = NULL, *about = NULL;
    do {
        zmsg_destroy (&reply);
        zstr_free (&type);
        zstr_free (&about);
        reply = zmsg_recv (sock);
        cr_assert_not_null (reply, "no answer to open");
        type = s_field (reply, "t");
        about = s_field (reply, "stream");
    } while (type && about && !streq (about, stream));
    zstr_free (&about);
    char *sid = s_field (reply, "sid");
    cr_assert (type && streq (type, "accepted"), "open answered with '%s'", type? type: "?");
    uint32_t number = (uint32_t) strtoul (sid, NULL, 10);
    free (type);
    free (sid);
    zmsg_destroy (&reply);
    return number;
}

//  Next message from the gateway that is an error; its text.
static char *
s_next_error (zsock_t *sock)
{
    while (true) {
        zmsg_t *message = zmsg_recv (sock);
        if (!message)
            return NULL;
        char *type = s_field (message, "t");
        char *text = type && streq (type, "error")? s_field (message, "text"): NULL;
        free (type);
        zmsg_destroy (&message);
        if (text)
            return text;
    }
}

Test (failures, malformed_frames_get_an_error_and_the_gateway_carries_on)
{
    zsock_t *sock = s_raw_client ();
    //  From a party with no stream here, junk is dropped without a word: a
    //  sender that never reads must not make the gateway queue answers
    zstr_send (sock, "\xc1\xc1 not msgpack");
    zmsg_t *message = zmsg_new ();
    zmsg_addstr (message, "\x82\xa1v\x02\xa1t\xa4ping");
    zmsg_addstr (message, "extra");
    zmsg_send (&message, sock);
    zsock_set_rcvtimeo (sock, 500);
    zmsg_t *reply = zmsg_recv (sock);
    cr_assert_null (reply, "a stranger's junk was answered");
    zsock_set_rcvtimeo (sock, 5000);
    //  Data for a stream number it was never given is answered: the sender
    //  must learn it is lost
    s_send_batch (sock, 12345, 0, 10, 10);
    char *text = s_next_error (sock);
    cr_assert_not_null (text);
    cr_assert (strstr (text, "no stream number 12345 here"), "%s", text);
    free (text);

    //  An open stream, then a length that lies: the stream is aborted
    uint32_t sid = s_raw_open (sock, "raw", "produce");
    s_send_batch (sock, sid, 0, 10, 11);
    text = s_next_error (sock);
    cr_assert_not_null (text);
    cr_assert (strstr (text, "says 11 bytes of payload but carries 10"), "%s", text);
    free (text);
    //  Again, with a gap in the sequence
    sid = s_raw_open (sock, "raw2", "produce");
    s_send_batch (sock, sid, 0, 10, 10);
    s_send_batch (sock, sid, 5, 10, 10);
    text = s_next_error (sock);
    cr_assert_not_null (text);
    cr_assert (strstr (text, "records from 5 arrived where 1 was due"), "%s", text);
    free (text);
    //  And garbage from a party with a stream: answered, stream aborted
    s_raw_open (sock, "raw3", "produce");
    zstr_send (sock, "\xc1 still not msgpack");
    text = s_next_error (sock);
    cr_assert_not_null (text);
    cr_assert (strstr (text, "malformed header"), "%s", text);
    free (text);
    zsock_destroy (&sock);

    //  Junk, the frame too many, the lying length and the garbage
    uint64_t malformed = 0, aborted = 0;
    sstream_gateway_stat (s_path.a, "malformed", &malformed);
    sstream_gateway_stat (s_path.a, "aborted", &aborted);
    cr_assert_eq (malformed, 4);
    cr_assert_eq (aborted, 3);

    //  The gateway still streams for everybody else
    support_consumer_t consumer = { .endpoint = s_b (), .stream = "after", .options = s_path.consumer_options };
    support_consumer_start (&consumer);
    unsigned char sent [32];
    cr_assert_eq (support_produce (s_a (), "after", s_path.producer_options, 2 << 20, 65536, sent),
                  SSTREAM_OK, "%s", sstream_errmsg ());
    support_consumer_join (&consumer);
    cr_assert_eq (consumer.rc, SSTREAM_OK, "%s", consumer.error);
    cr_assert_eq (memcmp (sent, consumer.digest, 32), 0);
}

Test (failures, a_client_that_falls_silent_is_dropped)
{
    //  A raw client opens a stream, then never says anything again: after
    //  the peer timeout (1 s here) the gateway gives the stream up
    zsock_t *sock = s_raw_client ();
    int64_t start = zclock_mono ();
    s_raw_open (sock, "silent", "produce");
    uint64_t streams = 0;
    sstream_gateway_stat (s_path.a, "streams", &streams);
    cr_assert_eq (streams, 1, "the stream did not open");
    while (streams && zclock_mono () - start < 40000) {
        usleep (100 * 1000);
        sstream_gateway_stat (s_path.a, "streams", &streams);
    }
    int64_t waited = zclock_mono () - start;
    cr_assert_eq (streams, 0, "the silent client's stream is still open");
    cr_assert_geq (waited, 900, "dropped after %" PRId64 " ms, before its timeout", waited);
    zsock_destroy (&sock);
}

Test (failures, max_streams_is_enforced)
{
    sstream_config_t *config = support_gateway_config (&s_path, 'a');
    sstream_config_set (config, "gateway/name", "small");
    sstream_config_set (config, "gateway/max-streams", "2");
    sstream_config_set (config, "peer/endpoint", "tcp://127.0.0.1:*");
    sstream_gateway_t *small;
    cr_assert_eq (sstream_gateway_new (&small, config), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_producer_t *one, *two, *three = NULL;
    const char *endpoint = sstream_gateway_endpoint (small, "local");
    cr_assert_eq (sstream_producer_new (&one, endpoint, "one", s_path.producer_options), SSTREAM_OK);
    cr_assert_eq (sstream_producer_new (&two, endpoint, "two", s_path.producer_options), SSTREAM_OK);
    cr_assert_eq (sstream_producer_new (&three, endpoint, "three", s_path.producer_options),
                  SSTREAM_EDENIED);
    cr_assert (strstr (sstream_errmsg (), "max-streams"), "%s", sstream_errmsg ());
    sstream_producer_destroy (&one);
    sstream_producer_destroy (&two);
    sstream_gateway_destroy (&small);
    sstream_config_destroy (&config);
}

//  A fake peer gateway with gateway B's own key, at gateway A's WAN link,
//  once the real B is gone and A knows it: a fake that came sooner could
//  be taken for the real B's lost connection
static zsock_t *
s_fake_peer (void)
{
    sstream_gateway_destroy (&s_path.b);
    uint64_t up = 1;
    int64_t start = zclock_mono ();
    while (up && zclock_mono () - start < 30000) {
        usleep (10 * 1000);
        sstream_gateway_stat (s_path.a, "peer-up", &up);
    }
    cr_assert_eq (up, 0, "gateway a still has its peer 30 s after it went");
    char secret [600], server [600];
    snprintf (secret, sizeof (secret), "%s/gateway-b.secret", s_path.gateways);
    snprintf (server, sizeof (server), "%s/gateway-a.pub", s_path.gateways);
    return s_raw_socket (secret, server, sstream_gateway_endpoint (s_path.a, "peer"));
}

//  Next message's type ("t"), or "" on timeout.
static void
s_next_type (zsock_t *sock, char *type, size_t size)
{
    type [0] = 0;
    zmsg_t *message = zmsg_recv (sock);
    if (!message)
        return;
    char *value = s_field (message, "t");
    snprintf (type, size, "%s", value? value: "(binary)");
    free (value);
    zmsg_destroy (&message);
}

typedef struct {
    sstream_producer_t *producer;
    int rc;
    char error [1024];
} s_opening_t;

static void *
s_open_session_producer (void *args)
{
    s_opening_t *self = (s_opening_t *) args;
    self->rc = sstream_producer_new (&self->producer, s_a (), "session", s_path.producer_options);
    snprintf (self->error, sizeof (self->error), "%s", sstream_errmsg ());
    return NULL;
}

Test (failures, a_peer_that_starts_a_new_session_loses_its_old_streams)
{
    //  The real gateway B goes; a fake one with its key takes its place
    zsock_t *fake = s_fake_peer ();
    const char *hello_1 [] = { "t", "hello", "role", "gateway", "name", "gateway-b",
                               "session", "#1", NULL };
    char type [32];
    int tries;
    for (tries = 0, type [0] = 0; tries < 20 && !streq (type, "welcome"); tries++) {
        s_send_fields (fake, hello_1);
        s_next_type (fake, type, sizeof (type));
    }
    cr_assert_str_eq (type, "welcome");

    //  The producer opens while the fake answers A's pings: a fake that
    //  fell silent for the peer-timeout (1 s) would be given up
    //  Resuming off: what is tested is what the gateway does with the old streams
    sstream_config_set (s_path.producer_options, "client/resume-timeout", "0");
    s_opening_t opening = { NULL };
    pthread_t opener;
    pthread_create (&opener, NULL, s_open_session_producer, &opening);
    const char *ping [] = { "t", "ping", NULL };
    do {
        s_next_type (fake, type, sizeof (type));
        if (streq (type, "ping"))
            s_send_fields (fake, ping);
    }
    while (*type && !streq (type, "open"));
    pthread_join (opener, NULL);
    cr_assert_eq (opening.rc, SSTREAM_OK, "%s", opening.error);
    cr_assert_str_eq (type, "open");
    sstream_producer_t *producer = opening.producer;
    const char *accepted [] = { "t", "accepted", "stream", "session", "window", "#1048576",
                                "sid", "#1", NULL };
    s_send_fields (fake, accepted);
    uint64_t streams = 0;
    sstream_gateway_stat (s_path.a, "streams", &streams);
    cr_assert_eq (streams, 1);

    //  Same connection, new session: what A had with it must go
    const char *hello_2 [] = { "t", "hello", "role", "gateway", "name", "gateway-b",
                               "session", "#2", NULL };
    s_send_fields (fake, hello_2);
    char data [100] = { 0 };
    int rc = SSTREAM_OK;
    int64_t start = zclock_mono ();
    while (rc == SSTREAM_OK && zclock_mono () - start < 30000) {
        usleep (50 * 1000);
        rc = sstream_producer_send (producer, data, sizeof (data), NULL, 0, 100);
        if (rc == SSTREAM_ETIMEDOUT)
            rc = SSTREAM_OK;
    }
    cr_assert (rc == SSTREAM_ELOST || rc == SSTREAM_EABORTED, "got %d: %s", rc, sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "new session"), "%s", sstream_errmsg ());
    sstream_producer_destroy (&producer);
    zsock_destroy (&fake);
}

Test (failures, gateways_never_answer_an_error_with_an_error)
{
    zsock_t *fake = s_fake_peer ();
    //  Not yet introduced, and stream errors for streams it has nothing to do with
    const char *error [] = { "t", "error", "code", "#11", "text", "yours", "stream", "nobody", NULL };
    s_send_fields (fake, error);
    const char *no_stream [] = { "t", "error", "code", "#11", "text", "no stream", NULL };
    s_send_fields (fake, no_stream);
    const char *hello [] = { "t", "hello", "role", "gateway", "name", "gateway-b", "session", "#7", NULL };
    char type [32];
    s_send_fields (fake, hello);
    s_next_type (fake, type, sizeof (type));
    cr_assert_str_eq (type, "welcome", "the only answer must be the welcome, not '%s'", type);
    s_send_fields (fake, error);
    s_send_fields (fake, error);
    zsock_set_rcvtimeo (fake, 500);
    do
        s_next_type (fake, type, sizeof (type));
    while (streq (type, "ping"));
    cr_assert_str_eq (type, "", "an error was answered with '%s'", type);
    zsock_destroy (&fake);
}

Test (failures, credit_beyond_the_window_is_a_protocol_error_not_an_overflow)
{
    char secret [600], server [600];
    snprintf (secret, sizeof (secret), "%s/consumer.secret", s_path.facility_b);
    snprintf (server, sizeof (server), "%s/gateway-b.pub", s_path.gateways);
    zsock_t *raw = s_raw_socket (secret, server, s_b ());
    uint32_t sid = s_raw_open (raw, "overflow", "consume");
    s_send_credit (raw, sid, 1ULL << 40);
    char *text = s_next_error (raw);
    cr_assert_not_null (text);
    cr_assert (strstr (text, "more credit than its window"), "%s", text);
    free (text);
    zsock_destroy (&raw);
}

Test (failures, empty_messages_are_bounded_by_credit_too)
{
    sstream_config_t *config = support_gateway_config (&s_path, 'a');
    sstream_config_set (config, "gateway/name", "tight");
    sstream_config_set (config, "gateway/buffer", "4KiB");
    sstream_config_set (config, "peer/endpoint", "tcp://127.0.0.1:*");
    sstream_gateway_t *tight;
    cr_assert_eq (sstream_gateway_new (&tight, config), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_config_set (s_path.producer_options, "client/pipe", "1");
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, sstream_gateway_endpoint (tight, "local"),
                                        "empty", s_path.producer_options), SSTREAM_OK);
    int rc = SSTREAM_OK, sent = 0;
    while (rc == SSTREAM_OK && sent < 100000) {
        rc = sstream_producer_send (producer, "", 0, NULL, 0, 300);
        if (rc == SSTREAM_OK)
            sent++;
    }
    cr_assert_eq (rc, SSTREAM_ETIMEDOUT, "%s", sstream_errmsg ());
    //  An empty record still takes 8 bytes of its batch's index: the 4 KiB
    //  at the gateway, and what the producer holds (its pipe of one batch
    //  and the open one, each of a quarter window, 1 KiB at least)
    int most = 4096 / 8 + 2 * 1024 / 8;
    cr_assert_leq (sent, most, "%d empty records went into a 4 KiB buffer", sent);
    sstream_producer_destroy (&producer);
    sstream_gateway_destroy (&tight);
    sstream_config_destroy (&config);
}

//  Peak resident memory of this process, in bytes (VmHWM)
static uint64_t
s_peak_rss (void)
{
    char *status = support_read_file ("/proc/self/status");
    char *line = status? strstr (status, "VmHWM:"): NULL;
    uint64_t peak = line? strtoull (line + 6, NULL, 10) * 1024: 0;
    free (status);
    return peak;
}

Test (failures, oversized_frames_are_refused_as_they_arrive)
{
    //  Four connections with a trusted key, each sending a frame of 256 MiB
    //  at a gateway whose buffer is 16 MiB: each is dropped as soon as the
    //  frame's size is read, so nothing of them is held
    sstream_config_t *config = support_gateway_config (&s_path, 'a');
    sstream_config_set (config, "gateway/name", "bounded");
    sstream_config_set (config, "gateway/buffer", "16MiB");
    sstream_config_set (config, "peer/endpoint", "tcp://127.0.0.1:*");
    sstream_gateway_t *bounded;
    cr_assert_eq (sstream_gateway_new (&bounded, config), SSTREAM_OK, "%s", sstream_errmsg ());
    uint64_t before = s_peak_rss ();
    char *argv [] = {
        SSTREAM_TEST_BIG_FRAMES, (char *) sstream_gateway_endpoint (bounded, "local"),
        (char *) sstream_config_get (s_path.producer_options, "client/secret-key", NULL),
        (char *) sstream_config_get (s_path.producer_options, "client/gateway-key", NULL),
        "4", "256", NULL
    };
    char *folder = support_scratch ();
    char *out = zsys_sprintf ("%s/big.out", folder), *err = zsys_sprintf ("%s/big.err", folder);
    pid_t pid = support_spawn (argv, NULL, out, err);
    int status = support_wait (pid, 120000);
    char *said = support_read_file (out);
    cr_assert_eq (status, 0, "big_frames exited %d: %s %s", status, said? said: "",
                  support_read_file (err));
    uint64_t grown = s_peak_rss () - before;
    cr_assert_lt (grown, 64ULL << 20, "the gateway's process grew by %" PRIu64 " MiB", grown >> 20);
    fprintf (stderr, "4 frames of 256 MiB refused; peak memory grew by %" PRIu64 " MiB\n",
             grown >> 20);
    free (said);
    //  And it still streams
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, sstream_gateway_endpoint (bounded, "local"),
                                        "after", s_path.producer_options), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    sstream_producer_destroy (&producer);
    sstream_gateway_destroy (&bounded);
    sstream_config_destroy (&config);
    support_rmtree (folder);
    zstr_free (&folder);
    zstr_free (&out);
    zstr_free (&err);
}
