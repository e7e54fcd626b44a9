/*  =========================================================================
    bulk_stream - the bulk path (transport ABI 2) on a stream socket

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Posted operations wait in a FIFO per direction. bulk_progress writes
    from the head sends with one sendmsg over several of them and reads
    into the head receives with one recvmsg over several of them, until
    the socket would block: the stream keeps the order, so a receive takes
    the bytes that follow its predecessor's. An operation completes when
    its last byte has moved; completions wait in a FIFO of their own until
    bulk_progress reports them, so that max can be smaller than what one
    call completes without losing any.

    Bytes are read only into posted receives, never ahead: a bulk
    connection's data belongs to whoever posts for it. So a peer that
    closes while nothing is posted is noticed when the next receive is
    posted and progress reads the end of the stream.

    A connection's failure, from its connect on, reaches the core one way
    only: bulk_progress returns -1 and says why. Posting on a failed
    connection is no error (the operation just never completes), so that
    a core can post at once after bulk_connect and learn what became of
    it where it learns of everything else.
*/

#define _GNU_SOURCE             //  accept4
#include "bulk_stream.h"

#include <zmq.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

//  How many operations one sendmsg or recvmsg spans at most
#define IOV_BATCH 64

typedef enum {
    S_LISTENING,
    S_CONNECTING,               //  Connect under way (EINPROGRESS)
    S_CONNECT_AGAIN,            //  AF_UNIX listener's backlog was full: try again
    S_OPEN,
    S_FAILED
} s_state_t;

typedef struct {
    union {
        const unsigned char *from;  //  A send's bytes
        unsigned char *into;        //  A receive's buffer
    } buffer;
    size_t size;
    size_t moved;
    void *context;
} s_operation_t;

//  A FIFO of fixed-size items that grows by doubling
typedef struct {
    unsigned char *items;
    size_t item_size;
    size_t capacity;
    size_t head;
    size_t count;
} s_ring_t;

struct _sstream_bulk_t {
    int fd;
    s_state_t state;
    char *path;                 //  A listener's socket file, removed at close
    char *peer;                 //  Where a connection goes, for messages
    struct sockaddr_storage address;    //  For S_CONNECT_AGAIN
    socklen_t address_length;
    s_ring_t operations [2];    //  Sends, receives: s_operation_t
    s_ring_t done;              //  sstream_bulk_done_t not yet reported
    size_t unreported [2];      //  Of done, how many sends, receives
    char reason [256];          //  Why the connection failed
};

