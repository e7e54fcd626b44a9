/*  =========================================================================
    pipe_demo - sstream-pipe demo and sstream-pipe bench

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Both build the whole path in one process, with fresh keys: a producer,
    gateway A, gateway B and a consumer, three links, each its own socket
    pair over loopback (or ipc). demo checks the data with BLAKE2b digests;
    bench measures throughput and prints one JSON line.
*/

#include "pipe.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SOURCE_SIZE (16u << 20)     //  Random bytes the messages are cut from
#define SLICE_MS 250

typedef struct {
    uint64_t bytes;
    uint64_t msg_size;
    bool secure;
    const char *transport;
    bool digest;
} s_run_t;

typedef struct {
    //  Set up by s_path_start
    char folder [256];
    sstream_gateway_t *gateway_a;
    sstream_gateway_t *gateway_b;
    sstream_config_t *producer_options;
    sstream_config_t *consumer_options;
    //  Results
    double seconds;
    uint64_t sent;
    uint64_t messages;
    unsigned char sent_digest [32];
} s_path_t;

typedef struct {
    const s_run_t *run;
    s_path_t *path;
    int rc;
    char error [1024];
    uint64_t received;
    uint64_t messages;
    unsigned char digest [32];
} s_consumer_job_t;

static double
s_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

//  sstream_config_set, with a format for the value

