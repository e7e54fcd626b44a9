/*  =========================================================================
    sstream_gateway - a facility's gateway node

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The actor owns two links: "local", where this facility's producers and
    consumers connect, and "peer", the WAN link to the other facility's
    gateway, and polls them. What flows through them is the router's
    (sstream_router): parties, streams, the protocol.
*/

#include "sstream_gateway_classes.h"

static const sstream_setting_t s_gateway_schema [] = {
    { "gateway/name", SSTREAM_SETTING_TEXT, NULL },
    { "gateway/secret-key", SSTREAM_SETTING_PATH, NULL },
    { "gateway/buffer", SSTREAM_SETTING_SIZE, NULL },
    { "gateway/max-streams", SSTREAM_SETTING_COUNT, NULL },
    { "gateway/max-client-streams", SSTREAM_SETTING_COUNT, NULL },
    { "gateway/heartbeat", SSTREAM_SETTING_DURATION, NULL },
    { "gateway/peer-timeout", SSTREAM_SETTING_DURATION, NULL },
    { "gateway/io-threads", SSTREAM_SETTING_COUNT, NULL },
    { "local/endpoint", SSTREAM_SETTING_TEXT, NULL },
    { "local/security", SSTREAM_SETTING_CHOICE, "curve|none" },
    { "local/trusted-keys", SSTREAM_SETTING_PATH, NULL },
    { "local/transport", SSTREAM_SETTING_TEXT, NULL },
    { "local/bulk-path", SSTREAM_SETTING_CHOICE, "on|off" },
    { "local/*", SSTREAM_SETTING_PASS, NULL },
    { "peer/name", SSTREAM_SETTING_TEXT, NULL },
    { "peer/endpoint", SSTREAM_SETTING_TEXT, NULL },
    { "peer/mode", SSTREAM_SETTING_CHOICE, "connect|bind" },
    { "peer/public-key", SSTREAM_SETTING_PATH, NULL },
    { "peer/security", SSTREAM_SETTING_CHOICE, "curve|none" },
    { "peer/transport", SSTREAM_SETTING_TEXT, NULL },
    { "peer/bulk-path", SSTREAM_SETTING_CHOICE, "on|off" },
    { "peer/*", SSTREAM_SETTING_PASS, NULL },
    { "control/endpoint", SSTREAM_SETTING_TEXT, NULL },
    { "control/security", SSTREAM_SETTING_CHOICE, "curve|none" },
    { "control/trusted-keys", SSTREAM_SETTING_PATH, NULL },
    { "control/transport", SSTREAM_SETTING_TEXT, NULL },
    { "control/*", SSTREAM_SETTING_PASS, NULL },
    { "tunnels/address", SSTREAM_SETTING_TEXT, NULL },
    { "tunnels/ports", SSTREAM_SETTING_TEXT, NULL },
    { "tunnels/window", SSTREAM_SETTING_SIZE, NULL },
    { "tunnels/max-connections", SSTREAM_SETTING_COUNT, NULL },
    { "tunnels/payload", SSTREAM_SETTING_CHOICE, "sealed|hop" },
    { "tunnels/rekey", SSTREAM_SETTING_SIZE, NULL },
    { "sessions/idle-timeout", SSTREAM_SETTING_DURATION, NULL },
    { "sessions/max", SSTREAM_SETTING_COUNT, NULL },
    { "metrics/endpoint", SSTREAM_SETTING_TEXT, NULL },
    SSTREAM_ACCESS_SCHEMA,
    { NULL, 0, NULL }
};

#define BUFFER_DEFAULT      (64ULL << 20)
#define MAX_STREAMS_DEFAULT 64
#define MAX_STREAMS_MAX     65534       //  Stream numbers hold a 16-bit slot

//  How long the connecting gateway gives a TCP connection to its peer to
//  be made before it tries again (with libzmq's backoff, up to
//  SSTREAM_LINK_RECONNECT_MAX between tries): a SYN, and the kernel's
//  first retransmission of it. Without it, the kernel's own retries
//  space out (1, 2, 4, 8 ... s), and a WAN that comes back waits for the
//  next of them.
#define PEER_CONNECT_TIMEOUT 2000