static int
s_fail (char *error, size_t error_size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (char *error, size_t error_size, const char *format, ...)
{
    if (error && error_size) {
        va_list args;
        va_start (args, format);
        vsnprintf (error, error_size, format, args);
        va_end (args);
    }
    return -1;
}

static int
s_failed (sstream_bulk_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  The connection has failed for good: say why at the next progress

static int
s_failed (sstream_bulk_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->reason, sizeof (self->reason), format, args);
    va_end (args);
    self->state = S_FAILED;
    return -1;
}


//  --------------------------------------------------------------------------
//  The FIFOs

static void *
s_ring_at (s_ring_t *ring, size_t index)
{
    return ring->items + ((ring->head + index) % ring->capacity) * ring->item_size;
}

//  Room for at least wanted items; 0, or -1 when out of memory.

static int
s_ring_reserve (s_ring_t *ring, size_t wanted)
{
    if (wanted <= ring->capacity)
        return 0;
    size_t capacity = ring->capacity? ring->capacity: 16;
    while (capacity < wanted)
        capacity *= 2;
    unsigned char *items = (unsigned char *) malloc (capacity * ring->item_size);
    if (!items)
        return -1;
    size_t index;
    for (index = 0; index < ring->count; index++)
        memcpy (items + index * ring->item_size, s_ring_at (ring, index), ring->item_size);
    free (ring->items);
    ring->items = items;
    ring->capacity = capacity;
    ring->head = 0;
    return 0;
}

//  Only after s_ring_reserve made room

static void
s_ring_push (s_ring_t *ring, const void *item)
{
    memcpy (s_ring_at (ring, ring->count), item, ring->item_size);
    ring->count++;
}

static void
s_ring_pop (s_ring_t *ring)
{
    ring->head = (ring->head + 1) % ring->capacity;
    ring->count--;
}


//  --------------------------------------------------------------------------
//  Making listeners and connections

static sstream_bulk_t *
s_bulk_new (int fd, s_state_t state)
{
    sstream_bulk_t *self = (sstream_bulk_t *) calloc (1, sizeof (sstream_bulk_t));
    if (!self)
        return NULL;
    self->fd = fd;
    self->state = state;
    self->operations [0].item_size = sizeof (s_operation_t);
    self->operations [1].item_size = sizeof (s_operation_t);
    self->done.item_size = sizeof (sstream_bulk_done_t);
    return self;
}

sstream_bulk_t *
bulk_stream_listener_new (int fd, const char *path)
{
    sstream_bulk_t *self = s_bulk_new (fd, S_LISTENING);
    if (self && path && !(self->path = strdup (path))) {
        free (self);
        self = NULL;
    }
    return self;
}

int
bulk_stream_connect (const struct sockaddr *address, socklen_t length, const char *peer,
                     bulk_stream_prepare_fn *prepare, const sstream_transport_link_t *link,
                     sstream_bulk_t **connection)
{
    *connection = NULL;
    if (length > sizeof (struct sockaddr_storage))
        return s_fail (link->error, link->error_size, "the address of %s is too long", peer);
    int fd = socket (address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return s_fail (link->error, link->error_size, "cannot make a bulk socket: %s",
                       strerror (errno));
    if (prepare && prepare (fd, link) != 0) {
        close (fd);
        return -1;
    }
    sstream_bulk_t *self = s_bulk_new (fd, S_OPEN);
    if (!self || !(self->peer = strdup (peer))) {
        free (self);
        close (fd);
        return s_fail (link->error, link->error_size, "out of memory");
    }
    memcpy (&self->address, address, length);
    self->address_length = length;
    if (connect (fd, address, length) != 0) {
        //  A refused or unreachable address reaches the core the same way
        //  whether the kernel knows at once (AF_UNIX, often) or later (TCP)
        if (errno == EINPROGRESS || errno == EINTR)
            self->state = S_CONNECTING;
        else
        if (errno == EAGAIN)
            self->state = S_CONNECT_AGAIN;
        else
            s_failed (self, "connecting to %s: %s", peer, strerror (errno));
    }
    *connection = self;
    return 0;
}

int
bulk_stream_accept (sstream_bulk_t *listener, sstream_bulk_t **connection,
                    bulk_stream_prepare_fn *prepare, const sstream_transport_link_t *link)
{
    *connection = NULL;
    if (!listener || listener->state != S_LISTENING)
        return s_fail (link->error, link->error_size, "bulk_accept needs a bulk listener");
    int fd;
    do
        fd = accept4 (listener->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        //  A connection that went away before we took it is no error of ours
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EPROTO)
            return 0;
        return s_fail (link->error, link->error_size, "accepting a bulk connection: %s",
                       strerror (errno));
    }
    if (prepare && prepare (fd, link) != 0) {
        close (fd);
        return -1;
    }
    sstream_bulk_t *self = s_bulk_new (fd, S_OPEN);
    if (!self || !(self->peer = strdup ("an accepted bulk connection"))) {
        free (self);
        close (fd);
        return s_fail (link->error, link->error_size, "out of memory");
    }
    *connection = self;
    return 1;
}


//  --------------------------------------------------------------------------
//  Posting and progress

void
bulk_stream_poll (sstream_bulk_t *self, int *fd, short *events)
{
    *fd = self->fd;
    switch (self->state) {
        case S_LISTENING:
            *events = ZMQ_POLLIN;
            break;
        case S_CONNECTING:
        case S_CONNECT_AGAIN:
            //  After EAGAIN (a full AF_UNIX backlog) the socket is not yet
            //  connecting and polls ready at once: progress tries again at
            //  the pace of the core's loop, until the other side accepts
            *events = ZMQ_POLLOUT;
            break;
        case S_OPEN:
            *events = (self->operations [0].count? ZMQ_POLLOUT: 0)
                    | (self->operations [1].count? ZMQ_POLLIN: 0);
            break;
        case S_FAILED:
            //  A dead socket polls ready at once: the core comes back for
            //  the failure that progress has still to report
            *events = ZMQ_POLLIN | ZMQ_POLLOUT;
            break;
    }
}

static int
s_post (sstream_bulk_t *self, int kind, const void *data, size_t size, void *context,
        char *error, size_t error_size)
{
    if (!self || self->state == S_LISTENING)
        return s_fail (error, error_size, "a bulk listener carries no data");
    if (size && !data)
        return s_fail (error, error_size, "a bulk operation of %zu bytes without a buffer", size);
    s_ring_t *queue = &self->operations [kind - 1];
    if (queue->count + self->unreported [kind - 1] >= BULK_STREAM_POSTED_MAX)
        return s_fail (error, error_size, "too many posted bulk %s (%d not yet reported "
                       "complete)", kind == SSTREAM_BULK_SENT? "sends": "receives",
                       BULK_STREAM_POSTED_MAX);
    //  The completion is given room now, so that progress never allocates
    size_t outstanding = self->operations [0].count + self->operations [1].count
                       + self->done.count;
    if (s_ring_reserve (queue, queue->count + 1)
    ||  s_ring_reserve (&self->done, outstanding + 1))
        return s_fail (error, error_size, "out of memory");
    s_operation_t operation = { .size = size, .moved = 0, .context = context };
    if (kind == SSTREAM_BULK_SENT)
        operation.buffer.from = (const unsigned char *) data;
    else
        operation.buffer.into = (unsigned char *) data;
    s_ring_push (queue, &operation);
    return 0;
}

int
bulk_stream_send (sstream_bulk_t *self, const void *data, size_t size, void *context,
                  char *error, size_t error_size)
{
    return s_post (self, SSTREAM_BULK_SENT, data, size, context, error, error_size);
}

int
bulk_stream_recv (sstream_bulk_t *self, void *data, size_t size, void *context,
                  char *error, size_t error_size)
{
    return s_post (self, SSTREAM_BULK_RECEIVED, data, size, context, error, error_size);
}

//  Count moved bytes against the head operations of one kind, completing
//  each one whose last byte has moved (and the empty ones that follow).

static void
s_advance (sstream_bulk_t *self, int kind, size_t moved)
{
    s_ring_t *queue = &self->operations [kind - 1];
    while (queue->count) {
        s_operation_t *operation = (s_operation_t *) s_ring_at (queue, 0);
        size_t remaining = operation->size - operation->moved;
        if (remaining > moved) {
            operation->moved += moved;
            break;
        }
        moved -= remaining;
        sstream_bulk_done_t done = { .context = operation->context, .kind = kind };
        s_ring_push (&self->done, &done);
        self->unreported [kind - 1]++;
        s_ring_pop (queue);
    }
}

//  Move bytes of one kind until the socket would block or nothing is
//  posted: 0, or -1 when the connection failed.

static int
s_move (sstream_bulk_t *self, int kind)
{
    s_ring_t *queue = &self->operations [kind - 1];
    while (true) {
        s_advance (self, kind, 0);
        if (queue->count == 0)
            return 0;
        struct iovec iov [IOV_BATCH];
        size_t iov_count = 0;
        size_t index;
        for (index = 0; index < queue->count && iov_count < IOV_BATCH; index++) {
            s_operation_t *operation = (s_operation_t *) s_ring_at (queue, index);
            if (operation->moved == operation->size)
                continue;       //  Empty: completes as the bytes before it do
            iov [iov_count].iov_base = kind == SSTREAM_BULK_SENT
                ? (void *) (operation->buffer.from + operation->moved)
                : (void *) (operation->buffer.into + operation->moved);
            iov [iov_count++].iov_len = operation->size - operation->moved;
        }
        struct msghdr message = { .msg_iov = iov, .msg_iovlen = iov_count };
        ssize_t rc = kind == SSTREAM_BULK_SENT
                   ? sendmsg (self->fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT)
                   : recvmsg (self->fd, &message, MSG_DONTWAIT);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return s_failed (self, "%s: %s", kind == SSTREAM_BULK_SENT? "writing": "reading",
                             strerror (errno));
        }
        if (rc == 0) {
            if (kind == SSTREAM_BULK_RECEIVED)
                return s_failed (self, "the other side closed the bulk connection");
            return 0;           //  Cannot happen with bytes to write; do not spin
        }
        s_advance (self, kind, (size_t) rc);
    }
}

