/*  =========================================================================
    pipe_keygen - sstream-pipe keygen NAME [--dir DIR]

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "pipe.h"

#include <getopt.h>

static void
s_help (void)
{
    printf (
        "Usage: sstream-pipe keygen [options] NAME\n"
        "\n"
        "Makes a CURVE key pair: DIR/NAME.pub, the public key to give to whoever\n"
        "must trust NAME, and DIR/NAME.secret (mode 0600), which stays with NAME.\n"
        "Never overwrites a key.\n"
        "\n"
        "Options:\n"
        "  -d, --dir DIR    where to write the files (default: the current folder)\n"
        "  -h, --help       show this help\n"
        "\n" PIPE_EXIT_STATUSES
        "\n"
        "Examples:\n"
        "  sstream-pipe keygen gateway-a --dir conf/keys\n"
        "  sstream-pipe keygen producer --dir conf/keys/facility-a\n");
}

int
pipe_keygen_main (int argc, char **argv)
{
    static const struct option s_options [] = {
        { "dir", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *dir = ".";
    int option;
    opterr = 0;
    while ((option = getopt_long (argc, argv, ":d:h", s_options, NULL)) != -1) {
        switch (option) {
            case 'd': dir = optarg; break;
            case 'h': s_help (); return PIPE_EXIT_OK;
            default: return pipe_bad_option (argv, option);
        }
    }
    if (argc - optind != 1)
        return pipe_usage_error ("%s", argc - optind? "give exactly one NAME": "no NAME given");
    const char *name = argv [optind];
    int rc = sstream_keygen (name, dir);
    if (rc)
        return pipe_fail (rc);
    printf ("wrote %s/%s.pub and %s/%s.secret (mode 0600)\n", dir, name, dir, name);
    return PIPE_EXIT_OK;
}
