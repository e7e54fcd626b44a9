/*  =========================================================================
    sstream_batch - a batch of records: built by a producer, read by a
    consumer, forwarded whole by gateways (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A batch is one data message of two frames (PROTOCOL.md section 3.3):

        frame 0   binary header (32 bytes), then the index: for each record
                  its payload length and its metadata length (u32, u32,
                  little-endian), then every record's metadata, in order
        frame 1   every record's payload, in order

    Both frames are sent without a copy: frame 1 is the buffer the records
    were copied into (from a pool, so that buffers are reused rather than
    faulted in afresh), or, for a record that travels alone, the caller's
    own buffer; frame 0 is the buffer the entries were written into, with
    room for the header in front.
*/

#ifndef SSTREAM_BATCH_H_INCLUDED
#define SSTREAM_BATCH_H_INCLUDED

//  --------------------------------------------------------------------------
//  Buffers of one size, reused. Thread-safe: buffers are taken by a
//  producer and given back by whichever thread libzmq frees them in. The
//  pool lives until it is released and every buffer is back.

typedef struct _sstream_pool_t sstream_pool_t;

sstream_pool_t *
    sstream_pool_new (size_t buffer_size, size_t keep);
//  Let go of the pool; it goes when its last buffer is back.
void
    sstream_pool_release (sstream_pool_t **self_p);
size_t
    sstream_pool_buffer_size (sstream_pool_t *self);
//  A buffer of buffer_size bytes, or NULL when out of memory.
void *
    sstream_pool_take (sstream_pool_t *self);
//  A zmq_free_fn that gives a buffer back (hint: the pool).
void
    sstream_pool_give (void *buffer, void *pool);


//  --------------------------------------------------------------------------
//  Building a batch (a producer)

typedef struct _sstream_batch_t sstream_batch_t;

//  A batch whose payloads are copied into a buffer from pool; records
//  from first_seq on. index_hint: the bytes of index to make room for at
//  once (the last batch's, say); it grows as needed.
sstream_batch_t *
    sstream_batch_new (sstream_pool_t *pool, uint64_t first_seq, size_t index_hint);

//  A batch of one record that travels as it is: data is the caller's,
//  released with release (data, arg) once sent or dropped (release has
//  the shape of a zmq_free_fn). meta is copied.
sstream_batch_t *
    sstream_batch_new_single (uint64_t seq, void *data, size_t size, const void *meta,
                              size_t meta_size, sstream_release_fn *release, void *arg);

void
    sstream_batch_destroy (sstream_batch_t **self_p);

//  True if a record of size bytes and meta_size bytes of metadata fits
//  in the batch's buffer, and the batch has room for one more record.
bool
    sstream_batch_fits (sstream_batch_t *self, size_t size, size_t meta_size);

//  Copy a record in (it must fit). Returns SSTREAM_ENOMEM, or OK.
int
    sstream_batch_add (sstream_batch_t *self, const void *data, size_t size, const void *meta,
                       size_t meta_size);

uint32_t
    sstream_batch_count (sstream_batch_t *self);
uint64_t
    sstream_batch_first_seq (sstream_batch_t *self);
//  Payload bytes of its records.
uint64_t
    sstream_batch_bytes (sstream_batch_t *self);
//  Bytes of index (entries and metadata) so far.
size_t
    sstream_batch_index_size (sstream_batch_t *self);
//  What it costs in credit once sealed (sstream_wire_batch_cost).
uint64_t
    sstream_batch_cost (sstream_batch_t *self);

//  Make the two frames of the data message (stream number 0: the sender
//  sets it with sstream_wire_batch_set_sid). The payload buffer moves
//  into frame1; the batch can only be destroyed after. Returns
//  SSTREAM_ENOMEM, or OK.
int
    sstream_batch_seal (sstream_batch_t *self, zmq_msg_t *frame0, zmq_msg_t *frame1);

//  Seal the batch end to end instead: frame 0 is the header alone (flag
//  SSTREAM_WIRE_SEALED), frame 1 the entries, metadata and payloads sealed
//  with seal, in a buffer from pool (or one of its own, when larger). The
//  batch keeps its own buffers; destroy it after.
int
    sstream_batch_seal_with (sstream_batch_t *self, sstream_seal_t *seal, sstream_pool_t *pool,
                             zmq_msg_t *frame0, zmq_msg_t *frame1);


//  --------------------------------------------------------------------------
//  Reading a batch (a consumer)

//  A received batch, as records: where its entries (8 bytes a record: the
//  payload's length, the metadata's), its metadata and its payloads lie
typedef struct {
    const byte *entries;
    const byte *metas;
    const byte *payloads;
    uint32_t count;
    uint64_t bytes;             //  Of payloads
} sstream_batch_view_t;

//  Check a received batch's index against its header and frames, and
//  find its parts: a plain batch's index is in frame 0, its payloads in
//  frame 1; a sealed one, once opened, has them all in frame 1 (of
//  frame1_size bytes of plaintext). Lengths must add up exactly.
int
    sstream_batch_view (const sstream_wire_batch_t *header, const byte *frame0,
                        const byte *frame1, size_t frame1_size, sstream_batch_view_t *view);

//  Walk a checked batch's records in order: each call gives the next
//  record's payload and size, and its metadata (NULL if none) and size.
//  cursor must start zeroed.
typedef struct {
    uint32_t next;              //  Record the next call describes
    uint64_t payload_at;        //  Its payload's offset among the payloads
    uint64_t meta_at;           //  Its metadata's offset among the metadata
} sstream_batch_cursor_t;

void
    sstream_batch_next (const sstream_batch_view_t *view, sstream_batch_cursor_t *cursor,
                        const byte **data, size_t *size, const byte **meta, size_t *meta_size);

#endif
