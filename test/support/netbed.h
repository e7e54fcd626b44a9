/*  =========================================================================
    netbed - a test's own bed of network namespaces shaped like two
    facilities (test/netbed/netbed.sh), and the sstream-pipe gateways,
    producers and consumers in it

    instr --- lan-a --- gwa --- wan --- gwb --- lan-b --- ana
    (and gwa2, gwb2 on the same segments with second_pair)

    The instrument (instr) and the analysis host (ana) reach their own LAN
    only; the gateways do not forward. Each bed has its own switch
    namespace, so every bed has the same addresses (netbed.sh --help lists
    them) and beds of parallel tests share nothing. A bed is named after
    the test's process, and a process of its own takes it down when the
    test's process ends, however it ends.

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Criterion asserts here: a bed or a gateway that does not come up
    fails the test.
*/

#ifndef NETBED_H_INCLUDED
#define NETBED_H_INCLUDED

#include "gateways.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NETBED_VALUES_MAX 32

typedef struct {
    bool second_pair;               //  Also gwa2 and gwb2
    const char *name;               //  Default: "nb" and the process id
} netbed_options_t;

typedef struct {
    char name [32];
    char folder [512];              //  Logs of the tool and of the gateways
    bool up;
    pid_t keeper;                   //  Takes the bed down once keeper_fd closes
    int keeper_fd;
    //  What netbed.sh up printed: INSTR_LAN=10.1.0.10, GWA_NS=..., ...
    size_t values;
    char keys [NETBED_VALUES_MAX][32];
    char text [NETBED_VALUES_MAX][64];
} netbed_t;

//  Whether beds can be made here (root, ip netns); if not, why.
bool netbed_available (const char *folder, char *why, size_t size);

//  Bring a bed up (logs in folder); options may be NULL.
void netbed_up (netbed_t *self, const char *folder, const netbed_options_t *options);
//  The same, or skip the test, saying why, where no bed can be made (not
//  root, no ip netns).
void netbed_up_or_skip (netbed_t *self, const char *folder, const netbed_options_t *options);

//  Kill every process in the bed and remove it; nothing to do if it is not
//  up. Call it from the fixture's teardown.
void netbed_down (netbed_t *self);

//  A value netbed.sh up printed (e.g. "GWB_WAN"), or NULL.
const char *netbed_value (const netbed_t *self, const char *key);
//  A host's address on its "lan" or "wan" link, e.g. ("gwa", "wan").
const char *netbed_address (const netbed_t *self, const char *host, const char *link);

//  Start a program (argv [0] a path) in host's namespace, as
//  support_spawn does: support_wait and support_kill_children apply, and
//  the pid is the program's (kill -9 it, SIGSTOP it).
pid_t netbed_spawn (netbed_t *self, const char *host, char *const argv [], const char *in,
                    const char *out, const char *err);

//  Run a command (found on PATH) in host's namespace (netbed.sh exec),
//  arguments NULL-terminated, its output to out and err (NULL: none);
//  returns its exit status.
int netbed_run (netbed_t *self, const char *host, const char *out, const char *err,
                const char *first, ...);

//  Cut or heal a segment ("wan", "lan-a", "lan-b") at the switch, or only
//  host's link to it (host NULL: every link). Frames vanish; the hosts'
//  links stay up.
void netbed_cut (netbed_t *self, const char *segment, const char *host);
void netbed_heal (netbed_t *self, const char *segment, const char *host);
//  Cap what the switch sends each host of a segment (host NULL) at rate
//  (tc's "100mbit"), or lift the cap ("off").
void netbed_cap (netbed_t *self, const char *segment, const char *rate, const char *host);

//  A TCP connection from host to address:port: 0 if it was made (and
//  closed again), else the errno that stopped it: ECONNREFUSED (got there,
//  nobody listens), ENETUNREACH (no route), ETIMEDOUT (no answer within
//  timeout_ms). Made to a gateway's link, it costs a failed handshake
//  there (logged): probe ports nobody listens on.
int netbed_connect (netbed_t *self, const char *host, const char *address, int port,
                    int timeout_ms);

