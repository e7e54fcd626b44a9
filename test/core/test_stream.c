/*  =========================================================================
    test_stream - streams end to end through two gateways, over tcp and ipc

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include <czmq.h>
#include <msgpack.h>
#include <sodium.h>
#include "support.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

//  Stream bytes through a fresh path over transport, consumer first or not;
//  check digests, order, counts and that the gateways let go of it.

static void
s_stream_through (const char *transport, uint64_t bytes, size_t msg_size)
{
    support_options_t options = { .transport = transport };
    support_path_t path;
    cr_assert_eq (support_path_start (&path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
    support_consumer_t consumer = {
        .endpoint = sstream_gateway_endpoint (path.b, "local"),
        .stream = "through", .options = path.consumer_options
    };
    support_consumer_start (&consumer);
    unsigned char sent [32];
    int rc = support_produce (sstream_gateway_endpoint (path.a, "local"), "through",
                              path.producer_options, bytes, msg_size, sent);
    support_consumer_join (&consumer);
    cr_assert_eq (rc, SSTREAM_OK, "producer: %s", sstream_errmsg ());
    cr_assert_eq (consumer.rc, SSTREAM_OK, "consumer: %s", consumer.error);
    cr_assert_eq (consumer.bytes, bytes);
    cr_assert_eq (consumer.messages, msg_size? (bytes + msg_size - 1) / msg_size: 0);
    cr_assert (consumer.in_order);
    cr_assert_eq (memcmp (sent, consumer.digest, 32), 0, "digests differ");

    sstream_gateway_t *gateways [2] = { path.a, path.b };
    int index;
    for (index = 0; index < 2; index++) {
        uint64_t completed = 0, streams = 1, buffered = 1, in = 0, out = 0;
        sstream_gateway_stat (gateways [index], "completed", &completed);
        sstream_gateway_stat (gateways [index], "streams", &streams);
        sstream_gateway_stat (gateways [index], "buffered", &buffered);
        sstream_gateway_stat (gateways [index], "bytes-in", &in);
        sstream_gateway_stat (gateways [index], "bytes-out", &out);
        cr_assert_eq (completed, 1, "gateway %c completed %" PRIu64, 'a' + index, completed);
        cr_assert_eq (streams, 0, "gateway %c still holds the stream", 'a' + index);
        cr_assert_eq (buffered, 0);
        cr_assert_eq (in, out);
        if (sstream_config_get (path.producer_options, "client/payload", NULL))
            cr_assert_eq (in, bytes);           //  hop: a gateway counts records' bytes
        else {
            //  Sealed: it counts what it forwards, each batch's sealed index
            //  (8 bytes a record) and tag (16) with the records' bytes
            cr_assert (in >= bytes && in <= bytes + consumer.messages * (8 + 16),
                       "gateway %c forwarded %" PRIu64 " bytes for %" PRIu64 " in %" PRIu64
                       " records", 'a' + index, in, bytes, consumer.messages);
            //  ... and every sealed batch took the bulk paths: A's local
            //  and B's peer path in, A's peer and B's local path out
            uint64_t bulk_in = 0, bulk_out = 0, refused = 1;
            cr_assert_eq (sstream_gateway_stat (gateways [index],
                          index? "peer-bulk-bytes-in": "local-bulk-bytes-in", &bulk_in), 0);
            cr_assert_eq (sstream_gateway_stat (gateways [index],
                          index? "local-bulk-bytes-out": "peer-bulk-bytes-out", &bulk_out), 0);
            cr_assert_eq (sstream_gateway_stat (gateways [index], "local-bulk-refused", &refused), 0);
            //  (a batch smaller than SSTREAM_LINK_BULK_MIN stays on the
            //  link: with records that large, only the last one can be)
            uint64_t small = 64 << 10;
            cr_assert_leq (bulk_in, in);
            cr_assert_leq (bulk_out, out);
            if (msg_size >= small) {
                cr_assert_lt (in - bulk_in, small, "gateway %c: %" PRIu64 " of %" PRIu64
                              " bytes came on the bulk path", 'a' + index, bulk_in, in);
                cr_assert_lt (out - bulk_out, small, "gateway %c: %" PRIu64 " of %" PRIu64
                              " bytes left on the bulk path", 'a' + index, bulk_out, out);
            }
            cr_assert_eq (refused, 0);
        }
    }
    support_path_stop (&path);
}

TestSuite (stream, .timeout = 120);

Test (stream, tcp_0_bytes)           { s_stream_through ("tcp", 0, 1 << 20); }
Test (stream, tcp_1_byte)            { s_stream_through ("tcp", 1, 1 << 20); }
Test (stream, tcp_1_MiB_and_1_byte)  { s_stream_through ("tcp", (1 << 20) + 1, 1 << 20); }
Test (stream, tcp_256_MiB)           { s_stream_through ("tcp", 256ULL << 20, 1 << 20); }
Test (stream, ipc_0_bytes)           { s_stream_through ("ipc", 0, 1 << 20); }
Test (stream, ipc_1_byte)            { s_stream_through ("ipc", 1, 1 << 20); }
Test (stream, ipc_1_MiB_and_1_byte)  { s_stream_through ("ipc", (1 << 20) + 1, 1 << 20); }
Test (stream, ipc_256_MiB)           { s_stream_through ("ipc", 256ULL << 20, 1 << 20); }
Test (stream, tcp_small_messages)    { s_stream_through ("tcp", 4 << 20, 512); }

Test (stream, a_late_consumer_gets_the_stream_from_its_first_message)
{
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, sstream_gateway_endpoint (path.a, "local"),
                                        "late", path.producer_options), SSTREAM_OK);
    unsigned char buffer [100000];
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    int index;
    for (index = 0; index < 50; index++) {
        support_fill (buffer, (uint64_t) index * sizeof (buffer), sizeof (buffer));
        cr_assert_eq (sstream_producer_send (producer, buffer, sizeof (buffer), NULL, 0, 5000),
                      SSTREAM_OK, "%s", sstream_errmsg ());
        crypto_generichash_update (&state, buffer, sizeof (buffer));
    }
    unsigned char sent [32];
    crypto_generichash_final (&state, sent, 32);
    //  All of it has reached gateway B before anybody consumes
    uint64_t arrived = 0;
    int64_t start = zclock_mono ();
    while (arrived < 50 * sizeof (buffer) && zclock_mono () - start < 60000) {
        usleep (10 * 1000);
        sstream_gateway_stat (path.b, "bytes-in", &arrived);
    }
    //  (Sealed, it has each batch's sealed index and tag as well)
    cr_assert (arrived >= 50 * sizeof (buffer), "gateway b has %" PRIu64 " bytes", arrived);
    support_consumer_t consumer = {
        .endpoint = sstream_gateway_endpoint (path.b, "local"),
        .stream = "late", .options = path.consumer_options
    };
    support_consumer_start (&consumer);
    cr_assert_eq (sstream_producer_close (producer, 30000), SSTREAM_OK, "%s", sstream_errmsg ());
    support_consumer_join (&consumer);
    cr_assert_eq (consumer.rc, SSTREAM_OK, "%s", consumer.error);
    cr_assert_eq (consumer.messages, 50);
    cr_assert (consumer.in_order);
    cr_assert_eq (memcmp (sent, consumer.digest, 32), 0);
    sstream_producer_destroy (&producer);
    support_path_stop (&path);
}

Test (stream, message_boundaries_sequence_numbers_and_metadata_arrive_as_sent)
{
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_consumer_t *consumer;
    cr_assert_eq (sstream_consumer_new (&consumer, sstream_gateway_endpoint (path.b, "local"),
                                        "shaped", path.consumer_options), SSTREAM_OK);
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, sstream_gateway_endpoint (path.a, "local"),
                                        "shaped", path.producer_options), SSTREAM_OK);
    size_t sizes [] = { 0, 1, 1000, 1 << 20, 3 };
    msgpack_sbuffer meta;
    msgpack_sbuffer_init (&meta);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &meta, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 2);
    msgpack_pack_str (&packer, 5);
    msgpack_pack_str_body (&packer, "shape", 5);
    msgpack_pack_array (&packer, 2);
    msgpack_pack_uint16 (&packer, 512);
    msgpack_pack_uint16 (&packer, 2048);
    msgpack_pack_str (&packer, 5);
    msgpack_pack_str_body (&packer, "dtype", 5);
    msgpack_pack_str (&packer, 6);
    msgpack_pack_str_body (&packer, "uint16", 6);

    unsigned char *buffer = malloc (1 << 20);
    size_t index;
    for (index = 0; index < sizeof (sizes) / sizeof (sizes [0]); index++) {
        support_fill (buffer, index, sizes [index]);
        bool with_meta = index % 2 == 1;
        cr_assert_eq (sstream_producer_send (producer, buffer, sizes [index],
                                             with_meta? meta.data: NULL,
                                             with_meta? meta.size: 0, 5000), SSTREAM_OK);
    }
    for (index = 0; index < sizeof (sizes) / sizeof (sizes [0]); index++) {
        sstream_message_t *message;
        cr_assert_eq (sstream_consumer_recv (consumer, &message, 10000), SSTREAM_OK,
                      "%s", sstream_errmsg ());
        cr_assert_eq (sstream_message_seq (message), index);
        cr_assert_eq (sstream_message_size (message), sizes [index]);
        support_fill (buffer, index, sizes [index]);
        cr_assert_eq (memcmp (sstream_message_data (message), buffer, sizes [index]), 0);
        size_t meta_size;
        const void *received = sstream_message_meta (message, &meta_size);
        if (index % 2 == 1) {
            cr_assert_eq (meta_size, meta.size);
            cr_assert_eq (memcmp (received, meta.data, meta.size), 0);
        }
        else {
            cr_assert_null (received);
            cr_assert_eq (meta_size, 0);
        }
        sstream_message_destroy (&message);
        cr_assert_null (message);
    }
    //  End: the consumer sees it, and only close acknowledges it
    cr_assert_eq (sstream_producer_close (producer, 200), SSTREAM_ETIMEDOUT);
    sstream_message_t *message;
    cr_assert_eq (sstream_consumer_recv (consumer, &message, 10000), SSTREAM_EEND);
    cr_assert_eq (sstream_consumer_recv (consumer, &message, 10000), SSTREAM_EEND);
    cr_assert_eq (sstream_consumer_messages (consumer), 5);
    cr_assert_eq (sstream_consumer_bytes (consumer), 1 + 1000 + (1 << 20) + 3);
    cr_assert_eq (sstream_consumer_close (consumer, 5000), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_producer_close (producer, 5000), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_producer_messages (producer), 5);
    //  Closed is closed
    cr_assert_eq (sstream_producer_send (producer, buffer, 1, NULL, 0, 100), SSTREAM_ECLOSED);
    cr_assert_eq (sstream_producer_close (producer, 100), SSTREAM_OK);
    free (buffer);
    msgpack_sbuffer_destroy (&meta);
    sstream_producer_destroy (&producer);
    sstream_consumer_destroy (&consumer);
    support_path_stop (&path);
}

//  Stream one message of size through a path; the error both ends get.
static void
s_too_big_for (support_options_t *options, size_t size, const char *said)
{
    support_path_t path;
    cr_assert_eq (support_path_start (&path, options), SSTREAM_OK, "%s", sstream_errmsg ());
    support_consumer_t consumer = {
        .endpoint = sstream_gateway_endpoint (path.b, "local"),
        .stream = "large", .options = path.consumer_options
    };
    support_consumer_start (&consumer);
    int rc = support_produce (sstream_gateway_endpoint (path.a, "local"), "large",
                              path.producer_options, size, size, NULL);
    support_consumer_join (&consumer);
    cr_assert_eq (rc, SSTREAM_ETOOBIG, "producer got %d: %s", rc, sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), said), "producer: %s", sstream_errmsg ());
    cr_assert_eq (consumer.rc, SSTREAM_ETOOBIG, "consumer got %d: %s", consumer.rc, consumer.error);
    cr_assert (strstr (consumer.error, said), "consumer: %s", consumer.error);
    support_path_stop (&path);
}

Test (stream, a_message_must_fit_every_window_on_its_path)
{
    //  Larger than gateway A's buffer: refused at send, nothing is sent
    support_options_t options = { .buffer = "64KiB" };
    support_path_t path;
    cr_assert_eq (support_path_start (&path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, sstream_gateway_endpoint (path.a, "local"),
                                        "large", path.producer_options), SSTREAM_OK);
    static char data [65536];
    //  A record alone costs its size and 72 bytes; sealed, 16 more (its tag)
    size_t overhead = sstream_config_get (path.producer_options, "client/payload", NULL)? 72: 88;
    cr_assert_eq (sstream_producer_send (producer, data, sizeof (data), NULL, 0, 1000), SSTREAM_ETOOBIG);
    //  The error says what the cost is made of
    char cost [128];
    snprintf (cost, sizeof (cost), "a record of 65536 bytes costs 65536 + %zu bytes of window "
              "(its 32-byte header, 8-byte index entry", overhead);
    cr_assert (strstr (sstream_errmsg (), cost), "%s", sstream_errmsg ());
    cr_assert (strstr (sstream_errmsg (), "32 bytes of bookkeeping), more than the gateway's "
                                          "window of 65536 bytes"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_producer_send (producer, data, sizeof (data) - overhead + 1, NULL, 0, 1000),
                  SSTREAM_ETOOBIG);
    cr_assert_eq (sstream_producer_send (producer, data, sizeof (data) - overhead, NULL, 0, 1000),
                  SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_producer_messages (producer), 1);
    sstream_producer_destroy (&producer);
    support_path_stop (&path);

    //  Fits A, not B: the stream is aborted, both ends told why
    support_options_t smaller_b = { .buffer = "8MiB", .buffer_b = "1MiB" };
    s_too_big_for (&smaller_b, 2 << 20, "more than the window of 1048576 bytes that peer gateway-b gives");
    //  Fits both gateways, not the consumer's window
    support_options_t small_consumer = { .buffer = "8MiB", .window = "1MiB" };
    s_too_big_for (&small_consumer, 2 << 20, "more than the window of 1048576 bytes that consumer");
}

typedef struct {
    support_path_t *path;
    char name [32];
    int rc;
    unsigned char digest [32];
} s_producer_job_t;

static void *
s_produce (void *args)
{
    s_producer_job_t *job = (s_producer_job_t *) args;
    job->rc = support_produce (sstream_gateway_endpoint (job->path->a, "local"), job->name,
                               job->path->producer_options, 16 << 20, 100000, job->digest);
    return NULL;
}

Test (stream, concurrent_streams_are_independent)
{
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    enum { STREAMS = 4 };
    support_consumer_t consumers [STREAMS];
    s_producer_job_t producers [STREAMS];
    pthread_t threads [STREAMS];
    int index;
    for (index = 0; index < STREAMS; index++) {
        producers [index] = (s_producer_job_t) { .path = &path };
        snprintf (producers [index].name, sizeof (producers [index].name), "parallel-%d", index);
        consumers [index] = (support_consumer_t) {
            .endpoint = sstream_gateway_endpoint (path.b, "local"),
            .stream = producers [index].name, .options = path.consumer_options
        };
        support_consumer_start (&consumers [index]);
        pthread_create (&threads [index], NULL, s_produce, &producers [index]);
    }
    for (index = 0; index < STREAMS; index++) {
        pthread_join (threads [index], NULL);
        support_consumer_join (&consumers [index]);
        cr_assert_eq (producers [index].rc, SSTREAM_OK);
        cr_assert_eq (consumers [index].rc, SSTREAM_OK, "%s", consumers [index].error);
        cr_assert_eq (memcmp (producers [index].digest, consumers [index].digest, 32), 0);
    }
    uint64_t completed = 0;
    sstream_gateway_stat (path.b, "completed", &completed);
    cr_assert_eq (completed, STREAMS);
    support_path_stop (&path);
}

Test (stream, without_security_when_asked_for)
{
    support_options_t options = { .insecure = true };
    support_path_t path;
    cr_assert_eq (support_path_start (&path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
    support_consumer_t consumer = {
        .endpoint = sstream_gateway_endpoint (path.b, "local"),
        .stream = "plain", .options = path.consumer_options
    };
    support_consumer_start (&consumer);
    unsigned char sent [32];
    int rc = support_produce (sstream_gateway_endpoint (path.a, "local"), "plain",
                              path.producer_options, 8 << 20, 1 << 20, sent);
    support_consumer_join (&consumer);
    cr_assert_eq (rc, SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (consumer.rc, SSTREAM_OK, "%s", consumer.error);
    cr_assert_eq (memcmp (sent, consumer.digest, 32), 0);
    support_path_stop (&path);
}

Test (stream, one_gateway_alone_serves_its_own_facility)
{
    char *folder = support_scratch ();
    char endpoint [512];
    snprintf (endpoint, sizeof (endpoint), "ipc://%s/solo.sock", folder);
    sstream_config_t *config, *client;
    sstream_config_new (&config);
    sstream_config_set (config, "local/endpoint", endpoint);
    sstream_config_set (config, "local/security", "none");
    sstream_gateway_t *gateway;
    cr_assert_eq (sstream_gateway_new (&gateway, config), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_config_new (&client);
    sstream_config_set (client, "client/security", "none");
    sstream_config_set (client, "client/payload", "hop");
    support_consumer_t consumer = { .endpoint = endpoint, .stream = "solo", .options = client };
    support_consumer_start (&consumer);
    unsigned char sent [32];
    cr_assert_eq (support_produce (endpoint, "solo", client, 5 << 20, 1 << 20, sent), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    support_consumer_join (&consumer);
    cr_assert_eq (consumer.rc, SSTREAM_OK, "%s", consumer.error);
    cr_assert_eq (memcmp (sent, consumer.digest, 32), 0);
    sstream_gateway_destroy (&gateway);
    sstream_config_destroy (&config);
    sstream_config_destroy (&client);
    support_rmtree (folder);
    free (folder);
}

static void
s_ignore (int signal_number)
{
    (void) signal_number;
}

static volatile bool s_signalling;

//  Signal every thread of the process, the library's own included
static void *
s_signaller (void *args)
{
    (void) args;
    pid_t process = getpid ();
    while (s_signalling) {
        DIR *tasks = opendir ("/proc/self/task");
        struct dirent *entry;
        while (tasks && (entry = readdir (tasks)))
            if (entry->d_name [0] != '.')
                syscall (SYS_tgkill, process, atoi (entry->d_name), SIGUSR1);
        if (tasks)
            closedir (tasks);
        usleep (1000);
    }
    return NULL;
}

typedef struct {
    const char *endpoint;
    sstream_config_t *options;
    int rc;
    uint64_t bytes;
    uint64_t interrupted;
    unsigned char digest [32];
} s_job_t;

//  A consumer that takes an interruption as what it is: a reason to retry
static void *
s_patient_consumer (void *args)
{
    s_job_t *job = (s_job_t *) args;
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    sstream_consumer_t *consumer;
    int rc;
    while ((rc = sstream_consumer_new (&consumer, job->endpoint, "signalled", job->options)) == SSTREAM_EINTR)
        job->interrupted++;
    while (rc == SSTREAM_OK || rc == SSTREAM_EINTR) {
        sstream_message_t *message;
        rc = sstream_consumer_recv (consumer, &message, 60000);
        if (rc == SSTREAM_EINTR)
            job->interrupted++;
        if (rc == SSTREAM_OK) {
            crypto_generichash_update (&state, sstream_message_data (message),
                                       sstream_message_size (message));
            job->bytes += sstream_message_size (message);
            sstream_message_destroy (&message);
        }
    }
    if (rc == SSTREAM_EEND)
        while ((rc = sstream_consumer_close (consumer, 10000)) == SSTREAM_EINTR)
            job->interrupted++;
    sstream_consumer_destroy (&consumer);
    crypto_generichash_final (&state, job->digest, 32);
    job->rc = rc;
    return NULL;
}

Test (stream, signals_for_the_application_do_not_stop_the_library)
{
    //  An application's signals may hit any thread: the library's threads
    //  must not die of them, and an interrupted call must be safe to retry
    struct sigaction action = { .sa_handler = s_ignore };
    sigemptyset (&action.sa_mask);
    sigaction (SIGUSR1, &action, NULL);
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    s_signalling = true;
    pthread_t signaller, receiver;
    pthread_create (&signaller, NULL, s_signaller, NULL);
    s_job_t job = { .endpoint = sstream_gateway_endpoint (path.b, "local"),
                    .options = path.consumer_options };
    pthread_create (&receiver, NULL, s_patient_consumer, &job);

    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    sstream_producer_t *producer;
    int rc;
    uint64_t interrupted = 0;
    while ((rc = sstream_producer_new (&producer, sstream_gateway_endpoint (path.a, "local"),
                                       "signalled", path.producer_options)) == SSTREAM_EINTR)
        interrupted++;
    cr_assert_eq (rc, SSTREAM_OK, "%s", sstream_errmsg ());
    unsigned char *buffer = malloc (256 << 10);
    uint64_t offset;
    for (offset = 0; offset < (64 << 20); offset += 256 << 10) {
        support_fill (buffer, offset, 256 << 10);
        while ((rc = sstream_producer_send (producer, buffer, 256 << 10, NULL, 0, SSTREAM_FOREVER))
               == SSTREAM_EINTR)
            interrupted++;
        cr_assert_eq (rc, SSTREAM_OK, "%s", sstream_errmsg ());
        crypto_generichash_update (&state, buffer, 256 << 10);
    }
    while ((rc = sstream_producer_close (producer, 60000)) == SSTREAM_EINTR)
        interrupted++;
    cr_assert_eq (rc, SSTREAM_OK, "%s", sstream_errmsg ());
    pthread_join (receiver, NULL);
    s_signalling = false;
    pthread_join (signaller, NULL);
    sstream_producer_destroy (&producer);
    free (buffer);
    cr_assert_eq (job.rc, SSTREAM_OK);
    cr_assert_eq (job.bytes, 64 << 20);
    unsigned char sent [32];
    crypto_generichash_final (&state, sent, 32);
    cr_assert_eq (memcmp (sent, job.digest, 32), 0);
    cr_log_info ("calls interrupted and retried: %" PRIu64 " sending, %" PRIu64 " receiving",
                 interrupted, job.interrupted);
    support_path_stop (&path);
}


//  --------------------------------------------------------------------------
//  Batches: what a caller sees does not change, only how records travel

static sstream_config_t *
s_options_with (sstream_config_t *base, const char *key, const char *value)
{
    sstream_config_t *options;
    cr_assert_eq (sstream_config_new (&options), SSTREAM_OK);
    const char *keys [] = { "client/secret-key", "client/gateway-key", "client/security",
                            "client/payload", "client/readers", NULL };
    int index;
    for (index = 0; keys [index]; index++) {
        const char *copied = sstream_config_get (base, keys [index], NULL);
        if (copied)
            sstream_config_set (options, keys [index], copied);
    }
    if (key)
        cr_assert_eq (sstream_config_set (options, key, value), SSTREAM_OK);
    return options;
}

Test (stream, small_records_in_batches_keep_their_boundaries_sequence_and_metadata)
{
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_consumer_t *consumer;
    cr_assert_eq (sstream_consumer_new (&consumer, sstream_gateway_endpoint (path.b, "local"),
                                        "small", path.consumer_options), SSTREAM_OK);
    //  Small batches, so that records straddle many of them
    sstream_config_t *options = s_options_with (path.producer_options, "client/batch", "4KiB");
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, sstream_gateway_endpoint (path.a, "local"),
                                        "small", options), SSTREAM_OK, "%s", sstream_errmsg ());
    enum { RECORDS = 20000 };
    unsigned char buffer [8192], meta [16];
    uint64_t offset = 0;
    size_t index;
    for (index = 0; index < RECORDS; index++) {
        //  0 to 100 bytes, and every 7th a record larger than a batch
        size_t size = index % 7 == 6? 5000 + index % 3: index % 101;
        support_fill (buffer, offset, size);
        offset += size;
        //  Every third has metadata: {"i": index}
        size_t meta_size = 0;
        if (index % 3 == 0) {
            meta [0] = 0x81; meta [1] = 0xa1; meta [2] = 'i'; meta [3] = 0xce;
            meta [4] = (unsigned char) (index >> 24); meta [5] = (unsigned char) (index >> 16);
            meta [6] = (unsigned char) (index >> 8); meta [7] = (unsigned char) index;
            meta_size = 8;
        }
        cr_assert_eq (sstream_producer_send (producer, buffer, size, meta_size? meta: NULL,
                                             meta_size, 10000), SSTREAM_OK, "%s", sstream_errmsg ());
    }
    offset = 0;
    for (index = 0; index < RECORDS; index++) {
        sstream_message_t *message;
        cr_assert_eq (sstream_consumer_recv (consumer, &message, 30000), SSTREAM_OK,
                      "record %zu: %s", index, sstream_errmsg ());
        size_t size = index % 7 == 6? 5000 + index % 3: index % 101;
        cr_assert_eq (sstream_message_seq (message), index);
        cr_assert_eq (sstream_message_size (message), size, "record %zu", index);
        support_fill (buffer, offset, size);
        offset += size;
        cr_assert_eq (memcmp (sstream_message_data (message), buffer, size), 0, "record %zu", index);
        size_t meta_size;
        const unsigned char *got = (const unsigned char *) sstream_message_meta (message, &meta_size);
        if (index % 3 == 0) {
            cr_assert_eq (meta_size, 8, "record %zu", index);
            uint32_t said = (uint32_t) got [4] << 24 | (uint32_t) got [5] << 16
                          | (uint32_t) got [6] << 8 | got [7];
            cr_assert_eq (said, index);
        }
        else
            cr_assert_null (got, "record %zu has metadata", index);
        sstream_message_destroy (&message);
    }
    cr_assert_eq (sstream_producer_close (producer, 0), SSTREAM_ETIMEDOUT);
    sstream_message_t *message;
    cr_assert_eq (sstream_consumer_recv (consumer, &message, 10000), SSTREAM_EEND);
    cr_assert_eq (sstream_consumer_close (consumer, 5000), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_producer_close (producer, 5000), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_consumer_messages (consumer), RECORDS);
    cr_assert_eq (sstream_consumer_bytes (consumer), offset);
    sstream_producer_destroy (&producer);
    sstream_consumer_destroy (&consumer);
    sstream_config_destroy (&options);
    support_path_stop (&path);
}

//  One record, then silence: it arrives without a close, by its linger
static void
s_one_record_arrives (support_path_t *path, const char *linger, bool arrives)
{
    sstream_config_t *options = s_options_with (path->producer_options, "client/linger", linger);
    sstream_consumer_t *consumer;
    cr_assert_eq (sstream_consumer_new (&consumer, sstream_gateway_endpoint (path->b, "local"),
                                        linger, path->consumer_options), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, sstream_gateway_endpoint (path->a, "local"),
                                        linger, options), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_producer_send (producer, "one", 3, NULL, 0, 5000), SSTREAM_OK);
    sstream_message_t *message = NULL;
    int rc = sstream_consumer_recv (consumer, &message, arrives? 30000: 1000);
    if (arrives) {
        cr_assert_eq (rc, SSTREAM_OK, "linger %s: %s", linger, sstream_errmsg ());
        cr_assert_eq (sstream_message_size (message), 3);
        sstream_message_destroy (&message);
    }
    else {
        //  A linger of a minute keeps it in its batch until close
        cr_assert_eq (rc, SSTREAM_ETIMEDOUT, "linger %s: the record left early", linger);
        cr_assert_eq (sstream_producer_close (producer, 0), SSTREAM_ETIMEDOUT);
        cr_assert_eq (sstream_consumer_recv (consumer, &message, 30000), SSTREAM_OK,
                      "%s", sstream_errmsg ());
        sstream_message_destroy (&message);
    }
    sstream_producer_destroy (&producer);
    sstream_consumer_destroy (&consumer);
    sstream_config_destroy (&options);
}

Test (stream, a_record_leaves_when_its_linger_has_passed)
{
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    s_one_record_arrives (&path, "0", true);
    s_one_record_arrives (&path, "5ms", true);
    s_one_record_arrives (&path, "60s", false);
    support_path_stop (&path);
}

//  Given buffers: each released exactly once, after the library is done
typedef struct {
    pthread_mutex_t lock;
    int released [64];
} s_releases_t;

static s_releases_t s_releases = { PTHREAD_MUTEX_INITIALIZER, { 0 } };

static void
s_release (void *data, void *arg)
{
    pthread_mutex_lock (&s_releases.lock);
    s_releases.released [(intptr_t) arg]++;
    pthread_mutex_unlock (&s_releases.lock);
    free (data);
}

static int
s_released (int index)
{
    pthread_mutex_lock (&s_releases.lock);
    int count = s_releases.released [index];
    pthread_mutex_unlock (&s_releases.lock);
    return count;
}

Test (stream, given_buffers_travel_without_a_copy_and_are_released_once)
{
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    support_consumer_t consumer = {
        .endpoint = sstream_gateway_endpoint (path.b, "local"),
        .stream = "given", .options = path.consumer_options
    };
    support_consumer_start (&consumer);
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, sstream_gateway_endpoint (path.a, "local"),
                                        "given", path.producer_options), SSTREAM_OK);
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    //  Large ones travel in the given buffer; small ones are copied into a
    //  batch and released before give returns
    size_t sizes [] = { 4 << 20, 100, 1 << 20, 0, 3 << 20, 65536 };
    uint64_t offset = 0;
    intptr_t index;
    for (index = 0; index < (intptr_t) (sizeof (sizes) / sizeof (sizes [0])); index++) {
        unsigned char *data = (unsigned char *) malloc (sizes [index]? sizes [index]: 1);
        support_fill (data, offset, sizes [index]);
        crypto_generichash_update (&state, data, sizes [index]);
        offset += sizes [index];
        cr_assert_eq (sstream_producer_give (producer, data, sizes [index], NULL, 0, s_release,
                                             (void *) index, 10000), SSTREAM_OK,
                      "%s", sstream_errmsg ());
        if (sizes [index] <= 65536)
            cr_assert_eq (s_released (index), 1, "record %d was not released at once", (int) index);
    }
    //  A refused give leaves the buffer with the caller: no release
    unsigned char kept [8];
    cr_assert_eq (sstream_producer_give (producer, kept, sizeof (kept), "\x92", 1, s_release,
                                         (void *) 63, 1000), SSTREAM_EINVAL);
    cr_assert_eq (sstream_producer_close (producer, 30000), SSTREAM_OK, "%s", sstream_errmsg ());
    support_consumer_join (&consumer);
    cr_assert_eq (consumer.rc, SSTREAM_OK, "%s", consumer.error);
    unsigned char sent [32];
    crypto_generichash_final (&state, sent, 32);
    cr_assert_eq (memcmp (sent, consumer.digest, 32), 0, "digests differ");
    cr_assert_eq (consumer.bytes, offset);
    sstream_producer_destroy (&producer);
    for (index = 0; index < (intptr_t) (sizeof (sizes) / sizeof (sizes [0])); index++)
        cr_assert_eq (s_released (index), 1, "record %d released %d times", (int) index,
                      s_released (index));
    cr_assert_eq (s_released (63), 0);
    support_path_stop (&path);
}
