/*  =========================================================================
    test_backpressure - a stalled consumer makes send wait; the gateways
    hold no more than their configured bound; then everything arrives

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include <czmq.h>
#include <sodium.h>
#include "support.h"

#include <criterion/criterion.h>
#include <stdatomic.h>

#define BUFFER      (4u << 20)      //  gateway/buffer, both gateways
#define WINDOW      (2u << 20)      //  consumer's window
#define MESSAGE     (256u << 10)
#define TOTAL       (128ULL << 20)

typedef struct {
    support_path_t *path;
    atomic_ullong sent;
    int rc;
    unsigned char digest [32];
} s_producer_job_t;

static void *
s_produce (void *args)
{
    s_producer_job_t *job = (s_producer_job_t *) args;
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    sstream_producer_t *producer;
    int rc = sstream_producer_new (&producer, sstream_gateway_endpoint (job->path->a, "local"),
                                   "pressure", job->path->producer_options);
    unsigned char *buffer = malloc (MESSAGE);
    uint64_t offset = 0;
    while (rc == SSTREAM_OK && offset < TOTAL) {
        support_fill (buffer, offset, MESSAGE);
        rc = sstream_producer_send (producer, buffer, MESSAGE, NULL, 0, SSTREAM_FOREVER);
        if (rc == SSTREAM_OK) {
            crypto_generichash_update (&state, buffer, MESSAGE);
            offset += MESSAGE;
            atomic_store (&job->sent, offset);
        }
    }
    if (rc == SSTREAM_OK)
        rc = sstream_producer_close (producer, 60000);
    crypto_generichash_final (&state, job->digest, 32);
    free (buffer);
    sstream_producer_destroy (&producer);
    job->rc = rc;
    return NULL;
}

Test (backpressure, a_stalled_consumer_blocks_send_within_the_bounds, .timeout = 120)
{
    support_options_t options = { .buffer = "4MiB", .window = "2MiB" };
    support_path_t path;
    cr_assert_eq (support_path_start (&path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_config_set (path.producer_options, "client/pipe", "2");

    //  The consumer opens the stream, then takes nothing for a while
    sstream_consumer_t *consumer;
    cr_assert_eq (sstream_consumer_new (&consumer, sstream_gateway_endpoint (path.b, "local"),
                                        "pressure", path.consumer_options), SSTREAM_OK);
    s_producer_job_t job = { .path = &path };
    pthread_t thread;
    pthread_create (&thread, NULL, s_produce, &job);

    //  Wait until the path is full: gateway B, next to the stalled consumer,
    //  holds its whole buffer, and the producer stops making progress
    uint64_t before = 0, after = 1, held_b = 0;
    int64_t start = zclock_mono ();
    while ((before != after || held_b < BUFFER - MESSAGE) && zclock_mono () - start < 60000) {
        before = atomic_load (&job.sent);
        usleep (300 * 1000);
        after = atomic_load (&job.sent);
        sstream_gateway_stat (path.b, "buffered", &held_b);
    }
    cr_assert_geq (held_b, BUFFER - MESSAGE, "gateway b holds only %" PRIu64 " bytes", held_b);
    cr_assert_eq (before, after, "send never blocked: %" PRIu64 " bytes sent", after);
    //  However long the consumer stalls, send takes no more than the path
    //  holds (on a slow machine it may still fill the last places)
    usleep (1000 * 1000);
    uint64_t blocked_at = atomic_load (&job.sent);

    //  What send accepted is in: the producer's pipe (2 + 1 messages) and
    //  actor (1), then within each hop's credit: gateway A's buffer, gateway
    //  B's buffer, the consumer's window. Socket queues are inside those.
    uint64_t bound = 4ULL * MESSAGE + 2ULL * BUFFER + WINDOW;
    cr_log_info ("send blocked after %" PRIu64 " bytes; bound %" PRIu64, blocked_at, bound);
    cr_assert_leq (blocked_at, bound, "%" PRIu64 " bytes accepted, more than the path holds",
                   blocked_at);
    cr_assert_geq (blocked_at, WINDOW, "the path never filled");
    cr_assert_lt (blocked_at, TOTAL);

    sstream_gateway_t *gateways [2] = { path.a, path.b };
    int index;
    for (index = 0; index < 2; index++) {
        uint64_t buffered = 0, peak = 0;
        sstream_gateway_stat (gateways [index], "buffered", &buffered);
        sstream_gateway_stat (gateways [index], "buffered-peak", &peak);
        cr_log_info ("gateway %c holds %" PRIu64 " bytes, peak %" PRIu64,
                     'a' + index, buffered, peak);
        cr_assert_leq (buffered, BUFFER);
        cr_assert_leq (peak, BUFFER, "gateway %c held %" PRIu64 " bytes, over its bound",
                       'a' + index, peak);
    }
    //  Gateway B, next to the stalled consumer, is full
    uint64_t b_buffered = 0;
    sstream_gateway_stat (path.b, "buffered", &b_buffered);
    cr_assert_geq (b_buffered, BUFFER - MESSAGE);

    //  The consumer resumes: everything arrives, in order
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    uint64_t received = 0, expected_seq = 0;
    int rc;
    sstream_message_t *message;
    while ((rc = sstream_consumer_recv (consumer, &message, 30000)) == SSTREAM_OK) {
        cr_assert_eq (sstream_message_seq (message), expected_seq++);
        crypto_generichash_update (&state, sstream_message_data (message),
                                   sstream_message_size (message));
        received += sstream_message_size (message);
        sstream_message_destroy (&message);
    }
    cr_assert_eq (rc, SSTREAM_EEND, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_consumer_close (consumer, 10000), SSTREAM_OK);
    pthread_join (thread, NULL);
    cr_assert_eq (job.rc, SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (received, TOTAL);
    unsigned char digest [32];
    crypto_generichash_final (&state, digest, 32);
    cr_assert_eq (memcmp (digest, job.digest, 32), 0);
    for (index = 0; index < 2; index++) {
        uint64_t peak = 0;
        sstream_gateway_stat (gateways [index], "buffered-peak", &peak);
        cr_assert_leq (peak, BUFFER);
    }
    sstream_consumer_destroy (&consumer);
    support_path_stop (&path);
}

Test (backpressure, a_send_that_cannot_proceed_times_out_without_sending, .timeout = 60)
{
    support_options_t options = { .buffer = "4KiB", .window = "4KiB" };
    support_path_t path;
    cr_assert_eq (support_path_start (&path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_config_set (path.producer_options, "client/pipe", "1");
    //  Nobody consumes
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, sstream_gateway_endpoint (path.a, "local"),
                                        "stuck", path.producer_options), SSTREAM_OK);
    unsigned char buffer [1024] = { 0 };
    int rc = SSTREAM_OK, sent = 0;
    while (rc == SSTREAM_OK && sent < 1000) {
        rc = sstream_producer_send (producer, buffer, sizeof (buffer), NULL, 0, 300);
        if (rc == SSTREAM_OK)
            sent++;
    }
    cr_assert_eq (rc, SSTREAM_ETIMEDOUT, "%s", sstream_errmsg ());
    cr_assert_lt (sent, 20, "%d messages of 1 KiB went into 4 KiB buffers", sent);
    cr_assert_eq (sstream_producer_messages (producer), (uint64_t) sent);
    sstream_producer_destroy (&producer);
    support_path_stop (&path);
}