//  I/O threads the local and the WAN link run on, when there are two: each
//  side's CURVE work on a core of its own
#define AFFINITY_LOCAL 1
#define AFFINITY_WAN   2

struct _sstream_gateway_t {
    zactor_t *actor;
    char *local_endpoint;       //  As bound
    char *peer_endpoint;        //  As bound, when the peer link binds
    char *control_endpoint;     //  As bound, when there is a control link
    char *local_bulk;           //  Where the bulk paths listen, when they do
    char *peer_bulk;
    char *metrics_endpoint;     //  As bound, when it serves metrics
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
    uint64_t io_threads;
    sstream_link_t *local;
    sstream_link_t *wan;        //  NULL without a peer
    bool wan_bind;
    bool wan_secure;
    char peer_name [65];
    char peer_key [41];
    sstream_router_t *router;
    sstream_link_t *control;    //  NULL without a control endpoint
    sstream_tunnels_t *tunnels;
    sstream_sessions_t *sessions;
    sstream_access_t *access;   //  Replaced whole on reload
    sstream_metrics_t *metrics; //  NULL unless it serves metrics
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
        sstream_metrics_destroy (&self->metrics);
        sstream_sessions_destroy (&self->sessions);
        sstream_router_destroy (&self->router);
        sstream_tunnels_destroy (&self->tunnels);
        sstream_link_destroy (&self->control);
        sstream_access_destroy (&self->access);
        zstr_free (&self->config_file);
        sstream_link_destroy (&self->local);
        sstream_link_destroy (&self->wan);
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

//  Sealed payloads take a bulk path beside the link (where its transport
//  has one) unless the link's bulk-path is off. The control link has none.
static bool
s_bulk_path (sstream_config_t *config, const char *section)
{
    char path [64];
    snprintf (path, sizeof (path), "%s/bulk-path", section);
    return !streq (section, "control") && streq (sstream_config_get (config, path, "on"), "on");
}

static int
s_self_start_bound (self_t *self, sstream_config_t *config, const char *section,
                    const char *whose_keys, uint64_t max_frame, uint64_t affinity,
                    sstream_link_t **link_p)
{
    char path [64];
    snprintf (path, sizeof (path), "%s/endpoint", section);
    const char *endpoint = sstream_config_get (config, path, NULL);
    if (!endpoint)
        return sstream_error_set (SSTREAM_ECONFIG, "%s: the %s section has no endpoint (%s)",
                                  sstream_config_where (config, section), section, path);
    snprintf (path, sizeof (path), "%s/security", section);
    bool insecure = streq (sstream_config_get (config, path, "curve"), "none");
    char *trusted = NULL;
    snprintf (path, sizeof (path), "%s/trusted-keys", section);
    int rc = sstream_config_path (config, path, &trusted);
    if (!rc && !insecure && !trusted)
        rc = sstream_error_set (SSTREAM_ECONFIG,
            "%s: no trusted keys for the %s link: name the folder of %s (%s), or set "
            "security = none", sstream_config_where (config, section), section, whose_keys, path);
    if (!rc && trusted && !zsys_file_exists (trusted))
        rc = sstream_error_set (SSTREAM_EKEY, "%s: trusted keys %s: no such file or folder",
                                sstream_config_where (config, path), trusted);
    snprintf (path, sizeof (path), "%s/transport", section);
    const char *transport = sstream_config_get (config, path, NULL);
    const char **options = NULL;
    if (!rc)
        rc = s_transport_options (config, section, endpoint, transport, &options);
    if (!rc) {
        sstream_link_config_t link = {
            .name = section,
            .type = ZMQ_ROUTER,
            .bind = true,
            .endpoint = endpoint,
            .transport = transport,
            .transport_options = options,
            .insecure = insecure,
            .cert = self->cert,
            .trusted = trusted,
            .handshake_timeout = SSTREAM_CONNECT_TIMEOUT_DEFAULT,
            .max_frame = max_frame,
            .affinity = self->io_threads > 1? affinity: 0,
            .bulk = s_bulk_path (config, section),
            .bulk_timeout = self->peer_timeout
        };
        rc = sstream_link_new (link_p, &link);
    }
    free (options);
    free (trusted);
    return rc;
}

//  The largest frame a data link takes: a batch must fit our window (a
//  tunnel's data is smaller), and control messages their own limit
static uint64_t
s_max_frame (self_t *self)
{
    uint64_t most = self->buffer < SSTREAM_MESSAGE_MAX + SSTREAM_WIRE_INDEX_MAX
                  ? self->buffer: SSTREAM_MESSAGE_MAX + SSTREAM_WIRE_INDEX_MAX;
    return most > SSTREAM_WIRE_HEADER_MAX? most: SSTREAM_WIRE_HEADER_MAX;
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
            .trusted = key_path,
            .handshake_timeout = SSTREAM_CONNECT_TIMEOUT_DEFAULT,
            .connect_timeout = self->wan_bind? 0: PEER_CONNECT_TIMEOUT,
            .max_frame = s_max_frame (self),
            .affinity = self->io_threads > 1? AFFINITY_WAN: 0,
            .bulk = s_bulk_path (config, "peer"),
            .bulk_timeout = self->peer_timeout
        };
        rc = sstream_link_new (&self->wan, &link);
    }
    free (options);
    free (key_path);
    return rc;
}

