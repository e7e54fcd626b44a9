/*  =========================================================================
    sstream_metrics - a gateway's numbers in Prometheus' text format

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Names follow Prometheus' conventions: sstream_ and what is measured,
    its unit, _total for counters; the process's own are the standard
    process_open_fds and process_resident_memory_bytes. README.md
    ("Watching a gateway") lists them.
*/

#include "sstream_gateway_classes.h"

#include <ctype.h>
#include <dirent.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

//  A snapshot is collected at most this often (msecs)
#define COLLECT_EVERY 200
//  Scrapers served at once, and how long one may take (seconds)
#define CONNECTIONS_MAX 16
#define CONNECTION_TIMEOUT 10

#define LINKS 3

//  One link, as collected
typedef struct {
    const char *name;           //  "local", "peer", "control"; NULL: not there
    bool up;
    bool has_reconnects;        //  Only a peer link comes back
    uint64_t reconnects;
    sstream_link_stats_t stats;
} s_link_t;

//  What the actor saw, copied: the HTTP thread renders it
typedef struct {
    sstream_stream_row_t *streams;
    size_t stream_count;
    sstream_session_row_t *sessions;
    size_t session_count;
    s_link_t links [LINKS];
    uint64_t completed;
    uint64_t aborted;
    uint64_t resumes;
    uint64_t buffered;
    uint64_t tunnel_chunks_refused;
} s_snapshot_t;

struct _sstream_metrics_t {
    char gateway [65];
    char peer [65];             //  "" without a peer
    char endpoint [96];         //  As bound
    sstream_metrics_sources_t sources;
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;       //  Guards published: tried, never waited
                                //  for, by the actor
    s_snapshot_t *published;
    int64_t collected;          //  When the actor last collected
};

