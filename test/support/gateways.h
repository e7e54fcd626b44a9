/*  =========================================================================
    gateways - two gateway processes started from conf/, as a user starts
    them, with keys, ports and timings of the test; and sstream-pipe runs

    The gateways bind tcp://127.0.0.1:* and the test reads where they are
    from what each prints when it is ready; only their tunnel ranges come
    from the process's own ports (support_ports).

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Criterion asserts here: a gateway that does not start fails the test.
*/

#ifndef GATEWAYS_H_INCLUDED
#define GATEWAYS_H_INCLUDED

#include <stdbool.h>
#include <sys/types.h>

#define GATEWAYS_EXTRA_MAX 8

typedef struct {
    const char *buffer;                 //  gateway/buffer (default 64MiB)
    const char *peer_timeout;           //  gateway/peer-timeout (default: conf/'s, 10s;
                                        //  heartbeats queue behind data on a busy machine)
    const char *idle_timeout;           //  sessions/idle-timeout (default: conf/'s)
    int tunnel_ports;                   //  Ports in each gateway's range (default 100)
    bool reuse_keys;                    //  The folder has the keys already
    const char *tag;                    //  In log names: gateway-a<tag>.err
    const char *config_a;               //  Instead of conf/gateway-a.cfg
    const char *extra_a [GATEWAYS_EXTRA_MAX];   //  More PATH=VALUE for A
    const char *extra_b [GATEWAYS_EXTRA_MAX];
} gateways_options_t;

typedef struct {
    char folder [512];                  //  Keys, configs and logs go here
    gateways_options_t options;
    pid_t a, b;
    int tunnel_low_a, tunnel_low_b;     //  First port of each tunnel range
    //  Where the gateways are, as they said: local, control, and A's WAN link
    char endpoint_a [64], endpoint_b [64];
    char control_a [64], control_b [64];
    char endpoint_wan [64];
    char metrics_a [64], metrics_b [64];    //  When they serve metrics (extra_a/_b
                                            //  "metrics/endpoint=..."), else ""
    char producer_key [600], consumer_key [600], operator_key [600];
    char consumer_pub [600];            //  The producers' reader
    char gateway_a_pub [600], gateway_b_pub [600];
} gateways_t;

//  Make keys in folder/keys with sstream-pipe keygen, as the README does:
//  gateway-a, gateway-b, facility-a/producer, facility-b/consumer and
//  operators/operator.
void gateways_keys (gateways_t *self, const char *folder);

//  Keys, ports, and both gateways up and paired. options may be NULL.
void gateways_start (gateways_t *self, const char *folder, const gateways_options_t *options);

//  The same in steps, for a test that starts (and restarts) the gateways
//  itself: keys and ports; then one gateway ('a' or 'b'), returning once it
//  is ready, with its log in folder/gateway-<which><tag>.err. It takes
//  options (extra_a, tag, ...) as they are at the call; B dials
//  endpoint_wan, which A's start sets.
void gateways_prepare (gateways_t *self, const char *folder, const gateways_options_t *options);
pid_t gateways_start_one (gateways_t *self, char which);

//  Wait for the line a gateway process prints once it listens ("ready
//  local=... [peer=...] [control=...]", to out; its log is err): return it
//  (free it). name is for the failure message.
char *gateways_wait_ready (pid_t pid, const char *out, const char *err, const char *name);

//  The endpoint after name (e.g. " local=") in that line, into endpoint;
//  false if it is not there.
bool gateways_ready_endpoint (const char *ready, const char *name, char *endpoint, size_t size);

//  SIGTERM both; they must exit 0.
void gateways_stop (gateways_t *self);

//  Run sstream-pipe with arguments (NULL-terminated), stdin from in (may
//  be NULL); stdout and stderr to out and err. Returns the exit status.
int gateways_pipe_run (const char *in, const char *out, const char *err, const char *first, ...);

//  Start sstream-pipe with arguments (NULL-terminated), not waiting.
pid_t gateways_pipe_spawn (const char *out, const char *err, const char *first, ...);

//  The file err holds one line, which says said.
void gateways_assert_one_line (const char *err, const char *said);

//  How many file descriptors a process has open, and how many TCP
//  sockets it listens on (from /proc).
int gateways_fd_count (pid_t pid);
int gateways_listen_count (pid_t pid);

#endif