//  --------------------------------------------------------------------------
//  sstream-pipe gateway processes in the bed

#define NETBED_SETS_MAX 8

typedef struct {
    char host [8];
    pid_t pid;
    char config [600], out [600], err [600];
    char local [64];                //  Where its facility's clients connect
    char peer [64];                 //  Its WAN link, on the side that binds it
    //  What it was started with, for netbed_gateway_restart
    size_t sets;
    char set [NETBED_SETS_MAX][256];
} netbed_gateway_t;

//  Start sstream-pipe gateway -c config (and --set PATH=VALUE for each of
//  sets, NULL-terminated; sets may be NULL) in host; return once it is
//  ready, with where it listens.
void netbed_gateway_start (netbed_t *self, netbed_gateway_t *gateway, const char *host,
                           const char *config, const char *const *sets);
//  Wait until it has heard its peer.
void netbed_gateway_wait_paired (netbed_gateway_t *gateway);
//  SIGTERM; it must exit 0. Nothing to do once it is killed.
void netbed_gateway_stop (netbed_gateway_t *gateway);
//  SIGKILL and reap it, as a crash ends it (a stopped one too): its
//  connections close and its state is gone, with no word to anyone.
void netbed_gateway_kill (netbed_gateway_t *gateway);
//  Start it again, after netbed_gateway_kill, as it was started (config
//  and sets; its logs are numbered on: gateway-HOST-2.err, ...), and
//  return once it is ready. Where it binds a port of its own choosing
//  ("*") that may be another; with fixed_ports it listens where it did.
void netbed_gateway_restart (netbed_t *self, netbed_gateway_t *gateway);

//  Gateways A and B, peered across the WAN (A binds it), each clients'
//  link on its LAN address, with real CURVE keys: keys made by
//  gateways_keys (the second pair shares the first's keys, as the
//  gateways of a facility do). Their configs are written after
//  conf/gateway-a.cfg and conf/gateway-b.cfg, into the bed's folder.
typedef struct {
    netbed_gateway_t a, b;
} netbed_pair_t;

typedef struct {
    bool second;                    //  gwa2 and gwb2 (up with second_pair)
    const char *heartbeat;          //  gateway/heartbeat (default 200ms)
    const char *peer_timeout;       //  gateway/peer-timeout (default 10s)
    const char *const *sets_a;      //  More PATH=VALUE for A, NULL-terminated
    const char *const *sets_b;
    //  Clients' links on ports 7001 (A) and 7002 (B), the WAN on 7100 (A
    //  binds it), as in conf/, rather than ports the gateways pick: a
    //  gateway restarted listens where its clients and its peer look for
    //  it. Safe in a bed, where every host has ports of its own.
    bool fixed_ports;
} netbed_pair_options_t;

//  Start A, then B, and return once they are paired. options may be NULL.
void netbed_pair_start (netbed_t *self, netbed_pair_t *pair, const gateways_t *keys,
                        const netbed_pair_options_t *options);
void netbed_pair_stop (netbed_pair_t *pair);

//  --------------------------------------------------------------------------
//  sstream-pipe send in instr and recv in ana, with the keys of
//  gateways_keys: sealed end to end for the consumer

typedef struct {
    const char *endpoints;          //  Gateways, comma-separated
    const char *stream;
    const char *config;             //  -c FILE, or NULL
    const char *const *more;        //  More options, NULL-terminated, or NULL
    const char *in, *out, *err;     //  Files (NULL: /dev/null)
} netbed_client_t;

//  Start it (netbed_spawn: the pid is the program's).
pid_t netbed_send (netbed_t *self, const gateways_t *keys, const netbed_client_t *client);
pid_t netbed_recv (netbed_t *self, const gateways_t *keys, const netbed_client_t *client);

//  bytes (a file in the bed's folder) from sstream-pipe send in instr,
//  through the pair, to sstream-pipe recv in ana: sealed for the
//  consumer, all of it, unchanged. stream names the stream and its files.
void netbed_stream (netbed_t *self, const gateways_t *keys, const netbed_pair_t *pair,
                    const char *stream, uint64_t bytes);

#endif
