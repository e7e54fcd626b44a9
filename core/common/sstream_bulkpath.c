/*  =========================================================================
    sstream_bulkpath - the bulk path beside one link

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A peer is known by its routing id on the link (none on a DEALER link).
    What it sent waits in its FIFO of held messages: a flagged header until
    its payload has come in full, any other message until those before it
    have gone. Receives are posted for the held headers in order, up to a
    budget of bytes, into buffers that become the messages' frame 1
    without a copy. Sends wait in a FIFO of their own until the plugin
    says they went, since it reads the bytes in place.
*/

#include "sstream_common.h"

//  Bytes of payload a peer may have posted for receiving at once (at
//  least one payload, whatever its size)
#define S_RECV_BUDGET (16u << 20)

//  Connections that have not shown a token yet, at most: more are closed
#define S_STRANGERS_MAX 64

typedef struct {
    sstream_link_msg_t message;
    uint64_t owed;              //  Payload bytes due on the path; 0: none
    byte *buffer;               //  Where they go, once posted
    bool posted;
    bool whole;
} s_held_t;

typedef struct {
    char key [2 * SSTREAM_ROUTING_ID_MAX + 1];
    byte routing_id [SSTREAM_ROUTING_ID_MAX];
    size_t routing_id_size;
    sstream_bulk_t *connection;
    bool offered;               //  A token is out, not yet presented
    byte token [SSTREAM_BULKPATH_TOKEN];
    int64_t offer_deadline;
    zlistx_t *held;             //  s_held_t, in the order they came
    uint64_t posted_bytes;      //  Receives posted, not yet complete
    int64_t last_progress;      //  When it last completed a receive
    zlistx_t *sending;          //  zmq_msg_t, posted sends in order
    bool failed;
    bool forgotten;             //  Gone from the table, freed at the next poll
    char why [256];
} s_peer_t;

typedef struct {
    sstream_bulk_t *connection;
    byte token [SSTREAM_BULKPATH_TOKEN];
    int64_t deadline;
} s_stranger_t;

typedef struct {
    byte routing_id [SSTREAM_ROUTING_ID_MAX];
    size_t routing_id_size;
    char why [256];
} s_lost_t;

//  What a poll item stands for
typedef enum { S_LISTENER, S_STRANGER, S_PEER } s_polled_kind_t;

typedef struct {
    s_polled_kind_t kind;
    void *what;
} s_polled_t;

struct _sstream_bulkpath_t {
    char *name;
    const sstream_transport_t *transport;
    char *endpoint;
    char **options;             //  key, value, ..., NULL (copied)
    char error [512];
    bool bind;
    uint64_t max_payload;
    int64_t timeout;
    sstream_bulk_t *listener;
    char address [SSTREAM_BULK_ADDRESS_MAX];
    zhashx_t *peers;            //  key (hex routing id) -> s_peer_t
    zlistx_t *strangers;        //  s_stranger_t
    zlistx_t *ready;            //  s_held_t, whole, to hand out in order
    zlistx_t *lost;             //  s_lost_t
    zlistx_t *forgotten;        //  s_peer_t forgotten since the last poll:
                                //  the poll's items may still point at them
    s_polled_t *polled;         //  Parallel to the last poll items
    size_t polled_capacity;
    //  Counters
    uint64_t connections;
    uint64_t refused;
    uint64_t bytes_in;
    uint64_t bytes_out;
};

static void
s_link_info (sstream_bulkpath_t *self, sstream_transport_link_t *info)
{
    *info = (sstream_transport_link_t) {
        .endpoint = self->endpoint,
        .bind = self->bind,
        .options = (const char *const *) self->options,
        .error = self->error,
        .error_size = sizeof (self->error)
    };
    self->error [0] = 0;
}

static void
s_key (const byte *routing_id, size_t size, char *key)
{
    sodium_bin2hex (key, 2 * SSTREAM_ROUTING_ID_MAX + 1, routing_id, size);
}

static void
s_free_buffer (void *data, void *hint)
{
    (void) hint;
    free (data);
}


//  --------------------------------------------------------------------------
//  Held messages and peers

