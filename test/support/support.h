/*  =========================================================================
    support - what the tests share: scratch folders, a two-gateway path
    with fresh keys, producers and consumers that digest what they move,
    and child processes

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#ifndef SUPPORT_H_INCLUDED
#define SUPPORT_H_INCLUDED

#include <sstream.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

//  A fresh folder under TMPDIR; free () the result after support_rmtree.
char *support_scratch (void);
void support_rmtree (const char *path);

//  A fixture for tests that run processes (.init and .fini of a
//  TestSuite): a fresh scratch folder in support_folder, SIGPIPE ignored;
//  at the end, passed or failed, support_kill_children and the folder
//  removed. Without a folder the test aborts, saying why.
extern char *support_folder;
void support_fixture_setup (void);
void support_fixture_teardown (void);

//  Write text to a file (mode 0644); returns 0 or -1.
int support_write_file (const char *path, const char *text);
//  The file's contents, NUL-terminated (free it), or NULL.
char *support_read_file (const char *path);

typedef struct {
    const char *transport;      //  "tcp" (default) or "ipc"
    bool insecure;              //  security = none on every link (and
                                //  client/payload = hop: nobody has a key)
    bool hop;                   //  client/payload = hop: not sealed
    const char *buffer;         //  gateway/buffer of both gateways
    const char *buffer_b;       //  gateway/buffer of gateway B, if not buffer
    const char *heartbeat;      //  gateway/heartbeat, client/heartbeat
    const char *peer_timeout;   //  gateway/peer-timeout, client/peer-timeout
    const char *window;         //  consumer's client/window
    bool tunnels;               //  Each gateway a control link (security
                                //  none) and a range of tunnel ports
    const char *tunnel_payload; //  tunnels/payload of both gateways
    const char *tunnel_rekey;   //  tunnels/rekey of both gateways
} support_options_t;

//  Producer at gateway A, consumer at gateway B; A binds the WAN link.
typedef struct {
    support_options_t options;
    char *folder;
    char gateways [512];        //  gateway-a.*, gateway-b.*
    char facility_a [512];      //  producer.*  (A trusts this folder)
    char facility_b [512];      //  consumer.*  (B trusts this folder)
    sstream_gateway_t *a;
    sstream_gateway_t *b;
    sstream_config_t *producer_options;
    sstream_config_t *consumer_options;
} support_path_t;

//  Make keys (unless insecure), configs, and start both gateways; return
//  once they are paired. Returns an sstream error code (0 on success).
int support_path_start (support_path_t *path, const support_options_t *options);

//  A gateway config as support_path_start makes it, for 'a' or 'b'; the
//  caller may change it before starting a gateway of its own.
sstream_config_t *support_gateway_config (support_path_t *path, char which);

void support_path_stop (support_path_t *path);

//  Deterministic stream contents: the bytes at offset of any stream.
void support_fill (unsigned char *buffer, uint64_t offset, size_t size);

//  Write the first bytes of that stream to a file; 0 or -1.
int support_fill_file (const char *path, uint64_t bytes);
//  BLAKE2b-256 of a file's contents, and its size; 0 or -1.
int support_digest_file (const char *path, unsigned char digest [32], uint64_t *size);

//  Send bytes as messages of msg_size (the last may be shorter); digest
//  what was sent. Returns the first error, after closing (SSTREAM_OK only
//  if the consumer acknowledged the end).
int support_produce (const char *endpoint, const char *stream, sstream_config_t *options,
                     uint64_t bytes, size_t msg_size, unsigned char digest [32]);

//  A consumer running in a thread of its own
typedef struct {
    const char *endpoint;
    const char *stream;
    sstream_config_t *options;
    int stall_ms;               //  Sleep this long before the first recv
    //  Results
    int rc;                     //  SSTREAM_OK once end acknowledged
    char error [1024];
    uint64_t bytes;
    uint64_t messages;
    bool in_order;              //  Sequence numbers ran 0, 1, 2, ...
    unsigned char digest [32];
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t opened;
    bool is_open;               //  sstream_consumer_new has returned
} support_consumer_t;

//  Start the consumer's thread and return once its sstream_consumer_new
//  has returned: the consumer is attached to its stream (or has failed),
//  so whatever the test does next happens after that.
void support_consumer_start (support_consumer_t *consumer);
void support_consumer_join (support_consumer_t *consumer);

//  Child processes: argv [0] is a path. in/out/err may be NULL (/dev/null).
pid_t support_spawn (char *const argv [], const char *in, const char *out, const char *err);
//  The same, run in a network namespace (an open file of one, as
//  /run/netns/NAME; -1 for this process's own).
pid_t support_spawn_in (int netns, char *const argv [], const char *in, const char *out,
                        const char *err);
//  The same on a pseudo-terminal of its own: standard error, and standard
//  input and output where in and out are NULL, are the terminal, whose
//  other side is *terminal (read what the child writes there, or it
//  blocks; close it after support_wait).
pid_t support_spawn_pty (char *const argv [], const char *in, const char *out, int *terminal);
//  Read what a child wrote to its terminal into text (size bytes, kept
//  NUL-terminated; *used so far) until it holds wanted (true), or, with
//  wanted NULL, until the child has gone (true); false after timeout_ms.
bool support_pty_read (int terminal, char *text, size_t size, size_t *used, const char *wanted,
                       int timeout_ms);
//  Kill (SIGKILL) and reap the children support_spawn started that no
//  support_wait saw end: call it when a test ends, passed or failed.
void support_kill_children (void);
//  Exit status, or -1 if it ran past timeout_ms (then it is killed), or
//  128 + signal if a signal ended it.
int support_wait (pid_t pid, int timeout_ms);
//  Whether a child support_spawn started has ended (it is not reaped:
//  support_wait still gets its status).
bool support_ended (pid_t pid);

//  Seconds on the monotonic clock.
double support_now (void);
//  Wait until a file contains text; true if it did within timeout_ms.
bool support_wait_for_text (const char *path, const char *text, int timeout_ms);
//  The same, but give up as soon as the child pid has ended.
bool support_wait_for_output (pid_t pid, const char *path, const char *text, int timeout_ms);

//  Wait until a file holds at least size bytes; true if it did within
//  timeout_ms, false also as soon as the child pid (0: none) has ended.
bool support_wait_for_size (pid_t pid, const char *path, uint64_t size, int timeout_ms);
//  A file's size, 0 if there is none.
uint64_t support_file_size (const char *path);

//  Logs as the library writes them (core/common/sstream_log.h). The
//  length of a text line's head, "2026-12-03T17:45:19.123+00:00 info " (ISO
//  8601 time with milliseconds and zone, a level, a space) and, when
//  gateway is not NULL, "gateway-a: ": 0 if line does not start so.
size_t support_log_head (const char *line, const char *gateway);
//  A log written as JSON, each line read by Python's parser
//  (test/support/json_lines.py) and printed again, keys sorted: the
//  result (free it), or NULL with why in *why (free it) if a line is not
//  a JSON object.
char *support_json_lines (const char *path, char **why);

//  Resident memory of a process, in bytes (from /proc).
uint64_t support_rss (pid_t pid);

//  Ports. Tests never ask the kernel for a free port to hand on to somebody
//  else: between the asking and the binding, any outgoing connection on the
//  machine may take it. Servers bind tcp://127.0.0.1:* and say where they
//  are; these are for the rest.
//
//  A port on 127.0.0.1 where connections are refused: a socket bound to it
//  without listening, so that nobody else can have it. Close the result
//  (a file descriptor) when the test ends; -1 on failure.
int support_refused_port (int *port);

//  A TCP echo server on 127.0.0.1 (a thread; each connection one of its
//  own): its listening socket (close it to stop it), its port in port; -1
//  if it cannot be made.
int support_echo_server (int *port);
//  Connect to address (IPv4 "host:port"), send text, and read it back:
//  false (and why) if that fails within 30 s.
bool support_echo_once (const char *address, const char *text, char *why, size_t why_size);
//  The first of count consecutive ports that only this process uses, for
//  what must be told a port (tunnel ranges, iperf3): from a slice of ports
//  outside the kernel's ephemeral range, held with a lock file under
//  /tmp/sstream-test-ports until the process ends. A program outside the
//  tests may still hold one of them: use the next if a bind fails. -1 when
//  the slice is used up or no slice is free.
int support_ports (int count);

#endif
