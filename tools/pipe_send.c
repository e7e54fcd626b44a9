/*  =========================================================================
    pipe_send - sstream-pipe send [options] ENDPOINT STREAM

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "pipe.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_DEFAULT (1024 * 1024)
#define SLICE_MS 250            //  Calls wait this long, then we look at signals

static void
s_help (void)
{
    printf (
        "Usage: sstream-pipe send [options] ENDPOINT STREAM\n"
        "\n"
        "Reads standard input and streams it, as records of --chunk-size bytes,\n"
        "to the gateway at ENDPOINT (e.g. tcp://gateway-a:7001) under the name\n"
        "STREAM. Waits while the path is full. Exits 0 only once the consumer has\n"
        "acknowledged every byte; waits for a consumer as long as it takes.\n"
        "Keeps what the consumer has not acknowledged (--replay-buffer): when a\n"
        "gateway or link on the way is lost, connects again and sends again from\n"
        "where the consumer stands (--resume-timeout).\n"
        "\n"
        "ENDPOINT may list several gateways of the facility, comma-separated\n"
        "(tcp://gw1:7001,tcp://gw2:7001): the first that answers, with its peer\n"
        "gateway connected, is used; they share one key pair (--gateway-key).\n"
        "\n"
        "On a terminal, a progress line on standard error shows the bytes sent,\n"
        "the rate and the time, and the percentage and time left when standard\n"
        "input is a file. At the end one line sums it up: bytes, records,\n"
        "seconds, average rate, and the stream's checksum (XXH3-128 of its\n"
        "bytes), which recv prints too.\n"
        "\n"
        "Options:\n"
        "  -k, --key FILE          our secret key (NAME.secret from keygen)\n"
        "  -g, --gateway-key FILE  the gateway's public key (NAME.pub)\n"
        "  -c, --config FILE       read options from a ZPL file (section 'client',\n"
        "                          see conf/producer.cfg); flags override it\n"
        "      --chunk-size SIZE   bytes per record (default 1MiB; K=1000, KiB=1024)\n"
        "      --batch SIZE        records travel in batches of up to SIZE bytes\n"
        "                          (default 256KiB)\n"
        "      --linger DURATION   how long a record may wait for its batch to fill\n"
        "                          (default 1ms; 0: send each record at once)\n"
        "  -r, --readers PATH      the public keys (NAME.pub) of those who may read\n"
        "                          the stream: a file, or a folder of them. Records\n"
        "                          are sealed end to end for them; gateways forward\n"
        "                          what they cannot read\n"
        "      --payload MODE      sealed (default: needs --readers) or hop: no\n"
        "                          end-to-end sealing, each link's CURVE only\n"
        "                          (logged as a warning)\n"
        "  -t, --transport NAME    transport plugin (default: ENDPOINT's scheme)\n"
        "      --timeout DURATION  how long to wait for the gateway (default 10s)\n"
        "      --security MODE     curve (default) or none; none must match the\n"
        "                          gateway and is logged as a warning\n"
        "      --resume-timeout DURATION  how long a stream may take to resume when\n"
        "                          a gateway or link on its path is lost (default\n"
        "                          60s; 0: never resume, fail at once)\n"
        "      --replay-buffer SIZE  bytes kept until the consumer has them, to\n"
        "                          send again after a loss (default 1GiB)\n"
        "  -s, --set client/PATH=VALUE  any client setting (see conf/producer.cfg)\n"
        "      --progress          show the progress line even if standard error is\n"
        "                          not a terminal\n"
        "  -q, --quiet             no progress line and no summary (errors and the\n"
        "                          library's warnings still go to standard error)\n"
        "  -h, --help              show this help\n"
        "\n"
        "Sizes take K, M, G (powers of 1000) or KiB, MiB, GiB, and decimals (1.5G);\n"
        "durations ms, s, m, h, and compounds (1m30s).\n"
        "\n" PIPE_EXIT_STATUSES
        "\n"
        "Examples:\n"
        "  sstream-pipe send -c conf/producer.cfg tcp://127.0.0.1:7001 run42 < data.bin\n"
        "  tar cf - run43/ | sstream-pipe send -k producer.secret -g gateway-a.pub \\\n"
        "      -r consumer.pub --chunk-size 16MiB tcp://gw-a:7001,tcp://gw-a2:7001 run43\n");
}

//  Fill buffer from fd: returns bytes read (less than size only at end of
//  input), or -1 with errno set.

static ssize_t
s_read_full (int fd, char *buffer, size_t size)
{
    size_t done = 0;
    while (done < size && !pipe_interrupted ()) {
        ssize_t got = read (fd, buffer + done, size - done);
        if (got == 0)
            break;
        if (got < 0) {
            if (errno == EINTR && !pipe_interrupted ())
                continue;
            return -1;
        }
        done += (size_t) got;
    }
    return (ssize_t) done;
}

//  How much standard input holds from where it stands, if it is a file;
//  0 if that is not known
static uint64_t
s_input_size (void)
{
    struct stat stat_buf;
    if (fstat (STDIN_FILENO, &stat_buf) != 0 || !S_ISREG (stat_buf.st_mode))
        return 0;
    off_t offset = lseek (STDIN_FILENO, 0, SEEK_CUR);
    if (offset < 0 || offset > stat_buf.st_size)
        offset = 0;
    return (uint64_t) (stat_buf.st_size - offset);
}

static int
s_interrupted (const char *what)
{
    pipe_error ("interrupted by signal %d%s", pipe_signal_number (), what);
    return PIPE_EXIT_FAILED;
}

//  Stream standard input, and close: an exit status
static int
s_send_all (sstream_producer_t *producer, char *buffer, size_t chunk, pipe_progress_t *progress)
{
    int rc;
    while (true) {
        ssize_t got = s_read_full (STDIN_FILENO, buffer, chunk);
        //  A signal stops us at once, whatever the read made of it (a
        //  read that is interrupted after some bytes returns them)
        if (pipe_interrupted ())
            return s_interrupted (": the stream is incomplete");
        if (got < 0) {
            pipe_error ("cannot read standard input: %s", strerror (errno));
            return PIPE_EXIT_FAILED;
        }
        if (got == 0)
            break;
        do {
            rc = sstream_producer_send (producer, buffer, (size_t) got, NULL, 0, SLICE_MS);
        } while (rc == SSTREAM_ETIMEDOUT && !pipe_interrupted ()
              && !sstream_producer_failure (producer));
        //  A timeout of our own slice is no failure; a stream that failed
        //  for want of time is
        bool timed_out = rc == SSTREAM_ETIMEDOUT && !sstream_producer_failure (producer);
        if (timed_out || rc == SSTREAM_EINTR || (!rc && pipe_interrupted ()))
            return s_interrupted (": the stream is incomplete");
        if (rc)
            return pipe_fail (rc);
        pipe_progress_add (progress, (uint64_t) got);
        if ((size_t) got < chunk)
            break;
    }
    pipe_progress_state (progress, "all sent, waiting for the consumer to acknowledge the end");
    do {
        rc = sstream_producer_close (producer, SLICE_MS);
    } while (rc == SSTREAM_ETIMEDOUT && !pipe_interrupted ()
          && !sstream_producer_failure (producer));
    if ((rc == SSTREAM_ETIMEDOUT && !sstream_producer_failure (producer)) || rc == SSTREAM_EINTR)
        return s_interrupted (" before the consumer acknowledged the end");
    return rc? pipe_fail (rc): PIPE_EXIT_OK;
}

int
pipe_send_main (int argc, char **argv)
{
    static const struct option s_options [] = {
        { "key", required_argument, NULL, 'k' },
        { "gateway-key", required_argument, NULL, 'g' },
        { "config", required_argument, NULL, 'c' },
        { "chunk-size", required_argument, NULL, 'C' },
        { "transport", required_argument, NULL, 't' },
        { "timeout", required_argument, NULL, 'T' },
        { "security", required_argument, NULL, 'S' },
        { "batch", required_argument, NULL, 'B' },
        { "linger", required_argument, NULL, 'L' },
        { "readers", required_argument, NULL, 'r' },
        { "payload", required_argument, NULL, 'P' },
        { "resume-timeout", required_argument, NULL, 'R' },
        { "replay-buffer", required_argument, NULL, 'Y' },
        { "set", required_argument, NULL, 's' },
        { "progress", no_argument, NULL, 'G' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    pipe_client_args_t args = { 0 };
    const char *chunk_text = NULL;
    bool progress_forced = false, quiet = false;
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":k:g:c:t:r:s:qh", s_options, NULL)) != -1) {
        switch (option) {
            case 'k': args.key = optarg; break;
            case 'g': args.gateway_key = optarg; break;
            case 'c': args.config_file = optarg; break;
            case 'C': chunk_text = optarg; break;
            case 't': args.transport = optarg; break;
            case 'T': args.timeout = optarg; break;
            case 'S': args.security = optarg; break;
            case 'B': args.batch = optarg; break;
            case 'L': args.linger = optarg; break;
            case 'r': args.readers = optarg; break;
            case 'P': args.payload = optarg; break;
            case 'R': args.resume_timeout = optarg; break;
            case 'Y': args.replay_buffer = optarg; break;
            case 's': if (pipe_client_set (&args, optarg)) return PIPE_EXIT_USAGE; break;
            case 'G': progress_forced = true; break;
            case 'q': quiet = true; break;
            case 'h': s_help (); return PIPE_EXIT_OK;
            default: return pipe_bad_option (argv, option);
        }
    }
    if (argc - optind != 2)
        return pipe_usage_error ("give ENDPOINT and STREAM (got %d arguments)", argc - optind);
    if (progress_forced && quiet)
        return pipe_usage_error ("--progress and --quiet ask for opposite things: give one");
    const char *endpoint = argv [optind];
    const char *stream = argv [optind + 1];
    uint64_t chunk = CHUNK_DEFAULT;
    if (chunk_text && sstream_parse_size (chunk_text, &chunk))
        return pipe_usage_error ("--chunk-size: %s", sstream_errmsg ());
    if (chunk == 0 || chunk > SSTREAM_MESSAGE_MAX)
        return pipe_usage_error ("--chunk-size must be 1 byte to 1GiB");
    if (sstream_check_stream_name (stream))
        return pipe_usage_error ("%s", sstream_errmsg ());

    sstream_config_t *options;
    int rc = pipe_client_options (&args, &options);
    if (rc)
        return pipe_fail (rc);
    char *buffer = (char *) malloc (chunk);
    if (!buffer) {
        sstream_config_destroy (&options);
        pipe_error ("out of memory for a chunk of %llu bytes", (unsigned long long) chunk);
        return PIPE_EXIT_FAILED;
    }
    bool show = !quiet && (progress_forced || isatty (STDERR_FILENO));
    pipe_progress_t *progress = pipe_progress_new (stream, show, s_input_size ());
    pipe_progress_state (progress, "connecting to the gateway");
    sstream_producer_t *producer = NULL;
    rc = sstream_producer_new (&producer, endpoint, stream, options);
    sstream_config_destroy (&options);
    int status = rc? pipe_fail (rc): PIPE_EXIT_OK;
    if (status == PIPE_EXIT_OK) {
        pipe_progress_begin (progress);
        pipe_progress_state (progress, NULL);
        status = s_send_all (producer, buffer, chunk, progress);
    }
    double seconds = pipe_progress_seconds (progress);
    pipe_progress_destroy (&progress);
    if (status == PIPE_EXIT_OK && !quiet)
        pipe_summary (stream, sstream_producer_bytes (producer),
                      sstream_producer_messages (producer), seconds,
                      sstream_producer_checksum (producer), sstream_producer_resumes (producer));
    free (buffer);
    //  Not closed: destroy tells the gateway, and the consumer, why
    sstream_producer_destroy (&producer);
    return status;
}
