/*  =========================================================================
    sstream_auth - the one place that admits keys: the process's ZAP
    handler, and what each bound link trusts

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The handler follows ZAP (RFC 27): a request is version, request id,
    domain, address, routing id, mechanism and credentials; the reply is
    version, request id, status code and text, user id and metadata. It
    admits a CURVE client whose public key the domain's keyring holds, and
    refuses everything else, including domains nobody registered.
*/

#include "sstream_common.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

struct _sstream_auth_t {
    char *domain;
    sstream_keyring_t *keys;    //  Read by the handler's thread: under s_lock
    char refused_key [41];      //  The last key refused here (under s_lock)
};

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_handler;     //  Running while registrations exist
static zlistx_t *s_registrations;
static uint64_t s_refused;


//  --------------------------------------------------------------------------
//  The handler

//  The verdict on one request: "200" and the key, or "400" and why.
static const char *
s_verdict (const char *domain, const char *mechanism, zframe_t *credentials,
           char key [41], const char **why)
{
    *why = "OK";
    if (!streq (mechanism, "CURVE")) {
        *why = "only CURVE clients are admitted";
        return "400";
    }
    if (!credentials || zframe_size (credentials) != 32) {
        *why = "malformed CURVE credentials";
        return "400";
    }
    zmq_z85_encode (key, zframe_data (credentials), 32);
    bool known = false, trusted = false;
    pthread_mutex_lock (&s_lock);
    sstream_auth_t *registration;
    for (registration = s_registrations? (sstream_auth_t *) zlistx_first (s_registrations): NULL;
         registration; registration = (sstream_auth_t *) zlistx_next (s_registrations))
        if (streq (registration->domain, domain)) {
            known = true;
            trusted = sstream_keyring_has (registration->keys, key);
            if (!trusted)
                memcpy (registration->refused_key, key, sizeof (registration->refused_key));
            break;
        }
    if (!trusted)
        s_refused++;
    pthread_mutex_unlock (&s_lock);
    if (!known)
        *why = "no such ZAP domain";
    else
    if (!trusted)
        *why = "key not trusted on this link";
    return trusted? "200": "400";
}

static void
s_handle_request (zsock_t *zap)
{
    zmsg_t *request = zmsg_recv (zap);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    zframe_t *identity = zmsg_pop (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credentials = zmsg_pop (request);
    char key [41] = "";
    const char *why = "malformed request";
    const char *status = "500";
    if (version && streq (version, "1.0") && sequence && domain && mechanism)
        status = s_verdict (domain, mechanism, credentials, key, &why);
    if (!streq (status, "200"))
        sstream_log_debug ("sstream: ZAP refused %s from %s on %s: %s", *key? key: "a client",
                           address? address: "?", domain? domain: "?", why);
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence? sequence: "");
    zmsg_addstr (reply, status);
    zmsg_addstr (reply, why);
    zmsg_addstr (reply, streq (status, "200")? key: "");
    zmsg_addmem (reply, NULL, 0);               //  No metadata
    zmsg_send (&reply, zap);
    zstr_free (&version);
    zstr_free (&sequence);
    zstr_free (&domain);
    zstr_free (&address);
    zframe_destroy (&identity);
    zstr_free (&mechanism);
    zframe_destroy (&credentials);
    zmsg_destroy (&request);
}

static void
s_handler_actor (zsock_t *pipe, void *args)
{
    (void) args;
    sstream_signals_refuse ();
    int exiting = sstream_actor_enter ();
    zsock_signal (pipe, 0);             //  For zactor_new
    zsock_t *zap = zsock_new (ZMQ_REP);
    int rc = zap? zsock_bind (zap, ZAP_ENDPOINT): -1;
    //  Tell the starter whether the endpoint was ours to take
    zsock_signal (pipe, rc == 0? 0: 1);
    bool terminated = rc != 0;
    while (!terminated) {
        zmq_pollitem_t items [3] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (zap), 0, ZMQ_POLLIN, 0 },
            { NULL, exiting, ZMQ_POLLIN, 0 }
        };
        if (zmq_poll (items, 3, -1) == -1) {
            if (zmq_errno () == EINTR)
                continue;
            break;
        }
        if (items [0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv (pipe);
            terminated = !command || streq (command, "$TERM");
            zstr_free (&command);
        }
        if (items [2].revents & ZMQ_POLLIN)
            terminated = true;
        if (!terminated && (items [1].revents & ZMQ_POLLIN))
            s_handle_request (zap);
    }
    //  Give the endpoint back now: closing a socket releases its inproc
    //  name only when libzmq's reaper gets to it, and a handler started
    //  right after this one (a gateway restarted in the same process)
    //  would find it taken
    if (zap && rc == 0)
        zmq_unbind (zsock_resolve (zap), ZAP_ENDPOINT);
    zsock_destroy (&zap);
    sstream_actor_leave ();
}