//  Tunnels and the sessions that hold them

static int
s_self_start_sessions (self_t *self, sstream_config_t *config)
{
    const char *address = sstream_config_get (config, "tunnels/address", "127.0.0.1");
    const char *ports = sstream_config_get (config, "tunnels/ports", "5100-5200");
    int low = 0, high = 0, used = 0;
    if (sscanf (ports, "%d-%d%n", &low, &high, &used) != 2 || ports [used]
    ||  low < 1 || high > 65535 || low > high)
        return sstream_error_set (SSTREAM_ECONFIG, "%s: ports is a range like 5100-5200, not '%s'",
                                  sstream_config_where (config, "tunnels/ports"), ports);
    if (strlen (address) >= 64)
        return sstream_error_set (SSTREAM_ECONFIG, "%s: '%s' is not an IP address",
                                  sstream_config_where (config, "tunnels/address"), address);
    uint64_t window, max_sessions;
    int64_t idle;
    int rc = sstream_config_size (config, "tunnels/window", 16ULL << 20, &window);
    if (!rc && (window < 4096 || window > SSTREAM_WIRE_WINDOW_MAX))
        rc = sstream_error_set (SSTREAM_ECONFIG, "%s: window must be 4KiB to 1TiB",
                                sstream_config_where (config, "tunnels/window"));
    uint64_t max_connections = 0;
    if (!rc)
        rc = sstream_config_count (config, "tunnels/max-connections", 128, &max_connections);
    if (!rc && max_connections == 0)
        rc = sstream_error_set (SSTREAM_ECONFIG, "%s: max-connections must be at least 1",
                                sstream_config_where (config, "tunnels/max-connections"));
    if (!rc)
        rc = sstream_config_duration (config, "sessions/idle-timeout", 3600 * 1000, &idle);
    if (!rc)
        rc = sstream_config_count (config, "sessions/max", 1000, &max_sessions);
    uint64_t rekey = 0;
    if (!rc)
        rc = sstream_config_size (config, "tunnels/rekey", 0, &rekey);
    if (!rc && rekey && rekey < 4096)
        rc = sstream_error_set (SSTREAM_ECONFIG, "%s: rekey must be at least 4KiB",
                                sstream_config_where (config, "tunnels/rekey"));
    if (rc)
        return rc;
    //  What the gateway reads from applications it seals for its peer,
    //  unless told not to; that takes both our keys
    byte peer_key [32];
    bool has_peer_key = *self->peer_key && zmq_z85_decode (peer_key, self->peer_key) != NULL;
    bool sealed = streq (sstream_config_get (config, "tunnels/payload", "sealed"), "sealed");
    if (sealed && self->wan && (!has_peer_key || !self->cert)) {
        sstream_log_warning ("tunnels are not sealed: that needs %s",
                             self->cert? "the peer's public key (peer/public-key)"
                                       : "this gateway's key pair (gateway/secret-key)");
        sealed = false;
    }
    else
    if (!sealed && self->wan)
        sstream_log_warning ("tunnels/payload = hop: tunnel bytes cross the WAN under its "
                             "link's CURVE, not sealed by this gateway");
    sstream_tunnels_config_t tunnels = {
        .gateway = self->name,
        .address = address,
        .port_low = low,
        .port_high = high,
        .window = window,
        .max_connections = max_connections,
        .sealed = sealed,
        .cert = self->cert,
        .peer_key = has_peer_key? peer_key: NULL,
        .rekey = rekey,
        .send = sstream_router_tunnel_send,
        .send_data = sstream_router_tunnel_send_data,
        .send_arg = self->router
    };
    self->tunnels = sstream_tunnels_new (&tunnels);
    sstream_sessions_config_t sessions = {
        .gateway = self->name,
        .control = self->control,
        .address = address,
        .tunnels = self->tunnels,
        .router = self->router,
        .idle_timeout = idle,
        .owner_timeout = self->peer_timeout,
        .max_sessions = max_sessions
    };
    self->sessions = self->tunnels? sstream_sessions_new (&sessions): NULL;
    return self->sessions? SSTREAM_OK: sstream_error_set (SSTREAM_ENOMEM, "out of memory");
}

