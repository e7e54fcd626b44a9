/*  =========================================================================
    bench_recv - a consumer that receives a stream to its end and says how
    fast it came, and with --latency how long records took to arrive

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    bench_recv ENDPOINT STREAM [--latency] [options]

    Latency is one way: the first 8 bytes of each record are bench_send's
    CLOCK_MONOTONIC send time, and this process reads the same clock when
    the library hands it the record. Latencies go into an array allocated
    and touched before the first record, so the measurement allocates
    nothing.
*/

#include "bench_client.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_DEFAULT_MS 120000
#define SAMPLES_DEFAULT    4000000

static void
s_help (void)
{
    printf (
        "Usage: bench_recv ENDPOINT STREAM [--latency] [options]\n"
        "\n"
        "Receives STREAM from the gateway at ENDPOINT until its end, acknowledges\n"
        "the end, and prints one JSON line: records, bytes, seconds (from the\n"
        "first record to the end of the stream), records_per_s and gbytes_per_s\n"
        "(10^9 bytes; the records after the first, over those seconds),\n"
        "cpu_seconds (this process, user + system) and cpu_s_per_gb.\n"
        "\n"
        "Options:\n"
        "      --latency           read bench_send's send time from each record and\n"
        "                          add the one-way latency, microseconds: min, p50,\n"
        "                          p99, p99.9 and max (both on one machine)\n"
        "      --samples N         latencies kept, at most (default 4M; the rest\n"
        "                          are counted in latency_dropped)\n"
        BENCH_CLIENT_OPTIONS_HELP
        "  -h, --help              show this help\n"
        "\n" BENCH_EXIT_STATUSES);
}

static int
s_compare (const void *left, const void *right)
{
    int64_t a = *(const int64_t *) left, b = *(const int64_t *) right;
    return a < b? -1: a > b;
}

//  Nearest-rank percentile of sorted samples, in microseconds
static double
s_percentile_us (const int64_t *sorted, uint64_t count, double percent)
{
    uint64_t rank = (uint64_t) ((percent / 100.0) * (double) count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > count)
        rank = count;
    return (double) sorted [rank - 1] / 1e3;
}

