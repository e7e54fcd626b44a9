/*  =========================================================================
    test_wire - the protocol codec: round trips, and every kind of bad input

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_classes.h"

#include <criterion/criterion.h>

//  Encode, then decode the frame's bytes.
static int
s_round_trip (const sstream_wire_t *in, const void *meta, size_t meta_size,
              sstream_wire_t *out)
{
    zframe_t *frame = sstream_wire_encode (in, meta, meta_size);
    cr_assert_not_null (frame);
    int rc = sstream_wire_decode (out, zframe_data (frame), zframe_size (frame), true);
    zframe_destroy (&frame);
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
    int rc = sstream_wire_decode (out, buffer.data, buffer.size, true);
    msgpack_sbuffer_destroy (&buffer);
    return rc;
}

static void
s_str (msgpack_packer *packer, const char *string)
{
    msgpack_pack_str (packer, strlen (string));
    msgpack_pack_str_body (packer, string, strlen (string));
}

Test (wire, every_type_round_trips)
{
    sstream_wire_t in, out;

    in = (sstream_wire_t) { .type = SSTREAM_WIRE_HELLO, .role = SSTREAM_ROLE_GATEWAY };
    strcpy (in.text, "gateway-a");
    cr_assert_eq (s_round_trip (&in, NULL, 0, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (out.type, SSTREAM_WIRE_HELLO);
    cr_assert_eq (out.role, SSTREAM_ROLE_GATEWAY);
    cr_assert_str_eq (out.text, "gateway-a");

    in = (sstream_wire_t) { .type = SSTREAM_WIRE_WELCOME };
    strcpy (in.text, "gateway-b");
    cr_assert_eq (s_round_trip (&in, NULL, 0, &out), SSTREAM_OK);
    cr_assert_str_eq (out.text, "gateway-b");

    in = (sstream_wire_t) { .type = SSTREAM_WIRE_OPEN, .role = SSTREAM_ROLE_CONSUME,
                            .window = 16 << 20 };
    strcpy (in.stream, "run-42/detector.a");
    cr_assert_eq (s_round_trip (&in, NULL, 0, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (out.type, SSTREAM_WIRE_OPEN);
    cr_assert_eq (out.role, SSTREAM_ROLE_CONSUME);
    cr_assert_eq (out.window, 16 << 20);
    cr_assert_str_eq (out.stream, "run-42/detector.a");

    in = (sstream_wire_t) { .type = SSTREAM_WIRE_OPEN, .role = SSTREAM_ROLE_PRODUCE };
    strcpy (in.stream, "s");
    cr_assert_eq (s_round_trip (&in, NULL, 0, &out), SSTREAM_OK);
    cr_assert_eq (out.role, SSTREAM_ROLE_PRODUCE);
    cr_assert_eq (out.window, 0);

    in = (sstream_wire_t) { .type = SSTREAM_WIRE_ACCEPTED, .window = 1ULL << 40 };
    strcpy (in.stream, "s");
    strcpy (in.text, "gateway-a");
    cr_assert_eq (s_round_trip (&in, NULL, 0, &out), SSTREAM_OK);
    cr_assert_eq (out.window, 1ULL << 40);
    cr_assert_str_eq (out.text, "gateway-a");

    in = (sstream_wire_t) { .type = SSTREAM_WIRE_DATA, .seq = UINT64_MAX - 1,
                            .len = SSTREAM_MESSAGE_MAX };
    strcpy (in.stream, "s");
    cr_assert_eq (s_round_trip (&in, NULL, 0, &out), SSTREAM_OK);
    cr_assert_eq (out.seq, UINT64_MAX - 1);
    cr_assert_eq (out.len, SSTREAM_MESSAGE_MAX);
    cr_assert_null (out.meta);

    in = (sstream_wire_t) { .type = SSTREAM_WIRE_CREDIT, .bytes = 12345 };
    strcpy (in.stream, "s");
    cr_assert_eq (s_round_trip (&in, NULL, 0, &out), SSTREAM_OK);
    cr_assert_eq (out.bytes, 12345);

    int type;
    for (type = SSTREAM_WIRE_END; type <= SSTREAM_WIRE_END_ACK; type++) {
        in = (sstream_wire_t) { .type = type, .seq = 7, .bytes = 7 << 20 };
        strcpy (in.stream, "s");
        cr_assert_eq (s_round_trip (&in, NULL, 0, &out), SSTREAM_OK);
        cr_assert_eq (out.type, type);
        cr_assert_eq (out.seq, 7);
        cr_assert_eq (out.bytes, 7 << 20);
    }

    in = (sstream_wire_t) { .type = SSTREAM_WIRE_ERROR, .code = SSTREAM_EDENIED };
    strcpy (in.text, "stream 's' is already being produced");
    cr_assert_eq (s_round_trip (&in, NULL, 0, &out), SSTREAM_OK);
    cr_assert_eq (out.code, SSTREAM_EDENIED);
    cr_assert_str_eq (out.text, "stream 's' is already being produced");
    cr_assert_str_eq (out.stream, "");

    in = (sstream_wire_t) { .type = SSTREAM_WIRE_PING };
    cr_assert_eq (s_round_trip (&in, NULL, 0, &out), SSTREAM_OK);
    cr_assert_eq (out.type, SSTREAM_WIRE_PING);
}

Test (wire, metadata_round_trips_byte_for_byte)
{
    //  {"dtype": "uint16", "shape": [2048, 2048], "exposure": 0.125}
    msgpack_sbuffer meta;
    msgpack_sbuffer_init (&meta);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &meta, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 3);
    s_str (&packer, "dtype");
    s_str (&packer, "uint16");
    s_str (&packer, "shape");
    msgpack_pack_array (&packer, 2);
    msgpack_pack_uint32 (&packer, 2048);
    msgpack_pack_uint32 (&packer, 2048);
    s_str (&packer, "exposure");
    msgpack_pack_double (&packer, 0.125);
    cr_assert_eq (sstream_wire_check_meta (meta.data, meta.size), SSTREAM_OK);

    sstream_wire_t in = { .type = SSTREAM_WIRE_DATA, .seq = 3, .len = 100 }, out;
    strcpy (in.stream, "frames");
    cr_assert_eq (s_round_trip (&in, meta.data, meta.size, &out), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (out.meta_size, meta.size);
    cr_assert_eq (memcmp (out.meta, meta.data, meta.size), 0);
    sstream_wire_reset (&out);
    cr_assert_null (out.meta);

    //  Not wanted: not copied
    zframe_t *frame = sstream_wire_encode (&in, meta.data, meta.size);
    cr_assert_eq (sstream_wire_decode (&out, zframe_data (frame), zframe_size (frame), false), 0);
    cr_assert_null (out.meta);
    zframe_destroy (&frame);
    msgpack_sbuffer_destroy (&meta);
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
    const char empty_map [] = { (char) 0x80 };
    cr_assert_eq (sstream_wire_check_meta (empty_map, sizeof (empty_map)), SSTREAM_OK);
    cr_assert_eq (sstream_wire_check_meta (NULL, 0), SSTREAM_OK);
}

Test (wire, truncated_headers_are_refused_at_every_length)
{
    sstream_wire_t in = { .type = SSTREAM_WIRE_DATA, .seq = 1000, .len = 4096 }, out;
    strcpy (in.stream, "truncated");
    zframe_t *frame = sstream_wire_encode (&in, NULL, 0);
    size_t size;
    for (size = 0; size < zframe_size (frame); size++) {
        int rc = sstream_wire_decode (&out, zframe_data (frame), size, true);
        cr_assert_eq (rc, SSTREAM_EPROTO, "a header cut to %zu bytes was taken", size);
        cr_assert (strstr (sstream_errmsg (), "malformed header"), "%s", sstream_errmsg ());
    }
    zframe_destroy (&frame);
}

static void s_version_2 (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 2);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 2);
    s_str (packer, "t"); s_str (packer, "ping");
}

Test (wire, another_version_is_refused)
{
    sstream_wire_t out;
    cr_assert_eq (s_decode_built (s_version_2, &out), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "unsupported protocol version 2"), "%s", sstream_errmsg ());
}

static void s_oversized (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 5);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "data");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "seq"); msgpack_pack_uint8 (packer, 0);
    s_str (packer, "len"); msgpack_pack_uint64 (packer, SSTREAM_MESSAGE_MAX + 1);
}

Test (wire, oversized_length_is_refused)
{
    sstream_wire_t out;
    cr_assert_eq (s_decode_built (s_oversized, &out), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "over the limit"), "%s", sstream_errmsg ());
}

Test (wire, garbage_is_refused)
{
    sstream_wire_t out;
    const unsigned char garbage [] = { 0xc1, 0xc1, 0xc1 };
    cr_assert_eq (sstream_wire_decode (&out, garbage, sizeof (garbage), true), SSTREAM_EPROTO);
    const char text [] = "GET / HTTP/1.1\r\n\r\n";
    cr_assert_eq (sstream_wire_decode (&out, text, strlen (text), true), SSTREAM_EPROTO);
    cr_assert_eq (sstream_wire_decode (&out, NULL, 0, true), SSTREAM_EPROTO);
    cr_assert_eq (sstream_wire_decode (&out, text, 0, true), SSTREAM_EPROTO);
    //  Over the header limit, whatever it holds
    char *large = calloc (1, SSTREAM_WIRE_HEADER_MAX + 1);
    cr_assert_eq (sstream_wire_decode (&out, large, SSTREAM_WIRE_HEADER_MAX + 1, true),
                  SSTREAM_EPROTO);
    free (large);
}

static void s_array (msgpack_packer *packer)
{
    msgpack_pack_array (packer, 2);
    msgpack_pack_uint8 (packer, 1);
    s_str (packer, "ping");
}
static void s_no_type (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 1);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
}
static void s_no_version (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 1);
    s_str (packer, "t"); s_str (packer, "ping");
}
static void s_unknown_type (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 2);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "teleport");
}
static void s_key_not_string (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 3);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "ping");
    msgpack_pack_uint8 (packer, 7); msgpack_pack_uint8 (packer, 7);
}
static void s_repeated_key (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 3);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "ping");
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
}
static void s_bad_stream_name (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 4);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "credit");
    s_str (packer, "stream"); s_str (packer, "has space");
    s_str (packer, "bytes"); msgpack_pack_uint8 (packer, 1);
}
static void s_nul_in_stream (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 4);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "credit");
    s_str (packer, "stream"); msgpack_pack_str (packer, 3); msgpack_pack_str_body (packer, "a\0b", 3);
    s_str (packer, "bytes"); msgpack_pack_uint8 (packer, 1);
}
static void s_missing_field (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 4);       //  data without len
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "data");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "seq"); msgpack_pack_uint8 (packer, 0);
}
static void s_negative_seq (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 5);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "data");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "seq"); msgpack_pack_int8 (packer, -1);
    s_str (packer, "len"); msgpack_pack_uint8 (packer, 0);
}
static void s_unknown_flag (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 6);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "data");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "seq"); msgpack_pack_uint8 (packer, 0);
    s_str (packer, "len"); msgpack_pack_uint8 (packer, 0);
    s_str (packer, "flags"); msgpack_pack_uint8 (packer, 4);
}
static void s_meta_not_map (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 6);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "data");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "seq"); msgpack_pack_uint8 (packer, 0);
    s_str (packer, "len"); msgpack_pack_uint8 (packer, 0);
    s_str (packer, "meta"); s_str (packer, "not a map");
}
static void s_consume_without_window (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 4);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "open");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "role"); s_str (packer, "consume");
}
static void s_deeply_nested_meta (msgpack_packer *packer)
{
    msgpack_pack_map (packer, 6);
    s_str (packer, "v"); msgpack_pack_uint8 (packer, 1);
    s_str (packer, "t"); s_str (packer, "data");
    s_str (packer, "stream"); s_str (packer, "s");
    s_str (packer, "seq"); msgpack_pack_uint8 (packer, 0);
    s_str (packer, "len"); msgpack_pack_uint8 (packer, 0);
    s_str (packer, "meta");
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
        { s_no_type, "no message type" },
        { s_no_version, "no protocol version" },
        { s_unknown_type, "unknown type 'teleport'" },
        { s_key_not_string, "a key is not a string" },
        { s_repeated_key, "appears twice" },
        { s_bad_stream_name, "bad stream name" },
        { s_nul_in_stream, "NUL" },
        { s_missing_field, "without 'len'" },
        { s_negative_seq, "'seq' is not an unsigned integer" },
        { s_unknown_flag, "flags 0x4" },
        { s_meta_not_map, "'meta' is not a map" },
        { s_consume_without_window, "without a 'window'" },
        { s_deeply_nested_meta, "" },
    };
    size_t index;
    for (index = 0; index < sizeof (cases) / sizeof (cases [0]); index++) {
        sstream_wire_t out;
        int rc = s_decode_built (cases [index].builder, &out);
        cr_assert_eq (rc, SSTREAM_EPROTO, "case %zu was taken (rc %d)", index, rc);
        cr_assert (strstr (sstream_errmsg (), cases [index].reason),
                   "case %zu: '%s' does not say '%s'", index, sstream_errmsg (),
                   cases [index].reason);
    }
}

Test (wire, unknown_keys_are_ignored_for_later_versions)
{
    sstream_wire_t in = { .type = SSTREAM_WIRE_CREDIT, .bytes = 9 }, out;
    strcpy (in.stream, "s");
    zframe_t *frame = sstream_wire_encode (&in, NULL, 0);
    //  Append one key to the map: bump the fixmap count, add "acked": 5
    size_t size = zframe_size (frame);
    unsigned char *bytes = malloc (size + 16);
    memcpy (bytes, zframe_data (frame), size);
    cr_assert_eq (bytes [0] & 0xf0, 0x80);
    bytes [0]++;
    const unsigned char extra [] = { 0xa5, 'a', 'c', 'k', 'e', 'd', 0x05 };
    memcpy (bytes + size, extra, sizeof (extra));
    cr_assert_eq (sstream_wire_decode (&out, bytes, size + sizeof (extra), true), SSTREAM_OK,
                  "%s", sstream_errmsg ());
    cr_assert_eq (out.bytes, 9);
    free (bytes);
    zframe_destroy (&frame);
}

Test (wire, random_and_mutated_input_never_crashes)
{
    //  Under AddressSanitizer this also proves no read outside the frame
    sstream_wire_t in = { .type = SSTREAM_WIRE_DATA, .seq = 5, .len = 10 }, out;
    strcpy (in.stream, "fuzz");
    const char meta [] = { (char) 0x81, (char) 0xa1, 'k', (char) 0x92, 0x01, (char) 0xa1, 'x' };
    zframe_t *frame = sstream_wire_encode (&in, meta, sizeof (meta));
    size_t size = zframe_size (frame);
    unsigned char *bytes = malloc (size);
    unsigned seed = 12345;
    int round, accepted = 0;
    for (round = 0; round < 20000; round++) {
        memcpy (bytes, zframe_data (frame), size);
        int flips = 1 + rand_r (&seed) % 4, flip;
        for (flip = 0; flip < flips; flip++)
            bytes [rand_r (&seed) % size] = (unsigned char) rand_r (&seed);
        int rc = sstream_wire_decode (&out, bytes, 1 + rand_r (&seed) % size, true);
        cr_assert (rc == SSTREAM_OK || rc == SSTREAM_EPROTO || rc == SSTREAM_EINVAL,
                   "unexpected code %d", rc);
        if (rc == SSTREAM_OK) {
            accepted++;
            sstream_wire_reset (&out);
        }
    }
    for (round = 0; round < 20000; round++) {
        unsigned char noise [64];
        size_t length = 1 + rand_r (&seed) % sizeof (noise), index;
        for (index = 0; index < length; index++)
            noise [index] = (unsigned char) rand_r (&seed);
        int rc = sstream_wire_decode (&out, noise, length, true);
        if (rc == SSTREAM_OK)
            sstream_wire_reset (&out);
    }
    free (bytes);
    zframe_destroy (&frame);
    cr_log_info ("%d of 20000 mutated headers still decoded", accepted);
}

Test (wire, declared_sizes_cannot_make_the_decoder_allocate_wildly)
{
    //  map32 of 2^32-1 entries in six bytes: msgpack-c alone would ask
    //  for 128 GiB before noticing the input ends
    const unsigned char huge_map [] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1 };
    sstream_wire_t out;
    cr_assert_eq (sstream_wire_decode (&out, huge_map, sizeof (huge_map), true), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "declares more elements"), "%s", sstream_errmsg ());
    //  The same inside a valid-looking header, as metadata
    const unsigned char huge_array [] = { 0x81, 0xa4, 'm', 'e', 't', 'a', 0xdd, 0x10, 0, 0, 0 };
    cr_assert_eq (sstream_wire_decode (&out, huge_array, sizeof (huge_array), true), SSTREAM_EPROTO);
    cr_assert_eq (sstream_wire_check_meta (huge_map, sizeof (huge_map)), SSTREAM_EINVAL);
    //  Deep nesting
    unsigned char deep [100];
    memset (deep, 0x91, sizeof (deep));         //  [[[[...
    cr_assert_eq (sstream_wire_decode (&out, deep, sizeof (deep), true), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "nests deeper"), "%s", sstream_errmsg ());
}

Test (wire, sessions_lists_are_checked_before_they_are_unpacked)
{
    //  [ {"id": "ab"} ]
    const byte good [] = { 0x91, 0x81, 0xa2, 'i', 'd', 0xa2, 'a', 'b' };
    cr_assert_eq (sstream_wire_check_list (good, sizeof (good)), SSTREAM_OK, "%s", sstream_errmsg ());
    cr_assert_eq (sstream_wire_check_list (good, sizeof (good) - 1), SSTREAM_EPROTO);
    const byte map [] = { 0x81, 0xa2, 'i', 'd', 0xa2, 'a', 'b' };
    cr_assert_eq (sstream_wire_check_list (map, sizeof (map)), SSTREAM_EPROTO);
    cr_assert (strstr (sstream_errmsg (), "array"), "%s", sstream_errmsg ());
    //  An array 32 bit that says it holds four billion elements
    const byte huge [] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0 };
    cr_assert_eq (sstream_wire_check_list (huge, sizeof (huge)), SSTREAM_EPROTO);
    const byte trailing [] = { 0x90, 0xc0 };
    cr_assert_eq (sstream_wire_check_list (trailing, sizeof (trailing)), SSTREAM_EPROTO);
    cr_assert_eq (sstream_wire_check_list (NULL, 0), SSTREAM_EPROTO);
    //  A sessions reply: its list is a payload frame, and its request number
    //  comes back
    sstream_wire_t reply = { .type = SSTREAM_WIRE_SESSIONS, .request = 42 }, decoded;
    zframe_t *frame = sstream_wire_encode (&reply, NULL, 0);
    cr_assert_not_null (frame);
    cr_assert (sstream_wire_has_payload (SSTREAM_WIRE_SESSIONS));
    cr_assert_eq (sstream_wire_decode (&decoded, zframe_data (frame), zframe_size (frame), false), SSTREAM_OK);
    cr_assert_eq (decoded.request, 42);
    sstream_wire_reset (&decoded);
    zframe_destroy (&frame);
}
