/*  =========================================================================
    sstream_gateway - a facility's gateway node

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The actor owns two links: "local", where this facility's producers and
    consumers connect, and "peer", the WAN link to the other facility's
    gateway, and polls them. What flows through them is the router's
    (sstream_router): parties, streams, the protocol.
*/

#include "sstream_classes.h"

static const sstream_setting_t s_gateway_schema [] = {
    { "gateway/name", SSTREAM_SETTING_TEXT, NULL },
    { "gateway/secret-key", SSTREAM_SETTING_PATH, NULL },
    { "gateway/buffer", SSTREAM_SETTING_SIZE, NULL },
    { "gateway/max-streams", SSTREAM_SETTING_COUNT, NULL },
    { "gateway/max-client-streams", SSTREAM_SETTING_COUNT, NULL },
    { "gateway/heartbeat", SSTREAM_SETTING_DURATION, NULL },
    { "gateway/peer-timeout", SSTREAM_SETTING_DURATION, NULL },
    { "local/endpoint", SSTREAM_SETTING_TEXT, NULL },
    { "local/security", SSTREAM_SETTING_CHOICE, "curve|none" },
    { "local/trusted-keys", SSTREAM_SETTING_PATH, NULL },
    { "local/transport", SSTREAM_SETTING_TEXT, NULL },
    { "local/*", SSTREAM_SETTING_PASS, NULL },
    { "peer/name", SSTREAM_SETTING_TEXT, NULL },
    { "peer/endpoint", SSTREAM_SETTING_TEXT, NULL },
    { "peer/mode", SSTREAM_SETTING_CHOICE, "connect|bind" },
    { "peer/public-key", SSTREAM_SETTING_PATH, NULL },
    { "peer/security", SSTREAM_SETTING_CHOICE, "curve|none" },
    { "peer/transport", SSTREAM_SETTING_TEXT, NULL },
    { "peer/*", SSTREAM_SETTING_PASS, NULL },
    SSTREAM_ACCESS_SCHEMA,
    { NULL, 0, NULL }
};

#define BUFFER_DEFAULT      (64ULL << 20)
#define MAX_STREAMS_DEFAULT 64

struct _sstream_gateway_t {
    zactor_t *actor;
    char *local_endpoint;       //  As bound
    char *peer_endpoint;        //  As bound, when the peer link binds
};

typedef struct {
    zsock_t *pipe;
    char name [65];
    zcert_t *cert;
    uint64_t buffer;
    uint64_t max_streams;
    uint64_t client_streams_max;
    int64_t heartbeat;
    int64_t peer_timeout;
    sstream_link_t *local;
    sstream_keyring_t *local_trust;     //  Keys admitted on the local link
    sstream_link_t *wan;        //  NULL without a peer
    bool wan_bind;
    bool wan_secure;
    char peer_name [65];
    char peer_key [41];
    sstream_router_t *router;
    sstream_access_t *access;   //  Replaced whole on reload
    char *config_file;          //  Watched for changes, when there is one
    byte config_signature [32];
    int64_t next_watch;
    bool terminated;
} self_t;


//  --------------------------------------------------------------------------
//  Start-up and shutdown

//  Size, inode and time to the nanosecond of a file, to notice a change.
static void
s_file_signature (const char *path, byte signature [32])
{
    struct stat stat_buf;
    memset (signature, 0, 32);
    if (stat (path, &stat_buf) == 0) {
        int64_t fields [4] = { (int64_t) stat_buf.st_ino, (int64_t) stat_buf.st_size,
                               (int64_t) stat_buf.st_mtim.tv_sec, (int64_t) stat_buf.st_mtim.tv_nsec };
        crypto_generichash (signature, 32, (const byte *) fields, sizeof (fields), NULL, 0);
    }
}

