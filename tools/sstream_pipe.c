/*  =========================================================================
    sstream-pipe - stream bytes between memory, files and programs through
    sstream gateways

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "pipe.h"

#include <malloc.h>
#include <string.h>

//  Batches and records of megabytes come and go all the time: glibc would
//  map each from the kernel afresh and give it back at free (page faults
//  and page clearing on every one: about 13% of a gateway's CPU per GB at
//  1 MiB, measured). Kept in the heap, their pages are reused. A library
//  leaves this to the program; this program is the one a facility runs.
static void
s_keep_large_buffers (void)
{
    mallopt (M_MMAP_THRESHOLD, 64 << 20);
    mallopt (M_TRIM_THRESHOLD, 256 << 20);
}

static const struct {
    const char *name;
    int (*main) (int argc, char **argv);
    const char *summary;
} s_commands [] = {
    { "keygen", pipe_keygen_main, "make a CURVE key pair: NAME.pub and NAME.secret" },
    { "gateway", pipe_gateway_main, "run a gateway from a config file" },
    { "send", pipe_send_main, "stream standard input to a gateway" },
    { "recv", pipe_recv_main, "write a stream from a gateway to standard output" },
    { "demo", pipe_demo_main, "stream through two gateways in one process, and check it" },
    { "bench", pipe_bench_main, "measure throughput through two gateways (JSON)" },
    { "open", pipe_open_main, "open a tunnel session on a gateway" },
    { "status", pipe_status_main, "list a gateway's sessions" },
    { "release", pipe_release_main, "release sessions on a gateway" },
    { "tunnel", pipe_tunnel_main, "carry a TCP service from one facility to the other" },
};
#define COMMAND_COUNT (sizeof (s_commands) / sizeof (s_commands [0]))

static void
s_usage (FILE *out)
{
    fprintf (out,
        "Usage: sstream-pipe COMMAND [options] [arguments]\n"
        "\n"
        "Moves a stream from a producer's memory at one facility to a consumer's\n"
        "memory at another, through each facility's gateway, authenticated and\n"
        "encrypted with CURVE on every link.\n"
        "\n"
        "Commands:\n");
    size_t index;
    for (index = 0; index < COMMAND_COUNT; index++)
        fprintf (out, "  %-9s %s\n", s_commands [index].name, s_commands [index].summary);
    fprintf (out,
        "\n"
        "'sstream-pipe COMMAND --help' describes a command. Version %s.\n"
        "\n"
        "Examples:\n"
        "  sstream-pipe demo\n"
        "  sstream-pipe send -c conf/producer.cfg tcp://127.0.0.1:7001 run42 < data.bin\n"
        "  sstream-pipe recv -c conf/consumer.cfg tcp://127.0.0.1:7002 run42 -o data.bin\n",
        sstream_version ());
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return PIPE_EXIT_USAGE;
    }
    if (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0
    ||  strcmp (argv [1], "help") == 0) {
        s_usage (stdout);
        return PIPE_EXIT_OK;
    }
    if (strcmp (argv [1], "--version") == 0) {
        printf ("sstream-pipe %s\n", sstream_version ());
        return PIPE_EXIT_OK;
    }
    size_t index;
    for (index = 0; index < COMMAND_COUNT; index++)
        if (strcmp (argv [1], s_commands [index].name) == 0) {
            static char command [64];
            snprintf (command, sizeof (command), "sstream-pipe %s", s_commands [index].name);
            pipe_command = command;
            s_keep_large_buffers ();
            pipe_signals_start ();
            return s_commands [index].main (argc - 1, argv + 1);
        }
    fprintf (stderr, "sstream-pipe: error: unknown command '%s' (see sstream-pipe --help)\n",
             argv [1]);
    return PIPE_EXIT_USAGE;
}
