/*  =========================================================================
    sstream_fault - a test seam in a gateway's forwarding path (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Sealed streams promise that a gateway which alters, drops, repeats or
    moves what it forwards cannot pass it off as the producer's stream
    (core/PROTOCOL.md section 3.8). To test that promise end to end, a test
    must make a real gateway misbehave. This is how: a test linked with
    the static library (sstream_test (... INTERNAL)) points
    sstream_fault_forward at a function of its own, and every gateway of
    the process calls it for each batch, key and end it forwards, just
    before the message goes to the next party, and for each tunnel chunk
    it sends its peer (sealed tunnels, PROTOCOL.md section 9.1, make the
    same promise between the two gateways).

    The function may change the message in place (its frames, or the
    end's fields), replace its frames (close them and put others in their
    place, of the same sizes), and says how many times it goes on: 0 drops
    it, 1 forwards it, 2 forwards it twice. It runs in the gateway's thread:
    what it shares with the test needs a lock.

    NULL, as it always is outside such tests, it costs one check per
    forwarded message (sstream_stream.c) and per tunnel chunk
    (sstream_tunnels.c). The library is built with hidden
    visibility: the shared library does not export it, so no application
    can reach it.
*/

#ifndef SSTREAM_FAULT_H_INCLUDED
#define SSTREAM_FAULT_H_INCLUDED

typedef enum {
    SSTREAM_FAULT_BATCH,        //  A data message: frame0 and frame1
    SSTREAM_FAULT_KEY,          //  A key message: frame0 and frame1
    SSTREAM_FAULT_END,          //  An end: end, before it is encoded
    SSTREAM_FAULT_TUNNEL_CHUNK, //  A tunnel chunk this gateway sealed (or not)
                                //  and sends its peer: frame0 and frame1
    SSTREAM_FAULT_TUNNEL_KEY    //  A tunnel-key it sends (seen, not changed:
                                //  no frames, and what it returns is ignored)
} sstream_fault_kind_t;

typedef struct {
    sstream_fault_kind_t kind;
    const char *stream;
    //  Where it goes: the peer gateway (so this is the producer's gateway),
    //  or a consumer (this is the consumer's)
    bool to_peer;
    //  A batch: its header, read from frame0 as it came
    const sstream_wire_batch_t *batch;
    zmq_msg_t *frame0;
    zmq_msg_t *frame1;
    sstream_wire_t *end;
} sstream_fault_t;

//  Returns how many times the message goes on: 0, 1 or 2.
typedef int (sstream_fault_fn) (sstream_fault_t *message);

extern sstream_fault_fn *sstream_fault_forward;

#endif
