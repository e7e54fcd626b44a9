/*  =========================================================================
    test_metrics - watching gateway processes: their Prometheus metrics,
    scraped over HTTP while a stream runs, and 'sstream-pipe status' with a
    live stream, flowing and then stalled; bad metrics configs

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#define _GNU_SOURCE
#include "support.h"
#include "gateways.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite (metrics, .init = support_fixture_setup, .fini = support_fixture_teardown, .timeout = 240);

#define STREAM "metrics-run"
#define RECORD_SIZE (64 << 10)

static char *
s_path (const char *name)
{
    char *path;
    cr_assert (asprintf (&path, "%s/%s", support_folder, name) > 0);
    return path;
}


//  --------------------------------------------------------------------------
//  A producer that sends until told to stop, and a consumer that takes
//  records only while its gate is open, each in a thread of the test

typedef struct {
    const char *endpoint;
    sstream_config_t *options;
    atomic_bool stop;
    int rc;
    char error [512];
    pthread_t thread;
} s_producer_t;

static void *
s_produce (void *arg)
{
    s_producer_t *self = (s_producer_t *) arg;
    sstream_producer_t *producer;
    self->rc = sstream_producer_new (&producer, self->endpoint, STREAM, self->options);
    if (self->rc) {
        snprintf (self->error, sizeof (self->error), "%s", sstream_errmsg ());
        return NULL;
    }
    unsigned char *record = (unsigned char *) malloc (RECORD_SIZE);
    uint64_t offset = 0;
    while (self->rc == SSTREAM_OK && !atomic_load (&self->stop)) {
        support_fill (record, offset, RECORD_SIZE);
        self->rc = sstream_producer_send (producer, record, RECORD_SIZE, NULL, 0, SSTREAM_FOREVER);
        offset += RECORD_SIZE;
    }
    if (self->rc == SSTREAM_OK)
        self->rc = sstream_producer_close (producer, 60000);
    if (self->rc)
        snprintf (self->error, sizeof (self->error), "%s", sstream_errmsg ());
    sstream_producer_destroy (&producer);
    free (record);
    return NULL;
}

typedef struct {
    const char *endpoint;
    sstream_config_t *options;
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    bool open;                  //  The gate: records are taken while it is
    int rc;
    char error [512];
    uint64_t bytes;
    pthread_t thread;
} s_consumer_t;

static void *
s_consume (void *arg)
{
    s_consumer_t *self = (s_consumer_t *) arg;
    sstream_consumer_t *consumer;
    self->rc = sstream_consumer_new (&consumer, self->endpoint, STREAM, self->options);
    while (self->rc == SSTREAM_OK) {
        pthread_mutex_lock (&self->mutex);
        while (!self->open)
            pthread_cond_wait (&self->changed, &self->mutex);
        pthread_mutex_unlock (&self->mutex);
        sstream_message_t *message;
        self->rc = sstream_consumer_recv (consumer, &message, SSTREAM_FOREVER);
        if (self->rc == SSTREAM_OK) {
            self->bytes += sstream_message_size (message);
            sstream_message_destroy (&message);
        }
    }
    if (self->rc == SSTREAM_EEND)
        self->rc = sstream_consumer_close (consumer, 60000);
    if (self->rc)
        snprintf (self->error, sizeof (self->error), "%s", sstream_errmsg ());
    sstream_consumer_destroy (&consumer);
    return NULL;
}

static void
s_gate (s_consumer_t *self, bool open)
{
    pthread_mutex_lock (&self->mutex);
    self->open = open;
    pthread_cond_signal (&self->changed);
    pthread_mutex_unlock (&self->mutex);
}

static sstream_config_t *
s_client_options (const char *key, const char *gateway_key)
{
    sstream_config_t *options;
    cr_assert_eq (sstream_config_new (&options), 0);
    sstream_config_set (options, "client/secret-key", key);
    sstream_config_set (options, "client/gateway-key", gateway_key);
    return options;
}

//  Both gateways (serving metrics on ports the kernel picks), the producer
//  at A and the consumer at B, its gate as given
static void
s_start (gateways_t *gateways, s_producer_t *producer, s_consumer_t *consumer, bool open)
{
    gateways_options_t options = {
        .buffer = "8MiB",
        .extra_a = { "metrics/endpoint=http://127.0.0.1:0" },
        .extra_b = { "metrics/endpoint=http://127.0.0.1:*" }
    };
    gateways_start (gateways, support_folder, &options);
    cr_assert (*gateways->metrics_a && *gateways->metrics_b, "no metrics endpoint in the ready lines");
    memset (producer, 0, sizeof (*producer));
    producer->endpoint = gateways->endpoint_a;
    producer->options = s_client_options (gateways->producer_key, gateways->gateway_a_pub);
    sstream_config_set (producer->options, "client/readers", gateways->consumer_pub);
    sstream_config_set (producer->options, "client/replay-buffer", "32MiB");
    memset (consumer, 0, sizeof (*consumer));
    consumer->endpoint = gateways->endpoint_b;
    consumer->options = s_client_options (gateways->consumer_key, gateways->gateway_b_pub);
    sstream_config_set (consumer->options, "client/window", "4MiB");
    consumer->open = open;
    pthread_mutex_init (&consumer->mutex, NULL);
    pthread_cond_init (&consumer->changed, NULL);
    cr_assert_eq (pthread_create (&consumer->thread, NULL, s_consume, consumer), 0);
    cr_assert_eq (pthread_create (&producer->thread, NULL, s_produce, producer), 0);
}

//  The stream ends: the consumer takes the rest, both ends close cleanly
static void
s_stop (gateways_t *gateways, s_producer_t *producer, s_consumer_t *consumer)
{
    s_gate (consumer, true);
    atomic_store (&producer->stop, true);
    pthread_join (producer->thread, NULL);
    pthread_join (consumer->thread, NULL);
    cr_assert_eq (producer->rc, 0, "producer: %s", producer->error);
    cr_assert_eq (consumer->rc, 0, "consumer: %s", consumer->error);
    sstream_config_destroy (&producer->options);
    sstream_config_destroy (&consumer->options);
    pthread_mutex_destroy (&consumer->mutex);
    pthread_cond_destroy (&consumer->changed);
    gateways_stop (gateways);
}


//  --------------------------------------------------------------------------
//  A scrape, and what the text format allows

//  GET url's path from its http://HOST:PORT, with a plain socket: the body
//  (free it) if the answer is 200, else NULL
static char *
s_http_get (const char *endpoint, const char *path)
{
    char host [64], port [8];
    cr_assert (sscanf (endpoint, "http://%63[^:]:%7[0-9]", host, port) == 2, "%s", endpoint);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *found;
    cr_assert_eq (getaddrinfo (host, port, &hints, &found), 0);
    int fd = socket (found->ai_family, SOCK_STREAM, 0);
    cr_assert_geq (fd, 0);
    cr_assert_eq (connect (fd, found->ai_addr, found->ai_addrlen), 0, "connect to %s: %s", endpoint,
                  strerror (errno));
    freeaddrinfo (found);
    char request [256];
    int length = snprintf (request, sizeof (request), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n",
                           path, host);
    cr_assert_eq (send (fd, request, (size_t) length, MSG_NOSIGNAL), length);
    size_t size = 0, capacity = 1 << 16;
    char *answer = (char *) malloc (capacity);
    ssize_t got;
    while ((got = recv (fd, answer + size, capacity - size - 1, 0)) > 0) {
        size += (size_t) got;
        if (size + 1 == capacity)
            answer = (char *) realloc (answer, capacity *= 2);
    }
    close (fd);
    answer [size] = 0;
    char *body = strstr (answer, "\r\n\r\n");
    bool ok = strncmp (answer, "HTTP/1.", 7) == 0 && strncmp (answer + 8, " 200 ", 5) == 0;
    char *result = ok && body? strdup (body + 4): NULL;
    free (answer);
    return result;
}

//  A metric or label name
static const char *
s_name (const char *at)
{
    if (!isalpha ((unsigned char) *at) && *at != '_' && *at != ':')
        return NULL;
    while (isalnum ((unsigned char) *at) || *at == '_' || *at == ':')
        at++;
    return at;
}

//  One line of the text format: a comment, or name{labels} value; NULL if
//  it is neither, else where the line ends
static const char *
s_check_line (const char *line)
{
    const char *end = strchr (line, '\n');
    if (!end)
        return NULL;
    if (*line == '#') {
        //  HELP and TYPE name a metric; other comments are free
        if (strncmp (line, "# HELP ", 7) == 0 || strncmp (line, "# TYPE ", 7) == 0) {
            const char *after = s_name (line + 7);
            if (!after || (*after != ' ' && after != end))
                return NULL;
        }
        return end;
    }
    const char *at = s_name (line);
    if (!at)
        return NULL;
    if (*at == '{') {
        at++;
        while (*at != '}') {
            at = s_name (at);
            if (!at || at [0] != '=' || at [1] != '"')
                return NULL;
            for (at += 2; *at != '"'; at++) {
                if (at >= end)
                    return NULL;
                if (*at == '\\') {
                    if (at [1] != '\\' && at [1] != '"' && at [1] != 'n')
                        return NULL;
                    at++;
                }
            }
            at++;
            if (*at == ',')
                at++;
            else
            if (*at != '}')
                return NULL;
        }
        at++;
    }
    if (*at != ' ')
        return NULL;
    char *number_end;
    strtod (at + 1, &number_end);
    return number_end == end && number_end > at + 1? end: NULL;
}

static void
s_assert_format (const char *text)
{
    cr_assert (*text, "an empty scrape");
    const char *line = text;
    while (*line) {
        const char *end = s_check_line (line);
        cr_assert_not_null (end, "not the text format: '%.*s'", (int) strcspn (line, "\n"), line);
        line = end + 1;
    }
}

//  The value of the sample that starts with prefix (its name and labels,
//  as rendered), or -1
static double
s_sample (const char *text, const char *prefix)
{
    const char *line = text;
    size_t length = strlen (prefix);
    while (line && *line) {
        if (strncmp (line, prefix, length) == 0 && line [length] == ' ')
            return strtod (line + length + 1, NULL);
        line = strchr (line, '\n');
        line = line? line + 1: NULL;
    }
    return -1;
}

#define BYTES_OUT "sstream_stream_bytes_total{stream=\"" STREAM "\",direction=\"out\"}"

Test (metrics, a_scrape_while_a_stream_runs_parses_and_its_bytes_rise)
{
    gateways_t gateways;
    s_producer_t producer;
    s_consumer_t consumer;
    s_start (&gateways, &producer, &consumer, true);

    //  The stream shows once it has moved bytes through gateway A
    double started = support_now (), first = -1;
    char *text = NULL;
    while (first <= 0 && support_now () - started < 60) {
        free (text);
        text = s_http_get (gateways.metrics_a, "/metrics");
        cr_assert_not_null (text, "no 200 from %s/metrics", gateways.metrics_a);
        first = s_sample (text, BYTES_OUT);
    }
    cr_assert_gt (first, 0, "the stream never showed:\n%s", text);
    s_assert_format (text);
    cr_assert (strstr (text, "# TYPE sstream_stream_bytes_total counter\n"), "%s", text);
    cr_assert (strstr (text, "sstream_stream_info{stream=\"" STREAM "\",producer=\"producer\","
                             "consumer=\"via gateway-b\"} 1\n"), "%s", text);
    cr_assert_eq (s_sample (text, "sstream_link_up{link=\"peer\"}"), 1, "%s", text);
    cr_assert_eq (s_sample (text, "sstream_link_up{link=\"local\"}"), 1, "%s", text);
    cr_assert_gt (s_sample (text, "process_open_fds"), 0, "%s", text);
    cr_assert_gt (s_sample (text, "process_resident_memory_bytes"), 0, "%s", text);

    //  A later scrape has more
    double later = first;
    while (later <= first && support_now () - started < 60) {
        free (text);
        text = s_http_get (gateways.metrics_a, "/metrics");
        cr_assert_not_null (text);
        later = s_sample (text, BYTES_OUT);
    }
    cr_assert_gt (later, first, "bytes out stayed at %.0f", first);
    s_assert_format (text);
    free (text);

    //  Gateway B's view: the consumer by its key name
    text = s_http_get (gateways.metrics_b, "/metrics");
    cr_assert_not_null (text);
    s_assert_format (text);
    cr_assert (strstr (text, "sstream_stream_info{stream=\"" STREAM "\",producer=\"via gateway-a\","
                             "consumer=\"consumer\"} 1\n"), "%s", text);
    free (text);
    //  Elsewhere than /metrics: not found
    cr_assert_null (s_http_get (gateways.metrics_a, "/"));

    s_stop (&gateways, &producer, &consumer);
}


//  --------------------------------------------------------------------------
//  sstream-pipe status with a live stream

//  A text field of the first JSON object after from that has it, into
//  value; false if there is none
static bool
s_json_text (const char *from, const char *key, char *value, size_t size)
{
    char pattern [64];
    snprintf (pattern, sizeof (pattern), "\"%s\": \"", key);
    const char *at = strstr (from, pattern);
    if (!at)
        return false;
    at += strlen (pattern);
    size_t length = strcspn (at, "\"");
    snprintf (value, size, "%.*s", (int) length, at);
    return true;
}

static double
s_json_number (const char *from, const char *key)
{
    char pattern [64];
    snprintf (pattern, sizeof (pattern), "\"%s\": ", key);
    const char *at = strstr (from, pattern);
    return at? strtod (at + strlen (pattern), NULL): -1;
}

//  status --json of a gateway: its stream's row, once the stream is in
//  state (the JSON, to free, and the row in it), within a minute
static char *
s_status_until (gateways_t *gateways, char which, const char *state, const char **row_p)
{
    char *out = s_path ("status.json"), *err = s_path ("status.err");
    double started = support_now ();
    char *text = NULL;
    const char *row = NULL;
    char said [64] = "";
    while (support_now () - started < 60) {
        free (text);
        cr_assert_eq (gateways_pipe_run (NULL, out, err, "status",
                                         which == 'a'? gateways->control_a: gateways->control_b,
                                         "--json", "-k", gateways->operator_key, "-g",
                                         which == 'a'? gateways->gateway_a_pub: gateways->gateway_b_pub,
                                         NULL), 0, "%s", support_read_file (err));
        text = support_read_file (out);
        const char *streams = strstr (text, "\"streams\": [");
        cr_assert_not_null (streams, "%s", text);
        row = strstr (streams, "{\"name\": \"" STREAM "\"");
        if (row && s_json_text (row, "state", said, sizeof (said)) && strcmp (said, state) == 0)
            break;
        row = NULL;
    }
    cr_assert_not_null (row, "gateway %c: stream " STREAM " never %s (it was '%s'):\n%s", which,
                        state, said, text);
    free (out);
    free (err);
    *row_p = row;
    return text;
}

static void
s_assert_text (const char *row, const char *key, const char *expected)
{
    char value [128] = "";
    cr_assert (s_json_text (row, key, value, sizeof (value)), "no %s in %s", key, row);
    cr_assert_str_eq (value, expected, "%s in %s", key, row);
}

Test (metrics, status_lists_a_live_stream_flowing_then_stalled)
{
    gateways_t gateways;
    s_producer_t producer;
    s_consumer_t consumer;
    s_start (&gateways, &producer, &consumer, true);

    //  Flowing: at the consumer's gateway, the consumer by its key name,
    //  bytes out and a rate
    const char *row;
    char *text = s_status_until (&gateways, 'b', "flowing", &row);
    cr_assert (strstr (text, "{\"sessions\": ["), "%s", text);
    s_assert_text (row, "gateway", "gateway-b");
    s_assert_text (row, "producer", "via gateway-a");
    s_assert_text (row, "consumer", "consumer");
    cr_assert_gt (s_json_number (row, "bytes_in"), 0, "%s", row);
    cr_assert_gt (s_json_number (row, "bytes_out"), 0, "%s", row);
    cr_assert_gt (s_json_number (row, "records_out"), 0, "%s", row);
    cr_assert_gt (s_json_number (row, "rate"), 0, "%s", row);
    cr_assert_geq (s_json_number (row, "buffered"), 0, "%s", row);
    cr_assert (!strstr (text, "\"bytes-in\""), "a kebab-case key in JSON: %s", text);
    free (text);

    //  Stalled: the consumer takes nothing; what waits is held at B
    s_gate (&consumer, false);
    text = s_status_until (&gateways, 'b', "stalled", &row);
    cr_assert_gt (s_json_number (row, "buffered"), 0, "%s", row);
    cr_assert_gt (s_json_number (row, "stalled_ms"), 0, "%s", row);
    free (text);
    //  and at A, the producer by its key name
    text = s_status_until (&gateways, 'a', "stalled", &row);
    s_assert_text (row, "producer", "producer");
    s_assert_text (row, "consumer", "via gateway-b");
    cr_assert_gt (s_json_number (row, "buffered"), 0, "%s", row);
    free (text);

    //  For people: a table of sessions, then one of streams
    char *out = s_path ("status.out"), *err = s_path ("status.err");
    cr_assert_eq (gateways_pipe_run (NULL, out, err, "status", gateways.control_b, "-k",
                                     gateways.operator_key, "-g", gateways.gateway_b_pub, NULL), 0);
    text = support_read_file (out);
    cr_assert (strstr (text, "no sessions\n\nSTREAM") && strstr (text, STREAM)
               && strstr (text, "stalled") && strstr (text, "consumer"), "%s", text);
    free (text);
    free (out);
    free (err);

    s_stop (&gateways, &producer, &consumer);
}


//  --------------------------------------------------------------------------
//  Bad metrics configs: exit 3, one line

static void
s_assert_config_error (const char *config, const char *set, const char *said)
{
    char *err = s_path ("bad.err");
    int status = set? gateways_pipe_run (NULL, NULL, err, "gateway", "-c", config, "--set", set, NULL)
                    : gateways_pipe_run (NULL, NULL, err, "gateway", "-c", config, NULL);
    cr_assert_eq (status, 3, "exit %d: %s", status, support_read_file (err));
    gateways_assert_one_line (err, said);
    free (err);
}

Test (metrics, a_bad_metrics_config_fails_start_with_one_line)
{
    gateways_t gateways;
    memset (&gateways, 0, sizeof (gateways));
    gateways_keys (&gateways, support_folder);
    char *config = s_path ("gateway.cfg");
    char text [2048];
    snprintf (text, sizeof (text),
              "gateway\n    name = gateway-m\n    secret-key = %s/keys/gateway-a.secret\n"
              "local\n    endpoint = tcp://127.0.0.1:*\n    trusted-keys = %s/keys/facility-a\n"
              "metrics\n    endpoint = ftp://127.0.0.1:9464\n", support_folder, support_folder);
    cr_assert_eq (support_write_file (config, text), 0);
    s_assert_config_error (config, NULL, "is not http://HOST:PORT");
    s_assert_config_error (config, "metrics/endpoint=http://127.0.0.1:99999", "is not http://HOST:PORT");
    //  TEST-NET-1 (RFC 5737): no host has it
    s_assert_config_error (config, "metrics/endpoint=http://192.0.2.1:9464",
                           "not an address of this host");

    //  A port another program listens on (ours, on a port the kernel gave)
    int taken = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t size = sizeof (address);
    cr_assert_eq (bind (taken, (struct sockaddr *) &address, sizeof (address)), 0);
    cr_assert_eq (listen (taken, 1), 0);
    cr_assert_eq (getsockname (taken, (struct sockaddr *) &address, &size), 0);
    char set [128];
    snprintf (set, sizeof (set), "metrics/endpoint=http://127.0.0.1:%d", ntohs (address.sin_port));
    s_assert_config_error (config, set, "address already in use");
    close (taken);

    //  A metrics section without an endpoint
    snprintf (text, sizeof (text),
              "gateway\n    name = gateway-m\n    secret-key = %s/keys/gateway-a.secret\n"
              "local\n    endpoint = tcp://127.0.0.1:*\n    trusted-keys = %s/keys/facility-a\n"
              "metrics\n", support_folder, support_folder);
    cr_assert_eq (support_write_file (config, text), 0);
    s_assert_config_error (config, NULL, "no endpoint");
    free (config);
}

//  In a program: sstream_gateway_endpoint says where, and only when asked for
Test (metrics, an_in_process_gateway_says_where_it_serves_them)
{
    sstream_config_t *config;
    cr_assert_eq (sstream_config_new (&config), 0);
    sstream_config_set (config, "gateway/name", "in-process");
    sstream_config_set (config, "local/endpoint", "tcp://127.0.0.1:*");
    sstream_config_set (config, "local/security", "none");
    sstream_gateway_t *gateway;
    cr_assert_eq (sstream_gateway_new (&gateway, config), 0, "%s", sstream_errmsg ());
    cr_assert_null (sstream_gateway_endpoint (gateway, "metrics"));
    sstream_gateway_destroy (&gateway);

    sstream_config_set (config, "metrics/endpoint", "http://127.0.0.1:*");
    cr_assert_eq (sstream_gateway_new (&gateway, config), 0, "%s", sstream_errmsg ());
    const char *endpoint = sstream_gateway_endpoint (gateway, "metrics");
    cr_assert_not_null (endpoint);
    int port = 0;
    cr_assert (sscanf (endpoint, "http://127.0.0.1:%d", &port) == 1 && port > 0, "%s", endpoint);
    char *text = s_http_get (endpoint, "/metrics");
    cr_assert_not_null (text);
    s_assert_format (text);
    cr_assert (strstr (text, "sstream_gateway_info{gateway=\"in-process\",peer=\"\""), "%s", text);
    cr_assert_eq (s_sample (text, "sstream_streams"), 0, "%s", text);
    free (text);
    sstream_gateway_destroy (&gateway);
    sstream_config_destroy (&config);
}