static void
s_self_destroy (self_t **self_p)
{
    if (*self_p) {
        self_t *self = *self_p;
        sstream_router_destroy (&self->router);
        sstream_access_destroy (&self->access);
        zstr_free (&self->config_file);
        sstream_link_destroy (&self->local);
        sstream_link_destroy (&self->wan);
        sstream_keyring_destroy (&self->local_trust);
        zcert_destroy (&self->cert);
        free (self);
        *self_p = NULL;
    }
}

//  The options for the link's transport (its "<link>/<transport>" section).

static int
s_transport_options (sstream_config_t *config, const char *link, const char *endpoint,
                     const char *transport, const char ***options_p)
{
    *options_p = NULL;
    const sstream_transport_t *plugin;
    int rc = sstream_plugins_find (endpoint, transport, &plugin);
    if (rc) {
        char detail [1024];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        return sstream_error_set (rc, "%s link: %s", link, detail);
    }
    rc = sstream_config_check_transport (config, link, plugin->name);
    if (rc)
        return rc;
    char section [64];
    snprintf (section, sizeof (section), "%s/%s", link, plugin->name);
    *options_p = sstream_config_section_pairs (config, section);
    return *options_p? SSTREAM_OK: sstream_error_set (SSTREAM_ENOMEM, "out of memory");
}

static int
s_self_start_local (self_t *self, sstream_config_t *config)
{
    const char *endpoint = sstream_config_get (config, "local/endpoint", NULL);
    if (!endpoint)
        return sstream_error_set (SSTREAM_ECONFIG,
            "%s: no local endpoint: say where this facility's clients connect (local/endpoint)",
            sstream_config_where (config, "local"));
    bool insecure = streq (sstream_config_get (config, "local/security", "curve"), "none");
    char *trusted = NULL;
    int rc = sstream_config_path (config, "local/trusted-keys", &trusted);
    if (!rc && !insecure && !trusted)
        rc = sstream_error_set (SSTREAM_ECONFIG,
            "%s: no trusted keys for the local link: name the folder of this facility's "
            "clients' public keys (local/trusted-keys), or set security = none",
            sstream_config_where (config, "local"));
    if (!rc && trusted && !zsys_file_exists (trusted))
        rc = sstream_error_set (SSTREAM_EKEY, "%s: trusted keys %s: no such file or folder",
                                sstream_config_where (config, "local/trusted-keys"), trusted);
    const char *transport = sstream_config_get (config, "local/transport", NULL);
    const char **options = NULL;
    if (!rc)
        rc = s_transport_options (config, "local", endpoint, transport, &options);
    if (!rc) {
        const char *trusted_list [] = { trusted, NULL };
        sstream_link_config_t link = {
            .name = "local",
            .type = ZMQ_ROUTER,
            .bind = true,
            .endpoint = endpoint,
            .transport = transport,
            .transport_options = options,
            .insecure = insecure,
            .cert = self->cert,
            .trusted = trusted_list,
            .handshake_timeout = SSTREAM_CONNECT_TIMEOUT_DEFAULT
        };
        rc = sstream_link_new (&self->local, &link);
    }
    if (!rc && !insecure)
        rc = sstream_keyring_new (&self->local_trust, trusted);
    free (options);
    free (trusted);
    return rc;
}