static void
s_snapshot_destroy (s_snapshot_t **self_p)
{
    if (*self_p) {
        free ((*self_p)->streams);
        free ((*self_p)->sessions);
        free (*self_p);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  The endpoint: http://HOST:PORT, bound here so that what goes wrong can
//  be said; libmicrohttpd serves on the socket

//  Split endpoint into host and port ("0" for '*'); false if it is not
//  http://HOST:PORT (with, at most, "/" or "/metrics" after it).
static bool
s_parse (const char *endpoint, char *host, size_t host_size, char *port, size_t port_size)
{
    if (strncmp (endpoint, "http://", 7))
        return false;
    const char *at = endpoint + 7, *end;
    if (*at == '[') {
        end = strchr (at, ']');
        if (!end || end [1] != ':')
            return false;
        at++;
    }
    else {
        end = strrchr (at, ':');
        if (!end)
            return false;
    }
    size_t length = (size_t) (end - at);
    if (length == 0 || length >= host_size)
        return false;
    memcpy (host, at, length);
    host [length] = 0;
    const char *digits = end + (*end == ']'? 2: 1);
    size_t count = strspn (digits, "0123456789");
    const char *rest = digits + count;
    if (*digits == '*' && count == 0) {
        snprintf (port, port_size, "0");
        rest = digits + 1;
    }
    else {
        if (count == 0 || count > 5 || strtoul (digits, NULL, 10) > 65535)
            return false;
        snprintf (port, port_size, "%.*s", (int) count, digits);
    }
    return !*rest || streq (rest, "/") || streq (rest, "/metrics");
}

//  A listening socket at host:port, or -1 with the error set
static int
s_listen (const char *where, const char *endpoint, const char *host, const char *port,
          char *bound, size_t bound_size)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (host, port, &hints, &found);
    if (rc || !found) {
        char said [128];
        snprintf (said, sizeof (said), "%s", rc? gai_strerror (rc): "no such address");
        said [0] = (char) tolower ((unsigned char) said [0]);
        sstream_error_set (SSTREAM_ECONFIG, "%s: cannot serve metrics at %s: %s", where,
                           endpoint, said);
        return -1;
    }
    int fd = socket (found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int yes = 1;
    //  Another gateway's listener on the port still refuses us; a socket of
    //  ours that just closed does not
    if (fd >= 0)
        setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof (yes));
    if (fd < 0 || bind (fd, found->ai_addr, found->ai_addrlen) || listen (fd, 64)) {
        int error = errno;
        char said [128];
        snprintf (said, sizeof (said), "%s", strerror (error));
        said [0] = (char) tolower ((unsigned char) said [0]);
        sstream_error_set (SSTREAM_ECONFIG, "%s: cannot serve metrics at %s: %s%s", where,
                           endpoint, said, error == EADDRINUSE? " (another program listens there)"
                           : error == EADDRNOTAVAIL? " (not an address of this host)": "");
        if (fd >= 0)
            close (fd);
        freeaddrinfo (found);
        return -1;
    }
    freeaddrinfo (found);
    struct sockaddr_storage address;
    socklen_t size = sizeof (address);
    char numeric [INET6_ADDRSTRLEN], service [8];
    if (getsockname (fd, (struct sockaddr *) &address, &size)
    ||  getnameinfo ((struct sockaddr *) &address, size, numeric, sizeof (numeric), service,
                     sizeof (service), NI_NUMERICHOST | NI_NUMERICSERV)) {
        sstream_error_set (SSTREAM_ECONFIG, "%s: cannot serve metrics at %s: cannot tell "
                           "where it listens", where, endpoint);
        close (fd);
        return -1;
    }
    bool six = address.ss_family == AF_INET6;
    snprintf (bound, bound_size, "http://%s%s%s:%s", six? "[": "", numeric, six? "]": "", service);
    return fd;
}


//  --------------------------------------------------------------------------
//  Rendering, in the HTTP thread

//  A label value, escaped as the text format asks
static void
s_value (FILE *out, const char *text)
{
    fputc ('"', out);
    for (; *text; text++)
        if (*text == '\\' || *text == '"')
            fprintf (out, "\\%c", *text);
        else
        if (*text == '\n')
            fputs ("\\n", out);
        else
            fputc (*text, out);
    fputc ('"', out);
}

static void
s_family (FILE *out, const char *name, const char *type, const char *help)
{
    fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

//  name{stream="...",direction="..."} value, for the common shapes
static void
s_sample (FILE *out, const char *name, const char *label, const char *value,
          const char *label2, const char *value2, uint64_t number)
{
    fprintf (out, "%s{%s=", name, label);
    s_value (out, value);
    if (label2) {
        fprintf (out, ",%s=", label2);
        s_value (out, value2);
    }
    fprintf (out, "} %" PRIu64 "\n", number);
}

static void
s_render_gateway (sstream_metrics_t *self, FILE *out, const s_snapshot_t *snapshot)
{
    s_family (out, "sstream_gateway_info", "gauge", "This gateway: its name, its peer gateway's "
              "and the library's version.");
    fprintf (out, "sstream_gateway_info{gateway=");
    s_value (out, self->gateway);
    fprintf (out, ",peer=");
    s_value (out, self->peer);
    fprintf (out, ",version=\"%s\"} 1\n", sstream_version ());
    s_family (out, "sstream_streams", "gauge", "Streams open now.");
    fprintf (out, "sstream_streams %zu\n", snapshot->stream_count);
    s_family (out, "sstream_streams_completed_total", "counter",
              "Streams whose end-of-stream acknowledgement passed through.");
    fprintf (out, "sstream_streams_completed_total %" PRIu64 "\n", snapshot->completed);
    s_family (out, "sstream_streams_aborted_total", "counter", "Streams aborted here.");
    fprintf (out, "sstream_streams_aborted_total %" PRIu64 "\n", snapshot->aborted);
    s_family (out, "sstream_streams_resumed_total", "counter", "Opens that resumed a stream.");
    fprintf (out, "sstream_streams_resumed_total %" PRIu64 "\n", snapshot->resumes);
    s_family (out, "sstream_buffered_bytes", "gauge", "Payload bytes held now, all streams.");
    fprintf (out, "sstream_buffered_bytes %" PRIu64 "\n", snapshot->buffered);
}

//  A counter of every stream, in and out: the row's fields at those offsets
static void
s_in_out (FILE *out, const char *name, const char *help, const s_snapshot_t *snapshot,
          size_t in, size_t out_offset)
{
    s_family (out, name, "counter", help);
    size_t index;
    for (index = 0; index < snapshot->stream_count; index++) {
        const byte *row = (const byte *) &snapshot->streams [index];
        uint64_t value;
        memcpy (&value, row + in, sizeof (value));
        s_sample (out, name, "stream", snapshot->streams [index].name, "direction", "in", value);
        memcpy (&value, row + out_offset, sizeof (value));
        s_sample (out, name, "stream", snapshot->streams [index].name, "direction", "out", value);
    }
}

static void
s_render_streams (FILE *out, const s_snapshot_t *snapshot)
{
    const sstream_stream_row_t *rows = snapshot->streams;
    size_t count = snapshot->stream_count, index;
    int state;
    s_family (out, "sstream_stream_info", "gauge", "A stream open here: the key names of "
              "its producer and consumer (the peer gateway as \"via NAME\").");
    for (index = 0; index < count; index++) {
        fprintf (out, "sstream_stream_info{stream=");
        s_value (out, rows [index].name);
        fprintf (out, ",producer=");
        s_value (out, rows [index].producer);
        fprintf (out, ",consumer=");
        s_value (out, rows [index].consumer);
        fprintf (out, "} 1\n");
    }
    s_family (out, "sstream_stream_state", "gauge", "1 for the state the stream is in.");
    for (index = 0; index < count; index++)
        for (state = 0; state < SSTREAM_STREAM_STATES; state++)
            s_sample (out, "sstream_stream_state", "stream", rows [index].name, "state",
                      sstream_stream_state_name (state), rows [index].state == state);
    s_in_out (out, "sstream_stream_records_total",
              "Records received from the producer's side (in) and forwarded (out).", snapshot,
              offsetof (sstream_stream_row_t, records_in), offsetof (sstream_stream_row_t, records_out));
    s_in_out (out, "sstream_stream_bytes_total",
              "Payload bytes received from the producer's side (in) and forwarded (out).", snapshot,
              offsetof (sstream_stream_row_t, bytes_in), offsetof (sstream_stream_row_t, bytes_out));
    s_family (out, "sstream_stream_buffered_bytes", "gauge", "Payload bytes held now.");
    for (index = 0; index < count; index++)
        s_sample (out, "sstream_stream_buffered_bytes", "stream", rows [index].name, NULL, NULL,
                  rows [index].buffered);
    s_family (out, "sstream_stream_stalled_seconds_total", "counter",
              "Time the stream had a batch to forward and no credit for it from the next hop.");
    for (index = 0; index < count; index++) {
        fprintf (out, "sstream_stream_stalled_seconds_total{stream=");
        s_value (out, rows [index].name);
        fprintf (out, "} %.3f\n", rows [index].stalled_ms / 1000.0);
    }
}

static void
s_render_links (FILE *out, const s_snapshot_t *snapshot)
{
    static const struct {
        const char *name;
        const char *type;
        const char *help;
        size_t offset;          //  In sstream_link_stats_t
    } s_counters [] = {
        { "sstream_link_connections_total", "counter", "Connections accepted or made.",
          offsetof (sstream_link_stats_t, connections) },
        { "sstream_link_handshake_failures_total", "counter",
          "Security handshakes that failed (keys refused among them).",
          offsetof (sstream_link_stats_t, handshake_failures) },
        { "sstream_link_keys_refused_total", "counter", "Keys refused in the handshake (on "
          "a connecting link, ours by the other side).",
          offsetof (sstream_link_stats_t, keys_refused) },
        { "sstream_link_malformed_messages_total", "counter",
          "Malformed messages dropped.", offsetof (sstream_link_stats_t, malformed) }
    };
    const s_link_t *links = snapshot->links;
    size_t index, counter;
    s_family (out, "sstream_link_up", "gauge",
              "1 while the link is up: a bound link listens; the peer link has said hello.");
    for (index = 0; index < LINKS; index++)
        if (links [index].name)
            s_sample (out, "sstream_link_up", "link", links [index].name, NULL, NULL,
                      links [index].up);
    s_family (out, "sstream_link_reconnects_total", "counter",
              "Times the peer link came up again after it was lost.");
    for (index = 0; index < LINKS; index++)
        if (links [index].name && links [index].has_reconnects)
            s_sample (out, "sstream_link_reconnects_total", "link", links [index].name, NULL, NULL,
                      links [index].reconnects);
    for (counter = 0; counter < sizeof (s_counters) / sizeof (s_counters [0]); counter++) {
        s_family (out, s_counters [counter].name, s_counters [counter].type,
                  s_counters [counter].help);
        for (index = 0; index < LINKS; index++)
            if (links [index].name) {
                uint64_t value;
                memcpy (&value, (const byte *) &links [index].stats + s_counters [counter].offset,
                        sizeof (value));
                s_sample (out, s_counters [counter].name, "link", links [index].name, NULL, NULL,
                          value);
            }
    }
}

static void
s_session_labels (FILE *out, const char *name, const sstream_session_row_t *row)
{
    fprintf (out, "%s{session=", name);
    s_value (out, row->id);
    fprintf (out, ",tunnel=");
    s_value (out, row->name);
    fprintf (out, ",role=\"%s\"", row->inbound? "inbound": "outbound");
}

static void
s_render_sessions (FILE *out, const s_snapshot_t *snapshot)
{
    const sstream_session_row_t *rows = snapshot->sessions;
    size_t index;
    s_family (out, "sstream_sessions", "gauge", "Sessions (tunnel ends) open now.");
    fprintf (out, "sstream_sessions %zu\n", snapshot->session_count);
    s_family (out, "sstream_session_connections", "gauge",
              "TCP connections of the session's tunnel open now.");
    for (index = 0; index < snapshot->session_count; index++) {
        s_session_labels (out, "sstream_session_connections", &rows [index]);
        fprintf (out, "} %" PRIu64 "\n", rows [index].tunnel.connections);
    }
    s_family (out, "sstream_session_connections_total", "counter",
              "TCP connections the session's tunnel has had.");
    for (index = 0; index < snapshot->session_count; index++) {
        s_session_labels (out, "sstream_session_connections_total", &rows [index]);
        fprintf (out, "} %" PRIu64 "\n", rows [index].tunnel.connections_total);
    }
    s_family (out, "sstream_session_bytes_total", "counter",
              "Bytes read from this side's TCP connections (in) and written to them (out).");
    for (index = 0; index < snapshot->session_count; index++) {
        s_session_labels (out, "sstream_session_bytes_total", &rows [index]);
        fprintf (out, ",direction=\"in\"} %" PRIu64 "\n", rows [index].tunnel.bytes_in);
        s_session_labels (out, "sstream_session_bytes_total", &rows [index]);
        fprintf (out, ",direction=\"out\"} %" PRIu64 "\n", rows [index].tunnel.bytes_out);
    }
    s_family (out, "sstream_tunnel_chunks_refused_total", "counter",
              "Sealed tunnel chunks from the peer that did not open or came out of turn.");
    fprintf (out, "sstream_tunnel_chunks_refused_total %" PRIu64 "\n",
             snapshot->tunnel_chunks_refused);
}

//  The process's own, read as the scrape comes
static void
s_render_process (FILE *out)
{
    size_t files = 0;
    DIR *folder = opendir ("/proc/self/fd");
    struct dirent *entry;
    while (folder && (entry = readdir (folder)))
        if (*entry->d_name != '.')
            files++;
    if (folder) {
        closedir (folder);
        files--;                //  The folder's own
        s_family (out, "process_open_fds", "gauge", "Open file descriptors.");
        fprintf (out, "process_open_fds %zu\n", files);
    }
    FILE *statm = fopen ("/proc/self/statm", "r");
    unsigned long long size, resident;
    if (statm && fscanf (statm, "%llu %llu", &size, &resident) == 2) {
        s_family (out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        fprintf (out, "process_resident_memory_bytes %llu\n",
                 resident * (unsigned long long) sysconf (_SC_PAGESIZE));
    }
    if (statm)
        fclose (statm);
}

static char *
s_render (sstream_metrics_t *self, size_t *size)
{
    char *text = NULL;
    FILE *out = open_memstream (&text, size);
    if (!out)
        return NULL;
    pthread_mutex_lock (&self->lock);
    s_snapshot_t empty = { 0 };
    const s_snapshot_t *snapshot = self->published? self->published: &empty;
    s_render_gateway (self, out, snapshot);
    s_render_streams (out, snapshot);
    s_render_links (out, snapshot);
    s_render_sessions (out, snapshot);
    pthread_mutex_unlock (&self->lock);
    s_render_process (out);
    if (fclose (out)) {
        free (text);
        return NULL;
    }
    return text;
}

static enum MHD_Result
s_answer (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
    (void) version;
    (void) upload_data;
    (void) upload_data_size;
    (void) state;
    sstream_metrics_t *self = (sstream_metrics_t *) cls;
    unsigned status = MHD_HTTP_OK;
    const char *type = "text/plain; version=0.0.4; charset=utf-8";
    size_t size = 0;
    char *body = NULL;
    if (!streq (method, "GET") && !streq (method, "HEAD")) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        body = strdup ("only GET is served here\n");
    }
    else
    if (!streq (url, "/metrics")) {
        status = MHD_HTTP_NOT_FOUND;
        body = strdup ("the metrics are at /metrics\n");
    }
    else
        body = s_render (self, &size);
    if (!body)
        return MHD_NO;          //  Out of memory: the connection closes
    if (status != MHD_HTTP_OK) {
        size = strlen (body);
        type = "text/plain; charset=utf-8";
    }
    struct MHD_Response *response = MHD_create_response_from_buffer (size, body,
                                                                     MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result queued = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return queued;
}

//  libmicrohttpd's complaints (a scraper that misbehaves), in our log
static void
s_log (void *cls, const char *format, va_list args)
{
    sstream_metrics_t *self = (sstream_metrics_t *) cls;
    char line [512];
    vsnprintf (line, sizeof (line), format, args);
    size_t length = strlen (line);
    while (length && line [length - 1] == '\n')
        line [--length] = 0;
    sstream_log_repeat (SSTREAM_LOG_WARNING, "%s: metrics at %s: %s", self->gateway,
                        self->endpoint, line);
}


//  --------------------------------------------------------------------------
//  The class

static const char *
s_peer_name (sstream_router_t *router)
{
    const char *peer = sstream_router_peer (router, NULL);
    return peer? peer: "";
}

int
sstream_metrics_new (sstream_metrics_t **self_p, sstream_config_t *config, const char *gateway,
                     const sstream_metrics_sources_t *sources)
{
    *self_p = NULL;
    if (!sstream_config_has (config, "metrics"))
        return SSTREAM_OK;
    const char *endpoint = sstream_config_get (config, "metrics/endpoint", NULL);
    if (!endpoint)
        return sstream_error_set (SSTREAM_ECONFIG, "%s: the metrics section has no endpoint "
                                  "(metrics/endpoint = http://127.0.0.1:9464)",
                                  sstream_config_where (config, "metrics"));
    const char *where = sstream_config_where (config, "metrics/endpoint");
    char host [256], port [8];
    if (!s_parse (endpoint, host, sizeof (host), port, sizeof (port)))
        return sstream_error_set (SSTREAM_ECONFIG, "%s: '%s' is not http://HOST:PORT (PORT 0 "
                                  "or '*': any; the metrics are served at /metrics)",
                                  where, endpoint);
    sstream_metrics_t *self = (sstream_metrics_t *) zmalloc (sizeof (sstream_metrics_t));
    if (!self)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    snprintf (self->gateway, sizeof (self->gateway), "%s", gateway);
    self->sources = *sources;
    pthread_mutex_init (&self->lock, NULL);
    int fd = s_listen (where, endpoint, host, port, self->endpoint, sizeof (self->endpoint));
    if (fd < 0) {
        sstream_metrics_destroy (&self);
        return SSTREAM_ECONFIG;
    }
    //  Its thread is made from the gateway's, which takes no signal: nor
    //  does it. It closes the socket when it stops (or fails to start).
    self->daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        s_answer, self,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) CONNECTION_TIMEOUT,
        MHD_OPTION_EXTERNAL_LOGGER, s_log, self,
        MHD_OPTION_END);
    if (!self->daemon) {
        close (fd);
        int rc = sstream_error_set (SSTREAM_ECONFIG, "%s: cannot serve metrics at %s: the "
                                    "HTTP server did not start", where, endpoint);
        sstream_metrics_destroy (&self);
        return rc;
    }
    sstream_log_info ("%s: metrics at %s/metrics", self->gateway, self->endpoint);
    *self_p = self;
    return SSTREAM_OK;
}

void
sstream_metrics_destroy (sstream_metrics_t **self_p)
{
    if (self_p && *self_p) {
        sstream_metrics_t *self = *self_p;
        if (self->daemon)
            MHD_stop_daemon (self->daemon);
        s_snapshot_destroy (&self->published);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

const char *
sstream_metrics_endpoint (sstream_metrics_t *self)
{
    return self->endpoint;
}

static void
s_collect_link (s_link_t *link, const char *name, sstream_link_t *source, bool up)
{
    if (!source)
        return;
    link->name = name;
    link->up = up;
    sstream_link_stats (source, &link->stats);
}

void
sstream_metrics_collect (sstream_metrics_t *self, bool force)
{
    if (!self)
        return;
    const sstream_metrics_sources_t *sources = &self->sources;
    int64_t now = zclock_mono ();
    if (!force && now - self->collected < COLLECT_EVERY)
        return;
    self->collected = now;
    s_snapshot_t *snapshot = (s_snapshot_t *) zmalloc (sizeof (s_snapshot_t));
    if (!snapshot)
        return;
    sstream_router_t *router = sources->router;
    snapshot->streams = sstream_streams_rows (sstream_router_streams (router),
                                              &snapshot->stream_count);
    if (sources->sessions)
        snapshot->sessions = sstream_sessions_rows (sources->sessions, &snapshot->session_count);
    uint64_t peer_up = 0;
    sstream_router_stat (router, "peer-up", &peer_up);
    s_collect_link (&snapshot->links [0], "local", sources->local, true);
    s_collect_link (&snapshot->links [1], "peer", sources->wan, peer_up != 0);
    s_collect_link (&snapshot->links [2], "control", sources->control, true);
    if (sources->wan) {
        snapshot->links [1].has_reconnects = true;
        sstream_router_stat (router, "peer-reconnects", &snapshot->links [1].reconnects);
    }
    sstream_router_stat (router, "completed", &snapshot->completed);
    sstream_router_stat (router, "aborted", &snapshot->aborted);
    sstream_router_stat (router, "resumes", &snapshot->resumes);
    sstream_router_stat (router, "buffered", &snapshot->buffered);
    sstream_router_stat (router, "tunnel-chunks-refused", &snapshot->tunnel_chunks_refused);
    //  Published only if no scrape is rendering the last one; else the
    //  next tick tries again
    if (pthread_mutex_trylock (&self->lock) == 0) {
        s_snapshot_t *old = self->published;
        self->published = snapshot;
        snprintf (self->peer, sizeof (self->peer), "%s", s_peer_name (router));
        pthread_mutex_unlock (&self->lock);
        snapshot = old;
    }
    s_snapshot_destroy (&snapshot);
}