static void
s_held_destroy (s_held_t **self_p)
{
    if (*self_p) {
        s_held_t *self = *self_p;
        zmq_msg_close (&self->message.frame0);
        zmq_msg_close (&self->message.frame1);
        //  A posted buffer may still be written by the plugin: it goes
        //  with the connection, which is closed first
        free (self->buffer);
        free (self);
        *self_p = NULL;
    }
}

static void
s_held_destructor (void **item_p)
{
    s_held_destroy ((s_held_t **) item_p);
}

static void
s_free_destructor (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static void
s_msg_destructor (void **item_p)
{
    zmq_msg_t *message = (zmq_msg_t *) *item_p;
    if (message) {
        zmq_msg_close (message);
        free (message);
        *item_p = NULL;
    }
}

static s_peer_t *
s_peer_new (const byte *routing_id, size_t routing_id_size)
{
    s_peer_t *self = (s_peer_t *) zmalloc (sizeof (s_peer_t));
    if (!self)
        return NULL;
    //  No routing id on a DEALER link (NULL: memcpy may not be given it)
    if (routing_id_size)
        memcpy (self->routing_id, routing_id, routing_id_size);
    self->routing_id_size = routing_id_size;
    s_key (routing_id, routing_id_size, self->key);
    self->held = zlistx_new ();
    self->sending = zlistx_new ();
    if (!self->held || !self->sending) {
        zlistx_destroy (&self->held);
        zlistx_destroy (&self->sending);
        free (self);
        return NULL;
    }
    zlistx_set_destructor (self->held, s_held_destructor);
    zlistx_set_destructor (self->sending, s_msg_destructor);
    return self;
}

static void
s_peer_destroy (sstream_bulkpath_t *path, s_peer_t **self_p)
{
    if (*self_p) {
        s_peer_t *self = *self_p;
        //  The connection first: the plugin lets go of posted buffers
        if (self->connection)
            path->transport->bulk_close (&self->connection);
        zlistx_destroy (&self->held);
        zlistx_destroy (&self->sending);
        free (self);
        *self_p = NULL;
    }
}

static s_peer_t *
s_peer_lookup (sstream_bulkpath_t *self, const byte *routing_id, size_t routing_id_size)
{
    char key [2 * SSTREAM_ROUTING_ID_MAX + 1];
    s_key (routing_id, routing_id_size, key);
    return (s_peer_t *) zhashx_lookup (self->peers, key);
}

//  The peer's path has failed: it is reported lost and forgotten once the
//  poll in progress is done with it
static void
s_peer_fail (sstream_bulkpath_t *self, s_peer_t *peer, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_peer_fail (sstream_bulkpath_t *self, s_peer_t *peer, const char *format, ...)
{
    if (peer->failed)
        return;
    peer->failed = true;
    va_list args;
    va_start (args, format);
    vsnprintf (peer->why, sizeof (peer->why), format, args);
    va_end (args);
    sstream_log_warning ("%s: bulk path: %s", self->name, peer->why);
}

//  Forget failed peers, telling whoever reads sstream_bulkpath_lost
static void
s_sweep (sstream_bulkpath_t *self)
{
    s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers);
    zlistx_t *failed = NULL;
    while (peer) {
        if (peer->failed) {
            if (!failed)
                failed = zlistx_new ();
            if (failed)
                zlistx_add_end (failed, peer);
        }
        peer = (s_peer_t *) zhashx_next (self->peers);
    }
    if (!failed)
        return;
    peer = (s_peer_t *) zlistx_first (failed);
    while (peer) {
        s_lost_t *lost = (s_lost_t *) zmalloc (sizeof (s_lost_t));
        if (lost) {
            memcpy (lost->routing_id, peer->routing_id, peer->routing_id_size);
            lost->routing_id_size = peer->routing_id_size;
            snprintf (lost->why, sizeof (lost->why), "%s", peer->why);
            zlistx_add_end (self->lost, lost);
        }
        char key [sizeof (peer->key)];
        memcpy (key, peer->key, sizeof (key));
        s_peer_t *gone = peer;
        peer = (s_peer_t *) zlistx_next (failed);
        s_peer_destroy (self, &gone);
        zhashx_delete (self->peers, key);
    }
    zlistx_destroy (&failed);
}

//  Move the peer's whole messages at the head of its FIFO to the ready
//  list, and post receives for what it still owes, within the budget
static void
s_peer_advance (sstream_bulkpath_t *self, s_peer_t *peer)
{
    s_held_t *held = (s_held_t *) zlistx_first (peer->held);
    while (held && held->whole) {
        zlistx_detach_cur (peer->held);
        zlistx_add_end (self->ready, held);
        held = (s_held_t *) zlistx_first (peer->held);
    }
    if (!peer->connection || peer->failed)
        return;
    while (held) {
        if (held->owed && !held->posted) {
            if (peer->posted_bytes && peer->posted_bytes + held->owed > S_RECV_BUDGET)
                break;
            held->buffer = (byte *) malloc ((size_t) held->owed);
            if (!held->buffer) {
                s_peer_fail (self, peer, "out of memory for a payload of %" PRIu64 " bytes",
                             held->owed);
                return;
            }
            char error [256] = "";
            if (self->transport->bulk_recv (peer->connection, held->buffer, (size_t) held->owed,
                                            held, error, sizeof (error)) != 0) {
                s_peer_fail (self, peer, "cannot receive: %s", error);
                return;
            }
            if (peer->posted_bytes == 0)
                peer->last_progress = zclock_mono ();
            held->posted = true;
            peer->posted_bytes += held->owed;
        }
        held = (s_held_t *) zlistx_next (peer->held);
    }
}

//  A receive completed: its message is whole
static void
s_received (sstream_bulkpath_t *self, s_peer_t *peer, s_held_t *held)
{
    peer->posted_bytes -= held->owed;
    peer->last_progress = zclock_mono ();
    self->bytes_in += held->owed;
    zmq_msg_close (&held->message.frame1);
    zmq_msg_init_data (&held->message.frame1, held->buffer, (size_t) held->owed,
                       s_free_buffer, NULL);
    held->buffer = NULL;
    held->message.frames = 2;
    byte *frame0 = (byte *) zmq_msg_data (&held->message.frame0);
    sstream_wire_batch_set_flags (frame0, sstream_wire_batch_flags (frame0) & ~SSTREAM_WIRE_BULK);
    held->whole = true;
}

//  Move what can move on a peer's connection, and act on what completed
static void
s_peer_progress (sstream_bulkpath_t *self, s_peer_t *peer)
{
    if (!peer->connection || peer->failed)
        return;
    sstream_bulk_done_t done [32];
    int count;
    do {
        char error [256] = "";
        count = self->transport->bulk_progress (peer->connection, done, 32, error, sizeof (error));
        if (count < 0 && !zlistx_size (peer->held) && !zlistx_size (peer->sending)) {
            //  Closed with nothing owed either way: the peer is leaving,
            //  and the link says why (its last messages may still be on
            //  the way there). Should it stay, its payloads go by the link.
            self->transport->bulk_close (&peer->connection);
            return;
        }
        if (count < 0) {
            s_peer_fail (self, peer, "connection lost: %s", *error? error: "closed");
            return;
        }
        int index;
        for (index = 0; index < count; index++) {
            if (done [index].kind == SSTREAM_BULK_RECEIVED)
                s_received (self, peer, (s_held_t *) done [index].context);
            else
            if (done [index].context) {
                //  Sends complete in order: the head of the FIFO
                zmq_msg_t *sent = (zmq_msg_t *) zlistx_first (peer->sending);
                assert (sent == done [index].context);
                self->bytes_out += zmq_msg_size (sent);
                zlistx_delete (peer->sending, zlistx_cursor (peer->sending));
            }
        }
        if (count)
            s_peer_advance (self, peer);
    } while (count == 32);
}


//  --------------------------------------------------------------------------
//  Construction

int
sstream_bulkpath_new (sstream_bulkpath_t **self_p, const char *name,
                      const sstream_transport_t *transport, const char *endpoint,
                      const char *const *options, bool bind, const char *bound_endpoint,
                      uint64_t max_payload, int64_t timeout)
{
    assert (self_p && transport && endpoint);
    assert (transport->flags & SSTREAM_TRANSPORT_BULK);
    *self_p = NULL;
    sstream_bulkpath_t *self = (sstream_bulkpath_t *) zmalloc (sizeof (sstream_bulkpath_t));
    if (!self)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    self->name = strdup (name);
    self->transport = transport;
    self->endpoint = strdup (endpoint);
    self->bind = bind;
    self->max_payload = max_payload;
    self->timeout = timeout > 0? timeout: 10000;
    size_t count = 0;
    while (options && options [count])
        count++;
    self->options = (char **) zmalloc ((count + 1) * sizeof (char *));
    self->peers = zhashx_new ();
    self->strangers = zlistx_new ();
    self->ready = zlistx_new ();
    self->lost = zlistx_new ();
    self->forgotten = zlistx_new ();
    if (!self->name || !self->endpoint || !self->options || !self->peers || !self->strangers
    ||  !self->ready || !self->lost || !self->forgotten) {
        sstream_bulkpath_destroy (&self);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    size_t index;
    for (index = 0; index < count; index++)
        self->options [index] = strdup (options [index]);
    zlistx_set_destructor (self->ready, s_held_destructor);
    zlistx_set_destructor (self->lost, s_free_destructor);
    if (bind) {
        sstream_transport_link_t info;
        s_link_info (self, &info);
        if (transport->bulk_listen (&info, bound_endpoint, &self->listener, self->address,
                                    sizeof (self->address)) != 0) {
            int rc = sstream_error_set (SSTREAM_EPLUGIN, "%s: transport %s: cannot listen for "
                                        "bulk connections beside %s: %s", name, transport->name,
                                        bound_endpoint, self->error);
            sstream_bulkpath_destroy (&self);
            return rc;
        }
    }
    *self_p = self;
    return SSTREAM_OK;
}

//  Free the peers forgotten since the last poll
static void
s_bury (sstream_bulkpath_t *self)
{
    s_peer_t *peer;
    while (self->forgotten && (peer = (s_peer_t *) zlistx_detach (self->forgotten, NULL)))
        s_peer_destroy (self, &peer);
}

void
sstream_bulkpath_destroy (sstream_bulkpath_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sstream_bulkpath_t *self = *self_p;
        if (self->peers) {
            s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers);
            while (peer) {
                s_peer_destroy (self, &peer);
                peer = (s_peer_t *) zhashx_next (self->peers);
            }
            zhashx_destroy (&self->peers);
        }
        if (self->strangers) {
            s_stranger_t *stranger = (s_stranger_t *) zlistx_first (self->strangers);
            while (stranger) {
                self->transport->bulk_close (&stranger->connection);
                free (stranger);
                stranger = (s_stranger_t *) zlistx_next (self->strangers);
            }
            zlistx_destroy (&self->strangers);
        }
        if (self->listener)
            self->transport->bulk_close (&self->listener);
        zlistx_destroy (&self->ready);
        zlistx_destroy (&self->lost);
        s_bury (self);
        zlistx_destroy (&self->forgotten);
        if (self->options) {
            char **option;
            for (option = self->options; *option; option++)
                free (*option);
            free (self->options);
        }
        free (self->polled);
        free (self->endpoint);
        free (self->name);
        free (self);
        *self_p = NULL;
    }
}