static int
s_self_start_peer (self_t *self, sstream_config_t *config)
{
    const char *endpoint = sstream_config_get (config, "peer/endpoint", NULL);
    if (!endpoint)
        return sstream_error_set (SSTREAM_ECONFIG,
            "%s: the peer section has no endpoint (peer/endpoint)",
            sstream_config_where (config, "peer"));
    snprintf (self->peer_name, sizeof (self->peer_name), "%s",
              sstream_config_get (config, "peer/name", "peer"));
    self->wan_bind = streq (sstream_config_get (config, "peer/mode", "connect"), "bind");
    bool insecure = streq (sstream_config_get (config, "peer/security", "curve"), "none");
    self->wan_secure = !insecure;
    char *key_path = NULL;
    int rc = sstream_config_path (config, "peer/public-key", &key_path);
    if (!rc && !insecure && !key_path)
        rc = sstream_error_set (SSTREAM_ECONFIG,
            "%s: no public key for peer %s: CURVE pins the peer's key (peer/public-key), "
            "or set security = none", sstream_config_where (config, "peer"), self->peer_name);
    if (!rc && key_path)
        rc = sstream_keys_load_public (key_path, self->peer_key);
    const char *transport = sstream_config_get (config, "peer/transport", NULL);
    const char **options = NULL;
    if (!rc)
        rc = s_transport_options (config, "peer", endpoint, transport, &options);
    if (!rc) {
        char name [128];
        snprintf (name, sizeof (name), "peer %s", self->peer_name);
        const char *trusted_list [] = { key_path, NULL };
        sstream_link_config_t link = {
            .name = name,
            .type = self->wan_bind? ZMQ_ROUTER: ZMQ_DEALER,
            .bind = self->wan_bind,
            .endpoint = endpoint,
            .transport = transport,
            .transport_options = options,
            .insecure = insecure,
            .cert = self->cert,
            .server_key = self->wan_bind || insecure? NULL: self->peer_key,
            .trusted = trusted_list,
            .handshake_timeout = SSTREAM_CONNECT_TIMEOUT_DEFAULT
        };
        rc = sstream_link_new (&self->wan, &link);
    }
    free (options);
    free (key_path);
    return rc;
}

static int
s_self_start (self_t *self, sstream_config_t *config)
{
    int rc = sstream_config_check (config, s_gateway_schema);
    if (rc)
        return rc;
    const char *name = sstream_config_get (config, "gateway/name", "gateway");
    if (sstream_check_stream_name (name) || strlen (name) > 64)
        return sstream_error_set (SSTREAM_ECONFIG, "%s: gateway name '%s' must be 1 to 64 of [A-Za-z0-9._:/@+-]",
                                  sstream_config_where (config, "gateway/name"), name);
    snprintf (self->name, sizeof (self->name), "%s", name);
    rc = sstream_config_size (config, "gateway/buffer", BUFFER_DEFAULT, &self->buffer);
    if (!rc)
        rc = sstream_config_count (config, "gateway/max-streams", MAX_STREAMS_DEFAULT,
                                   &self->max_streams);
    if (!rc)
        rc = sstream_config_count (config, "gateway/max-client-streams", 8,
                                   &self->client_streams_max);
    if (!rc && self->client_streams_max == 0)
        rc = sstream_error_set (SSTREAM_ECONFIG, "%s: max-client-streams must be at least 1",
                                sstream_config_where (config, "gateway/max-client-streams"));
    if (!rc)
        rc = sstream_config_duration (config, "gateway/heartbeat",
                                      SSTREAM_HEARTBEAT_DEFAULT, &self->heartbeat);
    if (!rc)
        rc = sstream_config_duration (config, "gateway/peer-timeout",
                                      SSTREAM_PEER_TIMEOUT_DEFAULT, &self->peer_timeout);
    if (!rc && (self->buffer < 4096 || self->buffer > SSTREAM_WIRE_WINDOW_MAX))
        rc = sstream_error_set (SSTREAM_ECONFIG, "%s: buffer must be 4KiB to 1TiB",
                                sstream_config_where (config, "gateway/buffer"));
    if (!rc && self->max_streams == 0)
        rc = sstream_error_set (SSTREAM_ECONFIG, "%s: max-streams must be at least 1",
                                sstream_config_where (config, "gateway/max-streams"));
    if (!rc && self->heartbeat < 10)
        rc = sstream_error_set (SSTREAM_ECONFIG, "%s: heartbeat must be at least 10ms",
                                sstream_config_where (config, "gateway/heartbeat"));
    if (!rc && self->peer_timeout < 2 * self->heartbeat)
        rc = sstream_error_set (SSTREAM_ECONFIG,
            "%s: peer-timeout must be at least twice the heartbeat",
            sstream_config_where (config, "gateway/peer-timeout"));
    if (rc)
        return rc;

    bool needs_key = !streq (sstream_config_get (config, "local/security", "curve"), "none")
        || (sstream_config_has (config, "peer")
            && !streq (sstream_config_get (config, "peer/security", "curve"), "none"));
    char *key_path = NULL;
    rc = sstream_config_path (config, "gateway/secret-key", &key_path);
    if (!rc && needs_key && !key_path)
        rc = sstream_error_set (SSTREAM_ECONFIG,
            "no secret key for gateway '%s' (gateway/secret-key): CURVE needs one; make one "
            "with 'sstream-pipe keygen %s'", self->name, self->name);
    if (!rc && key_path)
        rc = sstream_keys_load_secret (key_path, &self->cert);
    free (key_path);
    if (!rc)
        rc = s_self_start_local (self, config);
    if (!rc && sstream_config_has (config, "peer"))
        rc = s_self_start_peer (self, config);
    if (rc)
        return rc;
    sstream_router_config_t router = {
        .name = self->name,
        .buffer = self->buffer,
        .max_streams = self->max_streams,
        .heartbeat = self->heartbeat,
        .peer_timeout = self->peer_timeout,
        .client_streams_max = self->client_streams_max,
        .local = self->local,
        .local_trust = self->local_trust,
        .wan = self->wan,
        .wan_bind = self->wan_bind,
        .wan_secure = self->wan_secure,
        .peer_name = self->peer_name,
        .peer_key = self->peer_key
    };
    self->router = sstream_router_new (&router);
    if (!self->router)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    rc = sstream_access_new (&self->access, config);
    if (rc)
        return rc;
    sstream_router_set_access (self->router, self->access);
    if (sstream_config_filename (config)) {
        self->config_file = strdup (sstream_config_filename (config));
        s_file_signature (self->config_file, self->config_signature);
    }
    return SSTREAM_OK;
}