//  ZeroMQ's I/O threads are the process's, made with its first socket: a
//  gateway started after that gets what there is, and says so if it
//  differs from what its config asks
static int
s_io_threads (self_t *self, sstream_config_t *config)
{
    size_t have = sstream_library_io_threads ((size_t) self->io_threads);
    if (have != self->io_threads) {
        sstream_log_warning ("%s asks for %" PRIu64 " I/O threads, but this process has %zu "
                             "already", sstream_config_where (config, "gateway/io-threads"),
                             self->io_threads, have);
        self->io_threads = have;
    }
    return SSTREAM_OK;
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
    //  Every line this thread logs from now on names this gateway
    sstream_log_set_gateway (self->name);
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
    if (!rc && (self->max_streams == 0 || self->max_streams > MAX_STREAMS_MAX))
        rc = sstream_error_set (SSTREAM_ECONFIG, "%s: max-streams must be 1 to %d",
                                sstream_config_where (config, "gateway/max-streams"),
                                MAX_STREAMS_MAX);
    if (!rc)
        rc = sstream_config_count (config, "gateway/io-threads", 2, &self->io_threads);
    if (!rc && (self->io_threads == 0 || self->io_threads > 16))
        rc = sstream_error_set (SSTREAM_ECONFIG, "%s: io-threads must be 1 to 16",
                                sstream_config_where (config, "gateway/io-threads"));
    if (!rc)
        rc = s_io_threads (self, config);
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
            && !streq (sstream_config_get (config, "peer/security", "curve"), "none"))
        || (sstream_config_has (config, "control")
            && !streq (sstream_config_get (config, "control/security", "curve"), "none"));
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
        rc = s_self_start_bound (self, config, "local", "this facility's clients' public keys",
                                 s_max_frame (self), AFFINITY_LOCAL, &self->local);
    if (!rc && sstream_config_has (config, "peer"))
        rc = s_self_start_peer (self, config);
    if (!rc && sstream_config_has (config, "control"))
        rc = s_self_start_bound (self, config, "control",
                                 "the keys that may open and release sessions",
                                 SSTREAM_WIRE_HEADER_MAX, AFFINITY_LOCAL, &self->control);
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
        .wan = self->wan,
        .wan_bind = self->wan_bind,
        .wan_secure = self->wan_secure,
        .peer_name = self->peer_name,
        .peer_key = self->peer_key,
        .wan_connect_timeout = self->wan_bind? 0: PEER_CONNECT_TIMEOUT,
        .wan_handshake_timeout = SSTREAM_CONNECT_TIMEOUT_DEFAULT
    };
    self->router = sstream_router_new (&router);
    if (!self->router)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    rc = s_self_start_sessions (self, config);
    if (!rc)
        rc = sstream_access_new (&self->access, config);
    if (rc)
        return rc;
    sstream_router_set_access (self->router, self->access);
    sstream_router_set_tunnels (self->router, self->tunnels);
    sstream_sessions_set_access (self->sessions, self->access);
    sstream_metrics_sources_t sources = {
        .router = self->router, .sessions = self->sessions,
        .local = self->local, .wan = self->wan, .control = self->control
    };
    rc = sstream_metrics_new (&self->metrics, config, self->name, &sources);
    if (rc)
        return rc;
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
        sstream_sessions_set_access (self->sessions, access);
        sstream_access_destroy (&self->access);
        self->access = access;
        sstream_log_info ("access rules reloaded%s%s", self->config_file? " from ": "",
                          self->config_file? self->config_file: "");
    }
    else {
        char detail [1024];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        sstream_log_error ("not reloaded, the rules in force stay: %s", detail);
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
        int rc = SSTREAM_OK;
        if (streq (name, "sessions"))
            value = sstream_sessions_size (self->sessions);
        else
            rc = sstream_router_stat (self->router, name, &value);
        zsock_send (self->pipe, "i8", rc, value);
        zstr_free (&name);
    }
    else
    if (streq (command, "PEER")) {
        bool up = false;
        const char *peer = sstream_router_peer (self->router, &up);
        const char *why = sstream_router_peer_why_down (self->router);
        zsock_send (self->pipe, "is", peer && !up? 1: 0, peer && !up && why? why: "");
    }
    zstr_free (&command);
    zmsg_destroy (&request);
}

