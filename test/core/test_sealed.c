/*  =========================================================================
    test_sealed - sealed streams end to end: who may read them, keys that
    change under a long stream, gateways that tamper with what they
    forward, and strangers at a bulk listener

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A white-box test (linked with the static library): it makes a gateway
    misbehave through the seam in its forwarding path (sstream_fault.h).
*/

#define _GNU_SOURCE
#include "sstream_common.h"
#include "sstream_fault.h"
#include "support.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite (sealed, .timeout = 240);

//  Wait this long at most for what must happen (a loaded machine is slow)
#define S_LIMIT_MS 60000

static sstream_config_t *
s_config (const char *first, ...)
{
    sstream_config_t *config;
    cr_assert_eq (sstream_config_new (&config), SSTREAM_OK);
    va_list args;
    va_start (args, first);
    const char *path;
    for (path = first; path; path = va_arg (args, const char *)) {
        const char *value = va_arg (args, const char *);
        cr_assert_eq (sstream_config_set (config, path, value), SSTREAM_OK, "%s = %s: %s",
                      path, value, sstream_errmsg ());
    }
    va_end (args);
    return config;
}

//  The path's producer options, with more settings (path, value, ..., NULL)
static sstream_config_t *
s_producer_with (support_path_t *path, const char *first, ...)
{
    const char *keys [] = { "client/secret-key", "client/gateway-key", "client/readers", NULL };
    sstream_config_t *config = s_config (NULL);
    size_t index;
    for (index = 0; keys [index]; index++)
        cr_assert_eq (sstream_config_set (config, keys [index],
                      sstream_config_get (path->producer_options, keys [index], "")), SSTREAM_OK);
    va_list args;
    va_start (args, first);
    const char *key;
    for (key = first; key; key = va_arg (args, const char *)) {
        const char *value = va_arg (args, const char *);
        cr_assert_eq (sstream_config_set (config, key, value), SSTREAM_OK, "%s", sstream_errmsg ());
    }
    va_end (args);
    return config;
}

//  The digest of the first bytes of any stream support_produce makes
static void
s_digest_of_first (uint64_t bytes, unsigned char digest [32])
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    static unsigned char buffer [1 << 16];
    uint64_t done;
    for (done = 0; done < bytes; ) {
        size_t size = bytes - done < sizeof (buffer)? (size_t) (bytes - done): sizeof (buffer);
        support_fill (buffer, done, size);
        crypto_generichash_update (&state, buffer, size);
        done += size;
    }
    crypto_generichash_final (&state, digest, 32);
}

static void
s_assert_says (const char *text, const char *part)
{
    cr_assert (text && strstr (text, part), "'%s' does not say '%s'", text? text: "(null)", part);
}

//  A gateway statistic, which must exist
static uint64_t
s_stat (sstream_gateway_t *gateway, const char *name)
{
    uint64_t value = 0;
    cr_assert_eq (sstream_gateway_stat (gateway, name, &value), SSTREAM_OK, "%s", sstream_errmsg ());
    return value;
}

//  Wait until a gateway statistic reaches at least value
static bool
s_wait_stat (sstream_gateway_t *gateway, const char *name, uint64_t value)
{
    int64_t start = zclock_mono ();
    while (s_stat (gateway, name) < value)
        if (zclock_mono () - start > S_LIMIT_MS)
            return false;
        else
            usleep (10 * 1000);
    return true;
}


//  --------------------------------------------------------------------------
//  Readers

//  A second consumer key pair, trusted by gateway B (its public key in the
//  facility's folder) but not among the producer's readers: its options
static sstream_config_t *
s_intruder (support_path_t *path)
{
    char folder [600], secret [700], public_key [700], trusted [700], gateway_key [700];
    snprintf (folder, sizeof (folder), "%s/intruders", path->folder);
    cr_assert_eq (sstream_keygen ("intruder", folder), SSTREAM_OK, "%s", sstream_errmsg ());
    snprintf (secret, sizeof (secret), "%s/intruder.secret", folder);
    snprintf (public_key, sizeof (public_key), "%s/intruder.pub", folder);
    snprintf (trusted, sizeof (trusted), "%s/intruder.pub", path->facility_b);
    snprintf (gateway_key, sizeof (gateway_key), "%s/gateway-b.pub", path->gateways);
    char *text = support_read_file (public_key);
    cr_assert_not_null (text);
    cr_assert_eq (support_write_file (trusted, text), 0);
    free (text);
    return s_config ("client/secret-key", secret, "client/gateway-key", gateway_key, NULL);
}

