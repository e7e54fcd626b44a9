/*  =========================================================================
    test_checksum - the end-to-end checksum of a stream's bytes: the same at
    both ends, XXH3-128 of the bytes, and what catches a gateway that
    changes a stream it can read (one not sealed end to end)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A white-box test (linked with the static library): it makes a gateway
    misbehave through the seam in its forwarding path (sstream_fault.h).
*/

#include "sstream_common.h"
#include "sstream_fault.h"
#include "support.h"

#include <criterion/criterion.h>
#include <xxhash.h>

TestSuite (checksum, .timeout = 120);

#define S_RECORD (64 << 10)
#define S_RECORDS 200

typedef struct {
    const char *endpoint;
    sstream_config_t *options;
    const char *stream;
    int rc;
    char said [1024];
    char checksum [40];
} s_producer_t;

static void *
s_produce (void *arg)
{
    s_producer_t *self = (s_producer_t *) arg;
    static unsigned char record [S_RECORD];
    sstream_producer_t *producer;
    self->rc = sstream_producer_new (&producer, self->endpoint, self->stream, self->options);
    int index;
    for (index = 0; index < S_RECORDS && !self->rc; index++) {
        support_fill (record, (uint64_t) index * S_RECORD, S_RECORD);
        self->rc = sstream_producer_send (producer, record, S_RECORD, NULL, 0, 30000);
    }
    if (!self->rc)
        self->rc = sstream_producer_close (producer, 30000);
    snprintf (self->said, sizeof (self->said), "%s", self->rc? sstream_errmsg (): "");
    const char *checksum = sstream_producer_checksum (producer);
    snprintf (self->checksum, sizeof (self->checksum), "%s", checksum? checksum: "");
    sstream_producer_destroy (&producer);
    return NULL;
}

//  Stream S_RECORDS records from A to B; the consumer's outcome and
//  checksum, the producer's in *producer
static int
s_stream (support_path_t *path, const char *stream, sstream_config_t *producer_options,
          s_producer_t *producer, char *checksum, char *said)
{
    sstream_consumer_t *consumer;
    cr_assert_eq (sstream_consumer_new (&consumer, sstream_gateway_endpoint (path->b, "local"),
                                        stream, path->consumer_options), SSTREAM_OK, "%s",
                  sstream_errmsg ());
    *producer = (s_producer_t) { .endpoint = sstream_gateway_endpoint (path->a, "local"),
                                 .options = producer_options, .stream = stream };
    pthread_t thread;
    pthread_create (&thread, NULL, s_produce, producer);
    int rc;
    sstream_message_t *message;
    while ((rc = sstream_consumer_recv (consumer, &message, 30000)) == SSTREAM_OK)
        sstream_message_destroy (&message);
    if (rc == SSTREAM_EEND)
        rc = sstream_consumer_close (consumer, 30000);
    strcpy (said, rc? sstream_errmsg (): "");
    const char *sum = sstream_consumer_checksum (consumer);
    strcpy (checksum, sum? sum: "");
    sstream_consumer_destroy (&consumer);
    pthread_join (thread, NULL);
    return rc;
}

Test (checksum, both_ends_have_the_xxh3_128_of_the_bytes)
{
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    s_producer_t producer;
    char checksum [40], said [1024];
    int rc = s_stream (&path, "summed", path.producer_options, &producer, checksum, said);
    cr_assert_eq (rc, SSTREAM_OK, "consumer: %s", said);
    cr_assert_eq (producer.rc, SSTREAM_OK, "producer: %s", producer.said);
    //  What libxxhash says of the bytes, on its own
    XXH3_state_t *state = XXH3_createState ();
    XXH3_128bits_reset (state);
    static unsigned char record [S_RECORD];
    int index;
    for (index = 0; index < S_RECORDS; index++) {
        support_fill (record, (uint64_t) index * S_RECORD, S_RECORD);
        XXH3_128bits_update (state, record, S_RECORD);
    }
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash (&canonical, XXH3_128bits_digest (state));
    XXH3_freeState (state);
    char expected [40];
    for (index = 0; index < 16; index++)
        sprintf (expected + 2 * index, "%02x", canonical.digest [index]);
    cr_assert_str_eq (producer.checksum, expected);
    cr_assert_str_eq (checksum, expected);
    support_path_stop (&path);
}

//  Gateway A changes one byte of one batch of a stream it can read
static int
s_alter_once (sstream_fault_t *message)
{
    static bool done;
    if (message->kind == SSTREAM_FAULT_BATCH && message->to_peer && !done
    &&  message->batch->seq >= 20) {
        byte *payload = (byte *) zmq_msg_data (message->frame1);
        payload [zmq_msg_size (message->frame1) / 2] ^= 0x01;
        done = true;
    }
    return 1;
}

Test (checksum, a_byte_a_gateway_changes_in_a_stream_not_sealed_fails_it_at_both_ends)
{
    support_options_t options = { .hop = true };
    support_path_t path;
    cr_assert_eq (support_path_start (&path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_fault_forward = s_alter_once;
    s_producer_t producer;
    char checksum [40], said [1024];
    int rc = s_stream (&path, "changed", path.producer_options, &producer, checksum, said);
    sstream_fault_forward = NULL;
    cr_assert_eq (rc, SSTREAM_EPROTO, "the consumer got %d: %s", rc, said);
    cr_assert (strstr (said, "stream 'changed'") && strstr (said, "changed on the way"), "%s", said);
    cr_assert_neq (producer.rc, SSTREAM_OK, "the producer was told nothing");
    cr_assert (strstr (producer.said, "changed on the way"), "%s", producer.said);
    support_path_stop (&path);
}