//  Take the access rules of a changed config, or keep the old ones and say
//  why not. Other changes need a restart.

static int
s_self_reload (self_t *self, sstream_config_t *config)
{
    sstream_config_t *loaded = NULL;
    int rc = SSTREAM_OK;
    if (!config) {
        if (!self->config_file)
            return sstream_error_set (SSTREAM_EINVAL,
                "gateway %s was not started from a file: give the new config", self->name);
        rc = sstream_config_load (&loaded, self->config_file);
        config = loaded;
    }
    if (!rc)
        rc = sstream_config_check (config, s_gateway_schema);
    sstream_access_t *access = NULL;
    if (!rc)
        rc = sstream_access_new (&access, config);
    if (!rc) {
        sstream_router_set_access (self->router, access);
        sstream_access_destroy (&self->access);
        self->access = access;
        sstream_log_info ("%s: access rules reloaded%s%s", self->name,
                          self->config_file? " from ": "", self->config_file? self->config_file: "");
    }
    else {
        char detail [1024];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        sstream_log_error ("%s: not reloaded, the rules in force stay: %s", self->name, detail);
        sstream_error_set (rc, "%s", detail);
    }
    sstream_config_destroy (&loaded);
    return rc;
}

static self_t *
s_self_new (zsock_t *pipe)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    return self;
}


//  --------------------------------------------------------------------------
//  The actor

static void
s_handle_pipe (self_t *self)
{
    zmsg_t *request = zmsg_recv (self->pipe);
    if (!request) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (request);
    if (streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "RELOAD")) {
        sstream_config_t *config = NULL;
        zframe_t *frame = zmsg_pop (request);
        if (frame && zframe_size (frame) == sizeof (config))
            memcpy (&config, zframe_data (frame), sizeof (config));
        zframe_destroy (&frame);
        int rc = s_self_reload (self, config);
        zsock_send (self->pipe, "is", rc, rc? sstream_errmsg (): "");
    }
    else
    if (streq (command, "STAT")) {
        char *name = zmsg_popstr (request);
        uint64_t value = 0;
        int rc = sstream_router_stat (self->router, name, &value);
        zsock_send (self->pipe, "i8", rc, value);
        zstr_free (&name);
    }
    zstr_free (&command);
    zmsg_destroy (&request);
}

