/*  =========================================================================
    sstream_sealer - a producer's side of sealing: the stream's data key,
    the key messages that carry it to the readers, sealing each batch, and
    a new key before the old one has sealed too much (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    The actor uses it: the key message goes out before the first batch and
    before the first batch of every new key; each batch is sealed with the
    key in force; the end carries a seal over the stream's totals.
*/

#ifndef SSTREAM_SEALER_H_INCLUDED
#define SSTREAM_SEALER_H_INCLUDED

typedef struct _sstream_sealer_t sstream_sealer_t;

//  For stream, in the producer's run epoch, whose readers' public keys
//  are in readers; batches hold at most capacity bytes of records and as
//  much of index.
sstream_sealer_t *
    sstream_sealer_new (const char *stream, uint64_t epoch, sstream_keyring_t *readers,
                        uint64_t rekey, uint64_t capacity);

//  The generation of the key in force.
uint32_t
    sstream_sealer_generation (sstream_sealer_t *self);

void
    sstream_sealer_destroy (sstream_sealer_t **self_p);

//  What sealing adds to a batch's cost in credit (the tag).
uint64_t
    sstream_sealer_overhead (void);

//  The key message for the key in force: its header and payload frames.
int
    sstream_sealer_key_message (sstream_sealer_t *self, zframe_t **header, zframe_t **payload);

//  Seal a batch into its two frames (see sstream_batch_seal_with).
int
    sstream_sealer_seal (sstream_sealer_t *self, sstream_batch_t *batch, zmq_msg_t *frame0,
                         zmq_msg_t *frame1);

//  After a batch: true when the key is spent and a new one is in force
//  now; then its key message must go before the next batch.
bool
    sstream_sealer_rotate (sstream_sealer_t *self);

//  The end's seal over the totals, in hex, into seal (2 x tag + 1 bytes).
int
    sstream_sealer_end (sstream_sealer_t *self, uint64_t records, uint64_t bytes, char *seal);

#endif
