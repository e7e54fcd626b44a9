/*  =========================================================================
    sstream_gateway - a facility's gateway node

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A gateway accepts its facility's producers and consumers on its local
    endpoint and exchanges streams with a peer gateway at another facility.
    It runs in a thread of its own until destroyed. Configuration (ZPL; see
    conf/gateway-a.cfg for a commented example):

        gateway
            name = gateway-a              used in logs and hello
            secret-key = keys/gateway-a.secret
            buffer = 64MiB                bytes held per stream, at most
            max-streams = 64              streams open at once, at most
            heartbeat = 1s
            peer-timeout = 10s
        local                             this facility's clients connect
            endpoint = tcp://127.0.0.1:7001
            security = curve              or none (logged as a warning)
            trusted-keys = keys/a         folder of clients' public keys
            transport = tcp               optional; default from endpoint
        peer                              the other facility's gateway
            name = gateway-b
            endpoint = tcp://127.0.0.1:7100
            mode = connect                or bind
            public-key = keys/gateway-b.pub   pinned key of the peer
            security = curve

        metrics                           Prometheus text format over HTTP
            endpoint = http://127.0.0.1:9464      at /metrics; port 0 or '*': any

        access                            who may produce and consume what
            default = allow               or deny
            rule                          repeatable; the first match decides
                streams = detector-*      glob
                producers = keys/beam     folder or file of keys, '*', 'none'
                consumers = *

    Without a peer section, the gateway streams from its producers to its
    own consumers.
*/

#ifndef SSTREAM_GATEWAY_H_INCLUDED
#define SSTREAM_GATEWAY_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _sstream_gateway_t sstream_gateway_t;

//  Start a gateway from a config. Returns once its endpoints are bound (or
//  with an error naming what is wrong).
SSTREAM_EXPORT int
    sstream_gateway_new (sstream_gateway_t **self_p, sstream_config_t *config);

//  Start a gateway from a ZPL config file.
SSTREAM_EXPORT int
    sstream_gateway_load (sstream_gateway_t **self_p, const char *filename);

//  The endpoint a link is bound to, with the real port when the config
//  asked for an ephemeral one ("tcp://127.0.0.1:*"). link is "local",
//  "peer" or "control". Returns NULL when that link is not bound by this
//  gateway. The string belongs to the gateway.
//
//  "local-bulk" and "peer-bulk" say where the bulk path beside the local
//  or the peer link listens (sealed payloads; core/PROTOCOL.md section
//  3.9), as its transport says it: tcp gives the port (on the link's
//  interface; tcp/bulk-port fixes it, else the kernel picks one at each
//  start), ipc the socket file's path. A firewall between the parties
//  must let these through as well as the link. NULL when that link has no
//  bulk path here (bulk-path = off, a transport without one, or a peer
//  link this gateway connects).
//
//  "metrics" says where the gateway serves its metrics (GET /metrics),
//  "http://HOST:PORT" with the real port; NULL without a metrics section.
SSTREAM_EXPORT const char *
    sstream_gateway_endpoint (sstream_gateway_t *self, const char *link);

//  Read a statistic by name:
//    streams          streams open now
//    buffered         payload bytes held now, all streams
//    buffered-peak    most payload bytes ever held for one stream
//    bytes-in         payload bytes received
//    bytes-out        payload bytes forwarded
//    malformed        malformed messages dropped
//    aborted          streams aborted
//    completed        streams completed (end-of-stream acknowledged)
//    peer-up          1 when the peer gateway link is established
//    peer-reconnects  times the peer came up again after it was lost
//    peer-redials     times this gateway (connecting to its peer) hung up
//                     and dialled afresh: after silence, a disconnection or
//                     an error, after a failed handshake (with a backoff
//                     of up to 2 s), or when no welcome came
//    handshake-failures  CURVE handshakes that failed on any link
//    local-handshake-failures  those of the local link alone
//    local-bulk-connections, peer-bulk-connections  bulk path connections
//                     (sealed payloads beside the link) made since start
//    local-bulk-refused, peer-bulk-refused  connections closed without a
//                     valid token
//    local-bulk-bytes-in, -bytes-out, peer-bulk-bytes-in, -bytes-out
//                     sealed payload bytes (stream batches and tunnel
//                     chunks) that took a bulk path
//    tunnel-chunks-refused  sealed tunnel chunks from the peer that did not
//                     open or came out of turn (each reset its connection)
SSTREAM_EXPORT int
    sstream_gateway_stat (sstream_gateway_t *self, const char *name,
                          uint64_t *value);

//  Whether the peer gateway is down: 1, and why in plain words into why
//  (size bytes at most; e.g. "silent for 10 s", "gateway-b refused our key
//  (its peer/public-key is not this gateway's public key)", "connection
//  refused at tcp://10.2.0.1:7100"); 0 (why "") when it is up or the
//  gateway has no peer. The gateway logs the same as it changes.
SSTREAM_EXPORT int
    sstream_gateway_peer_down (sstream_gateway_t *self, char *why, size_t size);

//  Take new access rules (the "access" section) without a restart: from
//  config, or, when config is NULL, from the file the gateway was started
//  from (a gateway also does that by itself when the file changes). An
//  invalid config changes nothing and returns SSTREAM_ECONFIG.
SSTREAM_EXPORT int
    sstream_gateway_reload (sstream_gateway_t *self, sstream_config_t *config);

//  Stop the gateway: aborts open streams (both ends are told), closes
//  every socket. Idempotent, sets *self_p to NULL.
SSTREAM_EXPORT void
    sstream_gateway_destroy (sstream_gateway_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