//  --------------------------------------------------------------------------
//  Registrations

int
sstream_auth_new (sstream_auth_t **self_p, const char *domain, const char *path,
                  const char *what)
{
    sstream_library_init ();
    *self_p = NULL;
    sstream_auth_t *self = (sstream_auth_t *) zmalloc (sizeof (sstream_auth_t));
    if (!self || !(self->domain = strdup (domain))) {
        free (self);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    int rc = sstream_keyring_new (&self->keys, path, what);
    if (rc) {
        sstream_auth_destroy (&self);
        return rc;
    }
    pthread_mutex_lock (&s_lock);
    if (!s_handler) {
        s_registrations = zlistx_new ();
        sstream_library_sockets_made ();
        s_handler = zactor_new (s_handler_actor, NULL);
        //  Another handler in this process holds the endpoint (libzmq
        //  allows one): we would not be asked, and must not pretend
        if (s_handler && zsock_wait (s_handler) != 0)
            zactor_destroy (&s_handler);
        if (!s_handler || !s_registrations) {
            zactor_destroy (&s_handler);
            zlistx_destroy (&s_registrations);
            rc = sstream_error_set (SSTREAM_EINTERNAL,
                "cannot start the ZAP handler: another one already runs in this process "
                "(libsstream runs its own and cannot share it)");
        }
    }
    if (!rc)
        zlistx_add_end (s_registrations, self);
    pthread_mutex_unlock (&s_lock);
    if (rc)
        sstream_auth_destroy (&self);
    *self_p = self;
    return rc;
}

void
sstream_auth_destroy (sstream_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sstream_auth_t *self = *self_p;
    zactor_t *stopping = NULL;
    pthread_mutex_lock (&s_lock);
    void *handle = s_registrations? zlistx_find (s_registrations, self): NULL;
    if (handle) {
        zlistx_delete (s_registrations, handle);
        if (zlistx_size (s_registrations) == 0) {
            zlistx_destroy (&s_registrations);
            stopping = s_handler;
            s_handler = NULL;
        }
    }
    pthread_mutex_unlock (&s_lock);
    //  Outside the lock: the handler takes it while it answers
    zactor_destroy (&stopping);
    sstream_keyring_destroy (&self->keys);
    free (self->domain);
    free (self);
    *self_p = NULL;
}

bool
sstream_auth_refresh (sstream_auth_t *self)
{
    pthread_mutex_lock (&s_lock);
    bool changed = sstream_keyring_refresh (self->keys);
    pthread_mutex_unlock (&s_lock);
    return changed;
}

bool
sstream_auth_trusts (sstream_auth_t *self, const char *key)
{
    pthread_mutex_lock (&s_lock);
    bool trusted = key && sstream_keyring_has (self->keys, key);
    pthread_mutex_unlock (&s_lock);
    return trusted;
}

bool
sstream_auth_key_name (sstream_auth_t *self, const char *key, char *name, size_t size)
{
    pthread_mutex_lock (&s_lock);
    bool known = key && sstream_keyring_name (self->keys, key, name, size);
    pthread_mutex_unlock (&s_lock);
    return known;
}

bool
sstream_auth_refused_key (sstream_auth_t *self, char key [41])
{
    pthread_mutex_lock (&s_lock);
    memcpy (key, self->refused_key, sizeof (self->refused_key));
    pthread_mutex_unlock (&s_lock);
    return *key != 0;
}

uint64_t
sstream_auth_refused (void)
{
    pthread_mutex_lock (&s_lock);
    uint64_t refused = s_refused;
    pthread_mutex_unlock (&s_lock);
    return refused;
}
