/*  =========================================================================
    sstream_metrics - a gateway's numbers in Prometheus' text format, over
    HTTP (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    With a "metrics" section in its config, a gateway serves GET /metrics
    at metrics/endpoint (http://HOST:PORT; port 0 or '*': one the kernel
    picks). libmicrohttpd answers in a thread of its own. What it serves
    belongs to the gateway's actor: each tick the actor collects a
    snapshot (its streams, sessions and links, copied) and publishes it
    under a lock it only ever tries, so that a scraper, however slow, never
    makes the data path wait; a scrape renders the last published snapshot,
    and reads the process's own numbers (open files, resident memory).
*/

#ifndef SSTREAM_METRICS_H_INCLUDED
#define SSTREAM_METRICS_H_INCLUDED

typedef struct _sstream_metrics_t sstream_metrics_t;

//  What the actor collects from (all borrowed; wan and control may be NULL)
typedef struct {
    sstream_router_t *router;
    sstream_sessions_t *sessions;
    sstream_link_t *local;
    sstream_link_t *wan;
    sstream_link_t *control;
} sstream_metrics_sources_t;

//  Serve the metrics config's "metrics" section asks for, as gateway
//  name, of sources. Without the section: SSTREAM_OK and *self_p NULL. A
//  bad endpoint, or one that cannot be bound (in use, not this host's), is
//  SSTREAM_ECONFIG, saying which.
int
    sstream_metrics_new (sstream_metrics_t **self_p, sstream_config_t *config, const char *gateway,
                         const sstream_metrics_sources_t *sources);

//  Stop serving. Idempotent, sets *self_p to NULL.
void
    sstream_metrics_destroy (sstream_metrics_t **self_p);

//  Where it listens, with the real port: "http://127.0.0.1:9464".
const char *
    sstream_metrics_endpoint (sstream_metrics_t *self);

//  In the actor's thread: collect and publish a snapshot, if the last is
//  older than a fifth of a second (or force). Nothing when self is NULL.
void
    sstream_metrics_collect (sstream_metrics_t *self, bool force);

#endif
