/*  =========================================================================
    bench_send - a producer that sends fixed-size records as fast as it
    can, or at a given rate, and says how fast it went

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    bench_send ENDPOINT STREAM --size BYTES --count N [--rate R] [options]

    One buffer, filled once, is sent COUNT times; records of 8 bytes or more
    carry in their first 8 bytes the CLOCK_MONOTONIC time (nanoseconds) at
    which they were handed to the library, for bench_recv --latency. Prints
    one JSON line once the consumer has acknowledged the end of the stream.
*/

#include "bench_client.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMEOUT_DEFAULT_MS 120000

static void
s_help (void)
{
    printf (
        "Usage: bench_send ENDPOINT STREAM --size BYTES --count N [options]\n"
        "\n"
        "Opens STREAM at the gateway at ENDPOINT, sends N records of BYTES each\n"
        "(one buffer, reused), closes the stream and waits for the consumer's\n"
        "end-of-stream acknowledgement, then prints one JSON line: records,\n"
        "bytes, seconds (first send to the acknowledged close), records_per_s,\n"
        "gbytes_per_s (10^9 bytes), cpu_seconds (this process, user + system)\n"
        "and cpu_s_per_gb. Records of 8 bytes or more start with their send time\n"
        "(CLOCK_MONOTONIC, nanoseconds, host order) for bench_recv --latency.\n"
        "\n"
        "Options:\n"
        "      --size BYTES        bytes per record (1 to 1GiB; K=1000, KiB=1024)\n"
        "      --count N           records to send (e.g. 2000000 or 2M)\n"
        "      --rate R            records per second, on an absolute schedule (record\n"
        "                          i is due at start + i/R; a late sender catches up\n"
        "                          without waiting); default: as fast as possible\n"
        "      --spin              wait for each due time by spinning on the clock\n"
        "                          instead of sleeping until it (costs a core)\n"
        BENCH_CLIENT_OPTIONS_HELP
        "  -h, --help              show this help\n"
        "\n"
        "With --rate the line also has late_records (sent more than one period,\n"
        "or 1 ms if that is more, after their due time) and max_lag_us: the\n"
        "sender fell behind its schedule (it was slow, or the path made it wait).\n"
        "\n" BENCH_EXIT_STATUSES);
}

//  Wait until the absolute time due_ns, by sleeping or spinning
static void
s_wait_until (int64_t due_ns, bool spin)
{
    if (spin) {
        while (bench_now_ns () < due_ns)
            ;
        return;
    }
    struct timespec due = { (time_t) (due_ns / 1000000000), (long) (due_ns % 1000000000) };
    while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
        ;
}