const char *
sstream_bulkpath_address (sstream_bulkpath_t *self)
{
    assert (self);
    return self->listener? self->address: NULL;
}


//  --------------------------------------------------------------------------
//  Tying connections to peers

int
sstream_bulkpath_offer (sstream_bulkpath_t *self, const byte *routing_id,
                        size_t routing_id_size, char *token)
{
    assert (self && token);
    if (!self->listener)
        return sstream_error_set (SSTREAM_EINVAL, "%s: bulk path: not listening", self->name);
    s_peer_t *peer = s_peer_lookup (self, routing_id, routing_id_size);
    if (peer && (peer->connection || peer->offered))
        return sstream_error_set (SSTREAM_EINVAL, "%s: bulk path: the peer has one",
                                  self->name);
    if (!peer) {
        peer = s_peer_new (routing_id, routing_id_size);
        if (!peer)
            return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
        zhashx_insert (self->peers, peer->key, peer);
    }
    randombytes_buf (peer->token, sizeof (peer->token));
    peer->offered = true;
    peer->offer_deadline = zclock_mono () + self->timeout;
    sodium_bin2hex (token, SSTREAM_BULKPATH_TOKEN_HEX, peer->token, sizeof (peer->token));
    return SSTREAM_OK;
}

int
sstream_bulkpath_connect (sstream_bulkpath_t *self, const char *address, const char *token)
{
    assert (self && address && token);
    if (self->bind)
        return sstream_error_set (SSTREAM_EINVAL, "%s: bulk path: a binding side does not connect",
                                  self->name);
    s_peer_t *peer = s_peer_lookup (self, NULL, 0);
    if (peer)
        return sstream_error_set (SSTREAM_EINVAL, "%s: bulk path: connected already", self->name);
    byte secret [SSTREAM_BULKPATH_TOKEN];
    size_t size = 0;
    if (strlen (address) >= SSTREAM_BULK_ADDRESS_MAX
    ||  sodium_hex2bin (secret, sizeof (secret), token, strlen (token), NULL, &size, NULL) != 0
    ||  size != sizeof (secret))
        return sstream_error_set (SSTREAM_EPROTO, "%s: bulk path: a malformed address or token",
                                  self->name);
    peer = s_peer_new (NULL, 0);
    if (!peer)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    memcpy (peer->token, secret, sizeof (secret));
    sstream_transport_link_t info;
    s_link_info (self, &info);
    if (self->transport->bulk_connect (&info, address, &peer->connection) != 0) {
        int rc = sstream_error_set (SSTREAM_EPLUGIN, "%s: transport %s: cannot connect "
                                    "to the bulk path at %s: %s", self->name,
                                    self->transport->name, address, self->error);
        s_peer_destroy (self, &peer);
        return rc;
    }
    //  The token goes first; payloads may follow it at once
    char error [256] = "";
    if (self->transport->bulk_send (peer->connection, peer->token, sizeof (peer->token), NULL,
                                    error, sizeof (error)) != 0) {
        int rc = sstream_error_set (SSTREAM_EPLUGIN, "%s: bulk path: %s", self->name, error);
        s_peer_destroy (self, &peer);
        return rc;
    }
    zhashx_insert (self->peers, peer->key, peer);
    self->connections++;
    return SSTREAM_OK;
}

