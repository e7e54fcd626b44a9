/*  =========================================================================
    pipe.h - what the sstream-pipe subcommands share

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#ifndef PIPE_H_INCLUDED
#define PIPE_H_INCLUDED

#include <sstream.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

//  Exit statuses, for scripts
#define PIPE_EXIT_OK        0
#define PIPE_EXIT_FAILED    1   //  the stream failed (aborted, lost, I/O)
#define PIPE_EXIT_USAGE     2   //  bad command line
#define PIPE_EXIT_CONFIG    3   //  bad configuration or key file
#define PIPE_EXIT_AUTH      4   //  authentication refused
#define PIPE_EXIT_TIMEOUT   5   //  gateway unreachable or silent
#define PIPE_EXIT_STATUSES \
    "Exit status: 0 success; 1 the stream failed; 2 bad command line; 3 bad\n" \
    "configuration or key; 4 authentication refused; 5 timed out (gateway\n" \
    "unreachable, or no producer within --wait).\n"

int pipe_keygen_main (int argc, char **argv);
int pipe_gateway_main (int argc, char **argv);
int pipe_send_main (int argc, char **argv);
int pipe_recv_main (int argc, char **argv);
int pipe_demo_main (int argc, char **argv);
int pipe_bench_main (int argc, char **argv);
int pipe_open_main (int argc, char **argv);
int pipe_status_main (int argc, char **argv);
int pipe_release_main (int argc, char **argv);
int pipe_tunnel_main (int argc, char **argv);

//  "sstream-pipe send", for messages
extern const char *pipe_command;

//  Print "sstream-pipe CMD: error: ..." on stderr.
void pipe_error (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  Report the library's last error and map its code to an exit status.
int pipe_fail (int code);
//  The exit status for an sstream error code.
int pipe_exit_code (int code);

//  A bad command line: one line, a hint, and PIPE_EXIT_USAGE.
int pipe_usage_error (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  getopt_long's verdict (':' missing value, '?' unknown option), in words.
int pipe_bad_option (char **argv, int verdict);

//  Signals: SIGINT, SIGTERM and SIGHUP set pipe_interrupted and interrupt
//  the main thread's blocking calls; library threads never see them.
void pipe_signals_start (void);
bool pipe_interrupted (void);
int pipe_signal_number (void);
//  SIGHUP asks for a reload rather than a stop; pipe_hangup says whether
//  one came since it last asked.
void pipe_signals_hangup_reloads (void);
bool pipe_hangup (void);

//  What gateways list (pipe_print.c). JSON: one array of sessions; or
//  {"sessions": [...], "streams": [...]} (streams left out when NULL).
//  Tables: sessions, then streams (when not NULL).
void pipe_print_sessions_json (sstream_session_list_t *sessions);
void pipe_print_status_json (sstream_session_list_t *sessions, sstream_session_list_t *streams);
void pipe_print_status_table (sstream_session_list_t *sessions, sstream_session_list_t *streams);

//  What send and recv show a person on standard error. With show, a
//  progress line is drawn in place a few times a second (bytes, rate,
//  elapsed; percentage and ETA with total, the bytes expected) until
//  destroy; meanwhile standard error passes through a thread that keeps
//  every other line whole, above it. The main thread counts with add.
typedef struct _pipe_progress_t pipe_progress_t;
pipe_progress_t *pipe_progress_new (const char *stream, bool show, uint64_t total);
//  The clock starts: send at the stream's opening, recv at its first record
void pipe_progress_begin (pipe_progress_t *self);
void pipe_progress_add (pipe_progress_t *self, uint64_t bytes);
//  Words shown instead of the rate ("waiting for the producer"); NULL: none
void pipe_progress_state (pipe_progress_t *self, const char *state);
//  Seconds since begin (0 before)
double pipe_progress_seconds (pipe_progress_t *self);
//  Erase the line, and give standard error back. Idempotent.
void pipe_progress_destroy (pipe_progress_t **self_p);

//  The line at a stream's end: "sstream-pipe send: run42: 1073741824 bytes
//  (1.07 GB) in 1024 records, 2.31 s, 465 MB/s, checksum ... (xxh3-128)"
void pipe_summary (const char *stream, uint64_t bytes, uint64_t records, double seconds,
                   const char *checksum, uint64_t resumes);

//  "1.07 GB": three significant digits, powers of 1000
void pipe_human_bytes (char *text, size_t size, double bytes);

//  Sessions held on gateways' control links (pipe_session.c), for open
//  --hold and tunnel. Hold until a signal (PIPE_EXIT_OK), a session ends
//  (said; PIPE_EXIT_FAILED), or a gateway is lost: with why, PIPE_HOLD_LOST,
//  its index in *lost and why in why (its id freed: nothing to release);
//  without, said and PIPE_EXIT_FAILED.
#define PIPE_HOLD_LOST (-1)
int pipe_hold (sstream_control_t **controls, char **ids, size_t count, size_t *lost,
               char *why, size_t why_size);
//  Release a session held; 0, or an exit status after saying why.
int pipe_release_held (sstream_control_t *control, const char *id);

//  Options that send and recv share
typedef struct {
    const char *config_file;
    const char *key;
    const char *gateway_key;
    const char *transport;
    const char *timeout;
    const char *security;
    const char *window;
    const char *batch;
    const char *linger;
    const char *readers;        //  send: the readers' public keys
    const char *payload;        //  send: sealed or hop
    const char *resume_timeout;
    const char *replay_buffer;  //  send
    const char *wait;           //  recv: for a producer to start
    const char *sets [16];      //  --set client/PATH=VALUE, as given
    int set_count;
} pipe_client_args_t;

//  Take --set PATH=VALUE into args: 0, or an exit status after saying why.
int pipe_client_set (pipe_client_args_t *args, const char *setting);

//  Build the library options from the command line (and -c FILE).
int pipe_client_options (const pipe_client_args_t *args, sstream_config_t **options_p);

#endif