static void
s_self_shutdown (self_t *self)
{
    //  Sessions and their tunnels first: their resets go out over the peer
    bool peer_up = false;
    sstream_router_peer (self->router, &peer_up);
    sstream_sessions_destroy (&self->sessions);
    sstream_router_shutdown (self->router);
    //  Give those notices a moment to leave; the parties would also notice
    //  the disconnection by themselves. Not towards a peer that is not up:
    //  there, a lingering socket would only go on dialling its address,
    //  which may be somebody else's by now
    if (self->local)
        zsock_set_linger (sstream_link_sock (self->local), 500);
    if (self->wan)
        zsock_set_linger (sstream_link_sock (self->wan), peer_up? 500: 0);
    if (self->control)
        zsock_set_linger (sstream_link_sock (self->control), 500);
    //  Lines still being counted are told now, not lost
    sstream_log_repeat_flush (true);
    sstream_log_info ("stopped");
}

//  Where a link's bulk path listens, or ""
static const char *
s_bulk_address (sstream_link_t *link)
{
    sstream_bulkpath_t *path = link? sstream_link_bulkpath (link): NULL;
    const char *address = path? sstream_bulkpath_address (path): NULL;
    return address? address: "";
}

static void
s_gateway_actor (zsock_t *pipe, void *args)
{
    sstream_signals_refuse ();
    int exiting = sstream_actor_enter ();
    self_t *self = s_self_new (pipe);
    zsock_signal (pipe, 0);
    int rc = s_self_start (self, (sstream_config_t *) args);
    if (rc) {
        //  Everything it bound goes before the caller hears: a start at
        //  the same address right after must find it free
        char *why = strdup (sstream_errmsg ());
        s_self_destroy (&self);
        zsock_send (pipe, "issssss", rc, why? why: "out of memory", "", "", "", "", "");
        free (why);
        //  Wait for $TERM from zactor_destroy, or for the process to exit
        zmq_pollitem_t items [2] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 }, { NULL, exiting, ZMQ_POLLIN, 0 } };
        while (zmq_poll (items, 2, -1) == -1 && zmq_errno () == EINTR)
            ;
        if (items [0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv (pipe);
            zstr_free (&command);
        }
        sstream_actor_leave ();
        return;
    }
    zsock_send (pipe, "issssss", SSTREAM_OK, sstream_link_endpoint (self->local),
                self->wan && self->wan_bind? sstream_link_endpoint (self->wan): "",
                self->control? sstream_link_endpoint (self->control): "",
                s_bulk_address (self->local), s_bulk_address (self->wan),
                self->metrics? sstream_metrics_endpoint (self->metrics): "");
    sstream_log_info ("local link on %s (%s)%s%s%s%s%s%s",
                      sstream_link_endpoint (self->local),
                      sstream_link_is_secure (self->local)? "curve": "no security",
                      self->wan? "; peer " : "", self->wan? self->peer_name: "",
                      self->wan? (self->wan_bind? " connects to ": " at "): "",
                      self->wan? sstream_link_endpoint (self->wan): "",
                      self->control? "; control on ": "",
                      self->control? sstream_link_endpoint (self->control): "");
    sstream_router_tick (self->router);
    sstream_metrics_collect (self->metrics, true);

    //  Links first, then the tunnels' sockets, which come and go
    enum { PIPE, EXITING, LOCAL, LOCAL_MONITOR, WAN, WAN_MONITOR, CONTROL, CONTROL_MONITOR, FIXED };
    size_t capacity = FIXED + 64;
    zmq_pollitem_t *items = (zmq_pollitem_t *) malloc (capacity * sizeof (zmq_pollitem_t));
    while (items && !self->terminated) {
        size_t wanted = FIXED + sstream_tunnels_poll_count (self->tunnels)
                      + sstream_router_poll_count (self->router);
        if (wanted > capacity) {
            zmq_pollitem_t *larger = (zmq_pollitem_t *) realloc (items, wanted * 2 * sizeof (zmq_pollitem_t));
            if (!larger)
                break;
            items = larger;
            capacity = wanted * 2;
        }
        //  Absent links are polled as nothing: a NULL socket with fd -1
        zmq_pollitem_t nothing = { NULL, -1, 0, 0 };
        items [PIPE] = (zmq_pollitem_t) { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
        items [EXITING] = (zmq_pollitem_t) { NULL, exiting, ZMQ_POLLIN, 0 };
        items [LOCAL] = (zmq_pollitem_t) { sstream_link_handle (self->local), 0, ZMQ_POLLIN, 0 };
        items [LOCAL_MONITOR] = (zmq_pollitem_t) {
            zsock_resolve (sstream_link_monitor (self->local)), 0, ZMQ_POLLIN, 0 };
        items [WAN] = self->wan? (zmq_pollitem_t) { sstream_link_handle (self->wan), 0, ZMQ_POLLIN, 0 }
                               : nothing;
        items [WAN_MONITOR] = self->wan? (zmq_pollitem_t) {
            zsock_resolve (sstream_link_monitor (self->wan)), 0, ZMQ_POLLIN, 0 }: nothing;
        items [CONTROL] = self->control? (zmq_pollitem_t) {
            sstream_link_handle (self->control), 0, ZMQ_POLLIN, 0 }: nothing;
        items [CONTROL_MONITOR] = self->control? (zmq_pollitem_t) {
            zsock_resolve (sstream_link_monitor (self->control)), 0, ZMQ_POLLIN, 0 }: nothing;
        size_t tunnel_items = sstream_tunnels_poll_items (self->tunnels, items + FIXED,
                                                          capacity - FIXED);
        size_t bulk_items = sstream_router_poll_items (self->router, items + FIXED + tunnel_items,
                                                       capacity - FIXED - tunnel_items);
        int64_t now = zclock_mono ();
        int64_t wake = sstream_router_next_wake (self->router);
        int64_t tunnel_wake = sstream_tunnels_next_wake (self->tunnels);
        if (tunnel_wake && tunnel_wake < wake)
            wake = tunnel_wake;
        if (sstream_router_readable (self->router))
            wake = now;
        if (zmq_poll (items, (int) (FIXED + tunnel_items + bulk_items),
                      wake > now? wake - now: 0) == -1) {
            if (zmq_errno () == EINTR)
                continue;       //  A signal for the application: not ours
            sstream_log_error ("poll failed: %s", zmq_strerror (zmq_errno ()));
            break;
        }
        if (items [PIPE].revents & ZMQ_POLLIN)
            s_handle_pipe (self);
        if (items [EXITING].revents & ZMQ_POLLIN) {
            sstream_log_info ("the process is exiting");
            self->terminated = true;
        }
        if (self->terminated)
            break;
        //  Tunnel sockets before the links: what comes over the links can
        //  close a tunnel socket and open another on the same number
        sstream_tunnels_handle_poll (self->tunnels, items + FIXED, tunnel_items);
        if (items [LOCAL_MONITOR].revents & ZMQ_POLLIN)
            sstream_router_handle_monitor (self->router, self->local);
        if (items [WAN_MONITOR].revents & ZMQ_POLLIN)
            sstream_router_handle_monitor (self->router, self->wan);
        if (items [CONTROL_MONITOR].revents & ZMQ_POLLIN)
            sstream_link_event (self->control, NULL, NULL);
        //  Bulk connections before the links: a payload that came makes
        //  its header's message whole, which goes before what follows it
        sstream_router_handle_poll (self->router, items + FIXED + tunnel_items, bulk_items);
        if (items [LOCAL].revents & ZMQ_POLLIN)
            sstream_router_handle_local (self->router);
        if (items [WAN].revents & ZMQ_POLLIN)
            sstream_router_handle_wan (self->router);
        if (items [CONTROL].revents & ZMQ_POLLIN)
            sstream_sessions_handle_link (self->sessions);
        if (zclock_mono () >= sstream_router_next_wake (self->router)) {
            sstream_router_tick (self->router);
            sstream_sessions_tick (self->sessions);
            sstream_tunnels_tick (self->tunnels);
            if (self->control)
                sstream_link_refresh_trust (self->control);
            sstream_metrics_collect (self->metrics, false);
        }
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
    free (items);
    s_self_shutdown (self);
    s_self_destroy (&self);
    sstream_actor_leave ();
}


//  --------------------------------------------------------------------------
//  Public API

//  What the actor said, or NULL (and freed) when it said nothing
static char *
s_said (char **text_p)
{
    if (*text_p && !**text_p)
        zstr_free (text_p);
    return *text_p;
}

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
    //  The I/O threads come first: they are made with the first socket
    uint64_t io_threads = 0;
    if (sstream_config_count (config, "gateway/io-threads", 2, &io_threads) == SSTREAM_OK
    &&  io_threads >= 1 && io_threads <= 16)
        sstream_library_io_threads ((size_t) io_threads);
    sstream_library_sockets_made ();
    self->actor = zactor_new (s_gateway_actor, config);
    assert (self->actor);
    int rc = SSTREAM_EINTERNAL;
    char *first = NULL, *second = NULL, *third = NULL, *fourth = NULL, *fifth = NULL;
    char *sixth = NULL;
    if (zsock_recv (self->actor, "issssss", &rc, &first, &second, &third, &fourth, &fifth,
                    &sixth) != 0)
        rc = sstream_error_set (SSTREAM_EINTERNAL, "the gateway's thread did not answer");
    sstream_signals_release (&saved);
    if (rc) {
        sstream_error_restore (rc, first);
        zstr_free (&first);
        zstr_free (&second);
        zstr_free (&third);
        zstr_free (&fourth);
        zstr_free (&fifth);
        zstr_free (&sixth);
        sstream_gateway_destroy (&self);
        return rc;
    }
    self->local_endpoint = first;
    self->peer_endpoint = s_said (&second);
    self->control_endpoint = s_said (&third);
    self->local_bulk = s_said (&fourth);
    self->peer_bulk = s_said (&fifth);
    self->metrics_endpoint = s_said (&sixth);
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
        zstr_free (&self->control_endpoint);
        zstr_free (&self->local_bulk);
        zstr_free (&self->peer_bulk);
        zstr_free (&self->metrics_endpoint);
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
    if (streq (link, "control"))
        return self->control_endpoint;
    if (streq (link, "local-bulk"))
        return self->local_bulk;
    if (streq (link, "peer-bulk"))
        return self->peer_bulk;
    if (streq (link, "metrics"))
        return self->metrics_endpoint;
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
sstream_gateway_peer_down (sstream_gateway_t *self, char *why, size_t size)
{
    if (why && size)
        *why = 0;
    if (!self)
        return 0;
    sigset_t saved;
    sstream_signals_hold (&saved);
    zstr_send (self->actor, "PEER");
    int down = 0;
    char *said = NULL;
    int received = zsock_recv (self->actor, "is", &down, &said);
    sstream_signals_release (&saved);
    if (received == 0 && why && size)
        snprintf (why, size, "%s", said? said: "");
    zstr_free (&said);
    return received == 0 && down? 1: 0;
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