//  A stranger showed its token: tie it to the peer it was offered to
static void
s_stranger_presented (sstream_bulkpath_t *self, s_stranger_t *stranger)
{
    s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers);
    while (peer) {
        if (peer->offered
        &&  sodium_memcmp (peer->token, stranger->token, SSTREAM_BULKPATH_TOKEN) == 0)
            break;
        peer = (s_peer_t *) zhashx_next (self->peers);
    }
    if (!peer) {
        self->refused++;
        sstream_log_warning_repeat ("%s: bulk path: a connection presented no valid token: "
                                    "closed", self->name);
        self->transport->bulk_close (&stranger->connection);
        return;
    }
    peer->offered = false;          //  Single use
    sodium_memzero (peer->token, sizeof (peer->token));
    peer->connection = stranger->connection;
    stranger->connection = NULL;
    self->connections++;
    //  What was sent to it meanwhile goes now, in order
    zmq_msg_t *sending = (zmq_msg_t *) zlistx_first (peer->sending);
    while (sending && !peer->failed) {
        char error [256] = "";
        if (self->transport->bulk_send (peer->connection, zmq_msg_data (sending),
                                        zmq_msg_size (sending), sending, error,
                                        sizeof (error)) != 0)
            s_peer_fail (self, peer, "cannot send: %s", error);
        sending = (zmq_msg_t *) zlistx_next (peer->sending);
    }
    s_peer_advance (self, peer);
}

