/*  =========================================================================
    sstream_control - open, list and release sessions on a gateway, and
    list its streams

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A control client talks to a gateway's control link (CURVE like every
    link: its key must be in the gateway's control/trusted-keys). In this
    version a session is one end of a TCP tunnel: an inbound session, at the
    gateway of the facility whose TCP server is to be reached, names that
    server; an outbound session, at the other facility's gateway, listens
    on a port (from the gateway's range) where applications connect. Both
    carry the same name.

    Options (sstream_config_t): as for a producer ("client/secret-key",
    "client/gateway-key", "client/security", "client/connect-timeout", ...).
    endpoints may list several gateways of one facility, comma-separated:
    the first that answers is used.
*/

#ifndef SSTREAM_CONTROL_H_INCLUDED
#define SSTREAM_CONTROL_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _sstream_control_t sstream_control_t;
typedef struct _sstream_session_list_t sstream_session_list_t;

//  Connect to a gateway's control link; fails if no endpoint answers.
SSTREAM_EXPORT int
    sstream_control_new (sstream_control_t **self_p, const char *endpoints,
                         sstream_config_t *options);

//  The endpoint that answered.
SSTREAM_EXPORT const char *
    sstream_control_endpoint (sstream_control_t *self);

//  Open a session: role "inbound" or "outbound"; params (may be NULL):
//    target    inbound: the TCP server to reach, host:port
//    rate      bytes per second, enforced (e.g. "100M"); default: no limit
//    links     parallel links (1 in this version)
//    mode      delivery mode ("lossless" in this version)
//    hold      "yes": the session ends when this control client goes
//    need-peer "yes": refuse (SSTREAM_ELOST) unless this gateway's peer
//              gateway is connected, so the caller can try another
//    peer      refuse (SSTREAM_EDENIED) unless this gateway's peer gateway
//              has this name: the other end of a tunnel must be on it
//  *session_p gets the new session (one entry).
SSTREAM_EXPORT int
    sstream_control_open (sstream_control_t *self, const char *name, const char *role,
                          sstream_config_t *params, sstream_session_list_t **session_p);

//  The gateway's sessions, or the one with id (id may be NULL).
SSTREAM_EXPORT int
    sstream_control_list (sstream_control_t *self, const char *id,
                          sstream_session_list_t **sessions_p);

//  The gateway's streams, or the one named (name may be NULL; a name it
//  has no stream of is SSTREAM_ECLOSED). *streams_p gets a list of the
//  same kind as sessions (sstream_session_list_*), with the fields below.
SSTREAM_EXPORT int
    sstream_control_streams (sstream_control_t *self, const char *name,
                             sstream_session_list_t **streams_p);

//  Release a session by id: everything it holds goes.
SSTREAM_EXPORT int
    sstream_control_release (sstream_control_t *self, const char *id);

//  Say we are alive (keeps sessions opened with hold).
SSTREAM_EXPORT int
    sstream_control_ping (sstream_control_t *self);

SSTREAM_EXPORT void
    sstream_control_destroy (sstream_control_t **self_p);

//  A list of sessions: count, and a field of one as text, or NULL. Fields:
//  id, name, role, kind, gateway, peer (its peer gateway), address (outbound: where it listens;
//  inbound: its target), links, rate, hold, age-ms, idle-ms, connections,
//  connections-total, bytes-in, bytes-out.
//
//  A list of streams has, for each: name, gateway, state
//  (waiting_for_producer, waiting_for_consumer, flowing, idle, stalled,
//  ending), producer and consumer (key names; the peer gateway as "via
//  NAME"), records-in, records-out, bytes-in, bytes-out (payload), buffered
//  (payload bytes held now), rate (bytes per second out, over the last 5
//  s), stalled-ms (time a batch waited for credit), age-ms.
SSTREAM_EXPORT size_t
    sstream_session_list_size (sstream_session_list_t *self);
SSTREAM_EXPORT const char *
    sstream_session_list_get (sstream_session_list_t *self, size_t index, const char *field);
SSTREAM_EXPORT void
    sstream_session_list_destroy (sstream_session_list_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