//  Open as a consumer once gateway B has read its trusted folder again
//  (it does every heartbeat): until then the key is refused (EAUTH)
static int
s_open_when_trusted (sstream_consumer_t **consumer, const char *endpoint, const char *stream,
                     sstream_config_t *options)
{
    int64_t start = zclock_mono ();
    int rc;
    while ((rc = sstream_consumer_new (consumer, endpoint, stream, options)) == SSTREAM_EAUTH
    &&     zclock_mono () - start < S_LIMIT_MS)
        usleep (100 * 1000);
    return rc;
}

//  The producer has sent its records: its reader gets them all, and the
//  stream completes
static void
s_reader_takes (support_path_t *path, sstream_producer_t *producer, const char *stream,
                uint64_t bytes)
{
    support_consumer_t reader = {
        .endpoint = sstream_gateway_endpoint (path->b, "local"),
        .stream = stream, .options = path->consumer_options
    };
    support_consumer_start (&reader);
    int rc = sstream_producer_close (producer, S_LIMIT_MS);
    support_consumer_join (&reader);
    cr_assert_eq (reader.rc, SSTREAM_OK, "the reader of '%s': %s", stream, reader.error);
    cr_assert_eq (rc, SSTREAM_OK, "the producer of '%s': %s", stream, sstream_errmsg ());
    cr_assert_eq (reader.bytes, bytes);
    cr_assert (reader.in_order);
    unsigned char expected [32];
    s_digest_of_first (bytes, expected);
    cr_assert_eq (memcmp (expected, reader.digest, 32), 0, "the reader got other bytes");
}

