/*  =========================================================================
    sstream_sessions - a gateway's sessions, opened and released through its
    control link (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A session is a named, independent reservation on one gateway: in this
    version, one end of a TCP tunnel (sstream_tunnel). Each has an id, and
    everything it holds goes when it is released, when it has been idle for
    the configured time, when the client holding it is gone (sessions opened
    with hold), and when the gateway stops.
*/

#ifndef SSTREAM_SESSION_H_INCLUDED
#define SSTREAM_SESSION_H_INCLUDED

typedef struct _sstream_sessions_t sstream_sessions_t;

typedef struct {
    const char *gateway;        //  Name, for messages
    sstream_link_t *control;    //  Borrowed: where requests come (or NULL)
    const char *address;        //  Where outbound tunnels listen
    sstream_tunnels_t *tunnels; //  Borrowed
    sstream_router_t *router;   //  Borrowed: for the peer gateway's state
    int64_t idle_timeout;       //  msecs; 0: never
    int64_t owner_timeout;      //  Silence after which a holder is gone
    uint64_t max_sessions;
} sstream_sessions_config_t;

sstream_sessions_t *
    sstream_sessions_new (const sstream_sessions_config_t *config);

void
    sstream_sessions_destroy (sstream_sessions_t **self_p);

//  Rules for who may open which (borrowed, may be NULL).
void
    sstream_sessions_set_access (sstream_sessions_t *self, sstream_access_t *access);

//  Answer a control request from the client with routing id client (hex)
//  and key: the reply's header frame to send back, and in *payload_p its
//  payload frame, if it has one (a sessions list).
zframe_t *
    sstream_sessions_request (sstream_sessions_t *self, const char *client, const char *key,
                              const sstream_wire_t *request, zframe_t **payload_p);

//  Take the requests waiting on the control link, and answer each.
void
    sstream_sessions_handle_link (sstream_sessions_t *self);

//  A control client (its holder name, or routing id) was heard from: it
//  holds its sessions alive.
void
    sstream_sessions_heard (sstream_sessions_t *self, const char *client);

//  Idle sessions, and sessions whose holder is gone, end.
void
    sstream_sessions_tick (sstream_sessions_t *self);

size_t
    sstream_sessions_size (sstream_sessions_t *self);

//  One session as it is now, for metrics
typedef struct {
    char id [SSTREAM_WIRE_ID_MAX + 1];
    char name [SSTREAM_STREAM_NAME_MAX + 1];    //  Its tunnel's
    bool inbound;
    sstream_tunnel_stats_t tunnel;
} sstream_session_row_t;

//  Every session: an array to free, its size in *count; NULL (count 0)
//  when there are none, or no memory.
sstream_session_row_t *
    sstream_sessions_rows (sstream_sessions_t *self, size_t *count);

#endif
