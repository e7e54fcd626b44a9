/*  =========================================================================
    pipe_recv - sstream-pipe recv [options] ENDPOINT STREAM

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE             //  asprintf, mkostemp
#include "pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define streq(a, b) (strcmp ((a), (b)) == 0)

#define SLICE_MS 250

static void
s_help (void)
{
    printf (
        "Usage: sstream-pipe recv [options] ENDPOINT STREAM\n"
        "\n"
        "Receives STREAM from the gateway at ENDPOINT and writes it to standard\n"
        "output (or, with -o, to a file), from its first byte, whether the\n"
        "producer started before or after. Waits for the producer as long as it\n"
        "takes (--wait bounds it). When a gateway or link on the way is lost,\n"
        "connects again and goes on from the first record it does not have\n"
        "(--resume-timeout). Acknowledges the end of the stream only after every\n"
        "byte is written (and, for a file, synced to disk); if writing fails\n"
        "(disk full, closed pipe) the producer is told why and both sides exit\n"
        "non-zero. Refuses to write to a terminal.\n"
        "\n"
        "With -o FILE, the stream is written to FILE.partial-XXXXXX beside FILE,\n"
        "which becomes FILE (synced, then renamed) only once the stream is\n"
        "complete, before the end is acknowledged: FILE is never a part of a\n"
        "stream. A stream that fails or is interrupted removes its partial file\n"
        "(one killed outright, with SIGKILL, leaves it behind under that name).\n"
        "\n"
        "ENDPOINT may list several gateways of the facility, comma-separated\n"
        "(tcp://gw1:7001,tcp://gw2:7001): the first that answers, with its peer\n"
        "gateway connected, is used; they share one key pair (--gateway-key).\n"
        "\n"
        "On a terminal, a progress line on standard error shows the bytes\n"
        "received, the rate and the time. At the end one line sums it up: bytes,\n"
        "records, seconds (from the first record), average rate, and the\n"
        "stream's checksum (XXH3-128 of its bytes), the same as send prints.\n"
        "\n"
        "Options:\n"
        "  -o, --output FILE       write the stream to FILE (see above; '-': standard\n"
        "                          output)\n"
        "  -k, --key FILE          our secret key (NAME.secret from keygen)\n"
        "  -g, --gateway-key FILE  the gateway's public key (NAME.pub)\n"
        "  -c, --config FILE       read options from a ZPL file (section 'client',\n"
        "                          see conf/consumer.cfg); flags override it\n"
        "  -w, --window SIZE       bytes in flight to us at most (default 64MiB); a\n"
        "                          record costs its size, its metadata and 72 bytes\n"
        "                          (88 sealed), and the window must hold the largest\n"
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
        "  -s, --set client/PATH=VALUE  any client setting (see conf/consumer.cfg)\n"
        "      --progress          show the progress line even if standard error is\n"
        "                          not a terminal\n"
        "  -q, --quiet             no progress line and no summary (errors and the\n"
        "                          library's warnings still go to standard error)\n"
        "  -h, --help              show this help\n"
        "\n"
        "Sizes take K, M, G (powers of 1000) or KiB, MiB, GiB, and decimals\n"
        "(2.5MiB); durations ms, s, m, h, and compounds (1m30s).\n"
        "\n" PIPE_EXIT_STATUSES
        "\n"
        "Examples:\n"
        "  sstream-pipe recv -c conf/consumer.cfg tcp://127.0.0.1:7002 run42 -o run.bin\n"
        "  sstream-pipe recv -c conf/consumer.cfg --wait 1h30m tcp://gw-b:7002 run43 \\\n"
        "      | tar xf -\n");
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

//  Where the stream goes: standard output, or a file that gets its name
//  only once the stream is complete
typedef struct {
    const char *path;           //  -o FILE; NULL: standard output
    char *partial;              //  FILE.partial-XXXXXX, until renamed
    int fd;
    char reason [PATH_MAX + 256];   //  Why finishing failed
} s_output_t;

static int
s_output_open (s_output_t *self, const char *path)
{
    memset (self, 0, sizeof (*self));
    self->fd = STDOUT_FILENO;
    if (!path || streq (path, "-"))
        return PIPE_EXIT_OK;
    self->path = path;
    if (asprintf (&self->partial, "%s.partial-XXXXXX", path) < 0) {
        self->partial = NULL;
        pipe_error ("out of memory");
        return PIPE_EXIT_FAILED;
    }
    self->fd = mkostemp (self->partial, O_CLOEXEC);
    if (self->fd < 0) {
        pipe_error ("cannot create %s.partial-XXXXXX: %s", path, strerror (errno));
        free (self->partial);
        self->partial = NULL;
        return PIPE_EXIT_FAILED;
    }
    //  mkostemp makes it 0600: give it the mode a new file would have
    mode_t mask = umask (0);
    umask (mask);
    if (fchmod (self->fd, 0666 & ~mask) != 0) {
        pipe_error ("cannot set the mode of %s: %s", self->partial, strerror (errno));
        return PIPE_EXIT_FAILED;
    }
    return PIPE_EXIT_OK;
}

//  The whole stream is written: make it safe, and give it its name. 0, or
//  -1 with self->reason.
static int
s_output_finish (s_output_t *self)
{
    struct stat stat_buf;
    bool is_file = self->partial
                || (fstat (self->fd, &stat_buf) == 0 && S_ISREG (stat_buf.st_mode));
    const char *name = self->partial? self->partial: "standard output";
    if (is_file && fsync (self->fd) != 0) {
        snprintf (self->reason, sizeof (self->reason), "cannot sync %s to disk: %s", name,
                  strerror (errno));
        return -1;
    }
    if (!self->partial)
        return 0;
    int closed = close (self->fd);
    self->fd = -1;
    if (closed != 0) {
        snprintf (self->reason, sizeof (self->reason), "cannot write %s: %s", name,
                  strerror (errno));
        return -1;
    }
    if (rename (self->partial, self->path) != 0) {
        snprintf (self->reason, sizeof (self->reason), "cannot rename %s to %s: %s", name,
                  self->path, strerror (errno));
        return -1;
    }
    free (self->partial);
    self->partial = NULL;
    //  The rename itself is safe once the folder is synced
    char *folder = strdup (self->path);
    int fd = folder? open (dirname (folder), O_RDONLY | O_DIRECTORY | O_CLOEXEC): -1;
    int synced = fd >= 0? fsync (fd): -1;
    int error = errno;
    if (fd >= 0)
        close (fd);
    free (folder);
    if (synced != 0) {
        snprintf (self->reason, sizeof (self->reason), "cannot sync the folder of %s to disk: %s",
                  self->path, strerror (error));
        return -1;
    }
    return 0;
}

//  An incomplete stream leaves no file
static void
s_output_close (s_output_t *self)
{
    if (self->partial) {
        if (self->fd >= 0)
            close (self->fd);
        unlink (self->partial);
        free (self->partial);
        self->partial = NULL;
    }
}

//  Receive the stream into output, up to its end: an exit status
static int
s_receive (sstream_consumer_t *consumer, s_output_t *output, pipe_progress_t *progress)
{
    bool begun = false;
    while (true) {
        sstream_message_t *message;
        int rc = sstream_consumer_recv (consumer, &message, SLICE_MS);
        //  A timeout of our own slice is no failure; a stream that failed
        //  for want of time (--wait) is
        bool timed_out = rc == SSTREAM_ETIMEDOUT && !sstream_consumer_failure (consumer);
        if (timed_out && !pipe_interrupted ())
            continue;
        if (rc == SSTREAM_EEND)
            return PIPE_EXIT_OK;
        if (timed_out || rc == SSTREAM_EINTR) {
            pipe_error ("interrupted by signal %d: the stream is incomplete",
                        pipe_signal_number ());
            sstream_consumer_abort (consumer, "the consumer was interrupted");
            return PIPE_EXIT_FAILED;
        }
        if (rc)
            return pipe_fail (rc);
        if (!begun) {
            pipe_progress_begin (progress);
            pipe_progress_state (progress, NULL);
            begun = true;
        }
        size_t size = sstream_message_size (message);
        int written = s_write_full (output->fd, (const char *) sstream_message_data (message),
                                    size);
        int error = errno;
        sstream_message_destroy (&message);
        if (written) {
            char reason [PATH_MAX + 256];
            snprintf (reason, sizeof (reason), "cannot write to %s: %s",
                      output->partial? output->partial: "standard output", strerror (error));
            pipe_error ("%s", reason);
            sstream_consumer_abort (consumer, reason);
            return PIPE_EXIT_FAILED;
        }
        pipe_progress_add (progress, size);
    }
}

int
pipe_recv_main (int argc, char **argv)
{
    static const struct option s_options [] = {
        { "output", required_argument, NULL, 'o' },
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
        { "set", required_argument, NULL, 's' },
        { "progress", no_argument, NULL, 'G' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    pipe_client_args_t args = { 0 };
    const char *output_path = NULL;
    bool progress_forced = false, quiet = false;
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":o:k:g:c:w:t:s:qh", s_options, NULL)) != -1) {
        switch (option) {
            case 'o': output_path = optarg; break;
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
    if (sstream_check_stream_name (stream))
        return pipe_usage_error ("%s", sstream_errmsg ());
    if ((!output_path || streq (output_path, "-")) && isatty (STDOUT_FILENO))
        return pipe_usage_error ("standard output is a terminal, and the stream is binary "
                                 "data: redirect it (> FILE, | program) or give -o FILE");
    if (output_path && !*output_path)
        return pipe_usage_error ("-o needs a file name");

    sstream_config_t *options;
    int rc = pipe_client_options (&args, &options);
    if (rc)
        return pipe_fail (rc);
    s_output_t output;
    int status = s_output_open (&output, output_path);
    if (status) {
        s_output_close (&output);
        sstream_config_destroy (&options);
        return status;
    }
    bool show = !quiet && (progress_forced || isatty (STDERR_FILENO));
    pipe_progress_t *progress = pipe_progress_new (stream, show, 0);
    pipe_progress_state (progress, "connecting to the gateway");
    sstream_consumer_t *consumer = NULL;
    rc = sstream_consumer_new (&consumer, endpoint, stream, options);
    sstream_config_destroy (&options);
    if (rc)
        status = pipe_fail (rc);
    else {
        pipe_progress_state (progress, "waiting for the producer");
        status = s_receive (consumer, &output, progress);
    }
    double seconds = pipe_progress_seconds (progress);
    //  The data must be safe, under its name, before we acknowledge it
    pipe_progress_state (progress, output.partial? "all received, syncing it to disk"
                                                 : "all received");
    if (status == PIPE_EXIT_OK && s_output_finish (&output) != 0) {
        pipe_error ("%s", output.reason);
        sstream_consumer_abort (consumer, output.reason);
        status = PIPE_EXIT_FAILED;
    }
    if (status == PIPE_EXIT_OK) {
        rc = sstream_consumer_close (consumer, 10000);
        if (rc)
            status = pipe_fail (rc);
    }
    s_output_close (&output);
    pipe_progress_destroy (&progress);
    if (status == PIPE_EXIT_OK && !quiet)
        pipe_summary (stream, sstream_consumer_bytes (consumer),
                      sstream_consumer_messages (consumer), seconds,
                      sstream_consumer_checksum (consumer), sstream_consumer_resumes (consumer));
    sstream_consumer_destroy (&consumer);
    return status;
}