static sstream_producer_t *
s_producer_sends (support_path_t *path, const char *stream, uint64_t bytes, size_t size)
{
    sstream_producer_t *producer;
    cr_assert_eq (sstream_producer_new (&producer, sstream_gateway_endpoint (path->a, "local"),
                                        stream, path->producer_options), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    unsigned char *buffer = malloc (size);
    uint64_t sent;
    for (sent = 0; sent < bytes; sent += size) {
        support_fill (buffer, sent, size);
        cr_assert_eq (sstream_producer_send (producer, buffer, size, NULL, 0, S_LIMIT_MS),
                      SSTREAM_OK, "%s", sstream_errmsg ());
    }
    free (buffer);
    return producer;
}

//  Attached before the producer started: the gateway learns the readers
//  from the key message, and sends the intruder away; the stream waits
//  for its reader
static void
s_intruder_first (support_path_t *path, sstream_config_t *intruder)
{
    sstream_consumer_t *consumer;
    int rc = s_open_when_trusted (&consumer, sstream_gateway_endpoint (path->b, "local"),
                                  "readers-first", intruder);
    cr_assert_eq (rc, SSTREAM_OK, "the intruder could not attach: %s", sstream_errmsg ());
    sstream_producer_t *producer = s_producer_sends (path, "readers-first", 1 << 20, 1 << 16);
    sstream_message_t *message = NULL;
    rc = sstream_consumer_recv (consumer, &message, S_LIMIT_MS);
    cr_assert_eq (rc, SSTREAM_EDENIED, "the intruder got %d: %s", rc, sstream_errmsg ());
    cr_assert_null (message);
    s_assert_says (sstream_errmsg (), "not a reader of stream 'readers-first'");
    cr_assert_eq (sstream_consumer_messages (consumer), 0);
    sstream_consumer_destroy (&consumer);
    s_reader_takes (path, producer, "readers-first", 1 << 20);
    sstream_producer_destroy (&producer);
}

//  Attached after the key reached the consumer's gateway: refused at open
static void
s_intruder_late (support_path_t *path, sstream_config_t *intruder)
{
    sstream_producer_t *producer = s_producer_sends (path, "readers-late", 1 << 20, 1 << 16);
    //  The key goes before the first batch: once data is at B, so is it
    cr_assert (s_wait_stat (path->b, "bytes-in", 1), "nothing reached gateway b");
    sstream_consumer_t *consumer = NULL;
    int rc = s_open_when_trusted (&consumer, sstream_gateway_endpoint (path->b, "local"),
                                  "readers-late", intruder);
    //  Refused at open; or, if the stream resumed meanwhile (a loaded
    //  machine can make a party silent for its peer-timeout), and gateway
    //  B holds it afresh without its key yet, refused when the key comes:
    //  either way, nothing of it
    if (rc == SSTREAM_OK) {
        sstream_message_t *message = NULL;
        rc = sstream_consumer_recv (consumer, &message, S_LIMIT_MS);
        cr_assert_null (message);
        cr_assert_eq (sstream_consumer_messages (consumer), 0);
        sstream_consumer_destroy (&consumer);
    }
    cr_assert_eq (rc, SSTREAM_EDENIED, "the intruder got %d: %s", rc, sstream_errmsg ());
    cr_assert_null (consumer);
    s_assert_says (sstream_errmsg (), "not a reader of stream 'readers-late'");
    s_reader_takes (path, producer, "readers-late", 1 << 20);
    sstream_producer_destroy (&producer);
}

Test (sealed, a_consumer_that_is_not_a_reader_is_refused)
{
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_config_t *intruder = s_intruder (&path);
    s_intruder_first (&path, intruder);
    s_intruder_late (&path, intruder);
    cr_assert_eq (s_stat (path.a, "completed"), 2);
    cr_assert_eq (s_stat (path.b, "completed"), 2);
    sstream_config_destroy (&intruder);
    support_path_stop (&path);
}

Test (sealed, a_producer_without_readers_is_refused_at_open)
{
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    const char *endpoint = sstream_gateway_endpoint (path.a, "local");
    sstream_config_t *sealed = s_config (
        "client/secret-key", sstream_config_get (path.producer_options, "client/secret-key", ""),
        "client/gateway-key", sstream_config_get (path.producer_options, "client/gateway-key", ""),
        NULL);
    sstream_producer_t *producer = NULL;
    int rc = sstream_producer_new (&producer, endpoint, "unread", sealed);
    cr_assert_eq (rc, SSTREAM_ECONFIG, "got %d: %s", rc, sstream_errmsg ());
    cr_assert_null (producer);
    s_assert_says (sstream_errmsg (), "stream 'unread' is sealed end to end, and nobody may read it");
    cr_assert_eq (s_stat (path.a, "streams"), 0, "the refused producer reached the gateway");

    //  Not sealed, it needs no readers: it opens, and a consumer that takes
    //  unsealed streams gets it
    cr_assert_eq (sstream_config_set (sealed, "client/payload", "hop"), SSTREAM_OK);
    cr_assert_eq (sstream_config_set (path.consumer_options, "client/payload", "hop"), SSTREAM_OK);
    support_consumer_t consumer = {
        .endpoint = sstream_gateway_endpoint (path.b, "local"),
        .stream = "unread", .options = path.consumer_options
    };
    support_consumer_start (&consumer);
    rc = support_produce (endpoint, "unread", sealed, 1 << 20, 1 << 16, NULL);
    support_consumer_join (&consumer);
    cr_assert_eq (rc, SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (consumer.rc, SSTREAM_OK, "%s", consumer.error);
    cr_assert_eq (consumer.bytes, 1 << 20);
    sstream_config_destroy (&sealed);
    support_path_stop (&path);
}


//  --------------------------------------------------------------------------
//  Keys that change

//  What gateway B passed on to its consumer: the key messages, in order
static struct {
    pthread_mutex_t lock;
    const char *stream;
    uint64_t keys;
    uint64_t epoch;
    uint64_t last_generation;
    bool out_of_turn;           //  A generation that is not the last one's next
    uint64_t batches;
} s_keys = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int
s_count_keys (sstream_fault_t *message)
{
    if (message->to_peer || !streq (message->stream, s_keys.stream))
        return 1;
    pthread_mutex_lock (&s_keys.lock);
    if (message->kind == SSTREAM_FAULT_BATCH)
        s_keys.batches++;
    if (message->kind == SSTREAM_FAULT_KEY) {
        sstream_wire_t header;
        if (sstream_wire_decode (&header, zmq_msg_data (message->frame0),
                                 zmq_msg_size (message->frame0)) != SSTREAM_OK
        ||  header.generation != s_keys.last_generation + 1
        ||  (s_keys.keys && header.epoch != s_keys.epoch))
            s_keys.out_of_turn = true;
        s_keys.keys++;
        s_keys.epoch = header.epoch;
        s_keys.last_generation = header.generation;
    }
    pthread_mutex_unlock (&s_keys.lock);
    return 1;
}

Test (sealed, keys_rotate_over_a_long_stream)
{
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    const char *endpoint = sstream_gateway_endpoint (path.a, "local");
    //  4 KiB is the least a key may seal
    sstream_config_t *options = s_producer_with (&path, "client/rekey", "4095", NULL);
    sstream_producer_t *producer = NULL;
    cr_assert_eq (sstream_producer_new (&producer, endpoint, "rekeyed", options), SSTREAM_ECONFIG);
    s_assert_says (sstream_errmsg (), "rekey must be at least 4KiB");
    sstream_config_destroy (&options);

    s_keys.stream = "rekeyed";
    sstream_fault_forward = s_count_keys;
    uint64_t bytes = 32ULL << 20;
    size_t size = 64 << 10;
    options = s_producer_with (&path, "client/rekey", "64KiB", NULL);
    support_consumer_t consumer = {
        .endpoint = sstream_gateway_endpoint (path.b, "local"),
        .stream = "rekeyed", .options = path.consumer_options
    };
    support_consumer_start (&consumer);
    unsigned char sent [32];
    int rc = support_produce (endpoint, "rekeyed", options, bytes, size, sent);
    support_consumer_join (&consumer);
    sstream_fault_forward = NULL;
    cr_assert_eq (rc, SSTREAM_OK, "producer: %s", sstream_errmsg ());
    cr_assert_eq (consumer.rc, SSTREAM_OK, "consumer: %s", consumer.error);
    cr_assert_eq (consumer.bytes, bytes);
    cr_assert_eq (consumer.messages, bytes / size);
    cr_assert (consumer.in_order);
    cr_assert_eq (memcmp (sent, consumer.digest, 32), 0, "digests differ");
    //  Every batch seals at least one record of 64 KiB: the key is spent
    //  after each, and the next batch (or the end, after the last) comes
    //  under a new one
    pthread_mutex_lock (&s_keys.lock);
    cr_log_info ("%" PRIu64 " keys for %" PRIu64 " batches", s_keys.keys, s_keys.batches);
    cr_assert_gt (s_keys.keys, 1);
    cr_assert_eq (s_keys.keys, s_keys.batches + 1, "%" PRIu64 " keys for %" PRIu64 " batches",
                  s_keys.keys, s_keys.batches);
    cr_assert_geq (s_keys.batches, bytes / (256 << 10));
    cr_assert_not (s_keys.out_of_turn, "generations did not run 1, 2, 3... under one epoch");
    pthread_mutex_unlock (&s_keys.lock);
    sstream_config_destroy (&options);
    support_path_stop (&path);
}


//  --------------------------------------------------------------------------
//  A gateway that tampers with what it forwards

typedef enum {
    S_ALTER,                    //  Flip a bit of the batch's sealed payload
    S_DROP,                     //  Do not forward the batch
    S_TWICE,                    //  Forward it twice
    S_REPLACE,                  //  Put a stashed payload in its place
    S_TRUNCATE,                 //  Drop it and all after; end with what went
    S_RESEAL                    //  Alter the end's seal
} s_misdeed_t;

static struct {
    pthread_mutex_t lock;
    s_misdeed_t misdeed;
    bool at_a;                  //  Gateway A misbehaves, else gateway B
    const char *stream;         //  On this stream
    uint64_t from;              //  The first batch at or after this record
    bool armed;                 //  Set: the misdeed is done
    //  S_REPLACE: the sealed payload of the batch at stash_seq of
    //  stash_stream is kept (armed or not), and goes instead of the
    //  payload of the batch at from
    const char *stash_stream;
    uint64_t stash_seq;
    zmq_msg_t stash;
    bool stashed;
    //  What was done
    bool done;
    uint64_t hit_seq;           //  The first batch it did it to
    uint64_t hit_count;
    uint64_t delivered;         //  Record bytes forwarded before (S_TRUNCATE)
    bool mismatch;              //  The stash did not fit
} s_plan = { .lock = PTHREAD_MUTEX_INITIALIZER };

//  Payload bytes of a sealed batch of records without metadata
static uint64_t
s_record_bytes (const sstream_wire_batch_t *batch)
{
    return batch->length - 8 * batch->count - SSTREAM_SEAL_TAG_SIZE;
}

static void
s_stash (sstream_fault_t *message)
{
    if (s_plan.stashed || !s_plan.stash_stream || !streq (message->stream, s_plan.stash_stream)
    ||  message->batch->seq != s_plan.stash_seq)
        return;
    zmq_msg_init_size (&s_plan.stash, zmq_msg_size (message->frame1));
    memcpy (zmq_msg_data (&s_plan.stash), zmq_msg_data (message->frame1),
            zmq_msg_size (message->frame1));
    s_plan.stashed = true;
}

//  Put the stashed payload in the batch's place: the header stays, so the
//  batch claims to be the one it replaces
static int
s_replace (sstream_fault_t *message)
{
    if (!s_plan.stashed || zmq_msg_size (&s_plan.stash) != zmq_msg_size (message->frame1)) {
        s_plan.mismatch = true;
        return 1;
    }
    memcpy (zmq_msg_data (message->frame1), zmq_msg_data (&s_plan.stash),
            zmq_msg_size (&s_plan.stash));
    return 1;
}

static int
s_misbehave_batch (sstream_fault_t *message)
{
    const sstream_wire_batch_t *batch = message->batch;
    bool ours = s_plan.armed && streq (message->stream, s_plan.stream)
             && s_plan.misdeed != S_RESEAL;
    bool due = ours && !s_plan.done && batch->seq >= s_plan.from
            && (s_plan.misdeed != S_REPLACE || batch->seq == s_plan.from);
    int copies = 1;
    if (due) {
        s_plan.done = true;
        s_plan.hit_seq = batch->seq;
        s_plan.hit_count = batch->count;
        if (s_plan.misdeed == S_ALTER) {
            byte *payload = (byte *) zmq_msg_data (message->frame1);
            payload [zmq_msg_size (message->frame1) / 2] ^= 0x20;
        }
        copies = s_plan.misdeed == S_DROP || s_plan.misdeed == S_TRUNCATE? 0
               : s_plan.misdeed == S_TWICE? 2
               : s_plan.misdeed == S_REPLACE? s_replace (message): 1;
    }
    else
    if (ours && s_plan.done && s_plan.misdeed == S_TRUNCATE)
        copies = 0;             //  Everything after it goes too
    else
    if (ours && !s_plan.done)
        s_plan.delivered += s_record_bytes (batch);
    s_stash (message);
    return copies;
}

//  S_TRUNCATE: the end says what went, as if the stream stopped there;
//  S_RESEAL: the totals are right, the seal is not
static void
s_misbehave_end (sstream_fault_t *message)
{
    if (!s_plan.armed || !streq (message->stream, s_plan.stream))
        return;
    sstream_wire_t *end = message->end;
    if (s_plan.misdeed == S_TRUNCATE && s_plan.done) {
        end->seq = s_plan.hit_seq;
        end->bytes = s_plan.delivered;
    }
    if (s_plan.misdeed == S_RESEAL) {
        end->seal [0] = end->seal [0] == '0'? '1': '0';
        s_plan.done = true;
        s_plan.hit_seq = end->seq;
    }
}

static int
s_misbehave (sstream_fault_t *message)
{
    if (message->to_peer != s_plan.at_a)
        return 1;
    pthread_mutex_lock (&s_plan.lock);
    int copies = 1;
    if (message->kind == SSTREAM_FAULT_BATCH)
        copies = s_misbehave_batch (message);
    else
    if (message->kind == SSTREAM_FAULT_END)
        s_misbehave_end (message);
    pthread_mutex_unlock (&s_plan.lock);
    return copies;
}

static void
s_plan_start (s_misdeed_t misdeed, bool at_a, const char *stream, uint64_t from)
{
    pthread_mutex_lock (&s_plan.lock);
    s_plan.misdeed = misdeed;
    s_plan.at_a = at_a;
    s_plan.stream = stream;
    s_plan.from = from;
    s_plan.armed = true;
    s_plan.done = false;
    pthread_mutex_unlock (&s_plan.lock);
    sstream_fault_forward = s_misbehave;
}

//  Records of this size, one a batch unless said otherwise
#define S_RECORD (16 << 10)
#define S_RECORDS 256

//  What the producer said last
static char s_producer_said [1024];

//  Stream S_RECORDS records through the path; the consumer's outcome
static void
s_stream (support_path_t *path, const char *stream, sstream_config_t *options,
          support_consumer_t *consumer, int *producer_rc)
{
    memset (consumer, 0, sizeof (*consumer));
    consumer->endpoint = sstream_gateway_endpoint (path->b, "local");
    consumer->stream = stream;
    consumer->options = path->consumer_options;
    support_consumer_start (consumer);
    *producer_rc = support_produce (sstream_gateway_endpoint (path->a, "local"), stream, options,
                                    (uint64_t) S_RECORDS * S_RECORD, S_RECORD, NULL);
    snprintf (s_producer_said, sizeof (s_producer_said), "%s", sstream_errmsg ());
    support_consumer_join (consumer);
}

//  The consumer failed with an error that says all of said (NULL-ended),
//  after it took exactly the first records, as sent; the producer heard
//  why from it, and never that the stream was complete
static void
s_assert_refused (support_consumer_t *consumer, int producer_rc, uint64_t records,
                  const char *first, ...)
{
    cr_assert_eq (consumer->rc, SSTREAM_EPROTO, "the consumer got %d: %s", consumer->rc,
                  consumer->error);
    va_list args;
    va_start (args, first);
    const char *said;
    for (said = first; said; said = va_arg (args, const char *))
        s_assert_says (consumer->error, said);
    va_end (args);
    cr_assert_eq (consumer->messages, records, "the consumer took %" PRIu64 " records, not %"
                  PRIu64, consumer->messages, records);
    cr_assert (consumer->in_order);
    unsigned char expected [32];
    s_digest_of_first (records * S_RECORD, expected);
    cr_assert_eq (memcmp (expected, consumer->digest, 32), 0,
                  "the records the consumer took are not the ones sent");
    cr_assert_eq (producer_rc, SSTREAM_EPROTO, "the producer got %d: %s", producer_rc,
                  s_producer_said);
    s_assert_says (s_producer_said, "the consumer refused the stream: ");
    s_assert_says (s_producer_said, consumer->error);
    cr_log_info ("consumer: %s", consumer->error);
    cr_log_info ("producer: %s", s_producer_said);
}

//  The path, and the producer's options: one record a batch
static sstream_config_t *
s_tamper_start (support_path_t *path)
{
    cr_assert_eq (support_path_start (path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    return s_producer_with (path, "client/linger", "0", NULL);
}

static void
s_tamper_stop (support_path_t *path, sstream_config_t **options)
{
    sstream_fault_forward = NULL;
    sstream_config_destroy (options);
    support_path_stop (path);
}

static void
s_text (char *text, size_t size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (text, size, format, args);
    va_end (args);
}

Test (sealed, a_batch_altered_by_a_gateway_fails_the_stream_at_that_batch)
{
    //  Gateway A, which cannot read the batch, flips a bit in it; gateway B
    //  cannot tell; the consumer can. Batches of many records: none of the
    //  altered one's reaches the application
    support_path_t path;
    cr_assert_eq (support_path_start (&path, NULL), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_config_t *options = s_producer_with (&path, "client/batch", "64KiB",
                                                 "client/linger", "60s", NULL);
    s_plan_start (S_ALTER, true, "altered", 100);
    support_consumer_t consumer;
    int producer_rc;
    s_stream (&path, "altered", options, &consumer, &producer_rc);
    cr_assert (s_plan.done, "gateway a never altered a batch");
    cr_assert_gt (s_plan.hit_count, 1, "batches of one record");
    char batch [128];
    s_text (batch, sizeof (batch), "the batch of records %" PRIu64 " to %" PRIu64 " does not open",
            s_plan.hit_seq, s_plan.hit_seq + s_plan.hit_count - 1);
    s_assert_refused (&consumer, producer_rc, s_plan.hit_seq, "stream 'altered'", batch,
                      "altered, replayed, or does not belong here", NULL);
    s_tamper_stop (&path, &options);
}

Test (sealed, a_batch_dropped_by_a_gateway_fails_the_stream)
{
    support_path_t path;
    sstream_config_t *options = s_tamper_start (&path);
    s_plan_start (S_DROP, false, "dropped", 100);
    support_consumer_t consumer;
    int producer_rc;
    s_stream (&path, "dropped", options, &consumer, &producer_rc);
    cr_assert (s_plan.done);
    char missing [128];
    s_text (missing, sizeof (missing), "records %" PRIu64 " to %" PRIu64 " never came",
            s_plan.hit_seq, s_plan.hit_seq + s_plan.hit_count - 1);
    s_assert_refused (&consumer, producer_rc, s_plan.hit_seq, "stream 'dropped'", missing,
                      "a batch was dropped on the way", NULL);
    s_tamper_stop (&path, &options);
}

Test (sealed, a_batch_replayed_by_a_gateway_fails_the_stream)
{
    //  Sent twice as it was: its sequence gives it away
    support_path_t path;
    sstream_config_t *options = s_tamper_start (&path);
    s_plan_start (S_TWICE, false, "replayed", 100);
    support_consumer_t consumer;
    int producer_rc;
    s_stream (&path, "replayed", options, &consumer, &producer_rc);
    cr_assert (s_plan.done);
    char again [128];
    s_text (again, sizeof (again), "records %" PRIu64 " to %" PRIu64 " came again",
            s_plan.hit_seq, s_plan.hit_seq + s_plan.hit_count - 1);
    //  The first sending was good: the application has it
    s_assert_refused (&consumer, producer_rc, s_plan.hit_seq + s_plan.hit_count,
                      "stream 'replayed'", again, "a batch was replayed", NULL);

    //  Sent again in the place of the next batch, under that one's header:
    //  it does not open there
    s_plan.stash_stream = "replayed-as-next";
    s_plan.stash_seq = 100;
    s_plan_start (S_REPLACE, false, "replayed-as-next", 101);
    s_stream (&path, "replayed-as-next", options, &consumer, &producer_rc);
    cr_assert (s_plan.done && !s_plan.mismatch);
    s_assert_refused (&consumer, producer_rc, 101, "stream 'replayed-as-next'",
                      "the batch of records 101 to 101 does not open", NULL);
    s_tamper_stop (&path, &options);
}

//  A batch of another stream, or of an earlier run of the same stream, at
//  the same place in the victim (the same records, even): the first run
//  goes through untouched, its batch kept; the second gets it
static void
s_moved (const char *donor, const char *victim)
{
    support_path_t path;
    sstream_config_t *options = s_tamper_start (&path);
    s_plan.stash_stream = donor;
    s_plan.stash_seq = 100;
    s_plan_start (S_REPLACE, false, victim, 100);
    s_plan.armed = false;
    support_consumer_t consumer;
    int producer_rc;
    s_stream (&path, donor, options, &consumer, &producer_rc);
    cr_assert_eq (consumer.rc, SSTREAM_OK, "%s", consumer.error);
    cr_assert_eq (producer_rc, SSTREAM_OK);
    cr_assert (s_plan.stashed);
    s_plan.armed = true;
    s_stream (&path, victim, options, &consumer, &producer_rc);
    cr_assert (s_plan.done && !s_plan.mismatch);
    char stream [64];
    s_text (stream, sizeof (stream), "stream '%s'", victim);
    s_assert_refused (&consumer, producer_rc, 100, stream,
                      "the batch of records 100 to 100 does not open",
                      "does not belong here", NULL);
    s_tamper_stop (&path, &options);
}

Test (sealed, a_batch_moved_from_another_stream_fails_the_stream)
{
    s_moved ("donor", "victim");
}

Test (sealed, a_batch_of_an_earlier_run_fails_the_stream)
{
    s_moved ("rerun", "rerun");
}

Test (sealed, a_stream_cut_short_by_a_gateway_fails)
{
    //  The last batches dropped, the end rewritten with the totals of what
    //  went: they add up, but the producer did not seal them
    support_path_t path;
    sstream_config_t *options = s_tamper_start (&path);
    s_plan_start (S_TRUNCATE, false, "truncated", 200);
    support_consumer_t consumer;
    int producer_rc;
    s_stream (&path, "truncated", options, &consumer, &producer_rc);
    cr_assert (s_plan.done);
    cr_assert_eq (s_plan.delivered, s_plan.hit_seq * S_RECORD);
    char totals [128];
    s_text (totals, sizeof (totals), "ended after %" PRIu64 " records and %" PRIu64 " bytes",
            s_plan.hit_seq, s_plan.delivered);
    s_assert_refused (&consumer, producer_rc, s_plan.hit_seq, "stream 'truncated'", totals,
                      "totals its producer did not seal: it was cut short", NULL);

    //  Everything delivered, and the end's seal altered
    s_plan_start (S_RESEAL, false, "resealed", 0);
    s_stream (&path, "resealed", options, &consumer, &producer_rc);
    cr_assert (s_plan.done);
    s_text (totals, sizeof (totals), "ended after %d records and %d bytes", S_RECORDS,
            S_RECORDS * S_RECORD);
    s_assert_refused (&consumer, producer_rc, S_RECORDS, "stream 'resealed'", totals,
                      "totals its producer did not seal", NULL);
    s_tamper_stop (&path, &options);
}


//  --------------------------------------------------------------------------
//  Strangers at a bulk listener

//  A plain TCP connection to the gateway's bulk listener
static int
s_connect_to_bulk (support_path_t *path)
{
    const char *port = sstream_gateway_endpoint (path->a, "local-bulk");
    cr_assert_not_null (port, "gateway a says no bulk listener");
    struct sockaddr_in address = { .sin_family = AF_INET };
    address.sin_port = htons ((uint16_t) atoi (port));
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq (fd, 0);
    cr_assert_eq (connect (fd, (struct sockaddr *) &address, sizeof (address)), 0,
                  "cannot connect to the bulk listener at port %s: %s", port, strerror (errno));
    return fd;
}

//  Wait until the other side has closed the connection: seconds it took,
//  or -1 when it has not within the limit
static double
s_closed_within (int fd, double started)
{
    while (support_now () - started < S_LIMIT_MS / 1000.0) {
        struct pollfd item = { fd, POLLIN, 0 };
        if (poll (&item, 1, 100) <= 0)
            continue;
        char byte;
        ssize_t got = read (fd, &byte, 1);
        if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
            return support_now () - started;
        cr_assert_leq (got, 0, "the gateway sent something to a stranger");
    }
    return -1;
}

Test (sealed, a_bulk_connection_without_a_valid_token_is_closed)
{
    //  The bulk path's timeout is the peer timeout
    support_options_t options = { .peer_timeout = "4s" };
    support_path_t path;
    cr_assert_eq (support_path_start (&path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_null (sstream_gateway_endpoint (path.b, "peer-bulk"), "b does not bind its peer link");
    cr_assert_not_null (sstream_gateway_endpoint (path.a, "peer-bulk"));
    cr_assert_not_null (sstream_gateway_endpoint (path.b, "local-bulk"));
    //  A stream runs meanwhile: half of it before the strangers come
    support_consumer_t consumer = {
        .endpoint = sstream_gateway_endpoint (path.b, "local"),
        .stream = "bystander", .options = path.consumer_options
    };
    support_consumer_start (&consumer);
    uint64_t bytes = 8 << 20;
    sstream_producer_t *producer = s_producer_sends (&path, "bystander", bytes / 2, 1 << 16);

    int wrong = s_connect_to_bulk (&path), silent = s_connect_to_bulk (&path);
    double started = support_now ();
    byte token [SSTREAM_BULKPATH_TOKEN];
    memset (token, 0x5a, sizeof (token));
    cr_assert_eq (write (wrong, token, sizeof (token)), (ssize_t) sizeof (token));
    double wrong_closed = s_closed_within (wrong, started);
    double silent_closed = s_closed_within (silent, started);
    cr_assert_geq (wrong_closed, 0, "a connection with a wrong token is still open");
    cr_assert_geq (silent_closed, 0, "a connection that said nothing is still open");
    //  The wrong token at once, the silence at the timeout
    cr_log_info ("closed after %.3f s and %.3f s", wrong_closed, silent_closed);
    cr_assert_lt (wrong_closed, silent_closed);
    cr_assert_geq (silent_closed, 3.5, "closed before its time was up");
    close (wrong);
    close (silent);
    cr_assert_eq (s_stat (path.a, "local-bulk-refused"), 2);
    cr_assert_eq (s_stat (path.a, "local-bulk-connections"), 1, "a stranger was taken for a party");

    //  The rest of the stream, unaffected
    unsigned char *buffer = malloc (1 << 16);
    uint64_t sent;
    for (sent = bytes / 2; sent < bytes; sent += 1 << 16) {
        support_fill (buffer, sent, 1 << 16);
        cr_assert_eq (sstream_producer_send (producer, buffer, 1 << 16, NULL, 0, S_LIMIT_MS),
                      SSTREAM_OK, "%s", sstream_errmsg ());
    }
    free (buffer);
    cr_assert_eq (sstream_producer_close (producer, S_LIMIT_MS), SSTREAM_OK, "%s", sstream_errmsg ());
    support_consumer_join (&consumer);
    cr_assert_eq (consumer.rc, SSTREAM_OK, "%s", consumer.error);
    cr_assert_eq (consumer.bytes, bytes);
    unsigned char expected [32];
    s_digest_of_first (bytes, expected);
    cr_assert_eq (memcmp (expected, consumer.digest, 32), 0);
    cr_assert_eq (s_stat (path.a, "aborted"), 0);
    sstream_producer_destroy (&producer);
    support_path_stop (&path);
}