static void
s_self_shutdown (self_t *self)
{
    sstream_router_shutdown (self->router);
    //  Give those notices a moment to leave; the parties would also notice
    //  the disconnection by themselves
    if (self->local)
        zsock_set_linger (sstream_link_sock (self->local), 500);
    if (self->wan)
        zsock_set_linger (sstream_link_sock (self->wan), 500);
    sstream_log_info ("%s: stopped", self->name);
}

static void
s_gateway_actor (zsock_t *pipe, void *args)
{
    sstream_signals_refuse ();
    self_t *self = s_self_new (pipe);
    zsock_signal (pipe, 0);
    int rc = s_self_start (self, (sstream_config_t *) args);
    if (rc) {
        zsock_send (pipe, "iss", rc, sstream_errmsg (), "");
        s_self_destroy (&self);
        //  Wait for $TERM from zactor_destroy
        char *command = zstr_recv (pipe);
        zstr_free (&command);
        return;
    }
    zsock_send (pipe, "iss", SSTREAM_OK, sstream_link_endpoint (self->local),
                self->wan && self->wan_bind? sstream_link_endpoint (self->wan): "");
    sstream_log_info ("%s: local link on %s (%s)%s%s%s%s", self->name,
                      sstream_link_endpoint (self->local),
                      sstream_link_is_secure (self->local)? "curve": "no security",
                      self->wan? "; peer " : "", self->wan? self->peer_name: "",
                      self->wan? (self->wan_bind? " connects to ": " at "): "",
                      self->wan? sstream_link_endpoint (self->wan): "");
    sstream_router_tick (self->router);

    while (!self->terminated) {
        zmq_pollitem_t items [5];
        int count = 0;
        items [count++] = (zmq_pollitem_t) { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) { sstream_link_handle (self->local), 0, ZMQ_POLLIN, 0 };
        items [count++] = (zmq_pollitem_t) {
            zsock_resolve (sstream_link_monitor (self->local)), 0, ZMQ_POLLIN, 0 };
        if (self->wan) {
            items [count++] = (zmq_pollitem_t) { sstream_link_handle (self->wan), 0, ZMQ_POLLIN, 0 };
            items [count++] = (zmq_pollitem_t) {
                zsock_resolve (sstream_link_monitor (self->wan)), 0, ZMQ_POLLIN, 0 };
        }
        int64_t now = zclock_mono ();
        int64_t wake = sstream_router_next_wake (self->router);
        if (zmq_poll (items, count, wake > now? wake - now: 0) == -1) {
            if (zmq_errno () == EINTR)
                continue;       //  A signal for the application: not ours
            sstream_log_error ("%s: poll failed: %s", self->name, zmq_strerror (zmq_errno ()));
            break;
        }
        if (items [0].revents & ZMQ_POLLIN)
            s_handle_pipe (self);
        if (self->terminated)
            break;
        if (items [2].revents & ZMQ_POLLIN)
            sstream_router_handle_monitor (self->router, self->local);
        if (self->wan && (items [4].revents & ZMQ_POLLIN))
            sstream_router_handle_monitor (self->router, self->wan);
        if (items [1].revents & ZMQ_POLLIN)
            sstream_router_handle_local (self->router);
        if (self->wan && (items [3].revents & ZMQ_POLLIN))
            sstream_router_handle_wan (self->router);
        if (zclock_mono () >= sstream_router_next_wake (self->router))
            sstream_router_tick (self->router);
        //  A changed config file brings its access rules in
        if (self->config_file && zclock_mono () >= self->next_watch) {
            byte signature [32];
            s_file_signature (self->config_file, signature);
            if (memcmp (signature, self->config_signature, sizeof (signature))) {
                memcpy (self->config_signature, signature, sizeof (signature));
                s_self_reload (self, NULL);
            }
            self->next_watch = zclock_mono () + self->heartbeat;
        }
    }
    s_self_shutdown (self);
    s_self_destroy (&self);
}