//  A stranger's connection: read its token, and nothing else, until it
//  is tied to a peer
static void
s_stranger_progress (sstream_bulkpath_t *self, s_stranger_t *stranger)
{
    sstream_bulk_done_t done [2];
    char error [256] = "";
    int count = self->transport->bulk_progress (stranger->connection, done, 2, error,
                                                sizeof (error));
    if (count < 0) {
        self->refused++;
        self->transport->bulk_close (&stranger->connection);
    }
    else
    if (count > 0)
        s_stranger_presented (self, stranger);
}

static void
s_accept (sstream_bulkpath_t *self)
{
    while (true) {
        sstream_transport_link_t info;
        s_link_info (self, &info);
        sstream_bulk_t *connection = NULL;
        int rc = self->transport->bulk_accept (self->listener, &connection, &info);
        if (rc <= 0) {
            if (rc < 0)
                sstream_log_warning_repeat ("%s: bulk path: cannot accept: %s", self->name,
                                            self->error);
            return;
        }
        if (zlistx_size (self->strangers) >= S_STRANGERS_MAX) {
            self->refused++;
            self->transport->bulk_close (&connection);
            continue;
        }
        s_stranger_t *stranger = (s_stranger_t *) zmalloc (sizeof (s_stranger_t));
        char error [256] = "";
        if (!stranger
        ||  self->transport->bulk_recv (connection, stranger->token, sizeof (stranger->token),
                                        stranger, error, sizeof (error)) != 0) {
            self->transport->bulk_close (&connection);
            free (stranger);
            continue;
        }
        stranger->connection = connection;
        stranger->deadline = zclock_mono () + self->timeout;
        zlistx_add_end (self->strangers, stranger);
    }
}

