/*  =========================================================================
    sstream_wire_binary - the binary header of data and credit messages

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Part of the one codec (sstream_wire.h): what a gateway reads to forward
    a batch, and all it reads.
*/

#include "sstream_common.h"

#define s_malformed sstream_wire_malformed

//  Data, credit and tunnel-data
//
//  Little-endian, 32 bytes:
//    0  u8   version (2)          1  u8   type (5 data, 6 credit, 17 tunnel-data)
//    2  u16  flags                4  u32  sid
//    8  u64  seq                 16  u32  count
//   20  u32  index               24  u64  length

static inline void
s_put16 (byte *out, uint16_t value)
{
    out [0] = (byte) value;
    out [1] = (byte) (value >> 8);
}

static inline void
s_put32 (byte *out, uint32_t value)
{
    int index;
    for (index = 0; index < 4; index++)
        out [index] = (byte) (value >> (8 * index));
}

static inline void
s_put64 (byte *out, uint64_t value)
{
    int index;
    for (index = 0; index < 8; index++)
        out [index] = (byte) (value >> (8 * index));
}

static inline uint16_t
s_get16 (const byte *in)
{
    return (uint16_t) (in [0] | (in [1] << 8));
}

static inline uint32_t
s_get32 (const byte *in)
{
    return (uint32_t) in [0] | (uint32_t) in [1] << 8 | (uint32_t) in [2] << 16
         | (uint32_t) in [3] << 24;
}

static inline uint64_t
s_get64 (const byte *in)
{
    return (uint64_t) s_get32 (in) | (uint64_t) s_get32 (in + 4) << 32;
}

void
sstream_wire_batch_write (const sstream_wire_batch_t *self, byte *out)
{
    out [0] = SSTREAM_WIRE_VERSION;
    out [1] = (byte) self->type;
    s_put16 (out + 2, self->flags);
    s_put32 (out + 4, self->sid);
    s_put64 (out + 8, self->seq);
    s_put32 (out + 16, self->count);
    s_put32 (out + 20, self->index);
    s_put64 (out + 24, self->length);
}

void
sstream_wire_batch_set_sid (byte *frame0, uint32_t sid)
{
    s_put32 (frame0 + 4, sid);
}

uint16_t
sstream_wire_batch_flags (const byte *frame0)
{
    return s_get16 (frame0 + 2);
}

void
sstream_wire_batch_set_flags (byte *frame0, uint16_t flags)
{
    s_put16 (frame0 + 2, flags);
}

bool
sstream_wire_batch_bulk (const byte *frame0, size_t size, uint64_t *length)
{
    if (size != SSTREAM_WIRE_BATCH_HEADER || frame0 [0] != SSTREAM_WIRE_VERSION
    ||  (frame0 [1] != SSTREAM_WIRE_DATA && frame0 [1] != SSTREAM_WIRE_TUNNEL_DATA))
        return false;
    uint16_t flags = s_get16 (frame0 + 2);
    if ((flags & (SSTREAM_WIRE_BULK | SSTREAM_WIRE_SEALED))
            != (SSTREAM_WIRE_BULK | SSTREAM_WIRE_SEALED))
        return false;
    *length = s_get64 (frame0 + 24);
    return true;
}

//  A tunnel's chunk: one frame of bytes after a header that stands alone
static int
s_check_tunnel_data (const sstream_wire_batch_t *self, size_t size, int64_t frame1_size)
{
    if (self->flags & SSTREAM_WIRE_BULK)
        return s_malformed ("a tunnel chunk whose payload was to come on a bulk path %s",
                            self->flags & SSTREAM_WIRE_SEALED? "this link does not have"
                                                             : "without being sealed");
    if (self->flags & ~SSTREAM_WIRE_SEALED)
        return sstream_error_set (SSTREAM_EPROTO,
            "a tunnel chunk with flags 0x%x, which this version does not support",
            (unsigned) self->flags);
    if (frame1_size < 0 || size != SSTREAM_WIRE_BATCH_HEADER || self->count != 1
    ||  self->index != 0)
        return s_malformed ("a tunnel chunk of %zu bytes of header, %" PRIu32 " records and "
                            "an index of %" PRIu32 " (32, 1 and 0, and a payload frame)",
                            size, self->count, self->index);
    uint64_t least = self->flags & SSTREAM_WIRE_SEALED? SSTREAM_WIRE_SEAL_TAG + 1: 1;
    if (self->length != (uint64_t) frame1_size || self->length < least)
        return s_malformed ("a tunnel chunk that says %" PRIu64 " bytes and carries %" PRId64,
                            self->length, frame1_size);
    return SSTREAM_OK;
}

