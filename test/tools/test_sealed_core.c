/*  =========================================================================
    test_sealed_core - a gateway holds no record in clear: the memory of
    two sstream-pipe gateway processes, dumped with gcore while they hold
    a sealed stream, has none of it; the same with payloads sealed only
    hop by hop has it (which shows the dump would find it)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE             //  memmem
#include "support.h"
#include "gateways.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

//  32 bytes no gateway has reason to hold but as a record's payload
#define S_MARKER "<plaintext-marker:7f3a9c51e2d8b>"
#define S_MARKER_SIZE 32
#define S_BYTES (16 << 20)

TestSuite (sealed_core, .init = support_fixture_setup, .fini = support_fixture_teardown, .timeout = 300);

//  gcore on PATH, or NULL
static char *
s_gcore (void)
{
    const char *path = getenv ("PATH");
    char *copy = strdup (path? path: "/usr/bin:/bin");
    char *cursor = copy, *dir, *found = NULL;
    while (!found && (dir = strsep (&cursor, ":"))) {
        char candidate [1024];
        snprintf (candidate, sizeof (candidate), "%s/gcore", dir);
        if (*dir && access (candidate, X_OK) == 0)
            found = strdup (candidate);
    }
    free (copy);
    return found;
}

//  Whether the file holds the marker
static bool
s_file_has_marker (const char *path)
{
    int fd = open (path, O_RDONLY);
    cr_assert_geq (fd, 0, "no core file %s", path);
    struct stat stat_buf;
    cr_assert_eq (fstat (fd, &stat_buf), 0);
    cr_assert_gt (stat_buf.st_size, 0);
    void *data = mmap (NULL, (size_t) stat_buf.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    cr_assert_neq (data, MAP_FAILED);
    bool found = memmem (data, (size_t) stat_buf.st_size, S_MARKER, S_MARKER_SIZE) != NULL;
    munmap (data, (size_t) stat_buf.st_size);
    close (fd);
    return found;
}

//  Dump a process with gcore, look for the marker, delete the dump
static bool
s_dump_has_marker (const char *gcore, pid_t pid, const char *name)
{
    char prefix [700], core [720], pid_text [16], err [700];
    snprintf (prefix, sizeof (prefix), "%s/core-%s", support_folder, name);
    snprintf (pid_text, sizeof (pid_text), "%d", (int) pid);
    snprintf (core, sizeof (core), "%s.%d", prefix, (int) pid);
    snprintf (err, sizeof (err), "%s/gcore-%s.err", support_folder, name);
    char *argv [] = { (char *) gcore, "-o", prefix, pid_text, NULL };
    int status = support_wait (support_spawn (argv, NULL, NULL, err), 240000);
    cr_assert_eq (status, 0, "gcore %s exited %d: %s", name, status, support_read_file (err));
    bool found = s_file_has_marker (core);
    unlink (core);
    return found;
}

//  The input: the marker over and over
static char *
s_input (void)
{
    char *path;
    cr_assert (asprintf (&path, "%s/marked.bin", support_folder) > 0);
    FILE *file = fopen (path, "wb");
    cr_assert_not_null (file);
    static char block [1 << 16];
    size_t index;
    for (index = 0; index < sizeof (block); index += S_MARKER_SIZE)
        memcpy (block + index, S_MARKER, S_MARKER_SIZE);
    for (index = 0; index < S_BYTES / sizeof (block); index++)
        cr_assert_eq (fwrite (block, 1, sizeof (block), file), sizeof (block));
    cr_assert_eq (fclose (file), 0);
    return path;
}

//  Wait until the process's resident memory has grown by bytes
static bool
s_wait_grown (pid_t pid, uint64_t from, uint64_t bytes)
{
    double started = support_now ();
    while (support_now () - started < 60) {
        if (support_rss (pid) >= from + bytes)
            return true;
        usleep (20 * 1000);
    }
    return false;
}

//  Read the FIFO to its end: the bytes that came, all marker
static uint64_t
s_drain (int reader)
{
    static char buffer [1 << 16];
    uint64_t received = 0;
    double started = support_now ();
    while (support_now () - started < 120) {
        struct pollfd item = { reader, POLLIN, 0 };
        poll (&item, 1, 100);
        ssize_t got = read (reader, buffer, sizeof (buffer));
        if (got == 0)
            break;
        if (got > 0) {
            ssize_t index;
            for (index = 0; index < got; index++)
                cr_assert_eq (buffer [index], S_MARKER [(received + (uint64_t) index) % S_MARKER_SIZE]);
            received += (uint64_t) got;
        }
    }
    return received;
}

//  send and recv of stream, with payload (sealed or hop); recv writes into
//  fifo and may hold 4 MiB, so that the rest waits in gateway B
static void
s_spawn_clients (gateways_t *gateways, const char *payload, const char *input,
                 const char *fifo, pid_t *sender, pid_t *receiver)
{
    char send_err [700], recv_err [700];
    snprintf (send_err, sizeof (send_err), "%s/send.err", gateways->folder);
    snprintf (recv_err, sizeof (recv_err), "%s/recv.err", gateways->folder);
    char *recv_argv [] = {
        SSTREAM_PIPE, "recv", "-k", gateways->consumer_key, "-g", gateways->gateway_b_pub,
        "--window", "4MiB", "--payload", (char *) payload, gateways->endpoint_b, "marked", NULL
    };
    *receiver = support_spawn (recv_argv, NULL, fifo, recv_err);
    char *send_argv [] = {
        SSTREAM_PIPE, "send", "-k", gateways->producer_key, "-g", gateways->gateway_a_pub,
        "--readers", gateways->consumer_pub, "--payload", (char *) payload,
        gateways->endpoint_a, "marked", NULL
    };
    *sender = support_spawn (send_argv, input, NULL, send_err);
}

//  Stream the marked input through two gateway processes; dump both while
//  gateway B holds most of it; then let the stream finish. found: whether
//  the marker was in the dump of a, of b.
static void
s_stream_and_dump (const char *gcore, const char *payload, const char *input, bool found [2])
{
    char folder [600], fifo [700];
    snprintf (folder, sizeof (folder), "%s/%s", support_folder, payload);
    cr_assert_eq (mkdir (folder, 0700), 0);
    gateways_t gateways;
    gateways_start (&gateways, folder, NULL);
    uint64_t rss_b = support_rss (gateways.b);
    snprintf (fifo, sizeof (fifo), "%s/output.fifo", folder);
    cr_assert_eq (mkfifo (fifo, 0600), 0);
    //  Opened first, so that recv's open of it completes; not read yet
    int reader = open (fifo, O_RDONLY | O_NONBLOCK);
    cr_assert_geq (reader, 0);
    pid_t sender, receiver;
    s_spawn_clients (&gateways, payload, input, fifo, &sender, &receiver);
    //  16 MiB sent, at most 4 MiB (and the FIFO's 64 KiB) at recv: the
    //  rest is held by gateway B
    char send_err [700];
    snprintf (send_err, sizeof (send_err), "%s/send.err", folder);
    cr_assert (s_wait_grown (gateways.b, rss_b, 8 << 20), "gateway b holds no stream (%s): %s",
               payload, support_read_file (send_err));
    found [0] = s_dump_has_marker (gcore, gateways.a, "a");
    found [1] = s_dump_has_marker (gcore, gateways.b, "b");
    //  The dumps stopped the gateways for a while, and changed nothing
    uint64_t received = s_drain (reader);
    close (reader);
    cr_assert_eq (received, S_BYTES, "%s: %" PRIu64 " bytes came", payload, received);
    cr_assert_eq (support_wait (sender, 60000), 0, "send (%s) failed", payload);
    cr_assert_eq (support_wait (receiver, 60000), 0, "recv (%s) failed", payload);
    gateways_stop (&gateways);
}

Test (sealed_core, a_gateway_holds_no_plaintext)
{
#if defined (__SANITIZE_ADDRESS__)
    //  A dump of a process under AddressSanitizer holds its shadow memory
    cr_skip_test ("not under AddressSanitizer");
#endif
    char *gcore = s_gcore ();
    if (!gcore)
        cr_skip_test ("gcore (gdb) is not installed");
    char *input = s_input ();
    //  The control: sealed only hop by hop, gateway B's memory has the
    //  records in clear, and the dump finds them
    bool found [2];
    s_stream_and_dump (gcore, "hop", input, found);
    cr_log_info ("hop: the marker is%s in gateway a, is%s in gateway b", found [0]? "": " not",
                 found [1]? "": " not");
    cr_assert (found [1], "the dump of gateway b has no marker although it held the stream "
               "in clear: the method finds nothing");
    //  Sealed end to end: neither gateway ever had a record in clear
    s_stream_and_dump (gcore, "sealed", input, found);
    cr_assert_not (found [0], "gateway a's memory holds plaintext of a sealed stream");
    cr_assert_not (found [1], "gateway b's memory holds plaintext of a sealed stream");
    free (input);
    free (gcore);
}