//  Strangers that are done with (tied, refused, or out of time) go
static void
s_sweep_strangers (sstream_bulkpath_t *self, int64_t now)
{
    s_stranger_t *stranger = (s_stranger_t *) zlistx_first (self->strangers);
    while (stranger) {
        if (stranger->connection && now >= stranger->deadline) {
            self->refused++;
            sstream_log_warning_repeat ("%s: bulk path: a connection showed no token within "
                                        "%g s: closed", self->name, self->timeout / 1000.0);
            self->transport->bulk_close (&stranger->connection);
        }
        if (!stranger->connection) {
            zlistx_detach_cur (self->strangers);
            free (stranger);
        }
        stranger = (s_stranger_t *) zlistx_next (self->strangers);
    }
}


//  --------------------------------------------------------------------------
//  Sending and receiving

bool
sstream_bulkpath_ready (sstream_bulkpath_t *self, const byte *routing_id,
                        size_t routing_id_size)
{
    //  A peer with an offer out will connect: what is sent to it waits
    //  for its connection (or fails the peer, at the offer's deadline)
    s_peer_t *peer = s_peer_lookup (self, routing_id, routing_id_size);
    return peer && (peer->connection || peer->offered) && !peer->failed;
}

int
sstream_bulkpath_send (sstream_bulkpath_t *self, const byte *routing_id,
                       size_t routing_id_size, zmq_msg_t *payload)
{
    s_peer_t *peer = s_peer_lookup (self, routing_id, routing_id_size);
    zmq_msg_t *sending = (zmq_msg_t *) malloc (sizeof (zmq_msg_t));
    if (!peer || !(peer->connection || peer->offered) || peer->failed || !sending) {
        //  Its header has gone: the peer would wait for this payload in
        //  vain, so it is lost now, with the reason
        if (peer && !sending)
            s_peer_fail (self, peer, "out of memory for a payload to send");
        zmq_msg_close (payload);
        free (sending);
        return sstream_error_set (SSTREAM_ELOST, "%s: bulk path: %s", self->name,
                                  peer && peer->failed? peer->why: "no connection");
    }
    zmq_msg_init (sending);
    zmq_msg_move (sending, payload);
    zlistx_add_end (peer->sending, sending);
    if (!peer->connection)
        return SSTREAM_OK;              //  Posted once it has come
    char error [256] = "";
    if (self->transport->bulk_send (peer->connection, zmq_msg_data (sending),
                                    zmq_msg_size (sending), sending, error, sizeof (error)) != 0) {
        s_peer_fail (self, peer, "cannot send: %s", error);
        return sstream_error_set (SSTREAM_ELOST, "%s: bulk path: %s", self->name, peer->why);
    }
    return SSTREAM_OK;
}