//  Whether a connect under way has ended: 0 (done or not yet), or -1
//  when it failed.

static int
s_connect_progress (sstream_bulk_t *self)
{
    if (self->state == S_CONNECT_AGAIN) {
        if (connect (self->fd, (struct sockaddr *) &self->address, self->address_length) == 0)
            self->state = S_OPEN;
        else
        if (errno == EINPROGRESS || errno == EINTR)
            self->state = S_CONNECTING;
        else
        if (errno != EAGAIN)
            return s_failed (self, "connecting to %s: %s", self->peer, strerror (errno));
    }
    if (self->state == S_CONNECTING) {
        struct pollfd item = { .fd = self->fd, .events = POLLOUT };
        int ready = poll (&item, 1, 0);
        if (ready < 0 && errno != EINTR)
            return s_failed (self, "connecting to %s: %s", self->peer, strerror (errno));
        if (ready <= 0)
            return 0;
        int error = 0;
        socklen_t length = sizeof (error);
        if (getsockopt (self->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
            error = errno;
        if (error)
            return s_failed (self, "connecting to %s: %s", self->peer, strerror (error));
        self->state = S_OPEN;
    }
    return 0;
}

int
bulk_stream_progress (sstream_bulk_t *self, sstream_bulk_done_t *done, int max,
                      char *error, size_t error_size)
{
    if (!self || self->state == S_LISTENING)
        return s_fail (error, error_size, "a bulk listener has nothing to progress");
    if (self->state != S_FAILED) {
        //  Empty operations at the heads complete even before the connect
        s_advance (self, SSTREAM_BULK_SENT, 0);
        s_advance (self, SSTREAM_BULK_RECEIVED, 0);
        if (s_connect_progress (self) == 0 && self->state == S_OPEN
        &&  s_move (self, SSTREAM_BULK_SENT) == 0)
            s_move (self, SSTREAM_BULK_RECEIVED);
    }
    int count = 0;
    while (count < max && self->done.count) {
        done [count] = *(sstream_bulk_done_t *) s_ring_at (&self->done, 0);
        self->unreported [done [count].kind - 1]--;
        s_ring_pop (&self->done);
        count++;
    }
    if (count == 0 && self->state == S_FAILED)
        return s_fail (error, error_size, "%s", self->reason);
    return count;
}

void
bulk_stream_close (sstream_bulk_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sstream_bulk_t *self = *self_p;
    close (self->fd);
    if (self->path)
        unlink (self->path);
    free (self->path);
    free (self->peer);
    free (self->operations [0].items);
    free (self->operations [1].items);
    free (self->done.items);
    free (self);
    *self_p = NULL;
}
