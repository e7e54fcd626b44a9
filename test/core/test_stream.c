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
        cr_assert_eq (in, bytes);
        cr_assert_eq (out, bytes);
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
    //  All of it is sent before anybody consumes
    usleep (500 * 1000);
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

Test (stream, a_message_larger_than_every_window_still_passes)
{
    //  4 KiB buffers and a 4 KiB consumer window, 3 MiB messages: each one
    //  travels alone through an empty window (PROTOCOL.md section 4)
    support_options_t options = { .buffer = "4KiB", .window = "4KiB" };
    support_path_t path;
    cr_assert_eq (support_path_start (&path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
    support_consumer_t consumer = {
        .endpoint = sstream_gateway_endpoint (path.b, "local"),
        .stream = "large", .options = path.consumer_options
    };
    support_consumer_start (&consumer);
    unsigned char sent [32];
    int rc = support_produce (sstream_gateway_endpoint (path.a, "local"), "large",
                              path.producer_options, 12 << 20, 3 << 20, sent);
    support_consumer_join (&consumer);
    cr_assert_eq (rc, SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (consumer.rc, SSTREAM_OK, "%s", consumer.error);
    cr_assert_eq (memcmp (sent, consumer.digest, 32), 0);
    support_path_stop (&path);
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