int
main (int argc, char **argv)
{
    bench_program = "bench_send";
    static const struct option s_options [] = {
        BENCH_CLIENT_LONG_OPTIONS,
        { "size", required_argument, NULL, 'z' },
        { "count", required_argument, NULL, 'n' },
        { "rate", required_argument, NULL, 'r' },
        { "spin", no_argument, NULL, 'P' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    bench_client_args_t args = { .timeout_ms = TIMEOUT_DEFAULT_MS };
    const char *size_text = NULL, *count_text = NULL, *rate_text = NULL;
    bool spin = false;
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":k:g:s:h", s_options, NULL)) != -1) {
        int taken = bench_client_arg (&args, option, optarg);
        if (taken < 0)
            return BENCH_EXIT_USAGE;
        if (taken)
            continue;
        switch (option) {
            case 'z': size_text = optarg; break;
            case 'n': count_text = optarg; break;
            case 'r': rate_text = optarg; break;
            case 'P': spin = true; break;
            case 'h': s_help (); return BENCH_EXIT_OK;
            default: return bench_bad_option (argv, option);
        }
    }
    if (argc - optind != 2)
        return bench_usage_error ("give ENDPOINT and STREAM (got %d arguments)", argc - optind);
    const char *endpoint = argv [optind];
    const char *stream = argv [optind + 1];
    uint64_t size, count, rate = 0;
    if (!size_text || !count_text)
        return bench_usage_error ("--size and --count are required");
    if (sstream_parse_size (size_text, &size) || size == 0 || size > SSTREAM_MESSAGE_MAX)
        return bench_usage_error ("--size takes 1 byte to 1GiB, not '%s'", size_text);
    if (sstream_parse_size (count_text, &count) || count == 0)
        return bench_usage_error ("--count takes a number of records, not '%s'", count_text);
    if (rate_text && (sstream_parse_size (rate_text, &rate) || rate == 0 || rate > 1000000000))
        return bench_usage_error ("--rate takes records per second, not '%s'", rate_text);
    if (sstream_check_stream_name (stream))
        return bench_usage_error ("%s", sstream_errmsg ());

    //  The buffer's pages are touched before the clock starts
    char *buffer = (char *) malloc (size);
    if (!buffer) {
        bench_error ("out of memory for a record of %llu bytes", (unsigned long long) size);
        return BENCH_EXIT_FAILED;
    }
    memset (buffer, 0xA5, size);

    sstream_config_t *options;
    int rc = bench_client_options (&args, &options);
    if (rc) {
        free (buffer);
        return bench_fail ("options", rc);
    }
    sstream_producer_t *producer;
    rc = sstream_producer_new (&producer, endpoint, stream, options);
    sstream_config_destroy (&options);
    if (rc) {
        free (buffer);
        return bench_fail ("open", rc);
    }

    //  Late: behind schedule by a period, or by a millisecond if that is
    //  more (waking from a sleep alone can take tens of microseconds)
    int64_t late_ns = rate? (int64_t) (1000000000 / rate): 0;
    if (late_ns < 1000000)
        late_ns = 1000000;
    int64_t max_lag_ns = 0;
    uint64_t late_records = 0;
    int64_t started = bench_now_ns ();
    uint64_t sent;
    for (sent = 0; sent < count; sent++) {
        int64_t now;
        if (rate) {
            //  Due times come from the start, never from the last send, so
            //  the schedule does not drift
            int64_t due = started + (int64_t) (sent / rate) * 1000000000
                        + (int64_t) ((sent % rate) * 1000000000 / rate);
            now = bench_now_ns ();
            if (now < due) {
                s_wait_until (due, spin);
                now = bench_now_ns ();
            }
            if (now - due > max_lag_ns)
                max_lag_ns = now - due;
            if (now - due > late_ns)
                late_records++;
        }
        else
            now = bench_now_ns ();
        if (size >= sizeof (int64_t))
            memcpy (buffer, &now, sizeof (int64_t));
        rc = sstream_producer_send (producer, buffer, size, NULL, 0, args.timeout_ms);
        if (rc)
            break;
    }
    if (rc == SSTREAM_OK)
        rc = sstream_producer_close (producer, args.timeout_ms);
    double seconds = (double) (bench_now_ns () - started) / 1e9;
    free (buffer);
    if (rc) {
        int status = bench_fail (sent < count? "send": "close", rc);
        if (sent < count)
            bench_error ("%llu of %llu records sent when it failed",
                         (unsigned long long) sent, (unsigned long long) count);
        sstream_producer_destroy (&producer);   //  Aborts: the consumer is told
        return status;
    }
    sstream_producer_destroy (&producer);
    double cpu = bench_cpu_seconds ();
    double bytes = (double) size * (double) count;
    printf ("{\"program\": \"bench_send\", \"stream\": \"%s\", \"size\": %llu, "
            "\"records\": %llu, \"bytes\": %.0f, \"seconds\": %.4f, "
            "\"records_per_s\": %.1f, \"gbytes_per_s\": %.4f, "
            "\"cpu_seconds\": %.3f, \"cpu_s_per_gb\": %.3f",
            stream, (unsigned long long) size, (unsigned long long) count, bytes, seconds,
            (double) count / seconds, bytes / seconds / 1e9, cpu, cpu / (bytes / 1e9));
    if (rate)
        printf (", \"rate\": %llu, \"late_records\": %llu, \"max_lag_us\": %.1f",
                (unsigned long long) rate, (unsigned long long) late_records,
                (double) max_lag_ns / 1e3);
    printf ("}\n");
    return BENCH_EXIT_OK;
}
