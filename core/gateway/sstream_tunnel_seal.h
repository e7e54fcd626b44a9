/*  =========================================================================
    sstream_tunnel_seal - sealing one tunnel connection's bytes between the
    two gateways, both ways (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A tunnel's bytes come from applications that know nothing of sstream,
    so its ends are the gateways: the gateway that reads from an
    application seals what it read, the gateway that writes to the other
    application opens it (PROTOCOL.md section 9.1). For each connection,
    each gateway makes a random data key for the bytes it sends, and hands
    it to the other gateway wrapped for that gateway's pinned public key
    (a tunnel-key message); it opens what it receives with the key the
    other gateway sent it. So the chunks may cross the WAN on the bulk
    path, with no CURVE under them.

    What a chunk binds (sstream_seal's associated data): the session's
    name, the connection's number, the key's generation and the chunk's
    number on the connection, which is also its nonce. A chunk altered,
    dropped, repeated, reordered or moved to another connection does not
    open, or does not come in turn, and resets the connection.
*/

#ifndef SSTREAM_TUNNEL_SEAL_H_INCLUDED
#define SSTREAM_TUNNEL_SEAL_H_INCLUDED

typedef struct _sstream_tunnel_seal_t sstream_tunnel_seal_t;

//  For connection conn of session name: cert is this gateway's key pair
//  (to open), peer_key the other gateway's public key (32 bytes: to
//  wrap for). rekey: bytes one key seals before the next (0: the
//  built-in limit).
sstream_tunnel_seal_t *
    sstream_tunnel_seal_new (const char *name, uint64_t conn, zcert_t *cert,
                             const byte *peer_key, uint64_t rekey);

void
    sstream_tunnel_seal_destroy (sstream_tunnel_seal_t **self_p);

//  What sealing adds to a chunk: its tag.
#define SSTREAM_TUNNEL_SEAL_TAG SSTREAM_SEAL_TAG_SIZE

//  Sending
//  -------

//  True when the key in force has not been sent yet: then message gets
//  its tunnel-key fields (gen, cipher, wrap; the caller adds stream and
//  conn), and must go before the next chunk.
bool
    sstream_tunnel_seal_key_due (sstream_tunnel_seal_t *self, sstream_wire_t *message);

//  Seal size bytes at data, in place, as chunk seq; the tag goes after
//  them (data has room for size + SSTREAM_TUNNEL_SEAL_TAG bytes). Makes
//  the next key when this one is spent (its message is then due).
int
    sstream_tunnel_seal_chunk (sstream_tunnel_seal_t *self, uint64_t seq, byte *data,
                               size_t size);

//  Receiving
//  ---------

//  A tunnel-key from the other gateway: its key for what it sends.
int
    sstream_tunnel_seal_take_key (sstream_tunnel_seal_t *self, const sstream_wire_t *message);

//  Open chunk seq in place: size bytes with the tag; on success the
//  first size - SSTREAM_TUNNEL_SEAL_TAG bytes are what was sent. A
//  chunk that does not open is SSTREAM_EPROTO, with why.
int
    sstream_tunnel_seal_open_chunk (sstream_tunnel_seal_t *self, uint64_t seq, byte *data,
                                    size_t size);

#endif