static int
s_set (sstream_config_t *config, const char *path, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_set (sstream_config_t *config, const char *path, const char *format, ...)
{
    char value [512];
    va_list args;
    va_start (args, format);
    vsnprintf (value, sizeof (value), format, args);
    va_end (args);
    return sstream_config_set (config, path, value);
}

static void
s_remove_tree (const char *folder)
{
    static const char *s_files [] = {
        "gateways/gateway-a.pub", "gateways/gateway-a.secret",
        "gateways/gateway-b.pub", "gateways/gateway-b.secret",
        "facility-a/producer.pub", "facility-a/producer.secret",
        "facility-b/consumer.pub", "facility-b/consumer.secret",
        "a.sock", "wan.sock", "b.sock", "gateways", "facility-a", "facility-b", NULL
    };
    const char **file;
    for (file = s_files; *file; file++) {
        char path [512];
        snprintf (path, sizeof (path), "%s/%s", folder, *file);
        if (unlink (path) != 0 && errno == EISDIR)
            rmdir (path);
        rmdir (path);
    }
    rmdir (folder);
}

static void
s_path_stop (s_path_t *path)
{
    sstream_config_destroy (&path->producer_options);
    sstream_config_destroy (&path->consumer_options);
    sstream_gateway_destroy (&path->gateway_b);
    sstream_gateway_destroy (&path->gateway_a);
    if (*path->folder)
        s_remove_tree (path->folder);
}

//  Keys, two gateways and the clients' options.

static int
s_path_start (const s_run_t *run, s_path_t *path)
{
    const char *tmp = getenv ("TMPDIR");
    snprintf (path->folder, sizeof (path->folder), "%s/sstream-demo-XXXXXX",
              tmp && *tmp? tmp: "/tmp");
    if (!mkdtemp (path->folder)) {
        pipe_error ("cannot create a scratch folder: %s", strerror (errno));
        path->folder [0] = 0;
        return SSTREAM_EIO;
    }
    const char *folder = path->folder;
    int rc = SSTREAM_OK;
    char gateways [300], facility_a [300], facility_b [300];
    snprintf (gateways, sizeof (gateways), "%s/gateways", folder);
    snprintf (facility_a, sizeof (facility_a), "%s/facility-a", folder);
    snprintf (facility_b, sizeof (facility_b), "%s/facility-b", folder);
    if (run->secure) {
        rc = sstream_keygen ("gateway-a", gateways);
        if (!rc)
            rc = sstream_keygen ("gateway-b", gateways);
        if (!rc)
            rc = sstream_keygen ("producer", facility_a);
        if (!rc)
            rc = sstream_keygen ("consumer", facility_b);
        if (rc)
            return rc;
    }
    bool ipc = strcmp (run->transport, "ipc") == 0;
    char local_a [300], wan [300], local_b [300];
    if (ipc) {
        snprintf (local_a, sizeof (local_a), "ipc://%s/a.sock", folder);
        snprintf (wan, sizeof (wan), "ipc://%s/wan.sock", folder);
        snprintf (local_b, sizeof (local_b), "ipc://%s/b.sock", folder);
    }
    else {
        snprintf (local_a, sizeof (local_a), "tcp://127.0.0.1:*");
        snprintf (wan, sizeof (wan), "tcp://127.0.0.1:*");
        snprintf (local_b, sizeof (local_b), "tcp://127.0.0.1:*");
    }
    const char *security = run->secure? "curve": "none";

    //  Gateway A: the producer's facility; binds the WAN link
    sstream_config_t *config = NULL;
    rc = sstream_config_new (&config);
    if (!rc) rc = s_set (config, "gateway/name", "gateway-a");
    if (!rc) rc = s_set (config, "local/endpoint", "%s", local_a);
    if (!rc) rc = s_set (config, "local/security", "%s", security);
    if (!rc) rc = s_set (config, "peer/name", "gateway-b");
    if (!rc) rc = s_set (config, "peer/endpoint", "%s", wan);
    if (!rc) rc = s_set (config, "peer/mode", "bind");
    if (!rc) rc = s_set (config, "peer/security", "%s", security);
    if (!rc && run->secure) {
        rc = s_set (config, "gateway/secret-key", "%s/gateway-a.secret", gateways);
        if (!rc) rc = s_set (config, "local/trusted-keys", "%s", facility_a);
        if (!rc) rc = s_set (config, "peer/public-key", "%s/gateway-b.pub", gateways);
    }
    if (!rc)
        rc = sstream_gateway_new (&path->gateway_a, config);
    sstream_config_destroy (&config);
    if (rc)
        return rc;

    //  Gateway B: the consumer's facility; connects to A
    rc = sstream_config_new (&config);
    if (!rc) rc = s_set (config, "gateway/name", "gateway-b");
    if (!rc) rc = s_set (config, "local/endpoint", "%s", local_b);
    if (!rc) rc = s_set (config, "local/security", "%s", security);
    if (!rc) rc = s_set (config, "peer/name", "gateway-a");
    if (!rc) rc = s_set (config, "peer/endpoint", "%s",
                         sstream_gateway_endpoint (path->gateway_a, "peer"));
    if (!rc) rc = s_set (config, "peer/mode", "connect");
    if (!rc) rc = s_set (config, "peer/security", "%s", security);
    if (!rc && run->secure) {
        rc = s_set (config, "gateway/secret-key", "%s/gateway-b.secret", gateways);
        if (!rc) rc = s_set (config, "local/trusted-keys", "%s", facility_b);
        if (!rc) rc = s_set (config, "peer/public-key", "%s/gateway-a.pub", gateways);
    }
    if (!rc)
        rc = sstream_gateway_new (&path->gateway_b, config);
    sstream_config_destroy (&config);
    if (rc)
        return rc;

    //  The clients
    rc = sstream_config_new (&path->producer_options);
    if (!rc) rc = s_set (path->producer_options, "client/security", "%s", security);
    if (!rc && run->secure) {
        rc = s_set (path->producer_options, "client/secret-key", "%s/producer.secret", facility_a);
        if (!rc) rc = s_set (path->producer_options, "client/gateway-key", "%s/gateway-a.pub", gateways);
        //  Sealed end to end for the consumer's key
        if (!rc) rc = s_set (path->producer_options, "client/readers", "%s/consumer.pub", facility_b);
    }
    else
    if (!rc)                            //  Nobody has a key to seal for
        rc = s_set (path->producer_options, "client/payload", "hop");
    if (!rc) rc = sstream_config_new (&path->consumer_options);
    if (!rc) rc = s_set (path->consumer_options, "client/security", "%s", security);
    if (!rc && run->secure) {
        rc = s_set (path->consumer_options, "client/secret-key", "%s/consumer.secret", facility_b);
        if (!rc) rc = s_set (path->consumer_options, "client/gateway-key", "%s/gateway-b.pub", gateways);
    }
    else
    if (!rc)
        rc = s_set (path->consumer_options, "client/payload", "hop");
    return rc;
}

static void *
s_consumer_run (void *args)
{
    s_consumer_job_t *job = (s_consumer_job_t *) args;
    crypto_generichash_state digest;
    crypto_generichash_init (&digest, NULL, 0, sizeof (job->digest));
    sstream_consumer_t *consumer;
    int rc = sstream_consumer_new (&consumer,
                                   sstream_gateway_endpoint (job->path->gateway_b, "local"),
                                   "demo", job->path->consumer_options);
    while (rc == SSTREAM_OK) {
        sstream_message_t *message;
        rc = sstream_consumer_recv (consumer, &message, SSTREAM_FOREVER);
        if (rc == SSTREAM_OK) {
            if (job->run->digest)
                crypto_generichash_update (&digest, sstream_message_data (message),
                                           sstream_message_size (message));
            job->received += sstream_message_size (message);
            job->messages++;
            sstream_message_destroy (&message);
        }
    }
    if (rc == SSTREAM_EEND)
        rc = sstream_consumer_close (consumer, 10000);
    if (rc)
        snprintf (job->error, sizeof (job->error), "%s", sstream_errmsg ());
    sstream_consumer_destroy (&consumer);
    crypto_generichash_final (&digest, job->digest, sizeof (job->digest));
    job->rc = rc;
    return NULL;
}

//  Stream run->bytes through the path; returns 0 or an error code (with
//  the consumer's error, if it failed, in job->error).

static int
s_path_stream (const s_run_t *run, s_path_t *path, s_consumer_job_t *job)
{
    size_t source_size = SOURCE_SIZE + run->msg_size;
    unsigned char *source = (unsigned char *) malloc (source_size);
    if (!source) {
        pipe_error ("out of memory");
        return SSTREAM_ENOMEM;
    }
    randombytes_buf (source, source_size);

    memset (job, 0, sizeof (*job));
    job->run = run;
    job->path = path;
    pthread_t thread;
    if (pthread_create (&thread, NULL, s_consumer_run, job) != 0) {
        free (source);
        pipe_error ("cannot start the consumer thread");
        return SSTREAM_EINTERNAL;
    }
    crypto_generichash_state digest;
    crypto_generichash_init (&digest, NULL, 0, sizeof (path->sent_digest));
    sstream_producer_t *producer;
    double start = s_now ();
    int rc = sstream_producer_new (&producer, sstream_gateway_endpoint (path->gateway_a, "local"),
                                   "demo", path->producer_options);
    uint64_t offset = 0;
    while (rc == SSTREAM_OK && path->sent < run->bytes) {
        uint64_t size = run->bytes - path->sent < run->msg_size? run->bytes - path->sent
                                                               : run->msg_size;
        const unsigned char *data = source + offset;
        rc = sstream_producer_send (producer, data, size, NULL, 0, SLICE_MS);
        if (rc == SSTREAM_ETIMEDOUT && !pipe_interrupted () && !sstream_producer_failure (producer)) {
            rc = SSTREAM_OK;
            continue;
        }
        if (rc == SSTREAM_OK) {
            if (run->digest)
                crypto_generichash_update (&digest, data, size);
            path->sent += size;
            path->messages++;
            offset = (offset + 4099 * 64) % SOURCE_SIZE;
        }
    }
    if (rc == SSTREAM_OK) {
        do
            rc = sstream_producer_close (producer, SLICE_MS);
        while (rc == SSTREAM_ETIMEDOUT && !pipe_interrupted ()
               && !sstream_producer_failure (producer));
    }
    path->seconds = s_now () - start;
    char error [1024] = "";
    if (rc)
        snprintf (error, sizeof (error), "%s", sstream_errmsg ());
    //  Not closed: destroying aborts the stream, which ends the consumer
    sstream_producer_destroy (&producer);
    pthread_join (thread, NULL);
    crypto_generichash_final (&digest, path->sent_digest, sizeof (path->sent_digest));
    free (source);
    if (pipe_interrupted ())
        pipe_error ("interrupted by signal %d", pipe_signal_number ());
    else
    if (rc)
        pipe_error ("producer: %s", error);
    if (job->rc && !pipe_interrupted ())
        pipe_error ("consumer: %s", job->error);
    return rc? rc: job->rc;
}


//  --------------------------------------------------------------------------
//  Command lines

typedef struct {
    const char *bytes;
    const char *msg_size;
    const char *security;
    const char *transport;
} s_args_t;

static int
s_parse_run (const s_args_t *args, s_run_t *run, uint64_t default_bytes)
{
    run->bytes = default_bytes;
    run->msg_size = 1 << 20;
    if (args->bytes && sstream_parse_size (args->bytes, &run->bytes))
        return pipe_usage_error ("--bytes: %s", sstream_errmsg ());
    if (args->msg_size && sstream_parse_size (args->msg_size, &run->msg_size))
        return pipe_usage_error ("--msg-size: %s", sstream_errmsg ());
    if (run->msg_size == 0 || run->msg_size > SSTREAM_MESSAGE_MAX)
        return pipe_usage_error ("--msg-size must be 1 byte to 1GiB");
    const char *security = args->security? args->security: "curve";
    if (strcmp (security, "curve") && strcmp (security, "none"))
        return pipe_usage_error ("--security is curve or none, not '%s'", security);
    run->secure = strcmp (security, "curve") == 0;
    run->transport = args->transport? args->transport: "tcp";
    if (strcmp (run->transport, "tcp") && strcmp (run->transport, "ipc"))
        return pipe_usage_error ("--transport is tcp or ipc, not '%s'", run->transport);
    return PIPE_EXIT_OK;
}

//  Shared option parsing; returns -1 to go on, else an exit status.

static int
s_parse_args (int argc, char **argv, s_args_t *args, void (*help) (void), bool all_options)
{
    static const struct option s_options [] = {
        { "bytes", required_argument, NULL, 'b' },
        { "msg-size", required_argument, NULL, 'm' },
        { "security", required_argument, NULL, 'S' },
        { "transport", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":b:m:t:h", s_options, NULL)) != -1) {
        switch (option) {
            case 'b': args->bytes = optarg; break;
            case 'm': args->msg_size = optarg; break;
            case 'S': args->security = optarg; break;
            case 't': args->transport = optarg; break;
            case 'h': help (); return PIPE_EXIT_OK;
            default: return pipe_bad_option (argv, option);
        }
        if (!all_options && option != 'b')
            return pipe_usage_error ("demo takes only --bytes (bench varies the rest)");
    }
    if (optind < argc)
        return pipe_usage_error ("unexpected argument '%s'", argv [optind]);
    return -1;
}

