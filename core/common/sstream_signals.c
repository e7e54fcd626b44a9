/*  =========================================================================
    sstream_signals - the application's signals, and waiting with them

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"

#include <poll.h>
#include <sys/eventfd.h>

void
sstream_signals_refuse (void)
{
    sigset_t all;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, NULL);
}

void
sstream_signals_hold (sigset_t *saved)
{
    sigset_t all;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, saved);
}

void
sstream_signals_release (const sigset_t *saved)
{
    pthread_sigmask (SIG_SETMASK, saved, NULL);
}

int
sstream_signals_wait (void *socket, short events, long timeout_ms, const sigset_t *saved)
{
    zmq_pollitem_t item = { socket, 0, events, 0 };
    sigset_t held;
    pthread_sigmask (SIG_SETMASK, saved, &held);
    int rc = zmq_poll (&item, 1, timeout_ms);
    int error = zmq_errno ();
    pthread_sigmask (SIG_SETMASK, &held, NULL);
    if (rc < 0)
        return error == EINTR? -1: 0;
    return rc > 0? 1: 0;
}


int
sstream_signals_wait_fd (int fd, long timeout_ms)
{
    struct pollfd item = { fd, POLLIN, 0 };
    int rc = poll (&item, 1, timeout_ms < 0? -1: (int) timeout_ms);
    if (rc < 0)
        return errno == EINTR? -1: 0;
    return rc > 0? 1: 0;
}

int
sstream_wakeup_new (void)
{
    return eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
}

void
sstream_wakeup_send (int fd)
{
    uint64_t one = 1;
    if (write (fd, &one, sizeof (one)) < 0)
        assert (errno == EAGAIN);       //  Already due to wake: enough
}

void
sstream_wakeup_clear (int fd)
{
    uint64_t count;
    if (read (fd, &count, sizeof (count)) < 0)
        assert (errno == EAGAIN);
}
