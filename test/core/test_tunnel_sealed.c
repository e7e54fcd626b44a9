/*  =========================================================================
    test_tunnel_sealed - tunnels sealed by the gateways: bytes both ways on
    the WAN link's bulk path, keys that change under a long connection,
    and a gateway that tampers with the chunks it sends

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A white-box test (linked with the static library): two gateways in
    this process, a TCP server and client of its own, and the seam in a
    gateway's sending path (sstream_fault.h) to make it misbehave.
*/

#define _GNU_SOURCE
#include "sstream_common.h"
#include "sstream_fault.h"
#include "support.h"

#include <sstream_control.h>

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite (tunnel_sealed, .timeout = 240);

#define S_LIMIT_MS 60000

static uint64_t
s_stat (sstream_gateway_t *gateway, const char *name)
{
    uint64_t value = 0;
    cr_assert_eq (sstream_gateway_stat (gateway, name, &value), SSTREAM_OK, "%s", sstream_errmsg ());
    return value;
}


//  --------------------------------------------------------------------------
//  A TCP server at the inbound end: takes one connection, reads until it
//  ends (checking every byte against support_fill), then sends back

typedef struct {
    int listener;
    int port;
    uint64_t send_back;         //  Bytes to send once the input ended
    //  Results
    uint64_t received;
    bool intact;                //  Every byte as support_fill makes it
    bool reset;                 //  The input ended in a reset, not an end
    uint64_t sent;
    pthread_t thread;
} s_server_t;

//  Read until the end (true) or a reset or error (false); checks the bytes
static bool
s_read_all (int fd, uint64_t *received, bool *intact)
{
    static __thread unsigned char buffer [1 << 16], expected [1 << 16];
    *intact = true;
    while (true) {
        struct pollfd item = { fd, POLLIN, 0 };
        if (poll (&item, 1, S_LIMIT_MS) != 1)
            return false;
        ssize_t got = recv (fd, buffer, sizeof (buffer), 0);
        if (got == 0)
            return true;
        if (got < 0)
            return false;
        support_fill (expected, *received, (size_t) got);
        if (memcmp (buffer, expected, (size_t) got) != 0)
            *intact = false;
        *received += (uint64_t) got;
    }
}

static bool
s_write_all (int fd, uint64_t bytes, uint64_t *sent)
{
    static __thread unsigned char buffer [1 << 16];
    while (*sent < bytes) {
        size_t size = bytes - *sent < sizeof (buffer)? (size_t) (bytes - *sent): sizeof (buffer);
        support_fill (buffer, *sent, size);
        ssize_t done = send (fd, buffer, size, MSG_NOSIGNAL);
        if (done <= 0)
            return false;
        *sent += (uint64_t) done;
    }
    return true;
}

static void *
s_server_run (void *arg)
{
    s_server_t *self = (s_server_t *) arg;
    int fd = accept (self->listener, NULL, NULL);
    if (fd < 0)
        return NULL;
    self->reset = !s_read_all (fd, &self->received, &self->intact);
    if (!self->reset && self->send_back)
        s_write_all (fd, self->send_back, &self->sent);
    close (fd);
    return NULL;
}

static void
s_server_start (s_server_t *self, uint64_t send_back)
{
    memset (self, 0, sizeof (*self));
    self->send_back = send_back;
    self->listener = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t length = sizeof (address);
    cr_assert_eq (bind (self->listener, (struct sockaddr *) &address, sizeof (address)), 0);
    cr_assert_eq (listen (self->listener, 4), 0);
    cr_assert_eq (getsockname (self->listener, (struct sockaddr *) &address, &length), 0);
    self->port = ntohs (address.sin_port);
    pthread_create (&self->thread, NULL, s_server_run, self);
}

static void
s_server_join (s_server_t *self)
{
    pthread_join (self->thread, NULL);
    close (self->listener);
}


//  --------------------------------------------------------------------------
//  The tunnel: sessions of one name at both gateways, a client at the
//  outbound end

static support_path_t s_path;

static void
s_start (const char *payload, const char *rekey)
{
    support_options_t options = { .tunnels = true, .tunnel_payload = payload,
                                  .tunnel_rekey = rekey };
    cr_assert_eq (support_path_start (&s_path, &options), SSTREAM_OK, "%s", sstream_errmsg ());
}

static void
s_stop (void)
{
    sstream_fault_forward = NULL;
    support_path_stop (&s_path);
}