static void
s_demo_help (void)
{
    printf (
        "Usage: sstream-pipe demo [--bytes N]\n"
        "\n"
        "In one process, with freshly made keys: gateway A and gateway B, a\n"
        "producer at A and a consumer at B, over tcp loopback with CURVE on all\n"
        "three links. Streams N bytes (default 1GiB) of random data in 1MiB\n"
        "messages, compares BLAKE2b digests of what was sent and received, and\n"
        "prints bytes, seconds, GB/s and OK or FAIL. Exits 0 only on OK.\n"
        "\n"
        "Options:\n"
        "  -b, --bytes N   how much to stream (K=1000, KiB=1024, 1.5G; default 1GiB)\n"
        "  -h, --help      show this help\n"
        "\n"
        "Examples:\n"
        "  sstream-pipe demo\n"
        "  sstream-pipe demo --bytes 256MiB\n");
}

int
pipe_demo_main (int argc, char **argv)
{
    s_args_t args = { 0 };
    int status = s_parse_args (argc, argv, &args, s_demo_help, false);
    if (status >= 0)
        return status;
    s_run_t run = { .digest = true };
    status = s_parse_run (&args, &run, 1ULL << 30);
    if (status)
        return status;
    printf ("sstream demo: producer -> gateway-a -> gateway-b -> consumer, "
            "tcp loopback, CURVE on every link\n");
    fflush (stdout);
    s_path_t path = { 0 };
    s_consumer_job_t job = { 0 };
    int rc = s_path_start (&run, &path);
    if (rc) {
        s_path_stop (&path);
        return pipe_fail (rc);
    }
    rc = s_path_stream (&run, &path, &job);
    s_path_stop (&path);
    bool same = rc == SSTREAM_OK && job.received == path.sent && path.sent == run.bytes
             && memcmp (job.digest, path.sent_digest, sizeof (job.digest)) == 0;
    char hex [65];
    printf ("bytes     %llu sent in %llu messages, %llu received\n",
            (unsigned long long) path.sent, (unsigned long long) path.messages,
            (unsigned long long) job.received);
    sodium_bin2hex (hex, sizeof (hex), path.sent_digest, sizeof (path.sent_digest));
    printf ("sent      BLAKE2b %s\n", hex);
    sodium_bin2hex (hex, sizeof (hex), job.digest, sizeof (job.digest));
    printf ("received  BLAKE2b %s\n", hex);
    printf ("seconds   %.3f\n", path.seconds);
    printf ("GB/s      %.3f\n", path.seconds > 0? path.sent / path.seconds / 1e9: 0.0);
    printf ("%s\n", same? "OK": "FAIL");
    return same? PIPE_EXIT_OK: PIPE_EXIT_FAILED;
}

