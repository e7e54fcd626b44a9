/*  =========================================================================
    test_exit - a process that exits with handles still open exits cleanly

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    CZMQ closes every socket left open when the process exits. Before the
    library stopped its own threads first, they then failed on CZMQ's
    assertions and the process aborted (status 134) instead of exiting
    with its own status.
*/

#include "support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite (exit, .timeout = 120);

static void
s_exit_with_handles (const char *mode)
{
    char *folder = support_scratch ();
    char err [600];
    snprintf (err, sizeof (err), "%s/err", folder);
    char *argv [] = { SSTREAM_TEST_EXIT_WITH_HANDLES, (char *) mode, NULL };
    //  The handles are left open on purpose: no leak report for them
    setenv ("LSAN_OPTIONS", "detect_leaks=0", 1);
    pid_t pid = support_spawn (argv, NULL, NULL, err);
    int status = support_wait (pid, 60000);
    char *said = support_read_file (err);
    cr_assert_eq (status, 3, "exited %d: %s", status, said? said: "");
    cr_assert (said && strstr (said, "exiting with every handle open"), "%s", said? said: "");
    cr_assert_null (strstr (said, "Assertion"), "%s", said);
    free (said);
    support_rmtree (folder);
    free (folder);
}

Test (exit, with_gateways_producer_and_consumer_open)
{
    s_exit_with_handles ("idle");
}

Test (exit, with_a_thread_waiting_in_recv)
{
    s_exit_with_handles ("receiving");
}