static sstream_control_t *
s_control (sstream_gateway_t *gateway)
{
    sstream_config_t *options;
    cr_assert_eq (sstream_config_new (&options), SSTREAM_OK);
    sstream_config_set (options, "client/security", "none");
    sstream_control_t *control;
    cr_assert_eq (sstream_control_new (&control, sstream_gateway_endpoint (gateway, "control"),
                                       options), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_config_destroy (&options);
    return control;
}

//  Open the tunnel to the server; the port the outbound end listens on
static int
s_open_tunnel (const char *name, int server_port, sstream_control_t **inbound,
               sstream_control_t **outbound)
{
    *inbound = s_control (s_path.a);
    *outbound = s_control (s_path.b);
    char target [64];
    snprintf (target, sizeof (target), "127.0.0.1:%d", server_port);
    sstream_config_t *params;
    cr_assert_eq (sstream_config_new (&params), SSTREAM_OK);
    sstream_config_set (params, "target", target);
    sstream_session_list_t *session;
    cr_assert_eq (sstream_control_open (*inbound, name, "inbound", params, &session), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    sstream_session_list_destroy (&session);
    sstream_config_destroy (&params);
    cr_assert_eq (sstream_control_open (*outbound, name, "outbound", NULL, &session), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    const char *address = sstream_session_list_get (session, 0, "address");
    cr_assert (address);
    const char *colon = strrchr (address, ':');
    cr_assert (colon);
    int port = atoi (colon + 1);
    sstream_session_list_destroy (&session);
    return port;
}

//  A client through the tunnel: sends bytes, half-closes, reads what
//  comes back. What happened to it:
typedef struct {
    bool sent_all;
    bool ended;                 //  What came back ended cleanly
    bool intact;
    uint64_t received;
} s_client_t;

static void
s_client_run (int port, uint64_t bytes, s_client_t *result)
{
    memset (result, 0, sizeof (*result));
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                                   .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    cr_assert_eq (connect (fd, (struct sockaddr *) &address, sizeof (address)), 0, "%s",
                  strerror (errno));
    uint64_t sent = 0;
    result->sent_all = s_write_all (fd, bytes, &sent);
    shutdown (fd, SHUT_WR);
    result->ended = s_read_all (fd, &result->received, &result->intact);
    close (fd);
}

static void
s_close_tunnel (sstream_control_t **inbound, sstream_control_t **outbound)
{
    sstream_control_destroy (inbound);
    sstream_control_destroy (outbound);
}


//  --------------------------------------------------------------------------
//  Round trips

//  bytes one way, back bytes the other; both intact, and what crossed the
//  WAN link's bulk path (forward: B sends, A receives)
static void
s_round_trip (const char *name, uint64_t bytes, uint64_t back, uint64_t *bulk_forward,
              uint64_t *bulk_back)
{
    uint64_t b_out = s_stat (s_path.b, "peer-bulk-bytes-out");
    uint64_t a_out = s_stat (s_path.a, "peer-bulk-bytes-out");
    s_server_t server;
    s_server_start (&server, back);
    sstream_control_t *inbound, *outbound;
    int port = s_open_tunnel (name, server.port, &inbound, &outbound);
    s_client_t client;
    s_client_run (port, bytes, &client);
    s_server_join (&server);
    cr_assert (client.sent_all);
    cr_assert (!server.reset, "the server's connection was reset");
    cr_assert_eq (server.received, bytes);
    cr_assert (server.intact, "the server got bytes that were not sent");
    cr_assert (client.ended, "the client's connection did not end cleanly");
    cr_assert_eq (client.received, back);
    cr_assert (client.intact, "the client got bytes that were not sent");
    *bulk_forward = s_stat (s_path.b, "peer-bulk-bytes-out") - b_out;
    *bulk_back = s_stat (s_path.a, "peer-bulk-bytes-out") - a_out;
    s_close_tunnel (&inbound, &outbound);
}

Test (tunnel_sealed, bytes_go_both_ways_sealed_on_the_bulk_path)
{
    s_start (NULL, NULL);
    uint64_t forward, back;
    s_round_trip ("both-ways", 64 << 20, 16 << 20, &forward, &back);
    //  Sealed chunks of 64 KiB and more take the bulk path: nearly all of
    //  it, as it is read 128 KiB at a time when it comes fast
    cr_assert_gt (forward, (64 << 20) / 2, "%" PRIu64 " bytes of 64 MiB forward took the bulk path",
                  forward);
    cr_assert_gt (back, (16 << 20) / 2, "%" PRIu64 " bytes of 16 MiB back took the bulk path", back);
    cr_assert_eq (s_stat (s_path.a, "peer-bulk-refused"), 0);
    cr_assert_eq (s_stat (s_path.a, "tunnel-chunks-refused"), 0);
    cr_assert_eq (s_stat (s_path.b, "tunnel-chunks-refused"), 0);
    s_stop ();
}

Test (tunnel_sealed, hop_keeps_the_bytes_on_the_link)
{
    s_start ("hop", NULL);
    uint64_t forward, back;
    s_round_trip ("hop", 16 << 20, 1 << 20, &forward, &back);
    cr_assert_eq (forward, 0, "unsealed bytes took the bulk path");
    cr_assert_eq (back, 0, "unsealed bytes took the bulk path");
    s_stop ();
}

//  A key seals 64 KiB here, so each seals at most one chunk of up to
//  1 MiB past that: 32 MiB each way take 60 keys at least
static int s_keys_seen;
static pthread_mutex_t s_keys_lock = PTHREAD_MUTEX_INITIALIZER;

static int
s_count_keys (sstream_fault_t *message)
{
    if (message->kind == SSTREAM_FAULT_TUNNEL_KEY) {
        pthread_mutex_lock (&s_keys_lock);
        s_keys_seen++;
        pthread_mutex_unlock (&s_keys_lock);
    }
    return 1;
}

Test (tunnel_sealed, keys_change_under_a_long_connection)
{
    s_start (NULL, "64KiB");
    sstream_fault_forward = s_count_keys;
    uint64_t forward, back;
    s_round_trip ("rekeyed", 32 << 20, 32 << 20, &forward, &back);
    cr_assert_geq (s_keys_seen, 60, "%d keys", s_keys_seen);
    s_stop ();
}


//  --------------------------------------------------------------------------
//  A gateway that tampers with what it sends

typedef enum { S_ALTER, S_DROP, S_TWICE } s_misdeed_t;

static struct {
    pthread_mutex_t lock;
    s_misdeed_t misdeed;
    uint64_t at;                //  The chunk it is done to
    bool done;
    uint64_t before;            //  Bytes of the chunks that went before it
} s_plan = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int
s_misbehave (sstream_fault_t *message)
{
    if (message->kind != SSTREAM_FAULT_TUNNEL_CHUNK)
        return 1;
    pthread_mutex_lock (&s_plan.lock);
    int copies = 1;
    const sstream_wire_batch_t *chunk = message->batch;
    if (!s_plan.done && chunk->seq == s_plan.at) {
        s_plan.done = true;
        if (s_plan.misdeed == S_ALTER) {
            byte *bytes = (byte *) zmq_msg_data (message->frame1);
            bytes [zmq_msg_size (message->frame1) / 2] ^= 0x20;
        }
        copies = s_plan.misdeed == S_DROP? 0: s_plan.misdeed == S_TWICE? 2: 1;
        //  Twice: the first is as it should be, only the second is refused
        if (s_plan.misdeed == S_TWICE)
            s_plan.before += chunk->length - SSTREAM_SEAL_TAG_SIZE;
    }
    else
    if (!s_plan.done)
        s_plan.before += chunk->length - SSTREAM_SEAL_TAG_SIZE;
    pthread_mutex_unlock (&s_plan.lock);
    return copies;
}

//  The server gets only the bytes of the chunks before the bad one, all
//  of them as sent, and then a reset, as does the client; the gateway
//  that received it counts it
static void
s_tampered (const char *name, s_misdeed_t misdeed)
{
    s_start (NULL, NULL);
    s_plan.misdeed = misdeed;
    s_plan.at = 4;
    s_plan.done = false;
    s_plan.before = 0;
    sstream_fault_forward = s_misbehave;
    s_server_t server;
    s_server_start (&server, 0);
    sstream_control_t *inbound, *outbound;
    int port = s_open_tunnel (name, server.port, &inbound, &outbound);
    s_client_t client;
    s_client_run (port, 16 << 20, &client);
    s_server_join (&server);
    cr_assert (s_plan.done, "the gateway never sent chunk 4");
    cr_assert (server.reset, "the server's connection ended cleanly after a bad chunk");
    cr_assert (server.intact, "the server got bytes that were not sent");
    cr_assert (server.received <= s_plan.before, "the server got %" PRIu64 " bytes, more than "
               "the %" PRIu64 " before the bad chunk", server.received, s_plan.before);
    //  The reset reaches the client: its sending fails, or what it reads
    //  does not end cleanly (a reset reported to send is not reported again)
    cr_assert (!client.sent_all || !client.ended,
               "the client's connection ended cleanly after a bad chunk");
    int64_t start = zclock_mono ();
    while (s_stat (s_path.a, "tunnel-chunks-refused") < 1 && zclock_mono () - start < S_LIMIT_MS)
        usleep (10 * 1000);
    cr_assert_eq (s_stat (s_path.a, "tunnel-chunks-refused"), 1);
    s_close_tunnel (&inbound, &outbound);
    s_stop ();
}

Test (tunnel_sealed, an_altered_chunk_resets_the_connection_and_reaches_nobody)
{
    s_tampered ("altered", S_ALTER);
}

Test (tunnel_sealed, a_dropped_chunk_resets_the_connection)
{
    s_tampered ("dropped", S_DROP);
}

Test (tunnel_sealed, a_repeated_chunk_resets_the_connection)
{
    s_tampered ("repeated", S_TWICE);
}
