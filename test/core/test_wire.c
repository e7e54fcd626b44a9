/*  =========================================================================
    test_wire - the protocol codec, version 2: msgpack control headers,
    the binary header of data and credit, batches and their pool, sessions
    lists; round trips, and every kind of bad input

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_common.h"

#include <criterion/criterion.h>
#include <malloc.h>

//  --------------------------------------------------------------------------
//  Helpers

//  Bytes the process has allocated and not freed: AddressSanitizer's count
//  under the sanitizer build, glibc's otherwise
#if defined (__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes (void);
static size_t
s_heap_bytes (void)
{
    return __sanitizer_get_current_allocated_bytes ();
}
#else
static size_t
s_heap_bytes (void)
{
    struct mallinfo2 info = mallinfo2 ();
    return info.uordblks + info.hblkhd;
}
#endif

#define MiB (1024 * 1024)

//  Encode, then decode the frame's bytes (copied to a buffer of exactly
//  their size, so that AddressSanitizer sees any read past them).
static int
s_round_trip (const sstream_wire_t *in, sstream_wire_t *out)
{
    zframe_t *frame = sstream_wire_encode (in);
    cr_assert_not_null (frame);
    size_t size = zframe_size (frame);
    byte *copy = (byte *) malloc (size);
    memcpy (copy, zframe_data (frame), size);
    zframe_destroy (&frame);
    int rc = sstream_wire_decode (out, copy, size);
    free (copy);
    return rc;
}

//  A msgpack map built by a callback, for hand-made (bad) headers
typedef void (s_builder_fn) (msgpack_packer *packer);

static int
s_decode_built (s_builder_fn *builder, sstream_wire_t *out)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    builder (&packer);
    int rc = sstream_wire_decode (out, buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
    return rc;
}

static void
s_str (msgpack_packer *packer, const char *string)
{
    msgpack_pack_str (packer, strlen (string));
    msgpack_pack_str_body (packer, string, strlen (string));
}

//  The start of a header map of entries keys (v and t included)
static void
s_head (msgpack_packer *packer, size_t entries, const char *type)
{
    msgpack_pack_map (packer, entries);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, SSTREAM_WIRE_VERSION);
    s_str (packer, "t"); s_str (packer, type);
}

//  Every field of two decoded headers is the same
static void
s_assert_same (const sstream_wire_t *in, const sstream_wire_t *out, const char *what)
{
    cr_assert_eq (out->type, in->type, "%s: type", what);
    cr_assert_str_eq (out->stream, in->stream, "%s: stream", what);
    cr_assert_eq (out->sid, in->sid, "%s: sid", what);
    cr_assert_eq (out->seq, in->seq, "%s: seq", what);
    cr_assert_eq (out->flags, in->flags, "%s: flags", what);
    cr_assert_eq (out->bytes, in->bytes, "%s: bytes", what);
    cr_assert_eq (out->window, in->window, "%s: window", what);
    cr_assert_eq (out->role, in->role, "%s: role", what);
    cr_assert_eq (out->code, in->code, "%s: code", what);
    cr_assert_eq (out->session, in->session, "%s: session", what);
    cr_assert_eq (out->heartbeat, in->heartbeat, "%s: heartbeat", what);
    cr_assert_str_eq (out->text, in->text, "%s: text", what);
    cr_assert_str_eq (out->id, in->id, "%s: id", what);
    cr_assert_str_eq (out->kind, in->kind, "%s: kind", what);
    cr_assert_str_eq (out->target, in->target, "%s: target", what);
    cr_assert_eq (out->links, in->links, "%s: links", what);
    cr_assert_eq (out->rate, in->rate, "%s: rate", what);
    cr_assert_eq (out->hold, in->hold, "%s: hold", what);
    cr_assert_eq (out->conn, in->conn, "%s: conn", what);
    cr_assert_str_eq (out->peer, in->peer, "%s: peer", what);
    cr_assert_eq (out->request, in->request, "%s: request", what);
    cr_assert_str_eq (out->holder, in->holder, "%s: holder", what);
    cr_assert_eq (out->epoch, in->epoch, "%s: epoch", what);
    cr_assert_eq (out->generation, in->generation, "%s: generation", what);
    cr_assert_eq (out->cipher, in->cipher, "%s: cipher", what);
    cr_assert_str_eq (out->payload, in->payload, "%s: payload", what);
    cr_assert_str_eq (out->seal, in->seal, "%s: seal", what);
    cr_assert_str_eq (out->bulk, in->bulk, "%s: bulk", what);
    cr_assert_str_eq (out->token, in->token, "%s: token", what);
    cr_assert_str_eq (out->wrap, in->wrap, "%s: wrap", what);
    cr_assert_eq (out->resume, in->resume, "%s: resume", what);
}

//  Little-endian reads, independent of the codec's own
static uint32_t
s_le32 (const byte *in)
{
    return (uint32_t) in [0] | (uint32_t) in [1] << 8 | (uint32_t) in [2] << 16
         | (uint32_t) in [3] << 24;
}

static void
s_put_le32 (byte *out, uint32_t value)
{
    int index;
    for (index = 0; index < 4; index++)
        out [index] = (byte) (value >> (8 * index));
}

//  The byte at offset of record number record's payload
static byte
s_pattern (size_t record, size_t offset)
{
    return (byte) (record * 37 + offset * 7 + 1);
}

//  Records' metadata: {"k": 1}, {}, {"dtype": "uint16", "shape": [2048, 2048]}
static const byte s_meta_small [] = { 0x81, 0xa1, 'k', 0x01 };
static const byte s_meta_empty [] = { 0x80 };
static const byte s_meta_shape [] = {
    0x82, 0xa5, 'd', 't', 'y', 'p', 'e', 0xa6, 'u', 'i', 'n', 't', '1', '6',
    0xa5, 's', 'h', 'a', 'p', 'e', 0x92, 0xcd, 0x08, 0x00, 0xcd, 0x08, 0x00
};

//  The sample batch: sizes 0, 1 and 1000, each without and with metadata
#define SAMPLE_RECORDS 6
static const size_t s_sample_sizes [SAMPLE_RECORDS] = { 0, 0, 1, 1, 1000, 1000 };
static const byte *s_sample_metas [SAMPLE_RECORDS] = {
    NULL, s_meta_small, NULL, s_meta_empty, NULL, s_meta_shape
};
static const size_t s_sample_meta_sizes [SAMPLE_RECORDS] = {
    0, sizeof (s_meta_small), 0, sizeof (s_meta_empty), 0, sizeof (s_meta_shape)
};

//  Add the sample records to a batch; the caller's copies are scribbled
//  over after each add, to show the batch took its own.
static void
s_add_samples (sstream_batch_t *batch)
{
    byte *scratch = (byte *) malloc (1000);
    size_t record;
    for (record = 0; record < SAMPLE_RECORDS; record++) {
        size_t size = s_sample_sizes [record], offset;
        for (offset = 0; offset < size; offset++)
            scratch [offset] = s_pattern (record, offset);
        cr_assert (sstream_batch_fits (batch, size, s_sample_meta_sizes [record]));
        cr_assert_eq (sstream_batch_add (batch, scratch, size, s_sample_metas [record],
                                         s_sample_meta_sizes [record]), SSTREAM_OK);
        memset (scratch, 0xee, 1000);
    }
    free (scratch);
}

//  Seal the sample batch from pool into two frames
static void
s_seal_samples (sstream_pool_t *pool, uint64_t first_seq, zmq_msg_t *frame0, zmq_msg_t *frame1)
{
    sstream_batch_t *batch = sstream_batch_new (pool, first_seq, 0);
    cr_assert_not_null (batch);
    s_add_samples (batch);
    cr_assert_eq (sstream_batch_seal (batch, frame0, frame1), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_batch_destroy (&batch);
}

//  A copy of a frame's bytes in a buffer of exactly their size
static byte *
s_copy (const void *data, size_t size)
{
    byte *copy = (byte *) malloc (size? size: 1);
    if (size)
        memcpy (copy, data, size);
    return copy;
}


//  --------------------------------------------------------------------------
//  Control messages: msgpack headers

//  One of every msgpack type at least, with every field it carries, at
//  the edges of their ranges
static const sstream_wire_t s_samples [] = {
    { .type = SSTREAM_WIRE_HELLO, .role = SSTREAM_ROLE_GATEWAY, .text = "gateway-a",
      .session = UINT64_MAX, .heartbeat = 3600 * 1000 },
    { .type = SSTREAM_WIRE_HELLO, .role = SSTREAM_ROLE_GATEWAY, .text = "g" },
    { .type = SSTREAM_WIRE_WELCOME, .text = "gateway-b", .heartbeat = 250 },
    { .type = SSTREAM_WIRE_WELCOME, .text = "" },
    { .type = SSTREAM_WIRE_OPEN, .stream = "run-42/detector.a", .role = SSTREAM_ROLE_CONSUME,
      .sid = UINT32_MAX, .window = 16 << 20, .heartbeat = 1000, .flags = SSTREAM_WIRE_NEED_PEER },
    { .type = SSTREAM_WIRE_OPEN, .stream = "s", .role = SSTREAM_ROLE_PRODUCE, .sid = 0 },
    { .type = SSTREAM_WIRE_ACCEPTED, .stream = "s", .window = SSTREAM_WIRE_WINDOW_MAX, .sid = 1,
      .text = "gateway-a", .heartbeat = 1 },
    { .type = SSTREAM_WIRE_ACCEPTED, .stream = "s", .sid = 0 },
    { .type = SSTREAM_WIRE_END, .stream = "s", .seq = UINT64_MAX, .bytes = UINT64_MAX },
    { .type = SSTREAM_WIRE_END_ACK, .stream = "s", .seq = 7, .bytes = 7 << 20 },
    { .type = SSTREAM_WIRE_ERROR, .code = SSTREAM_EDENIED,
      .text = "stream 's' is already being produced" },
    { .type = SSTREAM_WIRE_ERROR, .code = UINT32_MAX, .stream = "s", .request = UINT64_MAX },
    { .type = SSTREAM_WIRE_PING },
    { .type = SSTREAM_WIRE_PING, .request = 9, .holder = "holder-0123456789abcdef012345678" },
    { .type = SSTREAM_WIRE_SESSION_OPEN, .stream = "t", .role = SSTREAM_ROLE_INBOUND,
      .kind = "tunnel", .target = "localhost:5201", .links = 4, .rate = 1000000, .hold = true,
      .flags = SSTREAM_WIRE_NEED_PEER, .peer = "gateway-b", .request = 3, .holder = "me" },
    { .type = SSTREAM_WIRE_SESSION_OPEN, .stream = "t", .role = SSTREAM_ROLE_OUTBOUND,
      .kind = "stream" },
    { .type = SSTREAM_WIRE_SESSION_LIST },
    { .type = SSTREAM_WIRE_SESSION_LIST, .id = "0123456789abcdef0123456789abcdef", .request = 1,
      .holder = "x" },
    { .type = SSTREAM_WIRE_SESSION_RELEASE, .id = "ab12", .request = 2, .holder = "me" },
    { .type = SSTREAM_WIRE_SESSIONS, .request = 42 },
    { .type = SSTREAM_WIRE_SESSIONS },
    { .type = SSTREAM_WIRE_STREAM_LIST },
    { .type = SSTREAM_WIRE_STREAM_LIST, .stream = "run42", .request = 7, .holder = "me" },
    { .type = SSTREAM_WIRE_STREAMS, .request = 7 },
    { .type = SSTREAM_WIRE_TUNNEL_OPEN, .stream = "t", .conn = UINT64_MAX,
      .window = SSTREAM_WIRE_WINDOW_MAX, .sid = UINT32_MAX },
    { .type = SSTREAM_WIRE_TUNNEL_OPENED, .stream = "t", .conn = 0, .window = 1, .sid = 0 },
    { .type = SSTREAM_WIRE_TUNNEL_CREDIT, .stream = "t", .conn = 5,
      .bytes = SSTREAM_WIRE_WINDOW_MAX },
    { .type = SSTREAM_WIRE_TUNNEL_EOF, .stream = "t", .conn = 5 },
    { .type = SSTREAM_WIRE_TUNNEL_RESET, .stream = "t", .conn = 5, .text = "connection refused" },
    { .type = SSTREAM_WIRE_TUNNEL_RESET, .stream = "t", .conn = 6 },
    //  Sealed streams and the bulk path
    { .type = SSTREAM_WIRE_KEY, .stream = "run-42/detector.a", .epoch = UINT64_MAX,
      .generation = UINT32_MAX, .cipher = SSTREAM_CIPHER_XCHACHA20POLY1305 },
    { .type = SSTREAM_WIRE_KEY, .stream = "s", .epoch = 0, .generation = 0, .cipher = 0 },
    //  Resuming streams
    { .type = SSTREAM_WIRE_OPEN, .stream = "s", .role = SSTREAM_ROLE_PRODUCE, .sid = 3,
      .flags = SSTREAM_WIRE_RESUME_OK, .epoch = UINT64_MAX, .resume = UINT64_MAX },
    { .type = SSTREAM_WIRE_OPEN, .stream = "s", .role = SSTREAM_ROLE_CONSUME, .sid = 4,
      .window = 4096, .flags = SSTREAM_WIRE_RESUME_OK, .epoch = 1, .resume = 0 },
    { .type = SSTREAM_WIRE_RESUME, .stream = "s", .seq = UINT64_MAX, .epoch = UINT64_MAX },
    { .type = SSTREAM_WIRE_RESUME, .stream = "s", .seq = 0 },
    { .type = SSTREAM_WIRE_ACK, .stream = "s", .seq = UINT64_MAX },
    { .type = SSTREAM_WIRE_ACK, .stream = "s", .seq = 0 },
    //  Sealed tunnels
    { .type = SSTREAM_WIRE_TUNNEL_KEY, .stream = "t", .conn = UINT64_MAX, .generation = UINT32_MAX,
      .cipher = SSTREAM_CIPHER_AES256GCM,
      .wrap = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
              "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
              "00112233445566778899aabbccddeeff" },
    { .type = SSTREAM_WIRE_HELLO, .role = SSTREAM_ROLE_GATEWAY, .text = "gateway-a", .session = 1,
      .flags = SSTREAM_WIRE_BULK_OK },
    { .type = SSTREAM_WIRE_WELCOME, .text = "gateway-b", .heartbeat = 250,
      .bulk = "tcp://10.0.0.2:7002",
      .token = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" },
    { .type = SSTREAM_WIRE_OPEN, .stream = "s", .role = SSTREAM_ROLE_PRODUCE, .sid = 9,
      .flags = SSTREAM_WIRE_NEED_PEER | SSTREAM_WIRE_BULK_OK, .epoch = 0x0123456789abcdefULL,
      .payload = "sealed" },
    { .type = SSTREAM_WIRE_OPEN, .stream = "s", .role = SSTREAM_ROLE_CONSUME, .sid = 10,
      .window = 1, .flags = SSTREAM_WIRE_BULK_OK, .payload = "hop" },
    { .type = SSTREAM_WIRE_ACCEPTED, .stream = "s", .window = 1 << 20, .sid = 2,
      .text = "gateway-a", .bulk = "ipc:///tmp/sstream-bulk",
      .token = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100" },
    { .type = SSTREAM_WIRE_END, .stream = "s", .seq = 12, .bytes = 3456,
      .seal = "0123456789abcdef0123456789abcdef" },
};
#define SAMPLE_COUNT (sizeof (s_samples) / sizeof (s_samples [0]))

Test (wire, every_msgpack_type_round_trips)
{
    bool covered [SSTREAM_WIRE_TYPES] = { false };
    size_t index;
    for (index = 0; index < SAMPLE_COUNT; index++) {
        const sstream_wire_t *in = &s_samples [index];
        sstream_wire_t out;
        int rc = s_round_trip (in, &out);
        cr_assert_eq (rc, SSTREAM_OK, "sample %zu (%s): %s", index,
                      sstream_wire_type_name (in->type), sstream_errmsg ());
        s_assert_same (in, &out, sstream_wire_type_name (in->type));
        covered [in->type] = true;
    }
    int type;
    for (type = 1; type < SSTREAM_WIRE_TYPES; type++)
        if (type != SSTREAM_WIRE_DATA && type != SSTREAM_WIRE_CREDIT
        &&  type != SSTREAM_WIRE_TUNNEL_DATA)
            cr_assert (covered [type], "no sample of %s", sstream_wire_type_name (type));
}

//  The value of key in an encoded header map, through msgpack-c itself
static bool
s_lookup (zframe_t *frame, const char *key, msgpack_object *value, msgpack_unpacked *unpacked)
{
    size_t offset = 0;
    msgpack_unpack_return result = msgpack_unpack_next (
        unpacked, (const char *) zframe_data (frame), zframe_size (frame), &offset);
    cr_assert_eq (result, MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq (unpacked->data.type, MSGPACK_OBJECT_MAP);
    uint32_t index;
    for (index = 0; index < unpacked->data.via.map.size; index++) {
        const msgpack_object *name = &unpacked->data.via.map.ptr [index].key;
        if (name->type == MSGPACK_OBJECT_STR && name->via.str.size == strlen (key)
        &&  memcmp (name->via.str.ptr, key, strlen (key)) == 0) {
            *value = unpacked->data.via.map.ptr [index].val;
            return true;
        }
    }
    return false;
}

Test (wire, headers_say_version_2_and_their_type_and_are_not_binary)
{
    size_t index;
    for (index = 0; index < SAMPLE_COUNT; index++) {
        zframe_t *frame = sstream_wire_encode (&s_samples [index]);
        cr_assert_not_null (frame);
        cr_assert_not (sstream_wire_is_batch (zframe_data (frame), zframe_size (frame)));
        cr_assert_leq (zframe_size (frame), SSTREAM_WIRE_HEADER_MAX);
        msgpack_unpacked unpacked;
        msgpack_unpacked_init (&unpacked);
        msgpack_object value;
        cr_assert (s_lookup (frame, "v", &value, &unpacked));
        cr_assert_eq (value.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
        cr_assert_eq (value.via.u64, 2);
        cr_assert (s_lookup (frame, "t", &value, &unpacked));
        cr_assert_eq (value.type, MSGPACK_OBJECT_STR);
        const char *name = sstream_wire_type_name (s_samples [index].type);
        cr_assert_eq (value.via.str.size, strlen (name));
        cr_assert_eq (memcmp (value.via.str.ptr, name, strlen (name)), 0);
        //  open and accepted say their sid even when it is 0
        if (s_samples [index].type == SSTREAM_WIRE_OPEN
        ||  s_samples [index].type == SSTREAM_WIRE_ACCEPTED) {
            cr_assert (s_lookup (frame, "sid", &value, &unpacked), "%s without sid", name);
            cr_assert_eq (value.via.u64, s_samples [index].sid);
        }
        msgpack_unpacked_destroy (&unpacked);
        zframe_destroy (&frame);
    }
}

Test (wire, decoding_forgets_what_the_struct_held)
{
    sstream_wire_t out;
    memset (&out, 0x5a, sizeof (out));
    sstream_wire_t in = { .type = SSTREAM_WIRE_PING };
    cr_assert_eq (s_round_trip (&in, &out), SSTREAM_OK);
    s_assert_same (&in, &out, "ping over garbage");

    //  A refused header leaves nothing half-decoded behind
    memset (&out, 0x5a, sizeof (out));
    const byte garbage [] = { 0xc1 };
    cr_assert_eq (sstream_wire_decode (&out, garbage, sizeof (garbage)), SSTREAM_EPROTO);
    sstream_wire_t zero;
    memset (&zero, 0, sizeof (zero));
    cr_assert_eq (memcmp (&out, &zero, sizeof (out)), 0);
    //  ... even when it failed late, after fields were decoded
    sstream_wire_t open = { .type = SSTREAM_WIRE_OPEN, .stream = "s", .role = SSTREAM_ROLE_CONSUME,
                            .sid = 3, .window = 0 };
    memset (&out, 0x5a, sizeof (out));
    cr_assert_eq (s_round_trip (&open, &out), SSTREAM_EPROTO);
    cr_assert_eq (memcmp (&out, &zero, sizeof (out)), 0);
}

static void s_open_no_sid (msgpack_packer *packer)
{
    s_head (packer, 4, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "produce");
}
static void s_accepted_no_sid (msgpack_packer *packer)
{
    s_head (packer, 4, "accepted");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "window"); msgpack_pack_uint32 (packer, 1024);
}
static void s_sid_too_large (msgpack_packer *packer)
{
    s_head (packer, 5, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "produce");
    s_str (packer, "sid"); msgpack_pack_uint64 (packer, 1ULL << 32);
}
static void s_sid_not_number (msgpack_packer *packer)
{
    s_head (packer, 5, "accepted");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "window"); msgpack_pack_uint32 (packer, 1024);
    s_str (packer, "sid"); s_str (packer, "7");
}
static void s_sid_negative (msgpack_packer *packer)
{
    s_head (packer, 5, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "produce");
    s_str (packer, "sid"); msgpack_pack_int8 (packer, -1);
}
static void s_sid_largest (msgpack_packer *packer)
{
    s_head (packer, 5, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "produce");
    s_str (packer, "sid"); msgpack_pack_uint64 (packer, UINT32_MAX);
}

Test (wire, open_and_accepted_need_a_32_bit_sid)
{
    struct {
        s_builder_fn *builder;
        const char *reason;
    } cases [] = {
        { s_open_no_sid, "open message without 'sid'" },
        { s_accepted_no_sid, "accepted message without 'sid'" },
        { s_sid_too_large, "'sid' is out of range" },
        { s_sid_not_number, "'sid' is not an unsigned integer" },
        { s_sid_negative, "'sid' is not an unsigned integer" },
    };
    size_t index;
    for (index = 0; index < sizeof (cases) / sizeof (cases [0]); index++) {
        sstream_wire_t out;
        cr_assert_eq (s_decode_built (cases [index].builder, &out), SSTREAM_EPROTO,
                      "case %zu was taken", index);
        cr_assert (strstr (sstream_errmsg (), cases [index].reason),
                   "case %zu: '%s' does not say '%s'", index, sstream_errmsg (),
                   cases [index].reason);
    }
    sstream_wire_t out;
    cr_assert_eq (s_decode_built (s_sid_largest, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (out.sid, UINT32_MAX);
}

static void s_data_as_msgpack (msgpack_packer *packer)
{
    s_head (packer, 5, "data");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "seq"); msgpack_pack_uint8 (packer, 0);
    s_str (packer, "len"); msgpack_pack_uint8 (packer, 0);
}
static void s_credit_as_msgpack (msgpack_packer *packer)
{
    s_head (packer, 4, "credit");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "bytes"); msgpack_pack_uint8 (packer, 1);
}

Test (wire, data_and_credit_are_refused_as_msgpack_headers)
{
    sstream_wire_t out;
    cr_assert_eq (s_decode_built (s_data_as_msgpack, &out), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "data in a msgpack header"), "%s", sstream_errmsg ());
    cr_assert_eq (out.type, 0);
    cr_assert_eq (s_decode_built (s_credit_as_msgpack, &out), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "credit in a msgpack header"), "%s", sstream_errmsg ());
    cr_assert_eq (out.type, 0);
}

Test (wire, binary_headers_are_refused_by_the_msgpack_decoder)
{
    sstream_wire_t out;
    //  A credit message
    zframe_t *credit = sstream_wire_credit (7, 4096);
    cr_assert_not_null (credit);
    cr_assert (sstream_wire_is_batch (zframe_data (credit), zframe_size (credit)));
    cr_assert_eq (sstream_wire_decode (&out, zframe_data (credit), zframe_size (credit)),
                  SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "a binary header where a msgpack one was due"), "%s",
               sstream_errmsg ());
    zframe_destroy (&credit);

    //  A data message's first frame
    sstream_pool_t *pool = sstream_pool_new (4096, 1);
    zmq_msg_t frame0, frame1;
    s_seal_samples (pool, 0, &frame0, &frame1);
    cr_assert (sstream_wire_is_batch (zmq_msg_data (&frame0), zmq_msg_size (&frame0)));
    cr_assert_eq (sstream_wire_decode (&out, zmq_msg_data (&frame0), zmq_msg_size (&frame0)),
                  SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "binary header"), "%s", sstream_errmsg ());
    zmq_msg_close (&frame0);
    zmq_msg_close (&frame1);
    sstream_pool_release (&pool);

    //  Any frame that starts with the version byte, however short
    const byte two [] = { 0x02 };
    cr_assert (sstream_wire_is_batch (two, 1));
    cr_assert_not (sstream_wire_is_batch (two, 0));
    cr_assert_eq (sstream_wire_decode (&out, two, 1), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "binary header"), "%s", sstream_errmsg ());
}

Test (wire, truncated_headers_are_refused_at_every_length)
{
    sstream_wire_t in = { .type = SSTREAM_WIRE_OPEN, .stream = "truncated",
                          .role = SSTREAM_ROLE_CONSUME, .sid = 77, .window = 1 << 20,
                          .heartbeat = 500, .flags = SSTREAM_WIRE_NEED_PEER }, out;
    zframe_t *frame = sstream_wire_encode (&in);
    size_t size;
    for (size = 0; size < zframe_size (frame); size++) {
        byte *copy = s_copy (zframe_data (frame), size);
        int rc = sstream_wire_decode (&out, copy, size);
        free (copy);
        cr_assert_eq (rc, SSTREAM_EPROTO, "a header cut to %zu bytes was taken", size);
        cr_assert (strstr (sstream_errmsg (), "malformed header"), "%s", sstream_errmsg ());
    }
    //  Whole, it is taken
    cr_assert_eq (sstream_wire_decode (&out, zframe_data (frame), size), SSTREAM_OK);
    zframe_destroy (&frame);
}

Test (wire, other_versions_are_refused)
{
    const uint64_t versions [] = { 0, 1, 3, 255, 1ULL << 32, UINT64_MAX };
    size_t index;
    for (index = 0; index < sizeof (versions) / sizeof (versions [0]); index++) {
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        msgpack_packer packer;
        msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
        msgpack_pack_map (&packer, 2);
        s_str (&packer, "v"); msgpack_pack_uint64 (&packer, versions [index]);
        s_str (&packer, "t"); s_str (&packer, "ping");
        sstream_wire_t out;
        int rc = sstream_wire_decode (&out, buffer.data, buffer.size);
        msgpack_sbuffer_destroy (&buffer);
        cr_assert_eq (rc, SSTREAM_EPROTO, "version %" PRIu64 " was taken", versions [index]);
        char expected [64];
        snprintf (expected, sizeof (expected), "unsupported protocol version %" PRIu64,
                  versions [index]);
        cr_assert (strstr (sstream_errmsg (), expected), "%s", sstream_errmsg ());
    }
}

static void s_tunnel_data_in_msgpack (msgpack_packer *packer)
{
    s_head (packer, 5, "tunnel-data");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "conn"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "len"); msgpack_pack_uint64 (packer, 10);
}
static void s_window_over (msgpack_packer *packer)
{
    s_head (packer, 6, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "consume");
    s_str (packer, "sid"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "window"); msgpack_pack_uint64 (packer, SSTREAM_WIRE_WINDOW_MAX + 1);
}
static void s_tunnel_credit_over (msgpack_packer *packer)
{
    s_head (packer, 5, "tunnel-credit");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "conn"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "bytes"); msgpack_pack_uint64 (packer, SSTREAM_WIRE_WINDOW_MAX + 1);
}
static void s_heartbeat_over (msgpack_packer *packer)
{
    s_head (packer, 4, "welcome");
    s_str (packer, "name"); s_str (packer, "g");
    s_str (packer, "heartbeat"); msgpack_pack_uint64 (packer, 3600 * 1000 + 1);
}

Test (wire, lengths_windows_and_heartbeats_over_their_limits_are_refused)
{
    struct {
        s_builder_fn *builder;
        const char *reason;
    } cases [] = {
        { s_tunnel_data_in_msgpack, "tunnel-data in a msgpack header" },
        { s_window_over, "window or credit over the limit" },
        { s_tunnel_credit_over, "window or credit over the limit" },
        { s_heartbeat_over, "over an hour" },
    };
    size_t index;
    for (index = 0; index < sizeof (cases) / sizeof (cases [0]); index++) {
        sstream_wire_t out;
        cr_assert_eq (s_decode_built (cases [index].builder, &out), SSTREAM_EPROTO,
                      "case %zu was taken", index);
        cr_assert (strstr (sstream_errmsg (), cases [index].reason),
                   "case %zu: '%s' does not say '%s'", index, sstream_errmsg (),
                   cases [index].reason);
    }
    //  The limits themselves are taken (every_msgpack_type_round_trips), and
    //  end's byte count is a total, not a grant: it has no limit
    sstream_wire_t end = { .type = SSTREAM_WIRE_END, .stream = "s", .bytes = UINT64_MAX }, out;
    cr_assert_eq (s_round_trip (&end, &out), SSTREAM_OK);
    cr_assert_eq (out.bytes, UINT64_MAX);
}

Test (wire, garbage_is_refused)
{
    sstream_wire_t out;
    const unsigned char garbage [] = { 0xc1, 0xc1, 0xc1 };
    cr_assert_eq (sstream_wire_decode (&out, garbage, sizeof (garbage)), SSTREAM_EPROTO);
    const char text [] = "GET / HTTP/1.1\r\n\r\n";
    cr_assert_eq (sstream_wire_decode (&out, text, strlen (text)), SSTREAM_EPROTO);
    cr_assert_eq (sstream_wire_decode (&out, NULL, 0), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "empty header frame"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_wire_decode (&out, text, 0), SSTREAM_EPROTO);
    //  Over the header limit, whatever it holds
    char *large = calloc (1, SSTREAM_WIRE_HEADER_MAX + 1);
    large [0] = (char) 0x80;
    cr_assert_eq (sstream_wire_decode (&out, large, SSTREAM_WIRE_HEADER_MAX + 1), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "over the limit of 65536"), "%s", sstream_errmsg ());
    free (large);
}

static void s_array (msgpack_packer *packer)
{
    msgpack_pack_array (packer, 2);
    msgpack_pack_uint8 (packer, 2);
    s_str (packer, "ping");
}
static void s_no_type (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 1);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 2);
}
static void s_no_version (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 1);
    s_str (packer, "t"); s_str (packer, "ping");
}
static void s_version_not_number (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 2);
    s_str (packer, "v"); s_str (packer, "2");
    s_str (packer, "t"); s_str (packer, "ping");
}
static void s_unknown_type (msgpack_packer *packer)
{
    s_head (packer, 2, "teleport");
}
static void s_type_not_string (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 2);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 2);
    s_str (packer, "t"); msgpack_pack_uint8 (packer, 10);
}
static void s_key_not_string (msgpack_packer *packer)
{
    s_head (packer, 3, "ping");
    msgpack_pack_uint8 (packer, 7); msgpack_pack_uint8 (packer, 7);
}
static void s_repeated_version (msgpack_packer *packer)
{
    s_head (packer, 3, "ping");
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 2);
}
static void s_repeated_type (msgpack_packer *packer)
{
    s_head (packer, 3, "ping");
    s_str (packer, "t"); s_str (packer, "ping");
}
static void s_repeated_field (msgpack_packer *packer)
{
    s_head (packer, 5, "tunnel-eof");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "conn"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "stream"); s_str (packer, "s");
}
static void s_bad_stream_name (msgpack_packer *packer)
{
    s_head (packer, 4, "tunnel-eof");
    s_str (packer, "stream"); s_str (packer, "has space");
    s_str (packer, "conn"); msgpack_pack_uint8 (packer, 1);
}
static void s_stream_not_string (msgpack_packer *packer)
{
    s_head (packer, 4, "tunnel-eof");
    s_str (packer, "stream"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "conn"); msgpack_pack_uint8 (packer, 1);
}
static void s_nul_in_stream (msgpack_packer *packer)
{
    s_head (packer, 4, "tunnel-eof");
    s_str (packer, "stream");
    msgpack_pack_str (packer, 3); msgpack_pack_str_body (packer, "a\0b", 3);
    s_str (packer, "conn"); msgpack_pack_uint8 (packer, 1);
}
static void s_missing_field (msgpack_packer *packer)
{
    s_head (packer, 4, "tunnel-credit");       //  without bytes
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "conn"); msgpack_pack_uint8 (packer, 1);
}
static void s_negative_conn (msgpack_packer *packer)
{
    s_head (packer, 4, "tunnel-eof");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "conn"); msgpack_pack_int8 (packer, -1);
}
static void s_consume_without_window (msgpack_packer *packer)
{
    s_head (packer, 5, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "consume");
    s_str (packer, "sid"); msgpack_pack_uint8 (packer, 1);
}
static void s_open_as_gateway (msgpack_packer *packer)
{
    s_head (packer, 5, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "gateway");
    s_str (packer, "sid"); msgpack_pack_uint8 (packer, 1);
}
static void s_hello_as_producer (msgpack_packer *packer)
{
    s_head (packer, 5, "hello");
    s_str (packer, "role"); s_str (packer, "produce");
    s_str (packer, "name"); s_str (packer, "g");
    s_str (packer, "session"); msgpack_pack_uint8 (packer, 1);
}
static void s_session_open_as_producer (msgpack_packer *packer)
{
    s_head (packer, 5, "session-open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "produce");
    s_str (packer, "kind"); s_str (packer, "tunnel");
}
static void s_unknown_role (msgpack_packer *packer)
{
    s_head (packer, 5, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "boss");
    s_str (packer, "sid"); msgpack_pack_uint8 (packer, 1);
}
static void s_long_id (msgpack_packer *packer)
{
    s_head (packer, 3, "session-release");
    s_str (packer, "id"); s_str (packer, "0123456789abcdef0123456789abcdef0");
}
static void s_hold_not_bool (msgpack_packer *packer)
{
    s_head (packer, 6, "session-open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "inbound");
    s_str (packer, "kind"); s_str (packer, "tunnel");
    s_str (packer, "hold"); msgpack_pack_uint8 (packer, 1);
}
static void s_trailing_bytes (msgpack_packer *packer)
{
    s_head (packer, 2, "ping");
    msgpack_pack_nil (packer);
}
static void s_deeply_nested (msgpack_packer *packer)
{
    s_head (packer, 3, "ping");
    s_str (packer, "later");
    int depth;
    for (depth = 0; depth < 10000; depth++) {
        msgpack_pack_map (packer, 1);
        s_str (packer, "k");
    }
    msgpack_pack_nil (packer);
}

Test (wire, malformed_maps_are_refused_with_a_reason)
{
    struct {
        s_builder_fn *builder;
        const char *reason;
    } cases [] = {
        { s_array, "not a map" },
        { s_no_type, "no message type 't'" },
        { s_no_version, "no protocol version 'v'" },
        { s_version_not_number, "'v' is not an unsigned integer" },
        { s_unknown_type, "unknown type 'teleport'" },
        { s_type_not_string, "'type' is not a string" },
        { s_key_not_string, "a key is not a string" },
        { s_repeated_version, "key 'v' appears twice" },
        { s_repeated_type, "key 't' appears twice" },
        { s_repeated_field, "key 'stream' appears twice" },
        { s_bad_stream_name, "bad stream name" },
        { s_stream_not_string, "'stream' is not a string" },
        { s_nul_in_stream, "NUL" },
        { s_missing_field, "tunnel-credit message without 'bytes'" },
        { s_negative_conn, "'conn' is not an unsigned integer" },
        { s_consume_without_window, "without a 'window'" },
        { s_open_as_gateway, "open with role 'gateway'" },
        { s_hello_as_producer, "hello with role 'produce'" },
        { s_session_open_as_producer, "session-open with role 'produce'" },
        { s_unknown_role, "unknown role 'boss'" },
        { s_long_id, "'id' is 33 bytes long, over the limit of 32" },
        { s_hold_not_bool, "'hold' is not true or false" },
        { s_trailing_bytes, "1 bytes after the header map" },
        { s_deeply_nested, "nest" },
    };
    size_t index;
    for (index = 0; index < sizeof (cases) / sizeof (cases [0]); index++) {
        sstream_wire_t out;
        int rc = s_decode_built (cases [index].builder, &out);
        cr_assert_eq (rc, SSTREAM_EPROTO, "case %zu was taken (rc %d)", index, rc);
        cr_assert (strstr (sstream_errmsg (), "malformed header: "), "case %zu: '%s'", index,
                   sstream_errmsg ());
        cr_assert (strstr (sstream_errmsg (), cases [index].reason),
                   "case %zu: '%s' does not say '%s'", index, sstream_errmsg (),
                   cases [index].reason);
    }
}

static void s_lossy (msgpack_packer *packer)
{
    s_head (packer, 6, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "produce");
    s_str (packer, "sid"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "mode"); s_str (packer, "lossy");
}
static void s_lossless (msgpack_packer *packer)
{
    s_head (packer, 6, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "produce");
    s_str (packer, "sid"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "mode"); s_str (packer, "lossless");
}

Test (wire, a_delivery_mode_other_than_lossless_is_refused)
{
    sstream_wire_t out;
    cr_assert_eq (s_decode_built (s_lossy, &out), SSTREAM_EINVAL);
    cr_assert (strstr (sstream_errmsg (), "delivery mode 'lossy' is not supported"), "%s",
               sstream_errmsg ());
    cr_assert_eq (s_decode_built (s_lossless, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (out.sid, 1);
}

Test (wire, long_texts_are_cut_and_long_names_refused)
{
    //  A reason or a name is cut to SSTREAM_WIRE_TEXT_MAX
    char long_text [SSTREAM_WIRE_TEXT_MAX + 100];
    memset (long_text, 'x', sizeof (long_text) - 1);
    long_text [sizeof (long_text) - 1] = 0;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    s_head (&packer, 4, "error");
    s_str (&packer, "code"); msgpack_pack_uint8 (&packer, SSTREAM_EDENIED);
    s_str (&packer, "text"); s_str (&packer, long_text);
    sstream_wire_t out;
    cr_assert_eq (sstream_wire_decode (&out, buffer.data, buffer.size), SSTREAM_OK, "%s",
                  sstream_errmsg ());
    cr_assert_eq (strlen (out.text), SSTREAM_WIRE_TEXT_MAX);
    cr_assert_eq (out.code, SSTREAM_EDENIED);
    msgpack_sbuffer_destroy (&buffer);

    //  A stream name of the longest length is taken, one byte more is not
    sstream_wire_t in = { .type = SSTREAM_WIRE_TUNNEL_EOF, .conn = 1 };
    memset (in.stream, 'a', SSTREAM_STREAM_NAME_MAX);
    in.stream [SSTREAM_STREAM_NAME_MAX] = 0;
    cr_assert_eq (s_round_trip (&in, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_str_eq (out.stream, in.stream);
    char long_name [SSTREAM_STREAM_NAME_MAX + 2];
    memset (long_name, 'a', SSTREAM_STREAM_NAME_MAX + 1);
    long_name [SSTREAM_STREAM_NAME_MAX + 1] = 0;
    msgpack_sbuffer_init (&buffer);
    s_head (&packer, 4, "tunnel-eof");
    s_str (&packer, "stream"); s_str (&packer, long_name);
    s_str (&packer, "conn"); msgpack_pack_uint8 (&packer, 1);
    cr_assert_eq (sstream_wire_decode (&out, buffer.data, buffer.size), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "'stream' is 129 bytes long, over the limit of 128"),
               "%s", sstream_errmsg ());
    msgpack_sbuffer_destroy (&buffer);
}

Test (wire, unknown_keys_are_ignored_for_later_versions)
{
    sstream_wire_t in = { .type = SSTREAM_WIRE_TUNNEL_CREDIT, .stream = "s", .conn = 3,
                          .bytes = 9 }, out;
    zframe_t *frame = sstream_wire_encode (&in);
    //  Append two keys to the map: bump the fixmap count, add "acked": 5
    //  and "later": {"k": [1, "x"]}
    size_t size = zframe_size (frame);
    const unsigned char extra [] = {
        0xa5, 'a', 'c', 'k', 'e', 'd', 0x05,
        0xa5, 'l', 'a', 't', 'e', 'r', 0x81, 0xa1, 'k', 0x92, 0x01, 0xa1, 'x'
    };
    unsigned char *bytes = malloc (size + sizeof (extra));
    memcpy (bytes, zframe_data (frame), size);
    cr_assert_eq (bytes [0] & 0xf0, 0x80);
    bytes [0] += 2;
    cr_assert_eq (bytes [0] & 0xf0, 0x80, "no room in the fixmap");
    memcpy (bytes + size, extra, sizeof (extra));
    cr_assert_eq (sstream_wire_decode (&out, bytes, size + sizeof (extra)), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    s_assert_same (&in, &out, "with unknown keys");
    free (bytes);
    zframe_destroy (&frame);
}

Test (wire, random_and_mutated_headers_never_crash)
{
    //  Under AddressSanitizer this also proves no read outside the frame:
    //  every input is in a buffer of exactly its size
    const sstream_wire_t *seeds [] = { &s_samples [4], &s_samples [14], &s_samples [0] };
    unsigned seed = 12345;
    int round, accepted = 0, refused = 0;
    for (round = 0; round < 30000; round++) {
        zframe_t *frame = sstream_wire_encode (seeds [round % 3]);
        size_t size = zframe_size (frame);
        byte *bytes = s_copy (zframe_data (frame), size);
        zframe_destroy (&frame);
        int flips = 1 + rand_r (&seed) % 4, flip;
        for (flip = 0; flip < flips; flip++)
            bytes [rand_r (&seed) % size] = (byte) rand_r (&seed);
        size_t length = rand_r (&seed) % 4? size: 1 + rand_r (&seed) % size;
        byte *input = s_copy (bytes, length);
        free (bytes);
        sstream_wire_t out;
        int rc = sstream_wire_decode (&out, input, length);
        free (input);
        cr_assert (rc == SSTREAM_OK || rc == SSTREAM_EPROTO || rc == SSTREAM_EINVAL,
                   "unexpected code %d", rc);
        if (rc == SSTREAM_OK) {
            accepted++;
            cr_assert (out.type > 0 && out.type < SSTREAM_WIRE_TYPES
                       && out.type != SSTREAM_WIRE_DATA && out.type != SSTREAM_WIRE_CREDIT);
        }
        else
            refused++;
    }
    for (round = 0; round < 30000; round++) {
        size_t length = 1 + rand_r (&seed) % 64, index;
        byte *noise = (byte *) malloc (length);
        for (index = 0; index < length; index++)
            noise [index] = (byte) rand_r (&seed);
        if (round % 2)
            noise [0] = 0x80 | (noise [0] & 0x0f);     //  A fixmap, to get further
        sstream_wire_t out;
        int rc = sstream_wire_decode (&out, noise, length);
        free (noise);
        cr_assert (rc == SSTREAM_OK || rc == SSTREAM_EPROTO || rc == SSTREAM_EINVAL,
                   "unexpected code %d", rc);
    }
    cr_assert_gt (refused, 0);
    cr_log_info ("%d of 30000 mutated headers still decoded", accepted);
}

Test (wire, declared_sizes_cannot_make_the_decoder_allocate_wildly)
{
    //  map32 of 2^32-1 entries in six bytes: msgpack-c alone would ask
    //  for 128 GiB before noticing the input ends
    const unsigned char huge_map [] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1 };
    sstream_wire_t out;
    cr_assert_eq (sstream_wire_decode (&out, huge_map, sizeof (huge_map)), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "declares more elements"), "%s", sstream_errmsg ());
    //  The same inside a valid-looking header, as the value of a key
    const unsigned char huge_array [] = { 0x81, 0xa4, 'm', 'e', 't', 'a', 0xdd, 0x10, 0, 0, 0 };
    cr_assert_eq (sstream_wire_decode (&out, huge_array, sizeof (huge_array)), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "declares more elements"), "%s", sstream_errmsg ());
    //  ... and in metadata, and in a sessions list
    cr_assert_eq (sstream_wire_check_meta (huge_map, sizeof (huge_map)), SSTREAM_EINVAL);
    zlistx_t *rows = NULL;
    cr_assert_eq (sstream_wire_list_decode (huge_map, sizeof (huge_map), &rows), SSTREAM_EPROTO);
    cr_assert_null (rows);
    //  Deep nesting
    unsigned char deep [100];
    memset (deep, 0x91, sizeof (deep));         //  [[[[...
    cr_assert_eq (sstream_wire_decode (&out, deep, sizeof (deep)), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "nests deeper"), "%s", sstream_errmsg ());
    cr_assert_eq (sstream_wire_list_decode (deep, sizeof (deep), &rows), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "nests deeper"), "%s", sstream_errmsg ());
}

Test (wire, metadata_must_be_one_map)
{
    const char array [] = { (char) 0x92, 0x01, 0x02 };         //  [1, 2]
    cr_assert_eq (sstream_wire_check_meta (array, sizeof (array)), SSTREAM_EINVAL);
    const char trailing [] = { (char) 0x80, 0x01 };            //  {} then 1
    cr_assert_eq (sstream_wire_check_meta (trailing, sizeof (trailing)), SSTREAM_EINVAL);
    const char truncated [] = { (char) 0x81, (char) 0xa1 };    //  {"?
    cr_assert_eq (sstream_wire_check_meta (truncated, sizeof (truncated)), SSTREAM_EINVAL);
    const char garbage [] = { (char) 0xc1 };                    //  never used
    cr_assert_eq (sstream_wire_check_meta (garbage, sizeof (garbage)), SSTREAM_EINVAL);
    cr_assert_eq (sstream_wire_check_meta (s_meta_empty, sizeof (s_meta_empty)), SSTREAM_OK);
    cr_assert_eq (sstream_wire_check_meta (s_meta_small, sizeof (s_meta_small)), SSTREAM_OK);
    cr_assert_eq (sstream_wire_check_meta (s_meta_shape, sizeof (s_meta_shape)), SSTREAM_OK);
    cr_assert_eq (sstream_wire_check_meta (NULL, 0), SSTREAM_OK);
    //  The size limit: a map of one bin, as large as allowed, then a byte more
    size_t limit = SSTREAM_WIRE_HEADER_MAX - 512;
    byte *meta = (byte *) calloc (1, limit + 1);
    meta [0] = 0x81; meta [1] = 0xa1; meta [2] = 'k'; meta [3] = 0xc5;
    meta [4] = (byte) ((limit - 6) >> 8); meta [5] = (byte) (limit - 6);
    cr_assert_eq (sstream_wire_check_meta (meta, limit), SSTREAM_OK, "%s", sstream_errmsg ());
    meta [4] = (byte) ((limit - 5) >> 8); meta [5] = (byte) (limit - 5);
    cr_assert_eq (sstream_wire_check_meta (meta, limit + 1), SSTREAM_ETOOBIG);
    free (meta);
}

Test (wire, shorthands_encode_error_and_ping)
{
    sstream_wire_t out;
    zframe_t *frame = sstream_wire_error (SSTREAM_EDENIED, "s", "no");
    cr_assert_not_null (frame);
    cr_assert_eq (sstream_wire_decode (&out, zframe_data (frame), zframe_size (frame)), SSTREAM_OK);
    cr_assert_eq (out.type, SSTREAM_WIRE_ERROR);
    cr_assert_eq (out.code, SSTREAM_EDENIED);
    cr_assert_str_eq (out.stream, "s");
    cr_assert_str_eq (out.text, "no");
    zframe_destroy (&frame);

    frame = sstream_wire_error (SSTREAM_EPROTO, NULL, NULL);
    cr_assert_eq (sstream_wire_decode (&out, zframe_data (frame), zframe_size (frame)), SSTREAM_OK);
    cr_assert_eq (out.code, SSTREAM_EPROTO);
    cr_assert_str_eq (out.stream, "");
    cr_assert_str_eq (out.text, "");
    zframe_destroy (&frame);

    frame = sstream_wire_ping ();
    cr_assert_eq (sstream_wire_decode (&out, zframe_data (frame), zframe_size (frame)), SSTREAM_OK);
    cr_assert_eq (out.type, SSTREAM_WIRE_PING);
    zframe_destroy (&frame);
}

Test (wire, type_names_and_payload_types)
{
    cr_assert_str_eq (sstream_wire_type_name (SSTREAM_WIRE_DATA), "data");
    cr_assert_str_eq (sstream_wire_type_name (SSTREAM_WIRE_CREDIT), "credit");
    cr_assert_str_eq (sstream_wire_type_name (SSTREAM_WIRE_TUNNEL_RESET), "tunnel-reset");
    cr_assert_str_eq (sstream_wire_type_name (SSTREAM_WIRE_KEY), "key");
    cr_assert_str_eq (sstream_wire_type_name (SSTREAM_WIRE_TUNNEL_KEY), "tunnel-key");
    cr_assert_str_eq (sstream_wire_type_name (SSTREAM_WIRE_STREAM_LIST), "stream-list");
    cr_assert_str_eq (sstream_wire_type_name (SSTREAM_WIRE_STREAMS), "streams");
    cr_assert_str_eq (sstream_wire_type_name (0), "unknown");
    cr_assert_str_eq (sstream_wire_type_name (SSTREAM_WIRE_TYPES), "unknown");
    cr_assert_str_eq (sstream_wire_type_name (-1), "unknown");
    int type;
    for (type = 1; type < SSTREAM_WIRE_TYPES; type++)
        cr_assert_eq (sstream_wire_has_payload (type),
                      type == SSTREAM_WIRE_SESSIONS || type == SSTREAM_WIRE_STREAMS
                      || type == SSTREAM_WIRE_KEY,
                      "%s", sstream_wire_type_name (type));
}


//  --------------------------------------------------------------------------
//  Sealed streams and the bulk path: key, and the new keys of hello,
//  welcome, open, accepted and end

//  True when the encoded header has key (through msgpack-c itself)
static bool
s_has_key (const sstream_wire_t *message, const char *key)
{
    zframe_t *frame = sstream_wire_encode (message);
    cr_assert_not_null (frame);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    msgpack_object value;
    bool found = s_lookup (frame, key, &value, &unpacked);
    msgpack_unpacked_destroy (&unpacked);
    zframe_destroy (&frame);
    return found;
}

Test (wire, a_key_message_round_trips_with_its_payload_frame)
{
    //  The wrapped key, as a consumer gets it: a payload frame after the header
    byte wrapped [SSTREAM_SEAL_WRAP_SIZE];
    size_t at;
    for (at = 0; at < sizeof (wrapped); at++)
        wrapped [at] = (byte) (at * 13 + 5);
    sstream_wire_t in = { .type = SSTREAM_WIRE_KEY, .stream = "run-1/sealed",
                          .epoch = 0xfedcba9876543210ULL, .generation = 7,
                          .cipher = SSTREAM_CIPHER_AES256GCM };
    zmsg_t *message = zmsg_new ();
    zframe_t *encoded = sstream_wire_encode (&in);
    cr_assert_not_null (encoded);
    cr_assert_eq (zmsg_append (message, &encoded), 0);
    cr_assert_eq (zmsg_addmem (message, wrapped, sizeof (wrapped)), 0);

    //  The receiving side: the header says a payload frame follows
    zframe_t *header = zmsg_first (message);
    cr_assert_not (sstream_wire_is_batch (zframe_data (header), zframe_size (header)));
    sstream_wire_t out;
    cr_assert_eq (sstream_wire_decode (&out, zframe_data (header), zframe_size (header)),
                  SSTREAM_OK, "%s", sstream_errmsg ());
    s_assert_same (&in, &out, "key");
    cr_assert_eq (out.type, SSTREAM_WIRE_KEY);
    cr_assert_eq (out.epoch, 0xfedcba9876543210ULL);
    cr_assert_eq (out.generation, 7);
    cr_assert_eq (out.cipher, SSTREAM_CIPHER_AES256GCM);
    cr_assert (sstream_wire_has_payload (out.type), "a key without its payload frame");
    zframe_t *payload = zmsg_next (message);
    cr_assert_not_null (payload);
    cr_assert_eq (zframe_size (payload), sizeof (wrapped));
    cr_assert_eq (memcmp (zframe_data (payload), wrapped, sizeof (wrapped)), 0);
    cr_assert_null (zmsg_next (message));
    zmsg_destroy (&message);

    //  Its type travels as "key", and the required numbers go even when 0
    sstream_wire_t zero = { .type = SSTREAM_WIRE_KEY, .stream = "s" };
    cr_assert (s_has_key (&zero, "epoch"));
    cr_assert (s_has_key (&zero, "gen"));
    cr_assert (s_has_key (&zero, "cipher"));
    zframe_t *frame = sstream_wire_encode (&zero);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    msgpack_object value;
    cr_assert (s_lookup (frame, "t", &value, &unpacked));
    cr_assert_eq (value.type, MSGPACK_OBJECT_STR);
    cr_assert_eq (value.via.str.size, 3);
    cr_assert_eq (memcmp (value.via.str.ptr, "key", 3), 0);
    msgpack_unpacked_destroy (&unpacked);
    zframe_destroy (&frame);
}

static void s_key_without_stream (msgpack_packer *packer)
{
    s_head (packer, 5, "key");
    s_str (packer, "epoch"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "gen"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "cipher"); msgpack_pack_uint8 (packer, 1);
}
static void s_key_without_epoch (msgpack_packer *packer)
{
    s_head (packer, 5, "key");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "gen"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "cipher"); msgpack_pack_uint8 (packer, 1);
}
static void s_key_without_gen (msgpack_packer *packer)
{
    s_head (packer, 5, "key");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "epoch"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "cipher"); msgpack_pack_uint8 (packer, 1);
}
static void s_key_without_cipher (msgpack_packer *packer)
{
    s_head (packer, 5, "key");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "epoch"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "gen"); msgpack_pack_uint8 (packer, 1);
}
static void s_key_gen_not_number (msgpack_packer *packer)
{
    s_head (packer, 6, "key");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "epoch"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "gen"); s_str (packer, "1");
    s_str (packer, "cipher"); msgpack_pack_uint8 (packer, 1);
}
static void s_key_negative_epoch (msgpack_packer *packer)
{
    s_head (packer, 6, "key");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "epoch"); msgpack_pack_int8 (packer, -1);
    s_str (packer, "gen"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "cipher"); msgpack_pack_uint8 (packer, 1);
}
static void s_key_complete (msgpack_packer *packer)
{
    s_head (packer, 6, "key");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "epoch"); msgpack_pack_uint64 (packer, UINT64_MAX);
    s_str (packer, "gen"); msgpack_pack_uint8 (packer, 2);
    s_str (packer, "cipher"); msgpack_pack_uint8 (packer, 1);
}

Test (wire, a_key_message_without_a_required_field_is_refused)
{
    struct {
        s_builder_fn *builder;
        const char *reason;
    } cases [] = {
        { s_key_without_stream, "key message without 'stream'" },
        { s_key_without_epoch, "key message without 'epoch'" },
        { s_key_without_gen, "key message without 'gen'" },
        { s_key_without_cipher, "key message without 'cipher'" },
        { s_key_gen_not_number, "'gen' is not an unsigned integer" },
        { s_key_negative_epoch, "'epoch' is not an unsigned integer" },
    };
    size_t index;
    for (index = 0; index < sizeof (cases) / sizeof (cases [0]); index++) {
        sstream_wire_t out;
        memset (&out, 0x5a, sizeof (out));
        cr_assert_eq (s_decode_built (cases [index].builder, &out), SSTREAM_EPROTO,
                      "case %zu was taken", index);
        cr_assert (strstr (sstream_errmsg (), cases [index].reason),
                   "case %zu: '%s' does not say '%s'", index, sstream_errmsg (),
                   cases [index].reason);
        cr_assert_eq (out.type, 0, "case %zu left a half-decoded header", index);
        cr_assert_eq (out.epoch, 0, "case %zu left a half-decoded header", index);
    }
    //  With all four it is taken
    sstream_wire_t out;
    cr_assert_eq (s_decode_built (s_key_complete, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (out.type, SSTREAM_WIRE_KEY);
    cr_assert_str_eq (out.stream, "s");
    cr_assert_eq (out.epoch, UINT64_MAX);
    cr_assert_eq (out.generation, 2);
    cr_assert_eq (out.cipher, 1);
}

//  A bulk address of the longest length there is room for, and a token of
//  32 bytes in hex
static void
s_fill (char *text, size_t length, char with)
{
    memset (text, with, length);
    text [length] = 0;
}

Test (wire, accepted_and_welcome_carry_a_bulk_path_and_its_token)
{
    const char *token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    cr_assert_eq (strlen (token), 64);
    const int types [] = { SSTREAM_WIRE_ACCEPTED, SSTREAM_WIRE_WELCOME };
    size_t index;
    for (index = 0; index < 2; index++) {
        sstream_wire_t in = { .type = types [index], .stream = "s", .sid = 4, .window = 4096,
                              .text = "gateway-a" }, out;
        if (types [index] == SSTREAM_WIRE_WELCOME)
            in.stream [0] = 0, in.sid = 0, in.window = 0;
        const char *what = sstream_wire_type_name (types [index]);
        //  Without a bulk path, neither key is sent, and none comes back
        cr_assert_not (s_has_key (&in, "bulk"), "%s", what);
        cr_assert_not (s_has_key (&in, "token"), "%s", what);
        cr_assert_eq (s_round_trip (&in, &out), SSTREAM_OK, "%s: %s", what, sstream_errmsg ());
        cr_assert_str_eq (out.bulk, "");
        cr_assert_str_eq (out.token, "");

        //  With one: both, as they were
        snprintf (in.bulk, sizeof (in.bulk), "tcp://192.168.1.20:7002");
        snprintf (in.token, sizeof (in.token), "%s", token);
        cr_assert (s_has_key (&in, "bulk"), "%s", what);
        cr_assert (s_has_key (&in, "token"), "%s", what);
        memset (&out, 0x5a, sizeof (out));
        cr_assert_eq (s_round_trip (&in, &out), SSTREAM_OK, "%s: %s", what, sstream_errmsg ());
        s_assert_same (&in, &out, what);
        cr_assert_str_eq (out.bulk, "tcp://192.168.1.20:7002");
        cr_assert_str_eq (out.token, token);

        //  The longest address there is room for
        s_fill (in.bulk, sizeof (in.bulk) - 1, 'a');
        cr_assert_eq (s_round_trip (&in, &out), SSTREAM_OK, "%s: %s", what, sstream_errmsg ());
        cr_assert_eq (strlen (out.bulk), SSTREAM_BULK_ADDRESS_MAX - 1);
        cr_assert_str_eq (out.bulk, in.bulk);
    }
}

static void s_accepted_bulk_too_long (msgpack_packer *packer)
{
    char bulk [SSTREAM_BULK_ADDRESS_MAX + 1];
    s_fill (bulk, SSTREAM_BULK_ADDRESS_MAX, 'a');
    s_head (packer, 6, "accepted");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "window"); msgpack_pack_uint32 (packer, 1024);
    s_str (packer, "sid"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "bulk"); s_str (packer, bulk);
}
static void s_welcome_token_too_long (msgpack_packer *packer)
{
    char token [66];
    s_fill (token, 65, 'f');
    s_head (packer, 4, "welcome");
    s_str (packer, "name"); s_str (packer, "g");
    s_str (packer, "token"); s_str (packer, token);
}
static void s_welcome_token_not_string (msgpack_packer *packer)
{
    s_head (packer, 4, "welcome");
    s_str (packer, "name"); s_str (packer, "g");
    s_str (packer, "token"); msgpack_pack_uint8 (packer, 1);
}
static void s_end_seal_too_long (msgpack_packer *packer)
{
    char seal [2 * SSTREAM_WIRE_SEAL_TAG + 2];
    s_fill (seal, 2 * SSTREAM_WIRE_SEAL_TAG + 1, '0');
    s_head (packer, 6, "end");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "seq"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "bytes"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "seal"); s_str (packer, seal);
}
static void s_open_payload_too_long (msgpack_packer *packer)
{
    s_head (packer, 6, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "produce");
    s_str (packer, "sid"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "payload"); s_str (packer, "sealed-and-then-some");
}

Test (wire, bulk_token_seal_and_payload_texts_longer_than_their_room_are_refused)
{
    struct {
        s_builder_fn *builder;
        const char *reason;
    } cases [] = {
        { s_accepted_bulk_too_long, "'bulk' is 256 bytes long, over the limit of 255" },
        { s_welcome_token_too_long, "'token' is 65 bytes long, over the limit of 64" },
        { s_welcome_token_not_string, "'token' is not a string" },
        { s_end_seal_too_long, "'seal' is 33 bytes long, over the limit of 32" },
        { s_open_payload_too_long, "'payload' is 20 bytes long, over the limit of 15" },
    };
    size_t index;
    for (index = 0; index < sizeof (cases) / sizeof (cases [0]); index++) {
        sstream_wire_t out;
        cr_assert_eq (s_decode_built (cases [index].builder, &out), SSTREAM_EPROTO,
                      "case %zu was taken", index);
        cr_assert (strstr (sstream_errmsg (), cases [index].reason),
                   "case %zu: '%s' does not say '%s'", index, sstream_errmsg (),
                   cases [index].reason);
    }
}

Test (wire, hello_and_open_say_they_can_use_a_bulk_path_in_their_flags)
{
    cr_assert_eq (SSTREAM_WIRE_BULK_OK, 2);
    cr_assert_eq (SSTREAM_WIRE_BULK_OK & SSTREAM_WIRE_NEED_PEER, 0);
    sstream_wire_t hello = { .type = SSTREAM_WIRE_HELLO, .role = SSTREAM_ROLE_GATEWAY,
                             .text = "gateway-a", .session = 77 }, out;
    //  No flags: none sent, 0 decoded
    cr_assert_not (s_has_key (&hello, "flags"));
    memset (&out, 0x5a, sizeof (out));
    cr_assert_eq (s_round_trip (&hello, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (out.flags, 0);
    //  Bulk-capable
    hello.flags = SSTREAM_WIRE_BULK_OK;
    cr_assert (s_has_key (&hello, "flags"));
    cr_assert_eq (s_round_trip (&hello, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    s_assert_same (&hello, &out, "hello with flags");
    cr_assert_eq (out.flags, SSTREAM_WIRE_BULK_OK);
    cr_assert_eq (out.session, 77);

    //  Open: both flags at once, with an epoch and a payload kind
    sstream_wire_t open = { .type = SSTREAM_WIRE_OPEN, .stream = "s", .role = SSTREAM_ROLE_PRODUCE,
                            .sid = 3, .flags = SSTREAM_WIRE_NEED_PEER | SSTREAM_WIRE_BULK_OK,
                            .epoch = 42, .payload = "sealed" };
    cr_assert_eq (s_round_trip (&open, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    s_assert_same (&open, &out, "open, bulk-capable");
    cr_assert_eq (out.flags & SSTREAM_WIRE_BULK_OK, SSTREAM_WIRE_BULK_OK);
    cr_assert_eq (out.flags & SSTREAM_WIRE_NEED_PEER, SSTREAM_WIRE_NEED_PEER);
    //  Neither epoch nor payload when they are not set
    open.epoch = 0;
    open.payload [0] = 0;
    cr_assert_not (s_has_key (&open, "epoch"));
    cr_assert_not (s_has_key (&open, "payload"));
    cr_assert_eq (s_round_trip (&open, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (out.epoch, 0);
    cr_assert_str_eq (out.payload, "");
    //  End: its seal, and none when unsealed
    sstream_wire_t end = { .type = SSTREAM_WIRE_END, .stream = "s", .seq = 3, .bytes = 30,
                           .seal = "00112233445566778899aabbccddeeff" };
    cr_assert (s_has_key (&end, "seal"));
    cr_assert_eq (s_round_trip (&end, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_str_eq (out.seal, "00112233445566778899aabbccddeeff");
    end.seal [0] = 0;
    cr_assert_not (s_has_key (&end, "seal"));
}


//  --------------------------------------------------------------------------
//  Sessions lists

static const char *
s_row_field (zlistx_t *rows, size_t row, const char *name)
{
    zhashx_t *fields = (zhashx_t *) zlistx_first (rows);
    while (fields && row--)
        fields = (zhashx_t *) zlistx_next (rows);
    cr_assert_not_null (fields);
    return (const char *) zhashx_lookup (fields, name);
}

Test (wire, sessions_lists_round_trip)
{
    sstream_wire_list_t *list = sstream_wire_list_new ();
    cr_assert_not_null (list);
    sstream_wire_list_row (list, 3);
    sstream_wire_list_text (list, "id", "ab12");
    sstream_wire_list_text (list, "stream", "run-1/a");
    sstream_wire_list_number (list, "bytes", 123);
    sstream_wire_list_row (list, 2);
    sstream_wire_list_text (list, "id", "");
    sstream_wire_list_number (list, "links", UINT64_MAX);
    zframe_t *frame = sstream_wire_list_frame (list);
    sstream_wire_list_destroy (&list);
    cr_assert_null (list);
    cr_assert_not_null (frame);

    zlistx_t *rows = NULL;
    cr_assert_eq (sstream_wire_list_decode (zframe_data (frame), zframe_size (frame), &rows),
                  SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_not_null (rows);
    cr_assert_eq (zlistx_size (rows), 2);
    cr_assert_str_eq (s_row_field (rows, 0, "id"), "ab12");
    cr_assert_str_eq (s_row_field (rows, 0, "stream"), "run-1/a");
    cr_assert_str_eq (s_row_field (rows, 0, "bytes"), "123");
    cr_assert_null (s_row_field (rows, 0, "links"));
    cr_assert_str_eq (s_row_field (rows, 1, "id"), "");
    cr_assert_str_eq (s_row_field (rows, 1, "links"), "18446744073709551615");
    zlistx_destroy (&rows);
    zframe_destroy (&frame);

    //  No rows: an empty array
    list = sstream_wire_list_new ();
    frame = sstream_wire_list_frame (list);
    sstream_wire_list_destroy (&list);
    cr_assert_eq (zframe_size (frame), 1);
    cr_assert_eq (zframe_data (frame) [0], 0x90);
    cr_assert_eq (sstream_wire_list_decode (zframe_data (frame), zframe_size (frame), &rows),
                  SSTREAM_OK);
    cr_assert_eq (zlistx_size (rows), 0);
    zlistx_destroy (&rows);
    zframe_destroy (&frame);

    //  A list destroyed unused
    list = sstream_wire_list_new ();
    sstream_wire_list_row (list, 1);
    sstream_wire_list_text (list, "id", "x");
    sstream_wire_list_destroy (&list);
    cr_assert_null (list);
}

Test (wire, sessions_lists_are_checked_before_they_are_unpacked)
{
    zlistx_t *rows = NULL;
    //  [ {"id": "ab"} ]
    const byte good [] = { 0x91, 0x81, 0xa2, 'i', 'd', 0xa2, 'a', 'b' };
    cr_assert_eq (sstream_wire_list_decode (good, sizeof (good), &rows), SSTREAM_OK, "%s",
                  sstream_errmsg ());
    cr_assert_str_eq (s_row_field (rows, 0, "id"), "ab");
    zlistx_destroy (&rows);
    cr_assert_eq (sstream_wire_list_decode (good, sizeof (good) - 1, &rows), SSTREAM_EPROTO);
    cr_assert_null (rows);
    const byte map [] = { 0x81, 0xa2, 'i', 'd', 0xa2, 'a', 'b' };
    cr_assert_eq (sstream_wire_list_decode (map, sizeof (map), &rows), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "array"), "%s", sstream_errmsg ());
    cr_assert_null (rows);
    //  An array 32 that says it holds four billion elements
    const byte huge [] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0 };
    cr_assert_eq (sstream_wire_list_decode (huge, sizeof (huge), &rows), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "declares more elements"), "%s", sstream_errmsg ());
    const byte trailing [] = { 0x90, 0xc0 };
    cr_assert_eq (sstream_wire_list_decode (trailing, sizeof (trailing), &rows), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "1 bytes after a list"), "%s", sstream_errmsg ());
    const byte not_map [] = { 0x92, 0x80, 0x01 };         //  [{}, 1]
    cr_assert_eq (sstream_wire_list_decode (not_map, sizeof (not_map), &rows), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "a list entry that is not a map"), "%s",
               sstream_errmsg ());
    cr_assert_null (rows);
    cr_assert_eq (sstream_wire_list_decode (NULL, 0, &rows), SSTREAM_EPROTO);
    cr_assert_eq (sstream_wire_list_decode (good, 0, &rows), SSTREAM_EPROTO);
    //  Over the limit, whatever it holds
    byte *large = (byte *) calloc (1, SSTREAM_WIRE_LIST_MAX + 1);
    large [0] = 0x90;
    cr_assert_eq (sstream_wire_list_decode (large, SSTREAM_WIRE_LIST_MAX + 1, &rows),
                  SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "a list of 16777217 bytes"), "%s", sstream_errmsg ());
    free (large);

    //  What is not ours to read is skipped: keys that are not strings or
    //  longer than 64 bytes, values that are neither strings nor numbers
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    msgpack_pack_array (&packer, 1);
    msgpack_pack_map (&packer, 5);
    msgpack_pack_uint8 (&packer, 1); s_str (&packer, "one");
    char long_key [66];
    memset (long_key, 'k', 65);
    long_key [65] = 0;
    s_str (&packer, long_key); s_str (&packer, "long");
    s_str (&packer, "nested"); msgpack_pack_array (&packer, 1); msgpack_pack_uint8 (&packer, 1);
    s_str (&packer, "negative"); msgpack_pack_int8 (&packer, -1);
    s_str (&packer, "id"); s_str (&packer, "kept");
    cr_assert_eq (sstream_wire_list_decode (buffer.data, buffer.size, &rows), SSTREAM_OK, "%s",
                  sstream_errmsg ());
    zhashx_t *fields = (zhashx_t *) zlistx_first (rows);
    cr_assert_eq (zhashx_size (fields), 1);
    cr_assert_str_eq (s_row_field (rows, 0, "id"), "kept");
    zlistx_destroy (&rows);
    msgpack_sbuffer_destroy (&buffer);

    //  A sessions reply: its list is a payload frame, and its request number
    //  comes back
    sstream_wire_t reply = { .type = SSTREAM_WIRE_SESSIONS, .request = 42 }, decoded;
    zframe_t *frame = sstream_wire_encode (&reply);
    cr_assert_not_null (frame);
    cr_assert (sstream_wire_has_payload (SSTREAM_WIRE_SESSIONS));
    cr_assert_eq (sstream_wire_decode (&decoded, zframe_data (frame), zframe_size (frame)),
                  SSTREAM_OK);
    cr_assert_eq (decoded.request, 42);
    zframe_destroy (&frame);
}


//  --------------------------------------------------------------------------
//  Data and credit: the binary header

Test (wire, batch_header_layout_is_little_endian_32_bytes)
{
    sstream_wire_batch_t header = {
        .type = SSTREAM_WIRE_DATA, .flags = 0xbeef, .sid = 0x01020304,
        .seq = 0x1112131415161718ULL, .count = 0x21222324, .index = 0x31323334,
        .length = 0x4142434445464748ULL
    };
    const byte expected [SSTREAM_WIRE_BATCH_HEADER] = {
        0x02, 0x05, 0xef, 0xbe, 0x04, 0x03, 0x02, 0x01,
        0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
        0x24, 0x23, 0x22, 0x21, 0x34, 0x33, 0x32, 0x31,
        0x48, 0x47, 0x46, 0x45, 0x44, 0x43, 0x42, 0x41
    };
    byte out [SSTREAM_WIRE_BATCH_HEADER + 1];
    memset (out, 0xaa, sizeof (out));
    sstream_wire_batch_write (&header, out);
    cr_assert_eq (memcmp (out, expected, SSTREAM_WIRE_BATCH_HEADER), 0);
    cr_assert_eq (out [SSTREAM_WIRE_BATCH_HEADER], 0xaa, "wrote past 32 bytes");
    cr_assert_eq (SSTREAM_WIRE_BATCH_HEADER, 32);

    //  All ones
    header = (sstream_wire_batch_t) {
        .type = SSTREAM_WIRE_CREDIT, .flags = UINT16_MAX, .sid = UINT32_MAX, .seq = UINT64_MAX,
        .count = UINT32_MAX, .index = UINT32_MAX, .length = UINT64_MAX
    };
    sstream_wire_batch_write (&header, out);
    cr_assert_eq (out [0], 2);
    cr_assert_eq (out [1], 6);
    size_t index;
    for (index = 2; index < SSTREAM_WIRE_BATCH_HEADER; index++)
        cr_assert_eq (out [index], 0xff, "byte %zu", index);

    //  A credit message is its header alone
    zframe_t *credit = sstream_wire_credit (0x01020304, 0x0000010000000000ULL);
    cr_assert_eq (zframe_size (credit), SSTREAM_WIRE_BATCH_HEADER);
    header = (sstream_wire_batch_t) { .type = SSTREAM_WIRE_CREDIT, .sid = 0x01020304,
                                      .length = 0x0000010000000000ULL };
    sstream_wire_batch_write (&header, out);
    cr_assert_eq (memcmp (zframe_data (credit), out, SSTREAM_WIRE_BATCH_HEADER), 0);
    zframe_destroy (&credit);
}

//  Write header into a zeroed frame 0 of size bytes, and read it back
static int
s_read_made (const sstream_wire_batch_t *header, size_t size, int64_t frame1_size,
             sstream_wire_batch_t *out)
{
    byte *frame0 = (byte *) calloc (1, size > SSTREAM_WIRE_BATCH_HEADER? size
                                                                      : SSTREAM_WIRE_BATCH_HEADER);
    sstream_wire_batch_write (header, frame0);
    byte *exact = s_copy (frame0, size);
    free (frame0);
    int rc = sstream_wire_batch_read (out, exact, size, frame1_size);
    free (exact);
    return rc;
}

static void
s_assert_same_batch (const sstream_wire_batch_t *in, const sstream_wire_batch_t *out)
{
    cr_assert_eq (out->type, in->type);
    cr_assert_eq (out->flags, in->flags);
    cr_assert_eq (out->sid, in->sid);
    cr_assert_eq (out->seq, in->seq);
    cr_assert_eq (out->count, in->count);
    cr_assert_eq (out->index, in->index);
    cr_assert_eq (out->length, in->length);
}

Test (wire, batch_header_round_trips_extreme_values)
{
    sstream_wire_batch_t out;
    //  The most a data header can say
    sstream_wire_batch_t most = {
        .type = SSTREAM_WIRE_DATA, .sid = UINT32_MAX,
        .seq = UINT64_MAX - SSTREAM_WIRE_BATCH_RECORDS_MAX - 1,
        .count = SSTREAM_WIRE_BATCH_RECORDS_MAX, .index = SSTREAM_WIRE_INDEX_MAX,
        .length = INT64_MAX
    };
    cr_assert_eq (s_read_made (&most, SSTREAM_WIRE_BATCH_HEADER + SSTREAM_WIRE_INDEX_MAX,
                               INT64_MAX, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    s_assert_same_batch (&most, &out);
    //  The least
    sstream_wire_batch_t least = {
        .type = SSTREAM_WIRE_DATA, .sid = 0, .seq = 0, .count = 1, .index = 8, .length = 0
    };
    cr_assert_eq (s_read_made (&least, SSTREAM_WIRE_BATCH_HEADER + 8, 0, &out), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    s_assert_same_batch (&least, &out);
    //  The last sequence numbers there are: seq + count == 2^64 - 2, the
    //  next batch's first, so that 2^64 - 1 stays reserved
    sstream_wire_batch_t last = {
        .type = SSTREAM_WIRE_DATA, .sid = 1, .seq = UINT64_MAX - 3, .count = 2, .index = 16,
        .length = 3
    };
    cr_assert_eq (s_read_made (&last, SSTREAM_WIRE_BATCH_HEADER + 16, 3, &out), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    s_assert_same_batch (&last, &out);
    //  Credit, most and least
    sstream_wire_batch_t credit = {
        .type = SSTREAM_WIRE_CREDIT, .sid = UINT32_MAX, .length = SSTREAM_WIRE_WINDOW_MAX
    };
    cr_assert_eq (s_read_made (&credit, SSTREAM_WIRE_BATCH_HEADER, -1, &out), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    s_assert_same_batch (&credit, &out);
    credit = (sstream_wire_batch_t) { .type = SSTREAM_WIRE_CREDIT };
    cr_assert_eq (s_read_made (&credit, SSTREAM_WIRE_BATCH_HEADER, -1, &out), SSTREAM_OK);
    s_assert_same_batch (&credit, &out);
    //  What sstream_wire_credit makes reads back
    zframe_t *frame = sstream_wire_credit (UINT32_MAX, SSTREAM_WIRE_WINDOW_MAX);
    cr_assert_eq (sstream_wire_batch_read (&out, zframe_data (frame), zframe_size (frame), -1),
                  SSTREAM_OK);
    cr_assert_eq (out.type, SSTREAM_WIRE_CREDIT);
    cr_assert_eq (out.sid, UINT32_MAX);
    cr_assert_eq (out.length, SSTREAM_WIRE_WINDOW_MAX);
    zframe_destroy (&frame);
}

Test (wire, set_sid_rewrites_only_the_sid)
{
    sstream_pool_t *pool = sstream_pool_new (4096, 1);
    zmq_msg_t frame0, frame1;
    s_seal_samples (pool, 99, &frame0, &frame1);
    size_t size = zmq_msg_size (&frame0);
    byte *bytes = (byte *) zmq_msg_data (&frame0);
    byte *before = s_copy (bytes, size);
    sstream_wire_batch_t header, was;
    cr_assert_eq (sstream_wire_batch_read (&was, bytes, size, zmq_msg_size (&frame1)), SSTREAM_OK);
    cr_assert_eq (was.sid, 0, "a sealed batch has stream number 0");

    const uint32_t sids [] = { 0x0a0b0c0d, UINT32_MAX, 0, 1 };
    size_t index, offset;
    for (index = 0; index < sizeof (sids) / sizeof (sids [0]); index++) {
        sstream_wire_batch_set_sid (bytes, sids [index]);
        cr_assert_eq (s_le32 (bytes + 4), sids [index]);
        for (offset = 0; offset < size; offset++)
            if (offset < 4 || offset >= 8)
                cr_assert_eq (bytes [offset], before [offset], "byte %zu changed", offset);
        cr_assert_eq (sstream_wire_batch_read (&header, bytes, size, zmq_msg_size (&frame1)),
                      SSTREAM_OK);
        was.sid = sids [index];
        s_assert_same_batch (&was, &header);
    }
    cr_assert_eq (bytes [4], 0x01, "little-endian");

    //  Around it, bytes none of which is 0 or 0xff
    byte pattern [SSTREAM_WIRE_BATCH_HEADER + 8], expected [sizeof (pattern)];
    for (offset = 0; offset < sizeof (pattern); offset++)
        pattern [offset] = expected [offset] = (byte) (0x40 + offset);
    sstream_wire_batch_set_sid (pattern, 0);
    expected [4] = expected [5] = expected [6] = expected [7] = 0;
    cr_assert_eq (memcmp (pattern, expected, sizeof (pattern)), 0);
    sstream_wire_batch_set_sid (pattern, UINT32_MAX);
    expected [4] = expected [5] = expected [6] = expected [7] = 0xff;
    cr_assert_eq (memcmp (pattern, expected, sizeof (pattern)), 0);

    //  On a credit too
    zframe_t *credit = sstream_wire_credit (5, 77);
    sstream_wire_batch_set_sid (zframe_data (credit), 0x0a0b0c0d);
    cr_assert_eq (sstream_wire_batch_read (&header, zframe_data (credit), zframe_size (credit), -1),
                  SSTREAM_OK);
    cr_assert_eq (header.sid, 0x0a0b0c0d);
    cr_assert_eq (header.length, 77);
    zframe_destroy (&credit);

    free (before);
    zmq_msg_close (&frame0);
    zmq_msg_close (&frame1);
    sstream_pool_release (&pool);
}

Test (wire, batch_read_refuses_every_out_of_range_header_with_a_reason)
{
    //  Each case is a valid header with one thing wrong
    const sstream_wire_batch_t data = {
        .type = SSTREAM_WIRE_DATA, .sid = 7, .seq = 100, .count = 2, .index = 16, .length = 10
    };
    const sstream_wire_batch_t credit = { .type = SSTREAM_WIRE_CREDIT, .sid = 7, .length = 1000 };
    struct {
        const char *what;
        sstream_wire_batch_t header;
        size_t size;                //  Of frame 0
        int64_t frame1;             //  Size of frame 1, -1: none
        int version;                //  The first byte, if not 2 (0: 2)
        const char *reason;
    } cases [] = {
        { "valid data", data, 48, 10, 0, NULL },
        { "valid credit", credit, 32, -1, 0, NULL },
        { "count 0", data, 48, 10, 0, "a batch of 0 records (1 to 65536)" },
        { "count 65537", data, 32 + 8 * 65537, 10, 0, "a batch of 65537 records (1 to 65536)" },
        { "index past frame 0", data, 48, 10, 0,
          "a batch of 2 records with an index of 17 bytes in a frame of 48" },
        { "index short of frame 0", data, 48, 10, 0,
          "a batch of 2 records with an index of 15 bytes in a frame of 48" },
        { "index under 8 per record", data, 40, 10, 0,
          "a batch of 2 records with an index of 8 bytes in a frame of 40" },
        { "index over the limit", data, 32 + SSTREAM_WIRE_INDEX_MAX + 8, 10, 0,
          "a batch of 2 records with an index of 33554440 bytes" },
        { "length over frame 1", data, 48, 9, 0,
          "a batch that says 10 bytes of payload but carries 9" },
        { "length under frame 1", data, 48, 11, 0,
          "a batch that says 10 bytes of payload but carries 11" },
        { "data of one frame", data, 48, -1, 0, "a data message of one frame" },
        { "data flag 0x2", data, 48, 10, 0, "flags 0x2, which this version does not support" },
        { "data flag 0x8000", data, 48, 10, 0,
          "flags 0x8000, which this version does not support" },
        { "seq overflow", data, 48, 10, 0, "sequence numbers beyond 2^64" },
        { "seq at the top", data, 48, 10, 0, "sequence numbers beyond 2^64" },
        { "credit with a second frame", credit, 32, 0, 0,
          "a credit message of more than its header" },
        { "credit of 33 bytes", credit, 33, -1, 0, "a credit message of more than its header" },
        { "credit of 40 bytes", credit, 40, -1, 0, "a credit message of more than its header" },
        { "credit over 1 TiB", credit, 32, -1, 0,
          "credit over the limit of 1099511627776 bytes" },
        { "type 0", data, 48, 10, 0, "binary header of type 0" },
        { "type hello", data, 48, 10, 0, "binary header of type 1" },
        { "type end", data, 48, 10, 0, "binary header of type 7" },
        { "type 255", credit, 32, -1, 0, "binary header of type 255" },
        { "version 0", data, 48, 10, 0x100, "(32 at least, version 2)" },
        { "version 1", data, 48, 10, 1, "(32 at least, version 2)" },
        { "version 3", credit, 32, -1, 3, "(32 at least, version 2)" },
        { "version 0x82", data, 48, 10, 0x82, "(32 at least, version 2)" },
    };
    size_t count = sizeof (cases) / sizeof (cases [0]);
    //  The one thing wrong in each
    cases [2].header.count = 0;
    cases [3].header.count = 65537;
    cases [3].header.index = 8 * 65537;
    cases [4].header.index = 17;
    cases [5].header.index = 15;
    cases [6].header.index = 8;
    cases [7].header.index = SSTREAM_WIRE_INDEX_MAX + 8;
    cases [11].header.flags = 0x2;          //  Reserved (droppable): unknown yet
    cases [12].header.flags = 0x8000;
    cases [13].header.seq = UINT64_MAX - 2;     //  Records 2^64-3, 2^64-2: next is 2^64-1
    cases [14].header.seq = UINT64_MAX;
    cases [18].header.length = SSTREAM_WIRE_WINDOW_MAX + 1;
    cases [19].header.type = 0;
    cases [20].header.type = SSTREAM_WIRE_HELLO;
    cases [21].header.type = SSTREAM_WIRE_END;
    cases [22].header.type = 255;

    size_t index;
    for (index = 0; index < count; index++) {
        byte *frame0 = (byte *) calloc (1, cases [index].size);
        sstream_wire_batch_write (&cases [index].header, frame0);
        if (cases [index].version)
            frame0 [0] = (byte) cases [index].version;
        sstream_wire_batch_t out;
        int rc = sstream_wire_batch_read (&out, frame0, cases [index].size, cases [index].frame1);
        if (cases [index].reason) {
            cr_assert_eq (rc, SSTREAM_EPROTO, "%s was taken (rc %d)", cases [index].what, rc);
            cr_assert (strstr (sstream_errmsg (), cases [index].reason),
                       "%s: '%s' does not say '%s'", cases [index].what, sstream_errmsg (),
                       cases [index].reason);
        }
        else {
            cr_assert_eq (rc, SSTREAM_OK, "%s: %s", cases [index].what, sstream_errmsg ());
            s_assert_same_batch (&cases [index].header, &out);
        }
        free (frame0);
    }
}

Test (wire, tunnel_chunk_headers_read_back_and_say_what_is_wrong)
{
    sstream_wire_batch_t out;
    //  The most and the least, sealed and not
    sstream_wire_batch_t sealed = {
        .type = SSTREAM_WIRE_TUNNEL_DATA, .flags = SSTREAM_WIRE_SEALED, .sid = UINT32_MAX,
        .seq = UINT64_MAX, .count = 1, .length = INT64_MAX
    };
    cr_assert_eq (s_read_made (&sealed, 32, INT64_MAX, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    s_assert_same_batch (&sealed, &out);
    sealed.length = SSTREAM_WIRE_SEAL_TAG + 1;
    cr_assert_eq (s_read_made (&sealed, 32, SSTREAM_WIRE_SEAL_TAG + 1, &out), SSTREAM_OK);
    sstream_wire_batch_t clear = { .type = SSTREAM_WIRE_TUNNEL_DATA, .count = 1, .length = 1 };
    cr_assert_eq (s_read_made (&clear, 32, 1, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    s_assert_same_batch (&clear, &out);
    //  Flagged bulk: its payload should have come on a bulk path
    uint64_t owed = 0;
    sealed.flags = SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK;
    sealed.length = 4096;
    byte frame0 [SSTREAM_WIRE_BATCH_HEADER];
    sstream_wire_batch_write (&sealed, frame0);
    cr_assert (sstream_wire_batch_bulk (frame0, sizeof (frame0), &owed));
    cr_assert_eq (owed, 4096);

    struct {
        const char *what;
        sstream_wire_batch_t header;
        size_t size;
        int64_t frame1;
        const char *reason;
    } cases [] = {
        { "no payload frame", clear, 32, -1, "a tunnel chunk of 32 bytes of header" },
        { "an index", clear, 40, 1, "a tunnel chunk of 40 bytes of header" },
        { "two records", clear, 32, 1, "1 and 0" },
        { "0 bytes", clear, 32, 0, "a tunnel chunk that says 0 bytes and carries 0" },
        { "length not frame 1", clear, 32, 2, "says 1 bytes and carries 2" },
        { "sealed, shorter than a tag", clear, 32, 16, "says 16 bytes and carries 16" },
        { "an unknown flag", clear, 32, 1, "flags 0x2, which this version does not support" },
        { "bulk, never came", clear, 32, 1, "a tunnel chunk whose payload was to come on a bulk" },
    };
    cases [2].header.count = 2;
    cases [3].header.length = 0;
    cases [5].header.flags = SSTREAM_WIRE_SEALED;
    cases [5].header.length = 16;
    cases [6].header.flags = 0x2;
    cases [7].header.flags = SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK;
    size_t index;
    for (index = 0; index < sizeof (cases) / sizeof (cases [0]); index++) {
        int rc = s_read_made (&cases [index].header, cases [index].size, cases [index].frame1,
                              &out);
        cr_assert_eq (rc, SSTREAM_EPROTO, "%s was taken", cases [index].what);
        cr_assert (strstr (sstream_errmsg (), cases [index].reason), "%s: '%s' does not say '%s'",
                   cases [index].what, sstream_errmsg (), cases [index].reason);
    }
}

Test (wire, batch_read_takes_the_limits_themselves)
{
    sstream_wire_batch_t out;
    //  65536 records
    sstream_wire_batch_t header = {
        .type = SSTREAM_WIRE_DATA, .count = 65536, .index = 8 * 65536, .length = 0
    };
    cr_assert_eq (s_read_made (&header, 32 + 8 * 65536, 0, &out), SSTREAM_OK, "%s",
                  sstream_errmsg ());
    cr_assert_eq (out.count, 65536);
    //  An index of exactly the limit, and of exactly 8 per record
    header = (sstream_wire_batch_t) { .type = SSTREAM_WIRE_DATA, .count = 1,
                                      .index = SSTREAM_WIRE_INDEX_MAX };
    cr_assert_eq (s_read_made (&header, 32 + SSTREAM_WIRE_INDEX_MAX, 0, &out), SSTREAM_OK);
    header = (sstream_wire_batch_t) { .type = SSTREAM_WIRE_DATA, .count = 3, .index = 24,
                                      .length = 1 };
    cr_assert_eq (s_read_made (&header, 32 + 24, 1, &out), SSTREAM_OK);
    //  Credit of exactly 1 TiB
    header = (sstream_wire_batch_t) { .type = SSTREAM_WIRE_CREDIT,
                                      .length = SSTREAM_WIRE_WINDOW_MAX };
    cr_assert_eq (s_read_made (&header, 32, -1, &out), SSTREAM_OK);
}

Test (wire, binary_headers_shorter_than_32_bytes_are_refused_at_every_length)
{
    zframe_t *credit = sstream_wire_credit (1, 1);
    sstream_wire_batch_t out;
    size_t size;
    for (size = 0; size < SSTREAM_WIRE_BATCH_HEADER; size++) {
        byte *copy = s_copy (zframe_data (credit), size);
        cr_assert_eq (sstream_wire_batch_read (&out, copy, size, -1), SSTREAM_EPROTO,
                      "a header of %zu bytes was taken", size);
        cr_assert_eq (sstream_wire_batch_read (&out, copy, size, 0), SSTREAM_EPROTO);
        char expected [64];
        snprintf (expected, sizeof (expected), "a binary header of %zu bytes", size);
        cr_assert (strstr (sstream_errmsg (), expected), "%s", sstream_errmsg ());
        free (copy);
    }
    cr_assert_eq (sstream_wire_batch_read (&out, zframe_data (credit), size, -1), SSTREAM_OK);
    zframe_destroy (&credit);
}

//  The first sequence number of the last batch of count records that fits
#define LAST_SEQ(count) (UINT64_MAX - (uint64_t) (count) - 1)

Test (wire, sequence_numbers_stop_short_of_2_64)
{
    const uint32_t counts [] = { 1, 2, 1000, SSTREAM_WIRE_BATCH_RECORDS_MAX };
    size_t index;
    for (index = 0; index < sizeof (counts) / sizeof (counts [0]); index++) {
        uint32_t count = counts [index];
        sstream_wire_batch_t plain = {
            .type = SSTREAM_WIRE_DATA, .sid = 1, .seq = LAST_SEQ (count), .count = count,
            .index = 8 * count, .length = 5
        };
        sstream_wire_batch_t sealed = {
            .type = SSTREAM_WIRE_DATA, .flags = SSTREAM_WIRE_SEALED, .sid = 1,
            .seq = LAST_SEQ (count), .count = count,
            .length = 8 * (uint64_t) count + SSTREAM_WIRE_SEAL_TAG
        };
        size_t plain_size = SSTREAM_WIRE_BATCH_HEADER + 8 * (size_t) count;
        sstream_wire_batch_t out;
        //  The last batch there is: taken, plain or sealed
        cr_assert_eq (s_read_made (&plain, plain_size, 5, &out), SSTREAM_OK,
                      "count %" PRIu32 " at seq 2^64-%" PRIu64 ": %s", count,
                      UINT64_MAX - plain.seq + 1, sstream_errmsg ());
        s_assert_same_batch (&plain, &out);
        cr_assert_eq (s_read_made (&sealed, SSTREAM_WIRE_BATCH_HEADER, (int64_t) sealed.length,
                                   &out), SSTREAM_OK, "sealed, count %" PRIu32 ": %s", count,
                      sstream_errmsg ());
        s_assert_same_batch (&sealed, &out);
        //  One further, and the top itself: refused
        const uint64_t beyond [] = { LAST_SEQ (count) + 1, LAST_SEQ (count) + 2, UINT64_MAX };
        size_t step;
        for (step = 0; step < sizeof (beyond) / sizeof (beyond [0]); step++) {
            plain.seq = sealed.seq = beyond [step];
            cr_assert_eq (s_read_made (&plain, plain_size, 5, &out), SSTREAM_EPROTO,
                          "count %" PRIu32 " at seq 2^64-%" PRIu64 " was taken", count,
                          UINT64_MAX - plain.seq + 1);
            cr_assert (strstr (sstream_errmsg (), "sequence numbers beyond 2^64"), "%s",
                       sstream_errmsg ());
            cr_assert_eq (s_read_made (&sealed, SSTREAM_WIRE_BATCH_HEADER,
                                       (int64_t) sealed.length, &out), SSTREAM_EPROTO,
                          "sealed, count %" PRIu32 " at seq 2^64-%" PRIu64 " was taken", count,
                          UINT64_MAX - sealed.seq + 1);
            cr_assert (strstr (sstream_errmsg (), "sequence numbers beyond 2^64"), "%s",
                       sstream_errmsg ());
        }
    }
}

Test (wire, a_sealed_batch_header_stands_alone_and_says_at_least_its_entries_and_tag)
{
    //  Three sealed records: frame 0 is the header alone, frame 1 at least
    //  8 bytes an entry and the tag
    const sstream_wire_batch_t sealed = {
        .type = SSTREAM_WIRE_DATA, .flags = SSTREAM_WIRE_SEALED, .sid = 7, .seq = 100,
        .count = 3, .index = 0, .length = 8 * 3 + SSTREAM_WIRE_SEAL_TAG + 100
    };
    cr_assert_eq (SSTREAM_WIRE_SEALED, 0x1);
    cr_assert_eq (SSTREAM_WIRE_SEAL_TAG, 16);
    struct {
        const char *what;
        sstream_wire_batch_t header;
        size_t size;                //  Of frame 0
        int64_t frame1;             //  Size of frame 1, -1: none
        const char *reason;         //  NULL: taken
    } cases [] = {
        { "valid", sealed, 32, 140, NULL },
        { "the least a sealed batch of 3 carries", sealed, 32, 40, NULL },
        { "one record of nothing", sealed, 32, 24, NULL },
        { "the most records", sealed, 32, 8 * 65536 + 16, NULL },
        { "an index", sealed, 32, 140,
          "a sealed batch with 32 bytes in frame 0 and an index of 8 (32 and 0)" },
        { "frame 0 a byte longer", sealed, 33, 140,
          "a sealed batch with 33 bytes in frame 0 and an index of 0 (32 and 0)" },
        { "frame 0 with an index after the header", sealed, 56, 140,
          "a sealed batch with 56 bytes in frame 0 and an index of 24 (32 and 0)" },
        { "a byte short of entries and tag", sealed, 32, 39,
          "a sealed batch of 3 records that says 39 bytes and carries 39" },
        { "the tag alone", sealed, 32, 16,
          "a sealed batch of 3 records that says 16 bytes and carries 16" },
        { "nothing", sealed, 32, 0,
          "a sealed batch of 3 records that says 0 bytes and carries 0" },
        { "length over frame 1", sealed, 32, 139,
          "a sealed batch of 3 records that says 140 bytes and carries 139" },
        { "length under frame 1", sealed, 32, 141,
          "a sealed batch of 3 records that says 140 bytes and carries 141" },
        { "one frame", sealed, 32, -1, "a data message of one frame" },
        { "no records", sealed, 32, 140, "a batch of 0 records (1 to 65536)" },
        { "sealed and an unknown flag", sealed, 32, 140,
          "flags 0x3, which this version does not support" },
    };
    size_t count = sizeof (cases) / sizeof (cases [0]);
    cases [1].header.length = 40;
    cases [2].header.count = 1;
    cases [2].header.length = 24;
    cases [3].header.count = 65536;
    cases [3].header.length = 8 * 65536 + 16;
    cases [4].header.index = 8;
    cases [6].header.index = 24;
    cases [7].header.length = 39;
    cases [8].header.length = 16;
    cases [9].header.length = 0;
    cases [13].header.count = 0;
    cases [14].header.flags = SSTREAM_WIRE_SEALED | 0x2;

    size_t index;
    for (index = 0; index < count; index++) {
        sstream_wire_batch_t out;
        int rc = s_read_made (&cases [index].header, cases [index].size, cases [index].frame1,
                              &out);
        if (cases [index].reason) {
            cr_assert_eq (rc, SSTREAM_EPROTO, "%s was taken (rc %d)", cases [index].what, rc);
            cr_assert (strstr (sstream_errmsg (), cases [index].reason),
                       "%s: '%s' does not say '%s'", cases [index].what, sstream_errmsg (),
                       cases [index].reason);
        }
        else {
            cr_assert_eq (rc, SSTREAM_OK, "%s: %s", cases [index].what, sstream_errmsg ());
            s_assert_same_batch (&cases [index].header, &out);
            cr_assert_eq (out.flags, SSTREAM_WIRE_SEALED);
        }
    }
}

Test (wire, a_batch_still_marked_bulk_is_refused_by_batch_read)
{
    cr_assert_eq (SSTREAM_WIRE_BULK, 0x4);      //  0x2 is reserved (PROTOCOL.md 6)
    const sstream_wire_batch_t sealed = {
        .type = SSTREAM_WIRE_DATA, .flags = SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK, .sid = 3,
        .seq = 10, .count = 2, .length = 1000
    };
    sstream_wire_batch_t out;
    //  Its payload never came: as the link left it, one frame
    cr_assert_eq (s_read_made (&sealed, 32, -1, &out), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "malformed header: a batch whose payload was to come "
                                          "on a bulk path this link does not have"),
               "%s", sstream_errmsg ());
    //  ... nor with a frame 1 of the right size: the flag alone says so
    cr_assert_eq (s_read_made (&sealed, 32, 1000, &out), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "bulk path this link does not have"), "%s",
               sstream_errmsg ());
    //  Bulk without sealed is no message at all
    sstream_wire_batch_t plain = {
        .type = SSTREAM_WIRE_DATA, .flags = SSTREAM_WIRE_BULK, .count = 1, .index = 8, .length = 5
    };
    cr_assert_eq (s_read_made (&plain, 40, 5, &out), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "a batch whose payload was to come on a bulk path "
                                          "without being sealed"), "%s", sstream_errmsg ());
    cr_assert_eq (s_read_made (&plain, 40, -1, &out), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "without being sealed"), "%s", sstream_errmsg ());
    //  Bulk with flags unknown besides
    plain.flags = SSTREAM_WIRE_BULK | 0x8000;
    cr_assert_eq (s_read_made (&plain, 40, 5, &out), SSTREAM_EPROTO);

    //  Once the link has the payload it clears the flag: then it is taken
    byte frame0 [SSTREAM_WIRE_BATCH_HEADER];
    sstream_wire_batch_write (&sealed, frame0);
    cr_assert_eq (sstream_wire_batch_read (&out, frame0, sizeof (frame0), 1000), SSTREAM_EPROTO);
    sstream_wire_batch_set_flags (frame0, sstream_wire_batch_flags (frame0) & ~SSTREAM_WIRE_BULK);
    cr_assert_eq (sstream_wire_batch_read (&out, frame0, sizeof (frame0), 1000), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    cr_assert_eq (out.flags, SSTREAM_WIRE_SEALED);
    cr_assert_eq (out.seq, 10);
    cr_assert_eq (out.count, 2);
    cr_assert_eq (out.length, 1000);
}

Test (wire, batch_bulk_is_true_only_for_a_sealed_data_header_marked_bulk)
{
    const sstream_wire_batch_t bulk = {
        .type = SSTREAM_WIRE_DATA, .flags = SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK, .sid = 9,
        .seq = 1, .count = 4, .length = 0x0123456789abcdefULL
    };
    //  In buffers of exactly their size, so that AddressSanitizer sees a
    //  read past them
    byte *frame0 = (byte *) malloc (SSTREAM_WIRE_BATCH_HEADER);
    sstream_wire_batch_write (&bulk, frame0);
    uint64_t length = 0;
    cr_assert (sstream_wire_batch_bulk (frame0, SSTREAM_WIRE_BATCH_HEADER, &length));
    cr_assert_eq (length, 0x0123456789abcdefULL, "all 64 bits of the length");
    sstream_wire_batch_t small = bulk;
    small.length = 40;
    sstream_wire_batch_write (&small, frame0);
    cr_assert (sstream_wire_batch_bulk (frame0, SSTREAM_WIRE_BATCH_HEADER, &length));
    cr_assert_eq (length, 40);

    //  Each of these is that header with one thing different
    struct {
        const char *what;
        uint16_t flags;
        int type;
        int version;
        size_t size;
    } cases [] = {
        { "not sealed", SSTREAM_WIRE_BULK, SSTREAM_WIRE_DATA, 2, 32 },
        { "not bulk", SSTREAM_WIRE_SEALED, SSTREAM_WIRE_DATA, 2, 32 },
        { "no flags", 0, SSTREAM_WIRE_DATA, 2, 32 },
        { "a credit", SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK, SSTREAM_WIRE_CREDIT, 2, 32 },
        { "type end", SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK, SSTREAM_WIRE_END, 2, 32 },
        { "version 1", SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK, SSTREAM_WIRE_DATA, 1, 32 },
        { "frame 0 a byte short", SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK, SSTREAM_WIRE_DATA,
          2, 31 },
        { "frame 0 a byte longer", SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK, SSTREAM_WIRE_DATA,
          2, 33 },
        { "frame 0 with an index", SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK, SSTREAM_WIRE_DATA,
          2, 64 },
        { "empty", SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK, SSTREAM_WIRE_DATA, 2, 0 },
    };
    size_t index;
    for (index = 0; index < sizeof (cases) / sizeof (cases [0]); index++) {
        sstream_wire_batch_t header = bulk;
        header.flags = cases [index].flags;
        header.type = cases [index].type;
        byte full [64] = { 0 };
        sstream_wire_batch_write (&header, full);
        full [0] = (byte) cases [index].version;
        byte *exact = s_copy (full, cases [index].size);
        length = 77;
        cr_assert_not (sstream_wire_batch_bulk (exact, cases [index].size, &length),
                       "%s was taken as a bulk header", cases [index].what);
        free (exact);
    }
    //  A credit from sstream_wire_credit, flags set by hand as well
    zframe_t *credit = sstream_wire_credit (1, 2);
    sstream_wire_batch_set_flags (zframe_data (credit), SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK);
    cr_assert_not (sstream_wire_batch_bulk (zframe_data (credit), zframe_size (credit), &length));
    zframe_destroy (&credit);
    free (frame0);
}

Test (wire, batch_flags_read_and_rewrite_only_the_flags)
{
    //  What the writer put there, the reader finds
    sstream_wire_batch_t header = {
        .type = SSTREAM_WIRE_DATA, .flags = 0xbeef, .sid = 0x01020304, .seq = 5, .count = 1,
        .index = 8, .length = 9
    };
    byte frame0 [SSTREAM_WIRE_BATCH_HEADER + 8];
    memset (frame0, 0x33, sizeof (frame0));
    sstream_wire_batch_write (&header, frame0);
    cr_assert_eq (sstream_wire_batch_flags (frame0), 0xbeef);

    //  Around the flags, bytes none of which is 0 or 0xff
    byte pattern [SSTREAM_WIRE_BATCH_HEADER + 8], expected [sizeof (pattern)];
    size_t offset;
    for (offset = 0; offset < sizeof (pattern); offset++)
        pattern [offset] = expected [offset] = (byte) (0x40 + offset);
    const uint16_t values [] = {
        SSTREAM_WIRE_SEALED, SSTREAM_WIRE_BULK, SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK,
        0x8001, 0x0100, UINT16_MAX, 0
    };
    size_t index;
    for (index = 0; index < sizeof (values) / sizeof (values [0]); index++) {
        sstream_wire_batch_set_flags (pattern, values [index]);
        cr_assert_eq (sstream_wire_batch_flags (pattern), values [index]);
        expected [2] = (byte) values [index];           //  Little-endian
        expected [3] = (byte) (values [index] >> 8);
        cr_assert_eq (memcmp (pattern, expected, sizeof (pattern)), 0,
                      "flags 0x%x: bytes other than the flags changed, or big-endian",
                      (unsigned) values [index]);
    }

    //  As a link uses them: mark a sealed message bulk, and clear it again
    sstream_wire_batch_t sealed = {
        .type = SSTREAM_WIRE_DATA, .flags = SSTREAM_WIRE_SEALED, .sid = 0x0a0b0c0d,
        .seq = 12345, .count = 2, .length = 8 * 2 + 16 + 7
    }, out;
    byte message [SSTREAM_WIRE_BATCH_HEADER];
    sstream_wire_batch_write (&sealed, message);
    byte before [SSTREAM_WIRE_BATCH_HEADER];
    memcpy (before, message, sizeof (message));
    uint64_t length = 0;
    cr_assert_not (sstream_wire_batch_bulk (message, sizeof (message), &length));
    sstream_wire_batch_set_flags (message, sstream_wire_batch_flags (message) | SSTREAM_WIRE_BULK);
    cr_assert_eq (sstream_wire_batch_flags (message), SSTREAM_WIRE_SEALED | SSTREAM_WIRE_BULK);
    cr_assert (sstream_wire_batch_bulk (message, sizeof (message), &length));
    cr_assert_eq (length, sealed.length);
    cr_assert_eq (sstream_wire_batch_read (&out, message, sizeof (message), -1), SSTREAM_EPROTO);
    sstream_wire_batch_set_flags (message, sstream_wire_batch_flags (message) & ~SSTREAM_WIRE_BULK);
    cr_assert_eq (memcmp (message, before, sizeof (message)), 0, "not as it was");
    cr_assert_eq (sstream_wire_batch_read (&out, message, sizeof (message),
                                           (int64_t) sealed.length), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    s_assert_same_batch (&sealed, &out);
}


//  --------------------------------------------------------------------------
//  Batches

//  Walk a checked batch's view and compare it, record by record, with the
//  samples: metas (metas_size bytes) is where the records' metadata must
//  lie, payloads (payloads_size bytes) where their payloads must
static void
s_assert_samples (const sstream_batch_view_t *view, const byte *metas, size_t metas_size,
                  const byte *payloads, size_t payloads_size, uint32_t count)
{
    cr_assert_eq (view->count, count);
    cr_assert_eq (view->bytes, payloads_size);
    cr_assert_eq (view->metas, metas);
    cr_assert_eq (view->payloads, payloads);
    cr_assert_eq (view->entries + 8 * (size_t) count, metas, "entries right before metadata");
    sstream_batch_cursor_t cursor = { 0 };
    uint64_t payload_at = 0, meta_at = 0;
    uint32_t record;
    for (record = 0; record < count; record++) {
        const byte *data, *meta;
        size_t size, meta_size;
        sstream_batch_next (view, &cursor, &data, &size, &meta, &meta_size);
        size_t sample = record % SAMPLE_RECORDS;
        cr_assert_eq (data, payloads + payload_at, "record %u", record);
        cr_assert_eq (size, s_sample_sizes [sample], "record %u", record);
        cr_assert_eq (meta_size, s_sample_meta_sizes [sample], "record %u", record);
        cr_assert_leq (payload_at + size, payloads_size);
        size_t at;
        for (at = 0; at < size; at++)
            cr_assert_eq (data [at], s_pattern (sample, at), "record %u byte %zu", record, at);
        if (meta_size) {
            cr_assert_eq (meta, metas + meta_at, "record %u", record);
            cr_assert_leq (meta_at + meta_size, metas_size);
            cr_assert_eq (memcmp (meta, s_sample_metas [sample], meta_size), 0, "record %u",
                          record);
        }
        else
            cr_assert_null (meta, "record %u", record);
        payload_at += size;
        meta_at += meta_size;
        cr_assert_eq (cursor.next, record + 1);
        cr_assert_eq (cursor.payload_at, payload_at);
        cr_assert_eq (cursor.meta_at, meta_at);
    }
    cr_assert_eq (payload_at, payloads_size);
    cr_assert_eq (meta_at, metas_size);
}

//  The same for a plain batch: metadata in frame 0 after the entries,
//  payloads in frame 1
static void
s_assert_plain_samples (const sstream_batch_view_t *view, const byte *frame0, size_t size0,
                        const byte *frame1, size_t size1, uint32_t count)
{
    size_t entries_end = SSTREAM_WIRE_BATCH_HEADER + 8 * (size_t) count;
    cr_assert_leq (entries_end, size0);
    cr_assert_eq (view->entries, frame0 + SSTREAM_WIRE_BATCH_HEADER);
    s_assert_samples (view, frame0 + entries_end, size0 - entries_end, frame1, size1, count);
}

Test (wire, a_sealed_batch_carries_every_record_and_sends_its_pool_buffer_without_a_copy)
{
    sstream_pool_t *pool = sstream_pool_new (64 * 1024, 4);
    cr_assert_eq (sstream_pool_buffer_size (pool), 64 * 1024);
    //  Prime the pool with one buffer: the batch takes that one
    byte *buffer = (byte *) sstream_pool_take (pool);
    cr_assert_not_null (buffer);
    sstream_pool_give (buffer, pool);

    sstream_batch_t *batch = sstream_batch_new (pool, 1000, 0);
    cr_assert_not_null (batch);
    s_add_samples (batch);
    size_t payloads = 0, metas = 0, record;
    for (record = 0; record < SAMPLE_RECORDS; record++) {
        payloads += s_sample_sizes [record];
        metas += s_sample_meta_sizes [record];
    }
    size_t index = 8 * SAMPLE_RECORDS + metas;
    cr_assert_eq (sstream_batch_count (batch), SAMPLE_RECORDS);
    cr_assert_eq (sstream_batch_first_seq (batch), 1000);
    cr_assert_eq (sstream_batch_bytes (batch), payloads);
    cr_assert_eq (sstream_batch_cost (batch),
                  sstream_wire_batch_cost (SSTREAM_WIRE_BATCH_HEADER + index, payloads));

    zmq_msg_t frame0, frame1;
    cr_assert_eq (sstream_batch_seal (batch, &frame0, &frame1), SSTREAM_OK, "%s",
                  sstream_errmsg ());
    //  The payload frame is the pool's buffer
    cr_assert_eq (zmq_msg_data (&frame1), buffer,
                  "the payloads were copied out of the pool buffer");
    size_t size0 = zmq_msg_size (&frame0), size1 = zmq_msg_size (&frame1);
    cr_assert_eq (size0, SSTREAM_WIRE_BATCH_HEADER + index);
    cr_assert_eq (size1, payloads);
    cr_assert_eq (sstream_batch_cost (batch), size0 + size1 + SSTREAM_WIRE_BATCH_OVERHEAD);
    //  Sealed, the batch can go: the buffer stays frame 1's
    sstream_batch_destroy (&batch);
    cr_assert_null (batch);
    byte *other = (byte *) sstream_pool_take (pool);
    cr_assert_neq (other, buffer, "the pool had the buffer back while frame 1 holds it");

    //  The header and the index
    const byte *bytes = (const byte *) zmq_msg_data (&frame0);
    cr_assert (sstream_wire_is_batch (bytes, size0));
    sstream_wire_batch_t header;
    cr_assert_eq (sstream_wire_batch_read (&header, bytes, size0, (int64_t) size1), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    cr_assert_eq (header.type, SSTREAM_WIRE_DATA);
    cr_assert_eq (header.flags, 0);
    cr_assert_eq (header.sid, 0);
    cr_assert_eq (header.seq, 1000);
    cr_assert_eq (header.count, SAMPLE_RECORDS);
    cr_assert_eq (header.index, index);
    cr_assert_eq (header.length, payloads);
    for (record = 0; record < SAMPLE_RECORDS; record++) {
        cr_assert_eq (s_le32 (bytes + 32 + 8 * record), s_sample_sizes [record]);
        cr_assert_eq (s_le32 (bytes + 32 + 8 * record + 4), s_sample_meta_sizes [record]);
    }
    sstream_batch_view_t view;
    cr_assert_eq (sstream_batch_view (&header, bytes, (const byte *) zmq_msg_data (&frame1), size1,
                                      &view), SSTREAM_OK, "%s", sstream_errmsg ());
    s_assert_plain_samples (&view, bytes, size0, (const byte *) zmq_msg_data (&frame1), size1,
                            SAMPLE_RECORDS);

    //  Closing frame 1 gives the buffer back to the pool, which keeps it
    sstream_pool_give (other, pool);
    zmq_msg_close (&frame0);
    zmq_msg_close (&frame1);
    cr_assert_eq (sstream_pool_take (pool), buffer, "the buffer did not come back to the pool");
    sstream_pool_give (buffer, pool);
    sstream_pool_release (&pool);
    cr_assert_null (pool);
}

Test (wire, a_batch_of_empty_records_has_an_empty_payload_frame)
{
    sstream_pool_t *pool = sstream_pool_new (4096, 2);
    byte *buffer = (byte *) sstream_pool_take (pool);
    sstream_pool_give (buffer, pool);
    sstream_batch_t *batch = sstream_batch_new (pool, 5, 0);
    cr_assert_eq (sstream_batch_add (batch, NULL, 0, NULL, 0), SSTREAM_OK);
    cr_assert_eq (sstream_batch_add (batch, "x", 0, s_meta_small, sizeof (s_meta_small)),
                  SSTREAM_OK);
    zmq_msg_t frame0, frame1;
    cr_assert_eq (sstream_batch_seal (batch, &frame0, &frame1), SSTREAM_OK);
    cr_assert_eq (zmq_msg_size (&frame1), 0);
    cr_assert_eq (zmq_msg_size (&frame0), 32 + 16 + sizeof (s_meta_small));
    sstream_wire_batch_t header;
    cr_assert_eq (sstream_wire_batch_read (&header, zmq_msg_data (&frame0), zmq_msg_size (&frame0),
                                           0), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (header.count, 2);
    cr_assert_eq (header.length, 0);
    sstream_batch_view_t view;
    cr_assert_eq (sstream_batch_view (&header, zmq_msg_data (&frame0), zmq_msg_data (&frame1), 0,
                                      &view), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (view.count, 2);
    cr_assert_eq (view.bytes, 0);
    sstream_batch_cursor_t cursor = { 0 };
    const byte *data, *meta;
    size_t size, meta_size;
    sstream_batch_next (&view, &cursor, &data, &size, &meta, &meta_size);
    cr_assert_eq (size, 0);
    cr_assert_eq (meta_size, 0);
    cr_assert_null (meta);
    sstream_batch_next (&view, &cursor, &data, &size, &meta, &meta_size);
    cr_assert_eq (data, view.payloads, "an empty record's payload lies at offset 0");
    cr_assert_eq (size, 0);
    cr_assert_eq (meta_size, sizeof (s_meta_small));
    cr_assert_eq (meta, (const byte *) zmq_msg_data (&frame0) + 32 + 16);
    cr_assert_eq (memcmp (meta, s_meta_small, meta_size), 0);
    cr_assert_eq (cursor.next, 2);
    zmq_msg_close (&frame0);
    zmq_msg_close (&frame1);
    //  Nothing took the buffer: it goes back when the batch does
    sstream_batch_destroy (&batch);
    cr_assert_eq (sstream_pool_take (pool), buffer);
    sstream_pool_give (buffer, pool);
    sstream_pool_release (&pool);
}

Test (wire, batch_fits_refuses_a_record_that_does_not_fit)
{
    sstream_pool_t *pool = sstream_pool_new (1024, 1);
    sstream_batch_t *batch = sstream_batch_new (pool, 0, 0);
    //  Payloads against the buffer
    cr_assert (sstream_batch_fits (batch, 1024, 0));
    cr_assert_not (sstream_batch_fits (batch, 1025, 0));
    cr_assert_not (sstream_batch_fits (batch, SIZE_MAX, 0));
    byte data [1000];
    memset (data, 7, sizeof (data));
    cr_assert_eq (sstream_batch_add (batch, data, 1000, NULL, 0), SSTREAM_OK);
    cr_assert (sstream_batch_fits (batch, 24, 0));
    cr_assert_not (sstream_batch_fits (batch, 25, 0));
    //  The index (8 bytes a record, and metadata) against it too
    cr_assert (sstream_batch_fits (batch, 0, 1024 - 16));
    cr_assert_not (sstream_batch_fits (batch, 0, 1024 - 15));
    cr_assert_eq (sstream_batch_add (batch, data, 24, NULL, 0), SSTREAM_OK);
    cr_assert_not (sstream_batch_fits (batch, 1, 0));
    cr_assert (sstream_batch_fits (batch, 0, 0));
    sstream_batch_destroy (&batch);
    sstream_pool_release (&pool);
}

Test (wire, batch_fits_refuses_the_65537th_record)
{
    sstream_pool_t *pool = sstream_pool_new (1 * MiB, 1);
    sstream_batch_t *batch = sstream_batch_new (pool, 1, 0);
    uint32_t record;
    for (record = 0; record < SSTREAM_WIRE_BATCH_RECORDS_MAX; record++) {
        byte value = (byte) record;
        cr_assert (sstream_batch_fits (batch, 1, 0), "record %u refused", record);
        cr_assert_eq (sstream_batch_add (batch, &value, 1, NULL, 0), SSTREAM_OK);
    }
    cr_assert_not (sstream_batch_fits (batch, 0, 0), "a batch took a 65537th record");
    cr_assert_not (sstream_batch_fits (batch, 1, 0));
    cr_assert_eq (sstream_batch_count (batch), 65536);
    //  Which the receiver takes
    zmq_msg_t frame0, frame1;
    cr_assert_eq (sstream_batch_seal (batch, &frame0, &frame1), SSTREAM_OK);
    sstream_batch_destroy (&batch);
    sstream_wire_batch_t header;
    cr_assert_eq (sstream_wire_batch_read (&header, zmq_msg_data (&frame0), zmq_msg_size (&frame0),
                                           zmq_msg_size (&frame1)),
                  SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (header.count, 65536);
    cr_assert_eq (header.seq, 1);
    const byte *payloads = (const byte *) zmq_msg_data (&frame1);
    sstream_batch_view_t view;
    cr_assert_eq (sstream_batch_view (&header, zmq_msg_data (&frame0), payloads,
                                      zmq_msg_size (&frame1), &view), SSTREAM_OK, "%s",
                  sstream_errmsg ());
    cr_assert_eq (view.count, 65536);
    cr_assert_eq (view.bytes, 65536);
    sstream_batch_cursor_t cursor = { 0 };
    for (record = 0; record < header.count; record++) {
        const byte *data, *meta;
        size_t size, meta_size;
        sstream_batch_next (&view, &cursor, &data, &size, &meta, &meta_size);
        cr_assert_eq (data, payloads + record);
        cr_assert_eq (size, 1);
        cr_assert_eq (*data, (byte) record);
        cr_assert_null (meta);
    }
    zmq_msg_close (&frame0);
    zmq_msg_close (&frame1);
    sstream_pool_release (&pool);
}

//  client/batch may be up to 64 MiB, and a pool buffer as large: the index
//  of what sstream_batch_fits lets in must still be one the receiver takes
Test (wire, batch_fits_keeps_the_index_within_the_wire_limit)
{
    sstream_pool_t *pool = sstream_pool_new (64 * MiB, 1);
    sstream_batch_t *batch = sstream_batch_new (pool, 0, 0);
    //  Records of no payload and the most metadata a producer takes
    size_t meta_size = SSTREAM_WIRE_HEADER_MAX - 512;
    byte *meta = (byte *) calloc (1, meta_size);
    meta [0] = 0x81; meta [1] = 0xa1; meta [2] = 'k'; meta [3] = 0xc5;
    meta [4] = (byte) ((meta_size - 6) >> 8); meta [5] = (byte) (meta_size - 6);
    cr_assert_eq (sstream_wire_check_meta (meta, meta_size), SSTREAM_OK, "%s", sstream_errmsg ());
    size_t index = 0;
    while (index + 8 + meta_size <= SSTREAM_WIRE_INDEX_MAX) {
        cr_assert (sstream_batch_fits (batch, 0, meta_size));
        cr_assert_eq (sstream_batch_add (batch, NULL, 0, meta, meta_size), SSTREAM_OK);
        index += 8 + meta_size;
    }
    //  One more would take the index over the limit: a producer told it
    //  fits adds it
    if (sstream_batch_fits (batch, 0, meta_size))
        cr_assert_eq (sstream_batch_add (batch, NULL, 0, meta, meta_size), SSTREAM_OK);
    zmq_msg_t frame0, frame1;
    cr_assert_eq (sstream_batch_seal (batch, &frame0, &frame1), SSTREAM_OK);
    sstream_batch_destroy (&batch);
    sstream_wire_batch_t header;
    int rc = sstream_wire_batch_read (&header, zmq_msg_data (&frame0), zmq_msg_size (&frame0),
                                      zmq_msg_size (&frame1));
    cr_expect_eq (rc, SSTREAM_OK,
                  "sstream_batch_fits let a batch grow an index of %zu bytes, which the receiver "
                  "refuses: %s", zmq_msg_size (&frame0) - SSTREAM_WIRE_BATCH_HEADER,
                  sstream_errmsg ());
    zmq_msg_close (&frame0);
    zmq_msg_close (&frame1);
    free (meta);
    sstream_pool_release (&pool);
}

//  A release callback that counts
typedef struct {
    int calls;
    void *data;
    void *arg;
} s_released_t;

static void
s_release (void *data, void *arg)
{
    s_released_t *released = (s_released_t *) arg;
    released->calls++;
    released->data = data;
    released->arg = arg;
}

Test (wire, a_single_record_batch_sends_the_callers_buffer_and_releases_it_once)
{
    size_t size = 5000, offset;
    byte *data = (byte *) malloc (size);
    for (offset = 0; offset < size; offset++)
        data [offset] = s_pattern (4, offset);
    s_released_t released = { 0 };
    byte meta [sizeof (s_meta_shape)];
    memcpy (meta, s_meta_shape, sizeof (meta));
    sstream_batch_t *batch = sstream_batch_new_single (77, data, size, meta, sizeof (meta),
                                                       s_release, &released);
    cr_assert_not_null (batch);
    memset (meta, 0, sizeof (meta));            //  The batch has its own copy
    cr_assert_eq (sstream_batch_count (batch), 1);
    cr_assert_eq (sstream_batch_first_seq (batch), 77);
    cr_assert_eq (sstream_batch_bytes (batch), size);
    cr_assert_eq (sstream_batch_cost (batch),
                  sstream_wire_record_cost (size, sizeof (s_meta_shape)));
    zmq_msg_t frame0, frame1;
    cr_assert_eq (sstream_batch_seal (batch, &frame0, &frame1), SSTREAM_OK);
    cr_assert_eq (zmq_msg_data (&frame1), data, "the caller's buffer was copied");
    cr_assert_eq (zmq_msg_size (&frame1), size);
    cr_assert_eq (zmq_msg_size (&frame0), 32 + 8 + sizeof (s_meta_shape));
    sstream_batch_destroy (&batch);
    cr_assert_eq (released.calls, 0, "released while frame 1 still holds it");

    sstream_wire_batch_t header;
    cr_assert_eq (sstream_wire_batch_read (&header, zmq_msg_data (&frame0), zmq_msg_size (&frame0),
                                           zmq_msg_size (&frame1)),
                  SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (header.seq, 77);
    cr_assert_eq (header.count, 1);
    cr_assert_eq (header.length, size);
    sstream_batch_view_t view;
    cr_assert_eq (sstream_batch_view (&header, zmq_msg_data (&frame0), zmq_msg_data (&frame1),
                                      zmq_msg_size (&frame1), &view), SSTREAM_OK, "%s",
                  sstream_errmsg ());
    sstream_batch_cursor_t cursor = { 0 };
    const byte *record_data, *record_meta;
    size_t record_size, meta_size;
    sstream_batch_next (&view, &cursor, &record_data, &record_size, &record_meta, &meta_size);
    cr_assert_eq (record_data, data, "the record is not the caller's buffer");
    cr_assert_eq (record_size, size);
    cr_assert_eq (meta_size, sizeof (s_meta_shape));
    cr_assert_eq (memcmp (record_meta, s_meta_shape, meta_size), 0);

    zmq_msg_close (&frame0);
    cr_assert_eq (released.calls, 0);
    zmq_msg_close (&frame1);
    cr_assert_eq (released.calls, 1);
    cr_assert_eq (released.data, data);
    cr_assert_eq (released.arg, &released);
    for (offset = 0; offset < size; offset++)
        cr_assert_eq (data [offset], s_pattern (4, offset),
                      "the batch wrote into the caller's buffer");
    free (data);
}

Test (wire, a_single_record_batch_dropped_unsent_is_released_once)
{
    byte *data = (byte *) malloc (100);
    s_released_t released = { 0 };
    sstream_batch_t *batch = sstream_batch_new_single (1, data, 100, NULL, 0, s_release, &released);
    cr_assert_not_null (batch);
    cr_assert_eq (released.calls, 0);
    sstream_batch_destroy (&batch);
    cr_assert_eq (released.calls, 1);
    cr_assert_eq (released.data, data);
    cr_assert_eq (released.arg, &released);
    free (data);

    //  An empty record: frame 1 is empty, and the buffer goes with the batch
    data = (byte *) malloc (1);
    released = (s_released_t) { 0 };
    batch = sstream_batch_new_single (2, data, 0, s_meta_small, sizeof (s_meta_small), s_release,
                                      &released);
    zmq_msg_t frame0, frame1;
    cr_assert_eq (sstream_batch_seal (batch, &frame0, &frame1), SSTREAM_OK);
    cr_assert_eq (zmq_msg_size (&frame1), 0);
    zmq_msg_close (&frame0);
    zmq_msg_close (&frame1);
    sstream_batch_destroy (&batch);
    cr_assert_eq (released.calls, 1);
    cr_assert_eq (released.data, data);
    free (data);
}

Test (wire, batch_view_refuses_lengths_that_do_not_add_up)
{
    sstream_pool_t *pool = sstream_pool_new (4096, 1);
    zmq_msg_t frame0, frame1;
    s_seal_samples (pool, 0, &frame0, &frame1);
    size_t size0 = zmq_msg_size (&frame0);
    int64_t size1 = zmq_msg_size (&frame1);
    byte *bytes = s_copy (zmq_msg_data (&frame0), size0);
    byte *entries = bytes + SSTREAM_WIRE_BATCH_HEADER;
    const byte *payloads = (const byte *) zmq_msg_data (&frame1);
    sstream_wire_batch_t header;
    sstream_batch_view_t view;

    struct {
        const char *what;
        size_t entry;           //  Record, and 0 payload 1 metadata
        int field;
        int64_t delta;
        size_t entry2;          //  A second change, to keep sums (delta2)
        int64_t delta2;
        const char *reason;     //  NULL: taken
    } cases [] = {
        { "a payload longer", 4, 0, +1, 0, 0, "payloads add up to 2003 bytes, not the 2002" },
        { "a payload shorter", 2, 0, -1, 0, 0, "payloads add up to 2001 bytes, not the 2002" },
        { "metadata longer", 1, 1, +1, 0, 0, "metadata add up to" },
        { "metadata shorter", 5, 1, -1, 0, 0, "metadata add up to" },
        { "metadata where there was none", 0, 1, +1, 0, 0, "metadata add up to" },
        { "a payload length wrapping 2^32", 0, 0, UINT32_MAX, 0, 0,
          "payloads add up to 4294969297" },
        //  Moved between records, sums still right: the index is taken
        { "payload moved", 4, 0, -500, 0, +500, NULL },
        { "metadata moved", 5, 1, -10, 1, +10, NULL },
    };
    size_t index;
    for (index = 0; index < sizeof (cases) / sizeof (cases [0]); index++) {
        memcpy (bytes, zmq_msg_data (&frame0), size0);
        byte *entry = entries + 8 * cases [index].entry + 4 * cases [index].field;
        s_put_le32 (entry, (uint32_t) (s_le32 (entry) + cases [index].delta));
        if (cases [index].delta2) {
            entry = entries + 8 * cases [index].entry2 + 4 * cases [index].field;
            s_put_le32 (entry, (uint32_t) (s_le32 (entry) + cases [index].delta2));
        }
        //  The header alone cannot tell
        cr_assert_eq (sstream_wire_batch_read (&header, bytes, size0, size1), SSTREAM_OK,
                      "%s: %s", cases [index].what, sstream_errmsg ());
        int rc = sstream_batch_view (&header, bytes, payloads, (size_t) size1, &view);
        if (cases [index].reason) {
            cr_assert_eq (rc, SSTREAM_EPROTO, "%s was taken", cases [index].what);
            cr_assert (strstr (sstream_errmsg (), "malformed batch"), "%s", sstream_errmsg ());
            cr_assert (strstr (sstream_errmsg (), cases [index].reason),
                       "%s: '%s' does not say '%s'", cases [index].what, sstream_errmsg (),
                       cases [index].reason);
        }
        else {
            cr_assert_eq (rc, SSTREAM_OK, "%s: %s", cases [index].what, sstream_errmsg ());
            cr_assert_eq (view.count, SAMPLE_RECORDS);
            cr_assert_eq (view.bytes, (uint64_t) size1);
        }
    }
    //  The payloads must add up to what frame 1 holds, not merely to what
    //  the header says
    cr_assert_eq (sstream_wire_batch_read (&header, zmq_msg_data (&frame0), size0, size1),
                  SSTREAM_OK);
    cr_assert_eq (sstream_batch_view (&header, zmq_msg_data (&frame0), payloads, (size_t) size1,
                                      &view), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_batch_view (&header, zmq_msg_data (&frame0), payloads,
                                      (size_t) size1 - 1, &view), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "payloads add up to 2002 bytes, not the 2001"), "%s",
               sstream_errmsg ());
    //  Sums are not taken modulo 2^32: two records of 2^32-1 and 1 bytes
    //  do not add up to an empty payload
    byte wrapped [SSTREAM_WIRE_BATCH_HEADER + 16] = { 0 };
    header = (sstream_wire_batch_t) { .type = SSTREAM_WIRE_DATA, .count = 2, .index = 16 };
    sstream_wire_batch_write (&header, wrapped);
    s_put_le32 (wrapped + 32, UINT32_MAX);
    s_put_le32 (wrapped + 40, 1);
    cr_assert_eq (sstream_wire_batch_read (&header, wrapped, sizeof (wrapped), 0), SSTREAM_OK);
    byte none [1];
    cr_assert_eq (sstream_batch_view (&header, wrapped, none, 0, &view), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "payloads add up to 4294967296 bytes, not the 0"), "%s",
               sstream_errmsg ());
    s_put_le32 (wrapped + 32, 0);
    s_put_le32 (wrapped + 36, UINT32_MAX);
    s_put_le32 (wrapped + 40, 0);
    s_put_le32 (wrapped + 44, 1);
    cr_assert_eq (sstream_batch_view (&header, wrapped, none, 0, &view), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "metadata add up to 4294967296 bytes, not the 0"), "%s",
               sstream_errmsg ());

    free (bytes);
    zmq_msg_close (&frame0);
    zmq_msg_close (&frame1);
    sstream_pool_release (&pool);
}

Test (wire, a_batch_sealed_end_to_end_is_viewed_once_opened)
{
    sstream_pool_t *pool = sstream_pool_new (64 * 1024, 2);
    byte key [SSTREAM_SEAL_KEY_SIZE];
    size_t at;
    for (at = 0; at < sizeof (key); at++)
        key [at] = (byte) (at * 7 + 3);
    sstream_seal_t *producer = sstream_seal_new_from (SSTREAM_CIPHER_XCHACHA20POLY1305, "s", 11,
                                                      1, key);
    sstream_seal_t *consumer = sstream_seal_new_from (SSTREAM_CIPHER_XCHACHA20POLY1305, "s", 11,
                                                      1, key);
    cr_assert (producer && consumer);
    sstream_batch_t *batch = sstream_batch_new (pool, 500, 0);
    s_add_samples (batch);
    size_t payloads = 0, metas = 0, record;
    for (record = 0; record < SAMPLE_RECORDS; record++) {
        payloads += s_sample_sizes [record];
        metas += s_sample_meta_sizes [record];
    }
    size_t plain = 8 * SAMPLE_RECORDS + metas + payloads;
    zmq_msg_t frame0, frame1;
    cr_assert_eq (sstream_batch_seal_with (batch, producer, pool, &frame0, &frame1), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    sstream_batch_destroy (&batch);

    //  Frame 0 is the header alone; frame 1 the records and the tag
    cr_assert_eq (zmq_msg_size (&frame0), SSTREAM_WIRE_BATCH_HEADER);
    size_t size1 = zmq_msg_size (&frame1);
    cr_assert_eq (size1, plain + SSTREAM_WIRE_SEAL_TAG);
    const byte *bytes = (const byte *) zmq_msg_data (&frame0);
    sstream_wire_batch_t header;
    cr_assert_eq (sstream_wire_batch_read (&header, bytes, SSTREAM_WIRE_BATCH_HEADER,
                                           (int64_t) size1), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (header.type, SSTREAM_WIRE_DATA);
    cr_assert_eq (header.flags, SSTREAM_WIRE_SEALED);
    cr_assert_eq (sstream_wire_batch_flags (bytes), SSTREAM_WIRE_SEALED);
    cr_assert_eq (header.seq, 500);
    cr_assert_eq (header.count, SAMPLE_RECORDS);
    cr_assert_eq (header.index, 0);
    cr_assert_eq (header.length, size1);
    uint64_t length;
    cr_assert_not (sstream_wire_batch_bulk (bytes, SSTREAM_WIRE_BATCH_HEADER, &length),
                   "sealed but not bulk");

    //  Opened in a copy of exactly its size, then viewed: every record
    byte *opened = s_copy (zmq_msg_data (&frame1), size1);
    cr_assert_eq (sstream_seal_open_batch (consumer, header.seq, header.count, header.flags,
                                           opened, size1), SSTREAM_OK, "%s", sstream_errmsg ());
    sstream_batch_view_t view;
    cr_assert_eq (sstream_batch_view (&header, bytes, opened, size1 - SSTREAM_WIRE_SEAL_TAG,
                                      &view), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (view.entries, opened);
    s_assert_samples (&view, opened + 8 * SAMPLE_RECORDS, metas,
                      opened + 8 * SAMPLE_RECORDS + metas, payloads, SAMPLE_RECORDS);
    //  The tag is not plaintext: with it counted, lengths do not add up
    cr_assert_eq (sstream_batch_view (&header, bytes, opened, size1, &view), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "not the"), "%s", sstream_errmsg ());
    free (opened);

    zmq_msg_close (&frame0);
    zmq_msg_close (&frame1);
    sstream_seal_destroy (&producer);
    sstream_seal_destroy (&consumer);
    sstream_pool_release (&pool);
}

Test (wire, a_sealed_batch_view_finds_its_parts_in_frame_1_and_checks_their_lengths)
{
    //  Two records once opened: (3 bytes, 1 of metadata) and (2 bytes, none)
    const byte opened [] = {
        3, 0, 0, 0, 1, 0, 0, 0,   2, 0, 0, 0, 0, 0, 0, 0,
        0x80,                                       //  {}
        'a', 'b', 'c',   'd', 'e'
    };
    byte frame0 [SSTREAM_WIRE_BATCH_HEADER];
    sstream_wire_batch_t header = {
        .type = SSTREAM_WIRE_DATA, .flags = SSTREAM_WIRE_SEALED, .seq = 1, .count = 2,
        .length = sizeof (opened) + SSTREAM_WIRE_SEAL_TAG
    };
    sstream_wire_batch_write (&header, frame0);
    cr_assert_eq (sstream_wire_batch_read (&header, frame0, sizeof (frame0),
                                           (int64_t) header.length), SSTREAM_OK);
    //  In a buffer of exactly its size
    byte *plain = s_copy (opened, sizeof (opened));
    sstream_batch_view_t view;
    cr_assert_eq (sstream_batch_view (&header, frame0, plain, sizeof (opened), &view), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    cr_assert_eq (view.entries, plain);
    cr_assert_eq (view.metas, plain + 16);
    cr_assert_eq (view.payloads, plain + 17);
    cr_assert_eq (view.count, 2);
    cr_assert_eq (view.bytes, 5);
    sstream_batch_cursor_t cursor = { 0 };
    const byte *data, *meta;
    size_t size, meta_size;
    sstream_batch_next (&view, &cursor, &data, &size, &meta, &meta_size);
    cr_assert_eq (size, 3);
    cr_assert_eq (memcmp (data, "abc", 3), 0);
    cr_assert_eq (meta, plain + 16);
    cr_assert_eq (meta_size, 1);
    sstream_batch_next (&view, &cursor, &data, &size, &meta, &meta_size);
    cr_assert_eq (size, 2);
    cr_assert_eq (memcmp (data, "de", 2), 0);
    cr_assert_null (meta);
    cr_assert_eq (meta_size, 0);
    cr_assert_eq (cursor.next, 2);
    cr_assert_eq (cursor.payload_at, 5);
    cr_assert_eq (cursor.meta_at, 1);
    free (plain);

    //  A byte short or over: refused
    plain = s_copy (opened, sizeof (opened) - 1);
    cr_assert_eq (sstream_batch_view (&header, frame0, plain, sizeof (opened) - 1, &view),
                  SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "malformed batch: its index and records add up to 22 "
                                          "bytes, not the 21 it opened to"), "%s",
               sstream_errmsg ());
    free (plain);
    byte longer [sizeof (opened) + 1];
    memcpy (longer, opened, sizeof (opened));
    longer [sizeof (opened)] = 'f';
    cr_assert_eq (sstream_batch_view (&header, frame0, longer, sizeof (longer), &view),
                  SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "add up to 22 bytes, not the 23"), "%s",
               sstream_errmsg ());
    //  Too short to hold the entries: refused before reading past it
    plain = s_copy (opened, 15);
    cr_assert_eq (sstream_batch_view (&header, frame0, plain, 15, &view), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "its index runs past it"), "%s", sstream_errmsg ());
    free (plain);
    plain = s_copy (opened, sizeof (opened));
    header.count = 3;                           //  24 bytes of entries in 22
    cr_assert_eq (sstream_batch_view (&header, frame0, plain, sizeof (opened), &view),
                  SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "its index runs past it"), "%s", sstream_errmsg ());
    header.count = 2;
    //  Lengths whose sum wraps 2^32 do not pass for small ones
    s_put_le32 (plain, UINT32_MAX);
    s_put_le32 (plain + 8, 6);                  //  2^32 - 1 + 6 = 5 (mod 2^32)
    cr_assert_eq (sstream_batch_view (&header, frame0, plain, sizeof (opened), &view),
                  SSTREAM_EPROTO);
    free (plain);
}

//  Read, check and walk one frame 0 (and a frame 1 of frame1_size bytes,
//  or none when -1); returns true when it was walked
static bool
s_walk_if_taken (const byte *frame0, size_t size, int64_t frame1_size)
{
    sstream_wire_batch_t header;
    int rc = sstream_wire_batch_read (&header, frame0, size, frame1_size);
    cr_assert (rc == SSTREAM_OK || rc == SSTREAM_EPROTO, "unexpected code %d", rc);
    if (rc || header.type != SSTREAM_WIRE_DATA)
        return false;
    //  What read takes is in range
    cr_assert (header.count >= 1 && header.count <= SSTREAM_WIRE_BATCH_RECORDS_MAX);
    cr_assert_eq (header.length, (uint64_t) frame1_size);
    cr_assert_eq (header.flags & ~SSTREAM_WIRE_SEALED, 0, "flags 0x%x taken", header.flags);
    cr_assert_leq (header.seq, UINT64_MAX - header.count - 1);
    if (header.flags & SSTREAM_WIRE_SEALED) {
        //  Its records are ciphertext: nothing to walk without the key
        cr_assert_eq (size, SSTREAM_WIRE_BATCH_HEADER);
        cr_assert_eq (header.index, 0);
        cr_assert_geq (header.length, 8 * (uint64_t) header.count + SSTREAM_WIRE_SEAL_TAG);
        return false;
    }
    cr_assert_eq (header.index, size - SSTREAM_WIRE_BATCH_HEADER);
    cr_assert_geq (header.index, 8 * (uint64_t) header.count);
    byte *frame1 = (byte *) malloc (frame1_size? (size_t) frame1_size: 1);
    sstream_batch_view_t view;
    rc = sstream_batch_view (&header, frame0, frame1, (size_t) frame1_size, &view);
    cr_assert (rc == SSTREAM_OK || rc == SSTREAM_EPROTO, "unexpected code %d", rc);
    if (rc) {
        free (frame1);
        return false;
    }
    const byte *metas = frame0 + SSTREAM_WIRE_BATCH_HEADER + 8 * (size_t) header.count;
    cr_assert_eq (view.metas, metas);
    cr_assert_eq (view.payloads, frame1);
    cr_assert_eq (view.count, header.count);
    cr_assert_eq (view.bytes, header.length);
    sstream_batch_cursor_t cursor = { 0 };
    uint32_t record;
    for (record = 0; record < header.count; record++) {
        const byte *data, *meta;
        size_t record_size, meta_size;
        sstream_batch_next (&view, &cursor, &data, &record_size, &meta, &meta_size);
        cr_assert_geq ((uintptr_t) data, (uintptr_t) frame1, "record %u's payload", record);
        cr_assert_leq ((uint64_t) (data - frame1) + record_size, (uint64_t) frame1_size,
                       "record %u lies past frame 1", record);
        if (meta_size) {
            cr_assert_geq ((uintptr_t) meta, (uintptr_t) metas, "record %u's metadata", record);
            cr_assert_leq ((uintptr_t) (meta + meta_size), (uintptr_t) (frame0 + size),
                           "record %u's metadata lies past frame 0", record);
        }
        else
            cr_assert_null (meta);
    }
    cr_assert_eq (cursor.payload_at, header.length);
    cr_assert_eq (cursor.meta_at, header.index - 8 * (uint64_t) header.count);
    free (frame1);
    return true;
}

Test (wire, random_and_mutated_batches_never_crash_nor_lead_outside_their_frames)
{
    //  Under AddressSanitizer this also proves no read outside frame 0:
    //  every input is in a buffer of exactly its size
    sstream_pool_t *pool = sstream_pool_new (4096, 1);
    zmq_msg_t frame0, frame1;
    s_seal_samples (pool, 12, &frame0, &frame1);
    const byte *valid = (const byte *) zmq_msg_data (&frame0);
    size_t valid_size = zmq_msg_size (&frame0);
    int64_t valid_payload = zmq_msg_size (&frame1);
    cr_assert (s_walk_if_taken (valid, valid_size, valid_payload));

    byte scratch [256];
    cr_assert_leq (valid_size, sizeof (scratch));
    unsigned seed = 4242;
    int round, walked = 0, moved = 0;
    for (round = 0; round < 80000; round++) {
        int mode = round % 4;
        size_t size = valid_size, at;
        int64_t payload = valid_payload;
        memcpy (scratch, valid, valid_size);
        if (mode == 0 || mode == 1) {
            //  Bytes flipped anywhere, or in the header only; sometimes cut
            //  short, or with another frame 1
            int flips = 1 + rand_r (&seed) % 4, flip;
            for (flip = 0; flip < flips; flip++) {
                at = rand_r (&seed) % (mode == 0? valid_size: SSTREAM_WIRE_BATCH_HEADER);
                scratch [at] = (byte) rand_r (&seed);
            }
            if (rand_r (&seed) % 8 == 0)
                size = rand_r (&seed) % (valid_size + 1);
            if (rand_r (&seed) % 8 == 0)
                payload = (int64_t) (rand_r (&seed) % (valid_payload + 2)) - 1;
        }
        else
        if (mode == 2) {
            //  Lengths moved from one record to another: sums still right,
            //  so the batch must be taken, whatever its records' bounds
            size_t from = rand_r (&seed) % SAMPLE_RECORDS;
            size_t to = (from + 1 + rand_r (&seed) % (SAMPLE_RECORDS - 1)) % SAMPLE_RECORDS;
            int field = rand_r (&seed) % 2;
            byte *source = scratch + 32 + 8 * from + 4 * field;
            byte *target = scratch + 32 + 8 * to + 4 * field;
            uint32_t have = s_le32 (source);
            if (have) {
                uint32_t delta = 1 + rand_r (&seed) % have;
                s_put_le32 (source, have - delta);
                s_put_le32 (target, s_le32 (target) + delta);
            }
        }
        else {
            //  Noise, often with a header's first bytes to get further
            size = rand_r (&seed) % 160;
            for (at = 0; at < size; at++)
                scratch [at] = (byte) rand_r (&seed);
            if (size >= 2 && rand_r (&seed) % 4) {
                scratch [0] = SSTREAM_WIRE_VERSION;
                scratch [1] = rand_r (&seed) % 3? SSTREAM_WIRE_DATA: SSTREAM_WIRE_CREDIT;
                if (size >= 24 && rand_r (&seed) % 2) {
                    scratch [2] = scratch [3] = 0;                       //  No flags
                    uint32_t count = 1 + rand_r (&seed) % 4;
                    s_put_le32 (scratch + 16, count);
                    s_put_le32 (scratch + 20, (uint32_t) (size - SSTREAM_WIRE_BATCH_HEADER));
                }
            }
            payload = (int64_t) (rand_r (&seed) % 2000) - 1;
        }
        byte *input = s_copy (scratch, size);
        bool was_walked = s_walk_if_taken (input, size, payload);
        free (input);
        if (mode == 2) {
            cr_assert (was_walked, "round %d: lengths moved between records were refused: %s",
                       round, sstream_errmsg ());
            moved++;
        }
        walked += was_walked;
    }
    cr_assert_gt (walked, moved, "no mutation but moved lengths was ever taken");
    cr_log_info ("%d of 80000 batches read, checked and walked (%d with moved lengths)",
                 walked, moved);
    zmq_msg_close (&frame0);
    zmq_msg_close (&frame1);
    sstream_pool_release (&pool);
}


//  --------------------------------------------------------------------------
//  The pool

Test (wire, pool_reuses_the_buffers_it_keeps)
{
    sstream_pool_t *pool = sstream_pool_new (4096, 2);
    cr_assert_eq (sstream_pool_buffer_size (pool), 4096);
    byte *first = (byte *) sstream_pool_take (pool);
    byte *second = (byte *) sstream_pool_take (pool);
    byte *third = (byte *) sstream_pool_take (pool);
    cr_assert (first && second && third);
    cr_assert (first != second && second != third && first != third);
    memset (first, 1, 4096);                    //  Whole buffers, under ASan
    memset (third, 3, 4096);
    sstream_pool_give (first, pool);
    sstream_pool_give (second, pool);
    sstream_pool_give (third, pool);            //  Past keep: freed
    byte *again = (byte *) sstream_pool_take (pool);
    byte *again2 = (byte *) sstream_pool_take (pool);
    cr_assert ((again == first && again2 == second) || (again == second && again2 == first),
               "the pool did not give back the buffers it kept");
    sstream_pool_give (again, pool);
    sstream_pool_give (again2, pool);
    sstream_pool_release (&pool);
    cr_assert_null (pool);

    //  A pool that keeps none
    pool = sstream_pool_new (100, 0);
    first = (byte *) sstream_pool_take (pool);
    cr_assert_not_null (first);
    sstream_pool_give (first, pool);
    sstream_pool_release (&pool);
}

Test (wire, pool_frees_buffers_given_back_after_release_and_then_itself)
{
    //  Buffers and the pool's own list (keep entries) large enough to see
    //  in the heap's total
    const size_t buffer_size = 8 * MiB, keep = MiB;        //  8 MiB of list
    const size_t slack = MiB;
    size_t start = s_heap_bytes ();
    sstream_pool_t *pool = sstream_pool_new (buffer_size, keep);
    cr_assert_not_null (pool);
    cr_assert_geq (s_heap_bytes (), start + 8 * MiB);
    void *kept = sstream_pool_take (pool);
    void *first = sstream_pool_take (pool);
    void *second = sstream_pool_take (pool);
    cr_assert (kept && first && second);
    sstream_pool_give (kept, pool);             //  Before release: kept
    size_t all = s_heap_bytes ();
    cr_assert_geq (all, start + 8 * MiB + 3 * buffer_size);

    sstream_pool_t *same = pool;
    sstream_pool_release (&pool);
    cr_assert_null (pool);
    //  Two buffers out: the pool stays
    cr_assert_geq (s_heap_bytes () + slack, all, "the pool went with buffers out");
    sstream_pool_give (first, same);
    size_t one_out = s_heap_bytes ();
    cr_assert_leq (one_out + buffer_size, all + slack,
                   "a buffer given back after release was kept");
    cr_assert_geq (one_out + slack, all - buffer_size, "more than a buffer went");
    sstream_pool_give (second, same);           //  The last: the pool goes
    cr_assert_leq (s_heap_bytes (), start + slack,
                   "the pool, its list or its kept buffer outlived its last buffer");

    //  Released with nothing out, it goes at once
    pool = sstream_pool_new (buffer_size, keep);
    kept = sstream_pool_take (pool);
    sstream_pool_give (kept, pool);
    cr_assert_geq (s_heap_bytes (), start + 8 * MiB + buffer_size);
    sstream_pool_release (&pool);
    cr_assert_leq (s_heap_bytes (), start + slack);
}