//  --------------------------------------------------------------------------
//  Public API

int
sstream_gateway_new (sstream_gateway_t **self_p, sstream_config_t *config)
{
    if (!self_p || !config)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_gateway_new: no handle or config");
    sstream_library_init ();
    *self_p = NULL;
    sstream_gateway_t *self = (sstream_gateway_t *) zmalloc (sizeof (sstream_gateway_t));
    if (!self)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    //  Start-up takes moments (it binds and returns): signals wait for it
    sigset_t saved;
    sstream_signals_hold (&saved);
    self->actor = zactor_new (s_gateway_actor, config);
    assert (self->actor);
    int rc = SSTREAM_EINTERNAL;
    char *first = NULL, *second = NULL;
    if (zsock_recv (self->actor, "iss", &rc, &first, &second) != 0)
        rc = sstream_error_set (SSTREAM_EINTERNAL, "the gateway's thread did not answer");
    sstream_signals_release (&saved);
    if (rc) {
        sstream_error_restore (rc, first);
        zstr_free (&first);
        zstr_free (&second);
        sstream_gateway_destroy (&self);
        return rc;
    }
    self->local_endpoint = first;
    self->peer_endpoint = second && *second? second: NULL;
    if (!self->peer_endpoint)
        zstr_free (&second);
    *self_p = self;
    return SSTREAM_OK;
}

int
sstream_gateway_load (sstream_gateway_t **self_p, const char *filename)
{
    sstream_config_t *config;
    int rc = sstream_config_load (&config, filename);
    if (rc)
        return rc;
    rc = sstream_gateway_new (self_p, config);
    sstream_config_destroy (&config);
    return rc;
}

void
sstream_gateway_destroy (sstream_gateway_t **self_p)
{
    if (self_p && *self_p) {
        sstream_gateway_t *self = *self_p;
        sigset_t saved;
        sstream_signals_hold (&saved);
        zactor_destroy (&self->actor);
        sstream_signals_release (&saved);
        zstr_free (&self->local_endpoint);
        zstr_free (&self->peer_endpoint);
        free (self);
        *self_p = NULL;
    }
}

const char *
sstream_gateway_endpoint (sstream_gateway_t *self, const char *link)
{
    if (!self || !link)
        return NULL;
    if (streq (link, "local"))
        return self->local_endpoint;
    if (streq (link, "peer"))
        return self->peer_endpoint;
    return NULL;
}

int
sstream_gateway_stat (sstream_gateway_t *self, const char *name, uint64_t *value)
{
    if (!self || !name || !value)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_gateway_stat: missing argument");
    sigset_t saved;
    sstream_signals_hold (&saved);
    zstr_sendx (self->actor, "STAT", name, NULL);
    int rc = SSTREAM_EINTERNAL;
    int received = zsock_recv (self->actor, "i8", &rc, value);
    sstream_signals_release (&saved);
    if (received != 0)
        return sstream_error_set (SSTREAM_EINTERNAL, "the gateway's thread did not answer");
    if (rc)
        return sstream_error_set (rc, "no gateway statistic called '%s'", name);
    return SSTREAM_OK;
}

int
sstream_gateway_reload (sstream_gateway_t *self, sstream_config_t *config)
{
    if (!self)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_gateway_reload: no gateway");
    sigset_t saved;
    sstream_signals_hold (&saved);
    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, "RELOAD");
    zmsg_addmem (request, &config, sizeof (config));
    zmsg_send (&request, self->actor);
    int rc = SSTREAM_EINTERNAL;
    char *detail = NULL;
    int received = zsock_recv (self->actor, "is", &rc, &detail);
    sstream_signals_release (&saved);
    if (received != 0)
        rc = sstream_error_set (SSTREAM_EINTERNAL, "the gateway's thread did not answer");
    else
    if (rc)
        sstream_error_restore (rc, detail);
    zstr_free (&detail);
    return rc;
}