bool
sstream_bulkpath_admit (sstream_bulkpath_t *self, sstream_link_msg_t *message)
{
    uint64_t owed = 0;
    const byte *frame0 = (const byte *) zmq_msg_data (&message->frame0);
    bool bulk = message->frames == 1
             && sstream_wire_batch_bulk (frame0, zmq_msg_size (&message->frame0), &owed);
    s_peer_t *peer = message->bad_routing_id? NULL
                   : s_peer_lookup (self, message->routing_id, message->routing_id_size);
    //  A payload the peer has no path for, or too large to take: the
    //  message goes on as it is, for the reader to refuse
    if (bulk && (!peer || peer->failed || !(peer->connection || peer->offered)
             ||  owed == 0 || owed > self->max_payload))
        return true;
    if (!bulk && (!peer || zlistx_size (peer->held) == 0))
        return true;
    s_held_t *held = (s_held_t *) zmalloc (sizeof (s_held_t));
    if (!held) {
        s_peer_fail (self, peer, "out of memory");
        return true;
    }
    held->message = *message;       //  The frames move to held
    zmq_msg_init (&held->message.frame0);
    zmq_msg_init (&held->message.frame1);
    zmq_msg_move (&held->message.frame0, &message->frame0);
    zmq_msg_move (&held->message.frame1, &message->frame1);
    held->owed = bulk? owed: 0;
    held->whole = !bulk;
    if (zlistx_size (peer->held) == 0)
        peer->last_progress = zclock_mono ();
    zlistx_add_end (peer->held, held);
    s_peer_advance (self, peer);
    return false;
}

bool
sstream_bulkpath_next (sstream_bulkpath_t *self, sstream_link_msg_t *message)
{
    s_held_t *held = (s_held_t *) zlistx_detach (self->ready, NULL);
    if (!held)
        return false;
    *message = held->message;
    zmq_msg_init (&message->frame0);
    zmq_msg_init (&message->frame1);
    zmq_msg_move (&message->frame0, &held->message.frame0);
    zmq_msg_move (&message->frame1, &held->message.frame1);
    s_held_destroy (&held);
    return true;
}


bool
sstream_bulkpath_readable (sstream_bulkpath_t *self)
{
    return zlistx_size (self->ready) > 0;
}


//  --------------------------------------------------------------------------
//  Polling

size_t
sstream_bulkpath_poll_count (sstream_bulkpath_t *self)
{
    return (self->listener? 1: 0) + zlistx_size (self->strangers) + zhashx_size (self->peers);
}

size_t
sstream_bulkpath_poll_items (sstream_bulkpath_t *self, zmq_pollitem_t *items, size_t max)
{
    s_bury (self);              //  No item of the last poll is left
    if (self->polled_capacity < max) {
        s_polled_t *larger = (s_polled_t *) realloc (self->polled, max * sizeof (s_polled_t));
        if (!larger)
            return 0;
        self->polled = larger;
        self->polled_capacity = max;
    }
    size_t count = 0;
    int fd;
    short events;
    if (self->listener && count < max) {
        self->transport->bulk_poll (self->listener, &fd, &events);
        items [count] = (zmq_pollitem_t) { NULL, fd, ZMQ_POLLIN, 0 };
        self->polled [count++] = (s_polled_t) { S_LISTENER, self->listener };
    }
    s_stranger_t *stranger = (s_stranger_t *) zlistx_first (self->strangers);
    while (stranger && count < max) {
        if (stranger->connection) {
            self->transport->bulk_poll (stranger->connection, &fd, &events);
            items [count] = (zmq_pollitem_t) { NULL, fd, events, 0 };
            self->polled [count++] = (s_polled_t) { S_STRANGER, stranger };
        }
        stranger = (s_stranger_t *) zlistx_next (self->strangers);
    }
    s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers);
    while (peer && count < max) {
        if (peer->connection && !peer->failed) {
            self->transport->bulk_poll (peer->connection, &fd, &events);
            items [count] = (zmq_pollitem_t) { NULL, fd, events, 0 };
            self->polled [count++] = (s_polled_t) { S_PEER, peer };
        }
        peer = (s_peer_t *) zhashx_next (self->peers);
    }
    return count;
}