int
sstream_wire_batch_read (sstream_wire_batch_t *self, const byte *frame0, size_t size,
                         int64_t frame1_size)
{
    memset (self, 0, sizeof (*self));
    if (size < SSTREAM_WIRE_BATCH_HEADER || frame0 [0] != SSTREAM_WIRE_VERSION)
        return s_malformed ("a binary header of %zu bytes (%d at least, version %d)",
                            size, SSTREAM_WIRE_BATCH_HEADER, SSTREAM_WIRE_VERSION);
    self->type = frame0 [1];
    self->flags = s_get16 (frame0 + 2);
    self->sid = s_get32 (frame0 + 4);
    self->seq = s_get64 (frame0 + 8);
    self->count = s_get32 (frame0 + 16);
    self->index = s_get32 (frame0 + 20);
    self->length = s_get64 (frame0 + 24);
    int rc = SSTREAM_OK;
    if (self->type == SSTREAM_WIRE_DATA) {
        if (self->flags & SSTREAM_WIRE_BULK)
            //  The link takes these, and clears the flag when the payload
            //  has come: this one's never did
            rc = s_malformed ("a batch whose payload was to come on a bulk path %s",
                              self->flags & SSTREAM_WIRE_SEALED? "this link does not have"
                                                               : "without being sealed");
        else
        if (frame1_size < 0)
            rc = s_malformed ("a data message of one frame");
        else
        if (self->flags & ~SSTREAM_WIRE_SEALED)
            //  Flags say how to read the payload: one we do not know is
            //  an error, not something to ignore
            rc = sstream_error_set (SSTREAM_EPROTO,
                "a data message with flags 0x%x, which this version does not support",
                (unsigned) self->flags);
        else
        if (self->count == 0 || self->count > SSTREAM_WIRE_BATCH_RECORDS_MAX)
            rc = s_malformed ("a batch of %" PRIu32 " records (1 to %d)", self->count,
                              SSTREAM_WIRE_BATCH_RECORDS_MAX);
        else
        if (self->flags & SSTREAM_WIRE_SEALED) {
            //  Its index is inside the sealed payload: the header stands alone
            if (self->index != 0 || size != SSTREAM_WIRE_BATCH_HEADER)
                rc = s_malformed ("a sealed batch with %zu bytes in frame 0 and an index of %"
                                  PRIu32 " (32 and 0)", size, self->index);
            else
            if (self->length != (uint64_t) frame1_size
            ||  self->length < 8 * (uint64_t) self->count + SSTREAM_WIRE_SEAL_TAG)
                rc = s_malformed ("a sealed batch of %" PRIu32 " records that says %" PRIu64
                                  " bytes and carries %" PRId64, self->count, self->length,
                                  frame1_size);
            else
            if (self->seq > UINT64_MAX - self->count - 1)
                rc = s_malformed ("sequence numbers beyond 2^64");
        }
        else
        if (self->index != size - SSTREAM_WIRE_BATCH_HEADER
        ||  self->index > SSTREAM_WIRE_INDEX_MAX
        ||  (uint64_t) self->index < 8 * (uint64_t) self->count)
            rc = s_malformed ("a batch of %" PRIu32 " records with an index of %" PRIu32
                              " bytes in a frame of %zu", self->count, self->index, size);
        else
        if (self->length != (uint64_t) frame1_size)
            rc = s_malformed ("a batch that says %" PRIu64 " bytes of payload but carries %"
                              PRId64, self->length, frame1_size);
        else
        if (self->seq > UINT64_MAX - self->count - 1)
            rc = s_malformed ("sequence numbers beyond 2^64");
    }
    else
    if (self->type == SSTREAM_WIRE_CREDIT) {
        if (frame1_size >= 0 || size != SSTREAM_WIRE_BATCH_HEADER)
            rc = s_malformed ("a credit message of more than its header");
        else
        if (self->length > SSTREAM_WIRE_WINDOW_MAX)
            rc = s_malformed ("credit over the limit of %llu bytes", SSTREAM_WIRE_WINDOW_MAX);
    }
    else
    if (self->type == SSTREAM_WIRE_TUNNEL_DATA)
        rc = s_check_tunnel_data (self, size, frame1_size);
    else
        rc = s_malformed ("binary header of type %d", self->type);
    return rc;
}

zframe_t *
sstream_wire_credit (uint32_t sid, uint64_t bytes)
{
    zframe_t *frame = zframe_new (NULL, SSTREAM_WIRE_BATCH_HEADER);
    if (frame) {
        sstream_wire_batch_t credit = { .type = SSTREAM_WIRE_CREDIT, .sid = sid, .length = bytes };
        sstream_wire_batch_write (&credit, zframe_data (frame));
    }
    return frame;
}
