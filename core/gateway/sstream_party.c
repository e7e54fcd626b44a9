/*  =========================================================================
    sstream_party - one party a gateway talks to

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_gateway_classes.h"

struct _sstream_party_t {
    sstream_party_kind_t kind;
    sstream_link_t *link;
    byte routing_id [SSTREAM_ROUTING_ID_MAX];
    size_t routing_id_size;     //  0 when we are the connecting side
    char key [41];              //  Its CURVE public key (ZAP User-Id)
    char key_name [80];         //  That key as the link's trusted keys name it
    char name [120];            //  For messages
    int64_t last_heard;
    int64_t last_sent;
    int64_t timeout;            //  Silence that means it is gone
    size_t streams;
};

sstream_party_t *
sstream_party_new (sstream_party_kind_t kind, sstream_link_t *link, const byte *routing_id,
                   size_t routing_id_size, const char *key, const char *name, int64_t timeout)
{
    assert (routing_id_size <= SSTREAM_ROUTING_ID_MAX);
    sstream_party_t *self = (sstream_party_t *) zmalloc (sizeof (sstream_party_t));
    if (!self)
        return NULL;
    self->kind = kind;
    self->link = link;
    if (routing_id) {
        memcpy (self->routing_id, routing_id, routing_id_size);
        self->routing_id_size = routing_id_size;
    }
    snprintf (self->key, sizeof (self->key), "%s", key? key: "");
    sstream_link_key_name (link, key, self->key_name, sizeof (self->key_name));
    snprintf (self->name, sizeof (self->name), "%s", name);
    self->last_heard = self->last_sent = zclock_mono ();
    self->timeout = timeout;
    return self;
}

void
sstream_party_destroy (sstream_party_t **self_p)
{
    if (self_p && *self_p) {
        sstream_party_t *self = *self_p;
        sstream_party_forget_bulk (self);
        free (self);
        *self_p = NULL;
    }
}

void
sstream_party_offer_bulk (sstream_party_t *self, sstream_wire_t *reply)
{
    sstream_bulkpath_t *path = sstream_link_bulkpath (self->link);
    const char *address = path? sstream_bulkpath_address (path): NULL;
    //  Once per party: one that has a connection, or a token out, is
    //  refused another
    if (address && sstream_bulkpath_offer (path, self->routing_id, self->routing_id_size,
                                           reply->token) == SSTREAM_OK)
        snprintf (reply->bulk, sizeof (reply->bulk), "%s", address);
}

void
sstream_party_forget_bulk (sstream_party_t *self)
{
    sstream_bulkpath_t *path = sstream_link_bulkpath (self->link);
    if (path)
        sstream_bulkpath_forget (path, self->routing_id, self->routing_id_size);
}

sstream_party_kind_t
sstream_party_kind (sstream_party_t *self)
{
    return self->kind;
}

const char *
sstream_party_name (sstream_party_t *self)
{
    return self->name;
}

const char *
sstream_party_key (sstream_party_t *self)
{
    return self->key;
}

const char *
sstream_party_key_name (sstream_party_t *self)
{
    return self->key_name;
}

sstream_link_t *
sstream_party_link (sstream_party_t *self)
{
    return self->link;
}

bool
sstream_party_is (sstream_party_t *self, const byte *routing_id, size_t size)
{
    if (!routing_id)
        return self->routing_id_size == 0;
    return size == self->routing_id_size && memcmp (routing_id, self->routing_id, size) == 0;
}

void
sstream_party_heard (sstream_party_t *self, int64_t now)
{
    self->last_heard = now;
}

void
sstream_party_expect_heartbeat (sstream_party_t *self, int64_t heartbeat)
{
    //  Never lost before three of its own intervals have passed in silence
    if (heartbeat * 3 > self->timeout)
        self->timeout = heartbeat * 3;
}

bool
sstream_party_is_silent (sstream_party_t *self, int64_t now)
{
    return now - self->last_heard >= self->timeout;
}

bool
sstream_party_needs_ping (sstream_party_t *self, int64_t now, int64_t heartbeat)
{
    return now - self->last_sent >= heartbeat;
}

int64_t
sstream_party_timeout (sstream_party_t *self)
{
    return self->timeout;
}

int
sstream_party_send (sstream_party_t *self, zframe_t **header, zframe_t **payload)
{
    int rc = sstream_link_send (self->link, self->routing_id_size? self->routing_id: NULL,
                                self->routing_id_size, header, payload);
    if (rc == SSTREAM_OK)
        self->last_sent = zclock_mono ();
    return rc;
}

int
sstream_party_send_data (sstream_party_t *self, zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    int rc = sstream_link_send_data (self->link, self->routing_id_size? self->routing_id: NULL,
                                     self->routing_id_size, frame0, frame1);
    if (rc == SSTREAM_OK)
        self->last_sent = zclock_mono ();
    return rc;
}

size_t
sstream_party_streams (sstream_party_t *self)
{
    return self->streams;
}

void
sstream_party_add_stream (sstream_party_t *self)
{
    self->streams++;
}

void
sstream_party_drop_stream (sstream_party_t *self)
{
    assert (self->streams > 0);
    self->streams--;
}
