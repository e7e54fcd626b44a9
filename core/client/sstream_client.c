/*  =========================================================================
    sstream_client - the link from a producer or consumer to its gateway

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_client_classes.h"

static const sstream_setting_t s_client_schema [] = {
    { "client/secret-key", SSTREAM_SETTING_PATH, NULL },
    { "client/gateway-key", SSTREAM_SETTING_PATH, NULL },
    { "client/security", SSTREAM_SETTING_CHOICE, "curve|none" },
    { "client/transport", SSTREAM_SETTING_TEXT, NULL },
    { "client/connect-timeout", SSTREAM_SETTING_DURATION, NULL },
    { "client/heartbeat", SSTREAM_SETTING_DURATION, NULL },
    { "client/peer-timeout", SSTREAM_SETTING_DURATION, NULL },
    { "client/window", SSTREAM_SETTING_SIZE, NULL },
    { "client/pipe", SSTREAM_SETTING_COUNT, NULL },
    { "client/batch", SSTREAM_SETTING_SIZE, NULL },
    { "client/linger", SSTREAM_SETTING_DURATION, NULL },
    { "client/payload", SSTREAM_SETTING_CHOICE, "sealed|hop" },
    { "client/readers", SSTREAM_SETTING_PATH, NULL },
    { "client/rekey", SSTREAM_SETTING_SIZE, NULL },
    { "client/bulk-path", SSTREAM_SETTING_CHOICE, "on|off" },
    { "client/resume-timeout", SSTREAM_SETTING_DURATION, NULL },
    { "client/replay-buffer", SSTREAM_SETTING_SIZE, NULL },
    { "client/wait", SSTREAM_SETTING_DURATION, NULL },
    { "client/*", SSTREAM_SETTING_PASS, NULL },
    { NULL, 0, NULL }
};

#define WINDOW_DEFAULT (64ULL << 20)
#define PIPE_DEFAULT   8
#define BATCH_DEFAULT  (256ULL << 10)
#define BATCH_MAX      (64ULL << 20)
#define LINGER_DEFAULT 1
#define RESUME_TIMEOUT_DEFAULT 60000
//  What a producer keeps until the consumer has it: a second or two of
//  a fast stream here, more than a stream has in flight through three
//  windows of the default 64 MiB
#define REPLAY_DEFAULT (1ULL << 30)

//  "tcp://a:1, tcp://b:1" -> each endpoint
static int
s_split_endpoints (sstream_client_options_t *self)
{
    char *list = strdup (self->endpoint);
    if (!list)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    char *cursor = list, *item;
    int rc = SSTREAM_OK;
    while (!rc && (item = strsep (&cursor, ","))) {
        while (isspace ((unsigned char) *item))
            item++;
        size_t length = strlen (item);
        while (length && isspace ((unsigned char) item [length - 1]))
            item [--length] = 0;
        if (!*item) {
            rc = sstream_error_set (SSTREAM_EINVAL,
                "gateway endpoints '%s' has an empty entry", self->endpoint);
            break;
        }
        char **grown = (char **) realloc (self->endpoints,
                                          (self->endpoints_size + 1) * sizeof (char *));
        if (!grown) {
            rc = sstream_error_set (SSTREAM_ENOMEM, "out of memory");
            break;
        }
        self->endpoints = grown;
        self->endpoints [self->endpoints_size] = strdup (item);
        if (!self->endpoints [self->endpoints_size])
            rc = sstream_error_set (SSTREAM_ENOMEM, "out of memory");
        else
            self->endpoints_size++;
    }
    free (list);
    return rc;
}

//  Sealed payloads (the default) or per-hop security: a producer names its
//  readers, a consumer needs its key pair to be one

static int
s_read_payload_options (sstream_client_options_t *self, sstream_config_t *options)
{
    self->sealed = streq (sstream_config_get (options, "client/payload", "sealed"), "sealed");
    self->bulk_path = streq (sstream_config_get (options, "client/bulk-path", "on"), "on");
    int rc = sstream_config_size (options, "client/rekey", 0, &self->rekey);
    if (!rc && self->rekey && self->rekey < 4096)
        rc = sstream_error_set (SSTREAM_ECONFIG, "%s: rekey must be at least 4KiB",
                                sstream_config_where (options, "client/rekey"));
    if (!rc && !self->sealed)
        sstream_log_warning ("%s: client/payload = hop: payloads are protected hop by hop, and "
                             "each gateway on the way sees them in clear", self->stream);
    //  Without CURVE there is no key pair yet; sealing needs one to open
    if (!rc && !self->cert && self->sealed && self->role == SSTREAM_ROLE_CONSUME) {
        char *secret_path = NULL;
        rc = sstream_config_path (options, "client/secret-key", &secret_path);
        if (!rc && !secret_path)
            rc = sstream_error_set (SSTREAM_EKEY,
                "stream '%s': a consumer of sealed streams needs its key pair (client/secret-key, "
                "or --key): the producer seals the stream's data key for it; or set "
                "client/payload = hop", self->stream);
        if (!rc)
            rc = sstream_keys_load_secret (secret_path, &self->cert);
        free (secret_path);
    }
    if (!rc && self->sealed && self->role == SSTREAM_ROLE_PRODUCE) {
        char *readers = NULL;
        rc = sstream_config_path (options, "client/readers", &readers);
        if (!rc && !readers)
            rc = sstream_error_set (SSTREAM_ECONFIG,
                "stream '%s' is sealed end to end, and nobody may read it: name its readers' "
                "public keys (client/readers, a folder or file; --readers), or set "
                "client/payload = hop", self->stream);
        if (!rc)
            rc = sstream_keyring_new (&self->readers, readers, NULL);
        if (!rc && !sstream_keyring_first (self->readers))
            rc = sstream_error_set (SSTREAM_EKEY, "%s: no public keys in the readers of stream '%s'",
                                    readers, self->stream);
        free (readers);
    }
    return rc;
}

//  A value outside its range, named where it was given: bad configuration,
//  or a bad argument when it came from a command line
static int
s_out_of_range (sstream_config_t *options, const char *path, const char *rule)
{
    return sstream_error_set (sstream_config_fault (options, path), "%s: %s",
                              sstream_config_where (options, path), rule);
}

int
sstream_client_options_read (sstream_client_options_t *self, sstream_config_t *options,
                             const char *endpoint, const char *stream, int role)
{
    memset (self, 0, sizeof (*self));
    sstream_library_init ();
    if (!endpoint || !*endpoint)
        return sstream_error_set (SSTREAM_EINVAL, "no gateway endpoint given");
    int rc = stream? sstream_check_stream_name (stream): SSTREAM_OK;
    if (rc)
        return rc;
    sstream_config_t *empty = NULL;
    if (!options) {
        rc = sstream_config_new (&empty);
        if (rc)
            return rc;
        options = empty;
    }
    rc = sstream_config_check (options, s_client_schema);
    self->endpoint = strdup (endpoint);
    self->stream = strdup (stream? stream: "");
    if (!rc)
        rc = s_split_endpoints (self);
    self->role = role;
    if (!rc)
        rc = sstream_config_duration (options, "client/connect-timeout",
                                      SSTREAM_CONNECT_TIMEOUT_DEFAULT, &self->connect_timeout);
    if (!rc)
        rc = sstream_config_duration (options, "client/heartbeat",
                                      SSTREAM_HEARTBEAT_DEFAULT, &self->heartbeat);
    if (!rc)
        rc = sstream_config_duration (options, "client/peer-timeout",
                                      SSTREAM_PEER_TIMEOUT_DEFAULT, &self->peer_timeout);
    if (!rc)
        rc = sstream_config_size (options, "client/window", WINDOW_DEFAULT, &self->window);
    if (!rc)
        rc = sstream_config_count (options, "client/pipe", PIPE_DEFAULT, &self->pipe);
    if (!rc)
        rc = sstream_config_size (options, "client/batch", BATCH_DEFAULT, &self->batch);
    if (!rc)
        rc = sstream_config_duration (options, "client/linger", LINGER_DEFAULT, &self->linger);
    if (!rc)
        rc = sstream_config_duration (options, "client/resume-timeout", RESUME_TIMEOUT_DEFAULT,
                                      &self->resume_timeout);
    if (!rc)
        rc = sstream_config_size (options, "client/replay-buffer", REPLAY_DEFAULT,
                                  &self->replay_buffer);
    if (!rc)
        rc = sstream_config_duration (options, "client/wait", 0, &self->wait);
    if (!rc && self->replay_buffer < 4096)
        rc = s_out_of_range (options, "client/replay-buffer",
                             "replay-buffer must be at least 4KiB");
    if (!rc && self->heartbeat < 10)
        rc = s_out_of_range (options, "client/heartbeat", "heartbeat must be at least 10ms");
    if (!rc && self->peer_timeout < 2 * self->heartbeat)
        rc = s_out_of_range (options, "client/peer-timeout",
                             "peer-timeout must be at least twice the heartbeat");
    if (!rc && (self->window < 4096 || self->window > SSTREAM_WIRE_WINDOW_MAX))
        rc = s_out_of_range (options, "client/window", "window must be 4KiB to 1TiB");
    if (!rc && (self->pipe == 0 || self->pipe > 100000))
        rc = s_out_of_range (options, "client/pipe", "pipe must be 1 to 100000 batches");
    if (!rc && (self->batch < 4096 || self->batch > BATCH_MAX))
        rc = s_out_of_range (options, "client/batch", "batch must be 4KiB to 64MiB");
    if (!rc && (self->linger < 0 || self->linger > 60000))
        rc = s_out_of_range (options, "client/linger", "linger must be 0 to 60s");
    const char *transport = sstream_config_get (options, "client/transport", NULL);
    if (!rc && transport)
        self->transport = strdup (transport);
    self->insecure = streq (sstream_config_get (options, "client/security", "curve"), "none");

    if (!rc && !self->insecure) {
        char *secret_path = NULL, *gateway_path = NULL;
        rc = sstream_config_path (options, "client/secret-key", &secret_path);
        if (!rc)
            rc = sstream_config_path (options, "client/gateway-key", &gateway_path);
        if (!rc && !secret_path)
            rc = sstream_error_set (SSTREAM_EKEY,
                "no secret key given (client/secret-key, or --key): CURVE needs one; "
                "make one with 'sstream-pipe keygen NAME'");
        if (!rc && !gateway_path)
            rc = sstream_error_set (SSTREAM_EKEY,
                "no gateway public key given (client/gateway-key, or --gateway-key)");
        if (!rc)
            rc = sstream_keys_load_secret (secret_path, &self->cert);
        if (!rc)
            rc = sstream_keys_load_public (gateway_path, self->gateway_key);
        free (secret_path);
        free (gateway_path);
    }
    if (!rc && role != SSTREAM_ROLE_NONE)
        rc = s_read_payload_options (self, options);
    if (!rc) {
        //  The transport's own section: client/<transport name>; several
        //  endpoints are one facility's gateways, on one transport
        const sstream_transport_t *plugin;
        rc = sstream_plugins_find (self->endpoints [0], self->transport, &plugin);
        size_t index;
        for (index = 1; !rc && index < self->endpoints_size; index++) {
            const sstream_transport_t *other;
            rc = sstream_plugins_find (self->endpoints [index], self->transport, &other);
            if (!rc && other != plugin)
                rc = sstream_error_set (SSTREAM_EINVAL,
                    "gateway endpoints %s and %s use different transports (%s, %s): list "
                    "gateways of one transport", self->endpoints [0], self->endpoints [index],
                    plugin->name, other->name);
        }
        if (!rc)
            rc = sstream_config_check_transport (options, "client", plugin->name);
        if (!rc) {
            char section [64];
            snprintf (section, sizeof (section), "client/%s", plugin->name);
            self->transport_options = sstream_config_section_pairs (options, section);
            if (!self->transport_options)
                rc = sstream_error_set (SSTREAM_ENOMEM, "out of memory");
        }
    }
    if (rc)
        sstream_client_options_clear (self);
    sstream_config_destroy (&empty);
    return rc;
}

void
sstream_client_options_clear (sstream_client_options_t *self)
{
    size_t index;
    for (index = 0; index < self->endpoints_size; index++)
        free (self->endpoints [index]);
    free (self->endpoints);
    self->endpoints = NULL;
    self->endpoints_size = 0;
    zstr_free (&self->endpoint);
    zstr_free (&self->stream);
    zstr_free (&self->transport);
    zcert_destroy (&self->cert);
    sstream_keyring_destroy (&self->readers);
    free (self->transport_options);
    self->transport_options = NULL;
}


//  --------------------------------------------------------------------------

struct _sstream_client_t {
    const sstream_client_options_t *options;
    sstream_client_open_t open;     //  What the open request says of the run
    size_t current;             //  Which of the endpoints
    const char *endpoint;       //  That one
    char tried [1024];          //  Why the ones before it did not do
    sstream_link_t *link;
    sstream_client_state_t state;
    uint64_t window;            //  From accepted
    uint32_t gateway_sid;       //  From accepted
    int64_t started;
    int64_t last_heard;
    int64_t last_sent;
    bool connected;             //  A connection was made
    bool retried;               //  A connection attempt failed
    bool handshaken;            //  CURVE handshake completed
    int early_drops;            //  Disconnections before the handshake
    bool accepted;              //  The gateway accepted the stream (it may
                                //  have failed since)
    int64_t peer_timeout;       //  Ours, or longer if the gateway pings slowly
};

//  Connect to the current endpoint and ask to open the stream

static int
s_connect (sstream_client_t *self)
{
    const sstream_client_options_t *options = self->options;
    self->endpoint = options->endpoints [self->current];
    char name [64];
    snprintf (name, sizeof (name), "%s", options->role == SSTREAM_ROLE_PRODUCE? "producer": "consumer");
    sstream_link_config_t config = {
        .name = name,
        .type = ZMQ_DEALER,
        .bind = false,
        .endpoint = self->endpoint,
        .transport = options->transport,
        .transport_options = options->transport_options,
        .insecure = options->insecure,
        .cert = options->cert,
        .server_key = options->insecure? NULL: options->gateway_key,
        .handshake_timeout = options->connect_timeout,
        //  Batches come within our window; a producer gets control alone
        .max_frame = options->role == SSTREAM_ROLE_CONSUME && options->window > SSTREAM_WIRE_HEADER_MAX
                   ? options->window: SSTREAM_WIRE_HEADER_MAX,
        //  Sealed payloads: a producer of a sealed stream sends them, a
        //  consumer takes them from any stream
        .bulk = options->bulk_path
             && (options->role == SSTREAM_ROLE_CONSUME || options->sealed),
        .bulk_timeout = options->peer_timeout
    };
    sstream_link_t *link = NULL;
    int rc = sstream_link_new (&link, &config);
    if (rc)
        return rc;
    sstream_link_destroy (&self->link);
    self->link = link;
    self->state = SSTREAM_CLIENT_OPENING;
    self->started = self->last_heard = zclock_mono ();
    self->peer_timeout = options->peer_timeout;
    self->connected = self->retried = self->handshaken = false;
    self->early_drops = 0;

    //  With gateways still to try, ask for one whose peer is there
    sstream_wire_t open = {
        .type = SSTREAM_WIRE_OPEN,
        .sid = SSTREAM_CLIENT_SID,
        .role = options->role,
        .window = options->role == SSTREAM_ROLE_CONSUME? options->window: 0,
        .heartbeat = (uint64_t) options->heartbeat,
        .flags = (self->current + 1 < options->endpoints_size? SSTREAM_WIRE_NEED_PEER: 0)
               | (sstream_link_bulkpath (link)? SSTREAM_WIRE_BULK_OK: 0)
               | (self->open.resumes? SSTREAM_WIRE_RESUME_OK: 0),
        .epoch = self->open.epoch,
        .resume = self->open.resumes? self->open.seq: 0
    };
    snprintf (open.stream, sizeof (open.stream), "%s", options->stream);
    zframe_t *header = sstream_wire_encode (&open);
    return header? sstream_client_send (self, &header, NULL)
                 : sstream_error_set (SSTREAM_ENOMEM, "out of memory");
}

//  Before the stream is accepted, a gateway that will not do gives way to
//  the next one listed: SSTREAM_OK when the client moved on, an error if it
//  could not (then the client has failed), and NO_OTHER_GATEWAY if there
//  was no other to try.

#define NO_OTHER_GATEWAY (-1)

static int
s_next_endpoint (sstream_client_t *self, const char *why)
{
    if (self->state != SSTREAM_CLIENT_OPENING
    ||  self->current + 1 >= self->options->endpoints_size)
        return NO_OTHER_GATEWAY;
    size_t used = strlen (self->tried);
    snprintf (self->tried + used, sizeof (self->tried) - used, "%s%s: %s",
              used? "; ": "", self->endpoint, why);
    sstream_log_info ("gateway at %s: %s; trying %s", self->endpoint, why,
                      self->options->endpoints [self->current + 1]);
    self->current++;
    int rc = s_connect (self);
    if (rc)
        self->state = SSTREAM_CLIENT_FAILED;
    return rc;
}

//  An error that ends the client, naming the gateways tried before

static int
s_fail (sstream_client_t *self, int code)
{
    self->state = SSTREAM_CLIENT_FAILED;
    if (*self->tried) {
        char detail [1024];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        sstream_error_set (code, "%s (tried before: %s)", detail, self->tried);
    }
    return code;
}

int
sstream_client_new (sstream_client_t **self_p, const sstream_client_options_t *options,
                    const sstream_client_open_t *open)
{
    assert (self_p && options && options->endpoints_size);
    *self_p = NULL;
    sstream_client_t *self = (sstream_client_t *) zmalloc (sizeof (sstream_client_t));
    if (!self)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    self->options = options;
    if (open)
        self->open = *open;
    int rc = s_connect (self);
    if (rc)
        sstream_client_destroy (&self);
    *self_p = self;
    return rc;
}

void
sstream_client_destroy (sstream_client_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sstream_client_t *self = *self_p;
        sstream_link_destroy (&self->link);
        free (self);
        *self_p = NULL;
    }
}

sstream_link_t *
sstream_client_link (sstream_client_t *self)
{
    return self->link;
}

const char *
sstream_client_endpoint (sstream_client_t *self)
{
    return self->endpoint;
}

sstream_client_state_t
sstream_client_state (sstream_client_t *self)
{
    return self->state;
}

bool
sstream_client_accepted (sstream_client_t *self)
{
    return self->accepted;
}

uint64_t
sstream_client_window (sstream_client_t *self)
{
    return self->window;
}

uint32_t
sstream_client_gateway_sid (sstream_client_t *self)
{
    return self->gateway_sid;
}

int
sstream_client_on_monitor (sstream_client_t *self)
{
    int value = 0;
    sstream_link_event_t event = sstream_link_event (self->link, &value, NULL);
    const char *endpoint = self->endpoint;
    switch (event) {
        case SSTREAM_LINK_CONNECTED:
            self->connected = true;
            break;
        case SSTREAM_LINK_RETRIED:
            self->retried = true;
            if (!self->connected) {
                int rc = s_next_endpoint (self, "refused or unreachable");
                if (rc != SSTREAM_OK && rc != NO_OTHER_GATEWAY)
                    return s_fail (self, rc);
            }
            break;
        case SSTREAM_LINK_HANDSHAKE_OK:
            self->handshaken = true;
            break;
        case SSTREAM_LINK_HANDSHAKE_AUTH:
            return s_fail (self, sstream_error_set (SSTREAM_EAUTH,
                "gateway at %s refused our key %s (authentication failed, ZAP status %d): "
                "its trusted keys must include our public key",
                endpoint, self->options->cert? zcert_public_txt (self->options->cert): "(none)",
                value));
        case SSTREAM_LINK_HANDSHAKE_FAILED:
            return s_fail (self, sstream_error_set (SSTREAM_EAUTH,
                "security handshake with gateway at %s failed: check that the gateway key is "
                "that gateway's public key and that both sides use the same security", endpoint));
        case SSTREAM_LINK_DISCONNECTED:
            if (self->state == SSTREAM_CLIENT_OPEN)
                return s_fail (self, sstream_error_set (SSTREAM_ELOST,
                    "lost the connection to gateway at %s", endpoint));
            if (!self->handshaken && ++self->early_drops >= 2)
                return s_fail (self, sstream_error_set (SSTREAM_EAUTH,
                    "gateway at %s closed the connection during the security handshake: check "
                    "that the gateway key is that gateway's public key and that both sides use "
                    "the same security", endpoint));
            if (self->handshaken)
                return s_fail (self, sstream_error_set (SSTREAM_ELOST,
                    "lost the connection to gateway at %s before it answered", endpoint));
            break;
        default:
            break;
    }
    return SSTREAM_OK;
}

//  The path failed: the stream with it
static int
s_check_bulk (sstream_client_t *self, sstream_bulkpath_t *path)
{
    byte routing_id [SSTREAM_ROUTING_ID_MAX];
    size_t size;
    char why [300];
    if (sstream_bulkpath_lost (path, routing_id, &size, why, sizeof (why)))
        return s_fail (self, sstream_error_set (SSTREAM_ELOST, "gateway at %s: %s",
                                                self->endpoint, why));
    return SSTREAM_OK;
}

int
sstream_client_on_tick (sstream_client_t *self)
{
    int64_t now = zclock_mono ();
    sstream_bulkpath_t *path = self->link? sstream_link_bulkpath (self->link): NULL;
    if (path) {
        sstream_bulkpath_tick (path);
        int rc = s_check_bulk (self, path);
        if (rc)
            return rc;
    }
    const sstream_client_options_t *options = self->options;
    if (self->state == SSTREAM_CLIENT_OPENING
    &&  now - self->started >= options->connect_timeout) {
        double seconds = options->connect_timeout / 1000.0;
        char why [128];
        snprintf (why, sizeof (why), "%s within %g s",
                  !self->connected? "no connection": "no answer", seconds);
        int rc = s_next_endpoint (self, why);
        if (rc != NO_OTHER_GATEWAY)
            return rc? s_fail (self, rc): SSTREAM_OK;
        if (!self->connected)
            return s_fail (self, sstream_error_set (SSTREAM_ETIMEDOUT,
                "gateway at %s is unreachable: no connection within %g s%s",
                self->endpoint, seconds,
                self->retried? " (refused or unreachable; kept retrying)": ""));
        if (!self->handshaken && !options->insecure)
            return s_fail (self, sstream_error_set (SSTREAM_ETIMEDOUT,
                "gateway at %s accepted the connection but the security handshake did not "
                "finish within %g s", self->endpoint, seconds));
        return s_fail (self, sstream_error_set (SSTREAM_ETIMEDOUT,
            "gateway at %s did not answer the request to open stream '%s' within %g s",
            self->endpoint, options->stream, seconds));
    }
    if (self->state == SSTREAM_CLIENT_OPEN
    &&  now - self->last_heard >= self->peer_timeout)
        return s_fail (self, sstream_error_set (SSTREAM_ELOST,
            "gateway at %s has been silent for %g s", self->endpoint,
            self->peer_timeout / 1000.0));
    if (self->state == SSTREAM_CLIENT_OPEN
    &&  now - self->last_sent >= options->heartbeat) {
        zframe_t *ping = sstream_wire_ping ();
        int rc = ping? sstream_client_send (self, &ping, NULL): SSTREAM_ENOMEM;
        if (rc)
            return s_fail (self, rc);
    }
    return SSTREAM_OK;
}

size_t
sstream_client_poll_items (sstream_client_t *self, zmq_pollitem_t *items)
{
    sstream_bulkpath_t *path = self->link? sstream_link_bulkpath (self->link): NULL;
    return path? sstream_bulkpath_poll_items (path, items, SSTREAM_CLIENT_BULK_ITEMS): 0;
}

int
sstream_client_handle_poll (sstream_client_t *self, const zmq_pollitem_t *items, size_t count)
{
    sstream_bulkpath_t *path = self->link? sstream_link_bulkpath (self->link): NULL;
    if (!path)
        return SSTREAM_OK;
    sstream_bulkpath_handle_poll (path, items, count);
    return s_check_bulk (self, path);
}

bool
sstream_client_readable (sstream_client_t *self)
{
    if (!self)
        return false;
    sstream_bulkpath_t *path = self->link? sstream_link_bulkpath (self->link): NULL;
    return path && sstream_bulkpath_readable (path);
}

int64_t
sstream_client_next_tick (sstream_client_t *self)
{
    int64_t now = zclock_mono ();
    sstream_bulkpath_t *path = self->link? sstream_link_bulkpath (self->link): NULL;
    if (path && sstream_bulkpath_readable (path))
        return 0;
    int64_t next;
    if (self->state == SSTREAM_CLIENT_OPENING)
        next = self->started + self->options->connect_timeout;
    else {
        next = self->last_sent + self->options->heartbeat;
        int64_t silence = self->last_heard + self->peer_timeout;
        if (silence < next)
            next = silence;
    }
    if (path && sstream_bulkpath_next_wake (path) < next)
        next = sstream_bulkpath_next_wake (path);
    return next > now? next - now: 0;
}

int
sstream_client_send (sstream_client_t *self, zframe_t **header, zframe_t **payload)
{
    int rc = sstream_link_send (self->link, NULL, 0, header, payload);
    if (rc == SSTREAM_OK)
        self->last_sent = zclock_mono ();
    return rc;
}

int
sstream_client_send_batch (sstream_client_t *self, zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    sstream_wire_batch_set_sid ((byte *) zmq_msg_data (frame0), self->gateway_sid);
    int rc = sstream_link_send_data (self->link, NULL, 0, frame0, frame1);
    if (rc == SSTREAM_OK)
        self->last_sent = zclock_mono ();
    return rc;
}

void
sstream_client_msg_close (sstream_client_msg_t *message)
{
    zmq_msg_close (&message->frame0);
    zmq_msg_close (&message->frame1);
}

//  Read one whole message, as frames: a data message has two, every
//  other one. More frames than that are drained and refused.

static int
s_read_frames (sstream_client_t *self, sstream_client_msg_t *message, bool *got, size_t *frames)
{
    sstream_link_msg_t read;
    *got = sstream_link_recv (self->link, &read);
    zmq_msg_init (&message->frame0);
    zmq_msg_init (&message->frame1);
    if (!*got)
        return SSTREAM_OK;
    zmq_msg_move (&message->frame0, &read.frame0);
    zmq_msg_move (&message->frame1, &read.frame1);
    sstream_link_msg_close (&read);
    *frames = read.frames;
    return SSTREAM_OK;
}

//  The gateway offered its bulk path: sealed payloads take it both ways
//  from now on (the gateway's wait for our connection), so a path that
//  cannot be had fails the stream, with the reason; client/bulk-path = off
//  is the way round a firewall that stands between.
static int
s_connect_bulk (sstream_client_t *self, const sstream_wire_t *accepted)
{
    sstream_bulkpath_t *path = sstream_link_bulkpath (self->link);
    if (!path || !*accepted->bulk)
        return SSTREAM_OK;
    int rc = sstream_bulkpath_connect (path, accepted->bulk, accepted->token);
    if (rc)
        return s_fail (self, sstream_error_set (rc, "stream '%s': %s (set client/bulk-path = off "
                       "to send sealed payloads over the link instead)", self->options->stream,
                       sstream_errmsg ()));
    return SSTREAM_OK;
}

//  Decode one message; handle what is the client's own. Returns an error,
//  or OK with *mine true when it was the client's (and is closed).

static int
s_decode (sstream_client_t *self, sstream_client_msg_t *message, size_t frames, bool *mine)
{
    *mine = false;
    const byte *data = (const byte *) zmq_msg_data (&message->frame0);
    size_t size = zmq_msg_size (&message->frame0);
    message->binary = sstream_wire_is_batch (data, size);
    int rc;
    if (message->binary) {
        rc = sstream_wire_batch_read (&message->batch, data, size,
                                      frames == 2? (int64_t) zmq_msg_size (&message->frame1): -1);
        if (!rc && frames > 2)
            rc = sstream_error_set (SSTREAM_EPROTO, "a data message of %zu frames", frames);
        if (!rc && message->batch.sid != SSTREAM_CLIENT_SID)
            rc = sstream_error_set (SSTREAM_EPROTO, "a message for stream number %" PRIu32
                                    ", not ours (%d)", message->batch.sid, SSTREAM_CLIENT_SID);
        if (!rc && self->state != SSTREAM_CLIENT_OPEN)
            rc = sstream_error_set (SSTREAM_EPROTO, "%s before the stream was accepted",
                                    sstream_wire_type_name (message->batch.type));
    }
    else {
        rc = sstream_wire_decode (&message->control, data, size);
        if (!rc && frames != (sstream_wire_has_payload (message->control.type)? 2u: 1u))
            rc = sstream_error_set (SSTREAM_EPROTO, "a %s message of %zu frames",
                                    sstream_wire_type_name (message->control.type), frames);
        if (!rc && *message->control.stream
        &&  !streq (message->control.stream, self->options->stream))
            rc = sstream_error_set (SSTREAM_EPROTO, "a message for stream '%s', not ours",
                                    message->control.stream);
    }
    if (rc) {
        char detail [1024];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        return s_fail (self, sstream_error_set (rc, "gateway at %s sent a bad message: %s",
                                                self->endpoint, detail));
    }
    if (message->binary)
        return SSTREAM_OK;
    sstream_wire_t *header = &message->control;
    switch (header->type) {
        case SSTREAM_WIRE_PING:
            *mine = true;
            return SSTREAM_OK;
        case SSTREAM_WIRE_ERROR: {
            int code = header->code > 0 && header->code < SSTREAM_EINTERNAL
                     ? (int) header->code: SSTREAM_EPROTO;
            *mine = true;
            //  Its peer is not there: another gateway may do
            if (code == SSTREAM_ELOST && self->state == SSTREAM_CLIENT_OPENING) {
                char why [SSTREAM_WIRE_TEXT_MAX + 1];
                snprintf (why, sizeof (why), "%s", header->text);
                int next = s_next_endpoint (self, why);
                if (next != NO_OTHER_GATEWAY)
                    return next? s_fail (self, next): SSTREAM_OK;
                return s_fail (self, sstream_error_set (code, "%s", why));
            }
            return s_fail (self, sstream_error_set (code, "%s", header->text));
        }
        case SSTREAM_WIRE_ACCEPTED:
            *mine = true;
            if (self->state != SSTREAM_CLIENT_OPENING)
                return s_fail (self, sstream_error_set (SSTREAM_EPROTO,
                    "gateway at %s accepted the stream twice", self->endpoint));
            self->state = SSTREAM_CLIENT_OPEN;
            self->accepted = true;
            self->window = header->window;
            self->gateway_sid = header->sid;
            self->handshaken = true;
            //  A gateway that pings less often than we expect is not lost
            if ((int64_t) header->heartbeat * 3 > self->peer_timeout)
                self->peer_timeout = (int64_t) header->heartbeat * 3;
            if (self->options->role == SSTREAM_ROLE_PRODUCE && self->window == 0)
                return s_fail (self, sstream_error_set (SSTREAM_EPROTO,
                    "gateway at %s granted a window of 0 bytes", self->endpoint));
            return s_connect_bulk (self, header);
        default:
            if (self->state != SSTREAM_CLIENT_OPEN)
                return s_fail (self, sstream_error_set (SSTREAM_EPROTO,
                    "gateway at %s sent %s before accepting the stream",
                    self->endpoint, sstream_wire_type_name (header->type)));
            return SSTREAM_OK;
    }
}

int
sstream_client_recv (sstream_client_t *self, sstream_client_msg_t *message, bool *got)
{
    //  The gateway may have moved on (another endpoint): read its link
    while (true) {
        size_t frames = 0;
        int rc = s_read_frames (self, message, got, &frames);
        if (rc || !*got)
            return rc;
        self->last_heard = zclock_mono ();
        bool mine;
        rc = s_decode (self, message, frames, &mine);
        if (rc || mine) {
            sstream_client_msg_close (message);
            *got = false;
            if (rc || self->state == SSTREAM_CLIENT_FAILED)
                return rc;
            continue;
        }
        return SSTREAM_OK;
    }
}


//  --------------------------------------------------------------------------
//  The caller's side of an actor

int
sstream_client_actor_start (zactor_t **actor_p, zactor_fn *actor, void *args,
                            sstream_failure_t *failure, const char *who)
{
    sigset_t saved;
    sstream_signals_hold (&saved);
    sstream_library_sockets_made ();
    *actor_p = zactor_new (actor, args);
    int result = SSTREAM_EINTERNAL;
    if (!*actor_p || zsock_recv (*actor_p, "i", &result) != 0)
        result = sstream_error_set (SSTREAM_EINTERNAL, "the %s's thread did not answer", who);
    sstream_signals_release (&saved);
    if (result != SSTREAM_OK && sstream_failure_code (failure))
        sstream_failure_report (failure);
    return result;
}

int
sstream_client_actor_ask (zactor_t *actor, const char *command, const char *argument,
                          int timeout_ms, sstream_failure_t *failure, const char *waiting_for)
{
    int64_t deadline = timeout_ms < 0? INT64_MAX: zclock_mono () + timeout_ms;
    sigset_t saved;
    sstream_signals_hold (&saved);
    zstr_sendx (actor, command, argument, NULL);
    int rc = SSTREAM_OK;
    while (true) {
        int64_t now = zclock_mono ();
        if (timeout_ms >= 0 && now >= deadline) {
            rc = sstream_error_set (SSTREAM_ETIMEDOUT, "%s after %d ms", waiting_for, timeout_ms);
            break;
        }
        long slice = deadline - now < 200? (long) (deadline - now): 200;
        int waited = sstream_signals_wait (zsock_resolve (actor), ZMQ_POLLIN, slice, &saved);
        if (waited < 0) {
            rc = sstream_error_set (SSTREAM_EINTR, "interrupted");
            break;
        }
        if (waited == 1) {
            int result = SSTREAM_EINTERNAL;
            zsock_recv (actor, "i", &result);
            rc = result == SSTREAM_OK? SSTREAM_OK
               : sstream_failure_code (failure)? sstream_failure_report (failure)
               : sstream_error_set (result, "%s", sstream_strerror (result));
            break;
        }
    }
    sstream_signals_release (&saved);
    return rc;
}

void
sstream_client_actor_stop (zactor_t **actor_p)
{
    sigset_t saved;
    sstream_signals_hold (&saved);
    zactor_destroy (actor_p);
    sstream_signals_release (&saved);
}