static void
s_bench_help (void)
{
    printf (
        "Usage: sstream-pipe bench [options]\n"
        "\n"
        "Measures memory-to-memory throughput from a producer through gateway A\n"
        "and gateway B to a consumer, in one process, and prints one JSON line:\n"
        "bytes, messages, seconds, gbytes_per_s, msg_size, security, payload,\n"
        "transport. With security curve, payloads are sealed end to end for the\n"
        "consumer (payload \"sealed\"); with none, nobody has a key (\"hop\").\n"
        "The clock runs from opening the stream to the consumer's end-of-stream\n"
        "acknowledgement. Exits 0 only if every byte arrived.\n"
        "\n"
        "Options:\n"
        "  -b, --bytes N          how much to stream (default 1GiB)\n"
        "  -m, --msg-size N       bytes per message (default 1MiB)\n"
        "      --security MODE    curve (default) or none, on all three links\n"
        "  -t, --transport NAME   tcp (default, loopback) or ipc\n"
        "  -h, --help             show this help\n"
        "\n"
        "Examples:\n"
        "  sstream-pipe bench --bytes 4GiB --msg-size 4MiB\n"
        "  sstream-pipe bench --security none --transport ipc --msg-size 64KiB\n");
}

int
pipe_bench_main (int argc, char **argv)
{
    s_args_t args = { 0 };
    int status = s_parse_args (argc, argv, &args, s_bench_help, true);
    if (status >= 0)
        return status;
    s_run_t run = { .digest = false };
    status = s_parse_run (&args, &run, 1ULL << 30);
    if (status)
        return status;
    //  The JSON line is the output; the warnings that security = none asks
    //  for would only repeat what --security none said
    if (!getenv ("SSTREAM_LOG"))
        sstream_set_log_level (SSTREAM_LOG_ERROR);
    s_path_t path = { 0 };
    s_consumer_job_t job = { 0 };
    int rc = s_path_start (&run, &path);
    if (rc) {
        s_path_stop (&path);
        return pipe_fail (rc);
    }
    rc = s_path_stream (&run, &path, &job);
    s_path_stop (&path);
    if (rc || job.received != run.bytes)
        return PIPE_EXIT_FAILED;
    printf ("{\"bytes\": %llu, \"messages\": %llu, \"seconds\": %.4f, "
            "\"gbytes_per_s\": %.4f, \"msg_size\": %llu, \"security\": \"%s\", \"payload\": \"%s\", "
            "\"transport\": \"%s\", \"links\": 3}\n",
            (unsigned long long) run.bytes, (unsigned long long) path.messages,
            path.seconds, path.seconds > 0? run.bytes / path.seconds / 1e9: 0.0,
            (unsigned long long) run.msg_size, run.secure? "curve": "none",
            run.secure? "sealed": "hop", run.transport);
    return PIPE_EXIT_OK;
}