int
main (int argc, char **argv)
{
    bench_program = "bench_recv";
    static const struct option s_options [] = {
        BENCH_CLIENT_LONG_OPTIONS,
        { "latency", no_argument, NULL, 'L' },
        { "samples", required_argument, NULL, 'N' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    bench_client_args_t args = { .timeout_ms = TIMEOUT_DEFAULT_MS };
    bool latency = false;
    uint64_t samples_max = SAMPLES_DEFAULT;
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":k:g:s:h", s_options, NULL)) != -1) {
        int taken = bench_client_arg (&args, option, optarg);
        if (taken < 0)
            return BENCH_EXIT_USAGE;
        if (taken)
            continue;
        switch (option) {
            case 'L': latency = true; break;
            case 'N':
                if (sstream_parse_size (optarg, &samples_max) || samples_max == 0
                ||  samples_max > 1000000000)
                    return bench_usage_error ("--samples takes 1 to 1G, not '%s'", optarg);
                break;
            case 'h': s_help (); return BENCH_EXIT_OK;
            default: return bench_bad_option (argv, option);
        }
    }
    if (argc - optind != 2)
        return bench_usage_error ("give ENDPOINT and STREAM (got %d arguments)", argc - optind);
    const char *endpoint = argv [optind];
    const char *stream = argv [optind + 1];
    if (sstream_check_stream_name (stream))
        return bench_usage_error ("%s", sstream_errmsg ());

    int64_t *samples = NULL;
    if (latency) {
        samples = (int64_t *) malloc (samples_max * sizeof (int64_t));
        if (!samples) {
            bench_error ("out of memory for %llu latency samples", (unsigned long long) samples_max);
            return BENCH_EXIT_FAILED;
        }
        //  Its pages fault in now, not while records arrive
        memset (samples, 0, samples_max * sizeof (int64_t));
    }
    sstream_config_t *options;
    int rc = bench_client_options (&args, &options);
    if (rc) {
        free (samples);
        return bench_fail ("options", rc);
    }
    sstream_consumer_t *consumer;
    rc = sstream_consumer_new (&consumer, endpoint, stream, options);
    sstream_config_destroy (&options);
    if (rc) {
        free (samples);
        return bench_fail ("open", rc);
    }

    uint64_t records = 0, bytes = 0, first_size = 0, sample_count = 0, dropped = 0;
    int64_t first = 0, ended = 0;
    const char *failure = NULL;
    while (true) {
        sstream_message_t *message;
        rc = sstream_consumer_recv (consumer, &message, args.timeout_ms);
        int64_t now = bench_now_ns ();
        if (rc == SSTREAM_EEND) {
            ended = now;
            break;
        }
        if (rc) {
            failure = "receive";
            break;
        }
        size_t size = sstream_message_size (message);
        if (records == 0) {
            first = now;
            first_size = size;
        }
        records++;
        bytes += size;
        if (latency) {
            int64_t sent;
            if (size < sizeof (sent)) {
                sstream_message_destroy (&message);
                bench_error ("record %llu has %zu bytes: --latency needs 8 or more",
                             (unsigned long long) records - 1, size);
                sstream_consumer_abort (consumer, "bench_recv: records too small for --latency");
                sstream_consumer_destroy (&consumer);
                free (samples);
                return BENCH_EXIT_USAGE;
            }
            memcpy (&sent, sstream_message_data (message), sizeof (sent));
            if (sample_count < samples_max)
                samples [sample_count++] = now - sent;
            else
                dropped++;
        }
        sstream_message_destroy (&message);
    }
    if (!failure) {
        rc = sstream_consumer_close (consumer, args.timeout_ms);
        if (rc)
            failure = "close";
    }
    if (failure) {
        int status = bench_fail (failure, rc);
        bench_error ("%llu records received when it failed", (unsigned long long) records);
        sstream_consumer_destroy (&consumer);
        free (samples);
        return status;
    }
    sstream_consumer_destroy (&consumer);
    double cpu = bench_cpu_seconds ();

    double seconds = records? (double) (ended - first) / 1e9: 0;
    double rate = seconds > 0? (double) (records - 1) / seconds: 0;
    double gbps = seconds > 0? (double) (bytes - first_size) / seconds / 1e9: 0;
    printf ("{\"program\": \"bench_recv\", \"stream\": \"%s\", \"records\": %llu, \"bytes\": %llu, "
            "\"seconds\": %.4f, \"records_per_s\": %.1f, \"gbytes_per_s\": %.4f, "
            "\"cpu_seconds\": %.3f, ",
            stream, (unsigned long long) records, (unsigned long long) bytes, seconds, rate,
            gbps, cpu);
    if (bytes)
        printf ("\"cpu_s_per_gb\": %.3f", cpu / ((double) bytes / 1e9));
    else
        printf ("\"cpu_s_per_gb\": null");
    if (latency && sample_count) {
        qsort (samples, sample_count, sizeof (int64_t), s_compare);
        printf (", \"latency_samples\": %llu, \"latency_dropped\": %llu, "
                "\"latency_min_us\": %.1f, \"latency_p50_us\": %.1f, \"latency_p99_us\": %.1f, "
                "\"latency_p999_us\": %.1f, \"latency_max_us\": %.1f",
                (unsigned long long) sample_count, (unsigned long long) dropped,
                (double) samples [0] / 1e3, s_percentile_us (samples, sample_count, 50),
                s_percentile_us (samples, sample_count, 99),
                s_percentile_us (samples, sample_count, 99.9),
                (double) samples [sample_count - 1] / 1e3);
    }
    printf ("}\n");
    free (samples);
    return BENCH_EXIT_OK;
}
