/*  =========================================================================
    pipe_recv - sstream-pipe recv [options] ENDPOINT STREAM

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "pipe.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLICE_MS 250

static void
s_help (void)
{
    printf (
        "Usage: sstream-pipe recv [options] ENDPOINT STREAM\n"
        "\n"
        "Receives STREAM from the gateway at ENDPOINT and writes it to standard\n"
        "output, from its first byte, whether the producer started before or\n"
        "after. Waits for the producer as long as it takes (--wait bounds it).\n"
        "When a gateway or link on the way is lost, connects again and goes on\n"
        "from the first record it does not have (--resume-timeout). Acknowledges the end\n"
        "of the stream only after every byte is written (and, for a file, synced\n"
        "to disk); if writing fails (disk full, closed pipe) the producer is told\n"
        "why and both sides exit non-zero.\n"
        "\n"
        "ENDPOINT may list several gateways of the facility, comma-separated\n"
        "(tcp://gw1:7001,tcp://gw2:7001): the first that answers, with its peer\n"
        "gateway connected, is used; they share one key pair (--gateway-key).\n"
        "\n"
        "Options:\n"
        "  -k, --key FILE          our secret key (NAME.secret from keygen)\n"
        "  -g, --gateway-key FILE  the gateway's public key (NAME.pub)\n"
        "  -c, --config FILE       read options from a ZPL file (section 'client',\n"
        "                          see conf/consumer.cfg); flags override it\n"
        "  -w, --window SIZE       bytes in flight to us at most (default 16MiB)\n"
        "  -t, --transport NAME    transport plugin (default: ENDPOINT's scheme)\n"
        "      --timeout DURATION  how long to wait for the gateway (default 10s)\n"
        "      --security MODE     curve (default) or none (logged as a warning)\n"
        "      --payload MODE      sealed (default: only a stream sealed for our key\n"
        "                          is taken, and --key is needed) or hop: also a\n"
        "                          stream that is not sealed end to end\n"
        "      --wait DURATION     how long to wait for a producer to start the\n"
        "                          stream (default: as long as it takes)\n"
        "      --resume-timeout DURATION  how long a stream may take to resume when\n"
        "                          a gateway or link on its path is lost (default\n"
        "                          60s; 0: never resume, fail at once)\n"
        "      --set client/PATH=VALUE  any client setting (see conf/consumer.cfg)\n"
        "  -h, --help              show this help\n"
        "\n" PIPE_EXIT_STATUSES);
}

static int
s_write_full (int fd, const char *data, size_t size)
{
    while (size) {
        ssize_t done = write (fd, data, size);
        if (done < 0) {
            if (errno == EINTR && !pipe_interrupted ())
                continue;
            return -1;
        }
        data += done;
        size -= (size_t) done;
    }
    return 0;
}

int
pipe_recv_main (int argc, char **argv)
{
    static const struct option s_options [] = {
        { "key", required_argument, NULL, 'k' },
        { "gateway-key", required_argument, NULL, 'g' },
        { "config", required_argument, NULL, 'c' },
        { "window", required_argument, NULL, 'w' },
        { "transport", required_argument, NULL, 't' },
        { "timeout", required_argument, NULL, 'T' },
        { "security", required_argument, NULL, 'S' },
        { "payload", required_argument, NULL, 'P' },
        { "resume-timeout", required_argument, NULL, 'R' },
        { "wait", required_argument, NULL, 'W' },
        { "set", required_argument, NULL, 'E' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    pipe_client_args_t args = { 0 };
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":k:g:c:w:t:h", s_options, NULL)) != -1) {
        switch (option) {
            case 'k': args.key = optarg; break;
            case 'g': args.gateway_key = optarg; break;
            case 'c': args.config_file = optarg; break;
            case 'w': args.window = optarg; break;
            case 't': args.transport = optarg; break;
            case 'T': args.timeout = optarg; break;
            case 'S': args.security = optarg; break;
            case 'P': args.payload = optarg; break;
            case 'R': args.resume_timeout = optarg; break;
            case 'W': args.wait = optarg; break;
            case 'E': if (pipe_client_set (&args, optarg)) return PIPE_EXIT_USAGE; break;
            case 'h': s_help (); return PIPE_EXIT_OK;
            default: return pipe_bad_option (argv, option);
        }
    }
    if (argc - optind != 2)
        return pipe_usage_error ("give ENDPOINT and STREAM (got %d arguments)", argc - optind);
    const char *endpoint = argv [optind];
    const char *stream = argv [optind + 1];
    if (sstream_check_stream_name (stream))
        return pipe_usage_error ("%s", sstream_errmsg ());

    sstream_config_t *options;
    int rc = pipe_client_options (&args, &options);
    if (rc)
        return pipe_fail (rc);
    sstream_consumer_t *consumer;
    rc = sstream_consumer_new (&consumer, endpoint, stream, options);
    sstream_config_destroy (&options);
    if (rc)
        return pipe_fail (rc);

    int status = PIPE_EXIT_OK;
    while (status == PIPE_EXIT_OK) {
        sstream_message_t *message;
        rc = sstream_consumer_recv (consumer, &message, SLICE_MS);
        //  A timeout of our own slice is no failure; a stream that failed
        //  for want of time (--wait) is
        bool timed_out = rc == SSTREAM_ETIMEDOUT && !sstream_consumer_failure (consumer);
        if (timed_out && !pipe_interrupted ())
            continue;
        if (rc == SSTREAM_EEND)
            break;
        if (timed_out || rc == SSTREAM_EINTR) {
            pipe_error ("interrupted by signal %d: the stream is incomplete",
                        pipe_signal_number ());
            sstream_consumer_abort (consumer, "the consumer was interrupted");
            status = PIPE_EXIT_FAILED;
            break;
        }
        if (rc) {
            status = pipe_fail (rc);
            break;
        }
        if (s_write_full (STDOUT_FILENO, (const char *) sstream_message_data (message),
                          sstream_message_size (message))) {
            char reason [256];
            snprintf (reason, sizeof (reason), "cannot write to standard output: %s",
                      strerror (errno));
            pipe_error ("%s", reason);
            sstream_consumer_abort (consumer, reason);
            status = PIPE_EXIT_FAILED;
        }
        sstream_message_destroy (&message);
    }
    if (status == PIPE_EXIT_OK) {
        //  The data must be safe before we acknowledge it
        struct stat stat_buf;
        if (fstat (STDOUT_FILENO, &stat_buf) == 0 && S_ISREG (stat_buf.st_mode)
        &&  fsync (STDOUT_FILENO) != 0) {
            char reason [256];
            snprintf (reason, sizeof (reason), "cannot sync standard output to disk: %s",
                      strerror (errno));
            pipe_error ("%s", reason);
            sstream_consumer_abort (consumer, reason);
            status = PIPE_EXIT_FAILED;
        }
    }
    if (status == PIPE_EXIT_OK) {
        rc = sstream_consumer_close (consumer, 10000);
        if (rc)
            status = pipe_fail (rc);
    }
    sstream_consumer_destroy (&consumer);
    return status;
}