void
sstream_bulkpath_handle_poll (sstream_bulkpath_t *self, const zmq_pollitem_t *items,
                              size_t count)
{
    size_t index;
    for (index = 0; index < count && index < self->polled_capacity; index++) {
        if (!items [index].revents)
            continue;
        s_polled_t *polled = &self->polled [index];
        if (polled->kind == S_LISTENER)
            s_accept (self);
        else
        if (polled->kind == S_STRANGER) {
            s_stranger_t *stranger = (s_stranger_t *) polled->what;
            if (stranger->connection)
                s_stranger_progress (self, stranger);
        }
        else
        if (!((s_peer_t *) polled->what)->forgotten)
            s_peer_progress (self, (s_peer_t *) polled->what);
    }
    //  Only now may strangers and peers go: the items pointed at them
    s_sweep_strangers (self, zclock_mono ());
    s_sweep (self);
}

int64_t
sstream_bulkpath_next_wake (sstream_bulkpath_t *self)
{
    int64_t wake = INT64_MAX;
    s_stranger_t *stranger = (s_stranger_t *) zlistx_first (self->strangers);
    while (stranger) {
        if (stranger->deadline < wake)
            wake = stranger->deadline;
        stranger = (s_stranger_t *) zlistx_next (self->strangers);
    }
    s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers);
    while (peer) {
        if (peer->offered && !peer->connection && peer->offer_deadline < wake)
            wake = peer->offer_deadline;
        if (zlistx_size (peer->held) && peer->last_progress + self->timeout < wake)
            wake = peer->last_progress + self->timeout;
        peer = (s_peer_t *) zhashx_next (self->peers);
    }
    return wake;
}

void
sstream_bulkpath_tick (sstream_bulkpath_t *self)
{
    int64_t now = zclock_mono ();
    s_sweep_strangers (self, now);
    s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers);
    while (peer) {
        if (peer->offered && !peer->connection && now >= peer->offer_deadline) {
            //  An offer nobody took: a payload that waits for it is lost
            peer->offered = false;
            sodium_memzero (peer->token, sizeof (peer->token));
            if (zlistx_size (peer->held) || zlistx_size (peer->sending))
                s_peer_fail (self, peer, "no bulk connection came within %g s",
                             self->timeout / 1000.0);
        }
        else
        if (zlistx_size (peer->held) && now >= peer->last_progress + self->timeout)
            s_peer_fail (self, peer, "a payload owed for %g s never came",
                         self->timeout / 1000.0);
        peer = (s_peer_t *) zhashx_next (self->peers);
    }
    s_sweep (self);
}

bool
sstream_bulkpath_has_lost (sstream_bulkpath_t *self)
{
    return zlistx_size (self->lost) > 0;
}

bool
sstream_bulkpath_lost (sstream_bulkpath_t *self, byte *routing_id, size_t *routing_id_size,
                       char *why, size_t why_size)
{
    s_lost_t *lost = (s_lost_t *) zlistx_detach (self->lost, NULL);
    if (!lost)
        return false;
    memcpy (routing_id, lost->routing_id, lost->routing_id_size);
    *routing_id_size = lost->routing_id_size;
    snprintf (why, why_size, "%s", lost->why);
    free (lost);
    return true;
}

void
sstream_bulkpath_forget (sstream_bulkpath_t *self, const byte *routing_id,
                         size_t routing_id_size)
{
    char key [2 * SSTREAM_ROUTING_ID_MAX + 1];
    s_key (routing_id, routing_id_size, key);
    s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers, key);
    if (peer) {
        //  Out of the table now (a peer of the same id may come at once);
        //  freed once no poll item points at it
        zhashx_delete (self->peers, key);
        if (peer->connection)
            self->transport->bulk_close (&peer->connection);
        peer->forgotten = true;
        if (!self->forgotten || !zlistx_add_end (self->forgotten, peer))
            s_peer_destroy (self, &peer);
    }
}

bool
sstream_bulkpath_stat (sstream_bulkpath_t *self, const char *name, uint64_t *value)
{
    if (streq (name, "connections"))
        *value = self->connections;
    else
    if (streq (name, "refused"))
        *value = self->refused;
    else
    if (streq (name, "bytes-in"))
        *value = self->bytes_in;
    else
    if (streq (name, "bytes-out"))
        *value = self->bytes_out;
    else
        return false;
    return true;
}
