/*  =========================================================================
    sstream_wire - encode and decode protocol headers

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    One table says, for every msgpack message type, which keys it must and
    may carry; the encoder and the decoder both go by it. Data and credit
    have a binary header of their own (section "Data and credit").
*/

#include "sstream_common.h"

#include <stddef.h>

static const char *s_type_names [SSTREAM_WIRE_TYPES] = {
    NULL, "hello", "welcome", "open", "accepted", "data", "credit", "end",
    "end-ack", "error", "ping", "session-open", "session-list",
    "session-release", "sessions", "tunnel-open", "tunnel-opened",
    "tunnel-data", "tunnel-credit", "tunnel-eof", "tunnel-reset", "key",
    "tunnel-key", "resume", "ack", "stream-list", "streams"
};

static const char *s_role_names [] = {
    NULL, "produce", "consume", "gateway", "inbound", "outbound"
};
#define ROLE_COUNT (int) (sizeof (s_role_names) / sizeof (s_role_names [0]))

const char *
sstream_wire_type_name (int type)
{
    return type > 0 && type < SSTREAM_WIRE_TYPES? s_type_names [type]: "unknown";
}


//  --------------------------------------------------------------------------
//  The fields

typedef enum {
    F_UINT,                     //  uint64_t
    F_STR,                      //  char [size], truncated if longer
    F_STRICT_STR,               //  char [size], refused if longer
    F_NAME,                     //  a stream name
    F_ROLE,                     //  int, from s_role_names
    F_BOOL                      //  bool
} s_kind_t;

typedef struct {
    const char *key;
    s_kind_t kind;
    size_t offset;
    size_t size;
} s_field_t;

#define FIELD(key, kind, member) \
    { key, kind, offsetof (sstream_wire_t, member), sizeof (((sstream_wire_t *) 0)->member) }

enum {
    K_STREAM, K_SID, K_SEQ, K_FLAGS, K_BYTES, K_WINDOW, K_ROLE, K_CODE,
    K_TEXT, K_NAME, K_SESSION, K_HEARTBEAT, K_ID, K_KIND, K_TARGET, K_LINKS,
    K_RATE, K_HOLD, K_CONN, K_MODE, K_PEER, K_REQ, K_HOLDER, K_EPOCH, K_GEN, K_CIPHER,
    K_PAYLOAD, K_SEAL, K_BULK, K_TOKEN, K_WRAP, K_RESUME, K_CHECKSUM, FIELD_COUNT
};

static const s_field_t s_fields [FIELD_COUNT] = {
    [K_STREAM]    = FIELD ("stream", F_NAME, stream),
    [K_SID]       = FIELD ("sid", F_UINT, sid),
    [K_SEQ]       = FIELD ("seq", F_UINT, seq),
    [K_FLAGS]     = FIELD ("flags", F_UINT, flags),
    [K_BYTES]     = FIELD ("bytes", F_UINT, bytes),
    [K_WINDOW]    = FIELD ("window", F_UINT, window),
    [K_ROLE]      = FIELD ("role", F_ROLE, role),
    [K_CODE]      = FIELD ("code", F_UINT, code),
    [K_TEXT]      = FIELD ("text", F_STR, text),
    [K_NAME]      = FIELD ("name", F_STR, text),
    [K_SESSION]   = FIELD ("session", F_UINT, session),
    [K_HEARTBEAT] = FIELD ("heartbeat", F_UINT, heartbeat),
    [K_ID]        = FIELD ("id", F_STRICT_STR, id),
    [K_KIND]      = FIELD ("kind", F_STRICT_STR, kind),
    [K_TARGET]    = FIELD ("target", F_STRICT_STR, target),
    [K_LINKS]     = FIELD ("links", F_UINT, links),
    [K_RATE]      = FIELD ("rate", F_UINT, rate),
    [K_HOLD]      = FIELD ("hold", F_BOOL, hold),
    [K_CONN]      = FIELD ("conn", F_UINT, conn),
    [K_MODE]      = { "mode", F_STRICT_STR, 0, 0 },     //  checked, not kept
    [K_PEER]      = FIELD ("peer", F_STRICT_STR, peer),
    [K_REQ]       = FIELD ("req", F_UINT, request),
    [K_HOLDER]    = FIELD ("holder", F_STRICT_STR, holder),
    [K_EPOCH]     = FIELD ("epoch", F_UINT, epoch),
    [K_GEN]       = FIELD ("gen", F_UINT, generation),
    [K_CIPHER]    = FIELD ("cipher", F_UINT, cipher),
    [K_PAYLOAD]   = FIELD ("payload", F_STRICT_STR, payload),
    [K_SEAL]      = FIELD ("seal", F_STRICT_STR, seal),
    [K_BULK]      = FIELD ("bulk", F_STRICT_STR, bulk),
    [K_TOKEN]     = FIELD ("token", F_STRICT_STR, token),
    [K_WRAP]      = FIELD ("wrap", F_STRICT_STR, wrap),
    [K_RESUME]    = FIELD ("resume", F_UINT, resume),
    [K_CHECKSUM]  = FIELD ("checksum", F_STRICT_STR, checksum)
};

#define B(key) ((uint64_t) 1 << (key))
_Static_assert (FIELD_COUNT <= 64, "field sets are 64-bit masks");

//  What each type must carry, and what it may
static const struct {
    uint64_t required;
    uint64_t optional;
} s_types [SSTREAM_WIRE_TYPES] = {
    [SSTREAM_WIRE_HELLO]    = { B (K_ROLE) | B (K_NAME) | B (K_SESSION),
                                B (K_HEARTBEAT) | B (K_FLAGS) },
    [SSTREAM_WIRE_WELCOME]  = { B (K_NAME), B (K_HEARTBEAT) | B (K_BULK) | B (K_TOKEN) },
    [SSTREAM_WIRE_OPEN]     = { B (K_STREAM) | B (K_ROLE) | B (K_SID),
                                B (K_WINDOW) | B (K_HEARTBEAT) | B (K_MODE) | B (K_FLAGS)
                                | B (K_EPOCH) | B (K_PAYLOAD) | B (K_RESUME) },
    [SSTREAM_WIRE_ACCEPTED] = { B (K_STREAM) | B (K_WINDOW) | B (K_SID),
                                B (K_NAME) | B (K_HEARTBEAT) | B (K_BULK) | B (K_TOKEN) },
    [SSTREAM_WIRE_END]      = { B (K_STREAM) | B (K_SEQ) | B (K_BYTES), B (K_SEAL) | B (K_CHECKSUM) },
    [SSTREAM_WIRE_END_ACK]  = { B (K_STREAM) | B (K_SEQ) | B (K_BYTES), 0 },
    [SSTREAM_WIRE_ERROR]    = { B (K_CODE) | B (K_TEXT), B (K_STREAM) | B (K_REQ) },
    [SSTREAM_WIRE_PING]     = { 0, B (K_REQ) | B (K_HOLDER) },
    [SSTREAM_WIRE_SESSION_OPEN] = { B (K_STREAM) | B (K_ROLE) | B (K_KIND),
                                    B (K_TARGET) | B (K_LINKS) | B (K_RATE) | B (K_HOLD) | B (K_MODE)
                                    | B (K_FLAGS) | B (K_PEER) | B (K_REQ) | B (K_HOLDER) },
    [SSTREAM_WIRE_SESSION_LIST] = { 0, B (K_ID) | B (K_REQ) | B (K_HOLDER) },
    [SSTREAM_WIRE_SESSION_RELEASE] = { B (K_ID), B (K_REQ) | B (K_HOLDER) },
    [SSTREAM_WIRE_SESSIONS]     = { 0, B (K_REQ) },
    [SSTREAM_WIRE_STREAM_LIST]  = { 0, B (K_STREAM) | B (K_REQ) | B (K_HOLDER) },
    [SSTREAM_WIRE_STREAMS]      = { 0, B (K_REQ) },
    [SSTREAM_WIRE_TUNNEL_OPEN]  = { B (K_STREAM) | B (K_CONN) | B (K_WINDOW) | B (K_SID), 0 },
    [SSTREAM_WIRE_TUNNEL_OPENED] = { B (K_STREAM) | B (K_CONN) | B (K_WINDOW) | B (K_SID), 0 },
    [SSTREAM_WIRE_TUNNEL_CREDIT] = { B (K_STREAM) | B (K_CONN) | B (K_BYTES), 0 },
    [SSTREAM_WIRE_TUNNEL_EOF]   = { B (K_STREAM) | B (K_CONN), 0 },
    [SSTREAM_WIRE_TUNNEL_RESET] = { B (K_STREAM) | B (K_CONN), B (K_TEXT) },
    [SSTREAM_WIRE_KEY]      = { B (K_STREAM) | B (K_EPOCH) | B (K_GEN) | B (K_CIPHER), 0 },
    [SSTREAM_WIRE_RESUME]   = { B (K_STREAM) | B (K_SEQ), B (K_EPOCH) },
    [SSTREAM_WIRE_ACK]      = { B (K_STREAM) | B (K_SEQ), 0 },
    [SSTREAM_WIRE_TUNNEL_KEY] = { B (K_STREAM) | B (K_CONN) | B (K_GEN) | B (K_CIPHER) | B (K_WRAP),
                                  0 },
};

//  Types that carry a payload frame after the header
bool
sstream_wire_has_payload (int type)
{
    return type == SSTREAM_WIRE_SESSIONS || type == SSTREAM_WIRE_STREAMS
        || type == SSTREAM_WIRE_KEY;
}

//  The binary types, which the table does not describe
static bool
s_is_binary_type (int type)
{
    return type == SSTREAM_WIRE_DATA || type == SSTREAM_WIRE_CREDIT
        || type == SSTREAM_WIRE_TUNNEL_DATA;
}


//  --------------------------------------------------------------------------
//  Encoding: into a growing buffer, then into a frame

typedef struct {
    byte *data;
    size_t size;
    size_t capacity;
    bool failed;
} s_buffer_t;

static int
s_buffer_write (void *data, const char *bytes, size_t length)
{
    s_buffer_t *buffer = (s_buffer_t *) data;
    if (buffer->failed)
        return -1;
    if (buffer->size + length > buffer->capacity) {
        size_t capacity = buffer->capacity * 2;
        while (capacity < buffer->size + length)
            capacity *= 2;
        byte *larger = (byte *) realloc (buffer->data, capacity);
        if (!larger) {
            buffer->failed = true;
            return -1;
        }
        buffer->data = larger;
        buffer->capacity = capacity;
    }
    memcpy (buffer->data + buffer->size, bytes, length);
    buffer->size += length;
    return 0;
}

static void
s_pack_str (msgpack_packer *packer, const char *string)
{
    size_t length = strlen (string);
    msgpack_pack_str (packer, length);
    msgpack_pack_str_body (packer, string, length);
}

//  True when an optional field has something to say

static bool
s_field_present (const sstream_wire_t *self, int key)
{
    const s_field_t *field = &s_fields [key];
    const char *member = (const char *) self + field->offset;
    switch (field->kind) {
        case F_UINT:
            return field->size == sizeof (uint32_t)? *(const uint32_t *) member != 0
                                                   : *(const uint64_t *) member != 0;
        case F_STR:
        case F_STRICT_STR:
        case F_NAME:
            return key == K_MODE || *member;
        case F_ROLE:
            return *(const int *) member != 0;
        case F_BOOL:
            return *(const bool *) member;
    }
    return false;
}

static void
s_pack_field (msgpack_packer *packer, const sstream_wire_t *self, int key)
{
    const s_field_t *field = &s_fields [key];
    const char *member = (const char *) self + field->offset;
    s_pack_str (packer, field->key);
    switch (field->kind) {
        case F_UINT:
            msgpack_pack_uint64 (packer, field->size == sizeof (uint32_t)
                                         ? *(const uint32_t *) member: *(const uint64_t *) member);
            break;
        case F_STR:
        case F_STRICT_STR:
        case F_NAME:
            s_pack_str (packer, key == K_MODE? "lossless": member);
            break;
        case F_ROLE:
            s_pack_str (packer, s_role_names [*(const int *) member]);
            break;
        case F_BOOL:
            if (*(const bool *) member)
                msgpack_pack_true (packer);
            else
                msgpack_pack_false (packer);
            break;
    }
}

zframe_t *
sstream_wire_encode (const sstream_wire_t *self)
{
    assert (self);
    assert (self->type > 0 && self->type < SSTREAM_WIRE_TYPES && !s_is_binary_type (self->type));
    s_buffer_t buffer = { NULL, 0, 256, false };
    buffer.data = (byte *) malloc (buffer.capacity);
    if (!buffer.data)
        return NULL;
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, s_buffer_write);
    uint64_t required = s_types [self->type].required;
    uint64_t optional = s_types [self->type].optional;
    uint64_t written = 0;
    int key;
    for (key = 0; key < FIELD_COUNT; key++)
        if ((required & B (key)) || ((optional & B (key)) && s_field_present (self, key)))
            written |= B (key);
    size_t count = 2;
    for (key = 0; key < FIELD_COUNT; key++)
        count += (written & B (key))? 1: 0;
    msgpack_pack_map (&packer, count);
    s_pack_str (&packer, "v");
    msgpack_pack_uint64 (&packer, SSTREAM_WIRE_VERSION);
    s_pack_str (&packer, "t");
    s_pack_str (&packer, s_type_names [self->type]);
    for (key = 0; key < FIELD_COUNT; key++)
        if (written & B (key))
            s_pack_field (&packer, self, key);
    if (buffer.failed) {
        free (buffer.data);
        return NULL;
    }
    zframe_t *frame = zframe_new (buffer.data, buffer.size);
    free (buffer.data);
    return frame;
}

zframe_t *
sstream_wire_error (uint32_t code, const char *stream, const char *text)
{
    sstream_wire_t message = { .type = SSTREAM_WIRE_ERROR, .code = code };
    if (stream)
        snprintf (message.stream, sizeof (message.stream), "%s", stream);
    snprintf (message.text, sizeof (message.text), "%s", text? text: "");
    return sstream_wire_encode (&message);
}

zframe_t *
sstream_wire_ping (void)
{
    sstream_wire_t message = { .type = SSTREAM_WIRE_PING };
    return sstream_wire_encode (&message);
}


//  --------------------------------------------------------------------------
//  Decoding

int
sstream_wire_malformed (const char *format, ...)
{
    char reason [256];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof (reason), format, args);
    va_end (args);
    return sstream_error_set (SSTREAM_EPROTO, "malformed header: %s", reason);
}

#define s_malformed sstream_wire_malformed

static bool
s_key_is (const msgpack_object *key, const char *name)
{
    size_t length = strlen (name);
    return key->via.str.size == length && memcmp (key->via.str.ptr, name, length) == 0;
}

static int
s_get_str (const msgpack_object *value, const char *key, char *result, size_t size,
           bool truncate)
{
    if (value->type != MSGPACK_OBJECT_STR)
        return s_malformed ("'%s' is not a string", key);
    size_t length = value->via.str.size;
    if (length >= size) {
        if (!truncate)
            return s_malformed ("'%s' is %zu bytes long, over the limit of %zu",
                                key, length, size - 1);
        length = size - 1;
    }
    memcpy (result, value->via.str.ptr, length);
    result [length] = 0;
    if (strlen (result) != length)
        return s_malformed ("'%s' has a NUL byte", key);
    return 0;
}

static int
s_lookup_name (const msgpack_object *value, const char *key, const char **names,
               int count, int *result)
{
    if (value->type != MSGPACK_OBJECT_STR)
        return s_malformed ("'%s' is not a string", key);
    int index;
    for (index = 1; index < count; index++)
        if (s_key_is (value, names [index])) {
            *result = index;
            return 0;
        }
    return s_malformed ("unknown %s '%.*s'", key,
                        (int) (value->via.str.size > 32? 32: value->via.str.size),
                        value->via.str.ptr);
}

static int
s_decode_field (sstream_wire_t *self, int key, const msgpack_object *value)
{
    const s_field_t *field = &s_fields [key];
    char *member = (char *) self + field->offset;
    int rc = 0;
    switch (field->kind) {
        case F_UINT:
            if (value->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return s_malformed ("'%s' is not an unsigned integer", field->key);
            if (field->size == sizeof (uint32_t)) {
                if (value->via.u64 > UINT32_MAX)
                    return s_malformed ("'%s' is out of range", field->key);
                *(uint32_t *) member = (uint32_t) value->via.u64;
            }
            else
                *(uint64_t *) member = value->via.u64;
            break;
        case F_STR:
            rc = s_get_str (value, field->key, member, field->size, true);
            break;
        case F_STRICT_STR:
            if (key == K_MODE) {
                char mode [32];
                rc = s_get_str (value, "mode", mode, sizeof (mode), false);
                if (!rc && !streq (mode, "lossless"))
                    rc = sstream_error_set (SSTREAM_EINVAL,
                        "delivery mode '%s' is not supported (this side supports lossless)", mode);
            }
            else
                rc = s_get_str (value, field->key, member, field->size, false);
            break;
        case F_NAME:
            rc = s_get_str (value, field->key, member, field->size, false);
            if (!rc && sstream_check_stream_name (member))
                rc = s_malformed ("bad stream name");
            break;
        case F_ROLE:
            rc = s_lookup_name (value, "role", s_role_names, ROLE_COUNT, (int *) member);
            break;
        case F_BOOL:
            if (value->type != MSGPACK_OBJECT_BOOLEAN)
                return s_malformed ("'%s' is not true or false", field->key);
            *(bool *) member = value->via.boolean;
            break;
    }
    return rc;
}

static int
s_decode_map (sstream_wire_t *self, const msgpack_object *map, uint64_t *seen,
              bool *has_version, bool *has_type)
{
    uint32_t index;
    for (index = 0; index < map->via.map.size; index++) {
        const msgpack_object *key = &map->via.map.ptr [index].key;
        const msgpack_object *value = &map->via.map.ptr [index].val;
        if (key->type != MSGPACK_OBJECT_STR)
            return s_malformed ("a key is not a string");
        int rc = 0;
        if (s_key_is (key, "v")) {
            if (*has_version)
                return s_malformed ("key 'v' appears twice");
            *has_version = true;
            if (value->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return s_malformed ("'v' is not an unsigned integer");
            if (value->via.u64 != SSTREAM_WIRE_VERSION)
                return sstream_error_set (SSTREAM_EPROTO,
                    "unsupported protocol version %" PRIu64 " (this side speaks %d)",
                    value->via.u64, SSTREAM_WIRE_VERSION);
            continue;
        }
        if (s_key_is (key, "t")) {
            if (*has_type)
                return s_malformed ("key 't' appears twice");
            *has_type = true;
            rc = s_lookup_name (value, "type", s_type_names, SSTREAM_WIRE_TYPES, &self->type);
            if (rc)
                return rc;
            if (s_is_binary_type (self->type))
                return s_malformed ("%s in a msgpack header (it has a binary header)",
                                    s_type_names [self->type]);
            continue;
        }
        int field;
        for (field = 0; field < FIELD_COUNT; field++)
            if (s_key_is (key, s_fields [field].key))
                break;
        if (field == FIELD_COUNT)
            continue;           //  From a later version; ignored by design
        if (*seen & B (field))
            return s_malformed ("key '%s' appears twice", s_fields [field].key);
        *seen |= B (field);
        rc = s_decode_field (self, field, value);
        if (rc)
            return rc;
    }
    return 0;
}

//  msgpack-c allocates room for a container's declared element count before
//  it reads a single element: a six-byte header declaring a map of 2^32
//  entries makes it ask for 128 GiB. Before decoding, walk the bytes and
//  refuse any container that declares more elements than there are bytes
//  left (every element takes at least one), or nests deeper than msgpack-c
//  can. This only measures; msgpack-c still does the decoding.

#define NESTING_MAX 32

static bool
s_read_length (const byte **reader, const byte *end, size_t width, uint64_t *length)
{
    if ((size_t) (end - *reader) < width)
        return false;
    uint64_t value = 0;
    size_t index;
    for (index = 0; index < width; index++)
        value = (value << 8) | (*reader) [index];
    *reader += width;
    *length = value;
    return true;
}

static bool
s_sizes_are_sane (const byte *data, size_t size)
{
    const byte *reader = data, *end = data + size;
    uint64_t pending [NESTING_MAX + 1];     //  Elements still due per level
    int depth = 0;
    pending [0] = 1;
    while (depth >= 0) {
        if (pending [depth] == 0) {
            depth--;
            continue;
        }
        pending [depth]--;
        if (reader >= end)
            return true;                    //  Truncated: msgpack-c says so
        byte type = *reader++;
        uint64_t skip = 0, count = 0;
        bool container = false;
        if (type <= 0x7f || type >= 0xe0 || type == 0xc0 || type == 0xc2 || type == 0xc3)
            skip = 0;                       //  fixint, nil, bool
        else
        if ((type & 0xf0) == 0x80) {        //  fixmap
            count = 2 * (uint64_t) (type & 0x0f);
            container = true;
        }
        else
        if ((type & 0xf0) == 0x90) {        //  fixarray
            count = type & 0x0f;
            container = true;
        }
        else
        if ((type & 0xe0) == 0xa0)          //  fixstr
            skip = type & 0x1f;
        else
        switch (type) {
            case 0xc4: case 0xd9: if (!s_read_length (&reader, end, 1, &skip)) return true; break;
            case 0xc5: case 0xda: if (!s_read_length (&reader, end, 2, &skip)) return true; break;
            case 0xc6: case 0xdb: if (!s_read_length (&reader, end, 4, &skip)) return true; break;
            case 0xc7: if (!s_read_length (&reader, end, 1, &skip)) return true; skip += 1; break;
            case 0xc8: if (!s_read_length (&reader, end, 2, &skip)) return true; skip += 1; break;
            case 0xc9: if (!s_read_length (&reader, end, 4, &skip)) return true; skip += 1; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: if (!s_read_length (&reader, end, 2, &count)) return true; container = true; break;
            case 0xdd: if (!s_read_length (&reader, end, 4, &count)) return true; container = true; break;
            case 0xde: if (!s_read_length (&reader, end, 2, &count)) return true; count *= 2; container = true; break;
            case 0xdf: if (!s_read_length (&reader, end, 4, &count)) return true; count *= 2; container = true; break;
            default: return true;           //  0xc1: msgpack-c refuses it
        }
        if (container) {
            if (count > (uint64_t) (end - reader) || depth == NESTING_MAX)
                return false;
            pending [++depth] = count;
        }
        else {
            if (skip > (uint64_t) (end - reader))
                return true;                //  Truncated
            reader += skip;
        }
    }
    return true;
}

int
sstream_wire_decode (sstream_wire_t *self, const void *data, size_t size)
{
    assert (self);
    memset (self, 0, sizeof (sstream_wire_t));
    if (!data || size == 0)
        return s_malformed ("empty header frame");
    if (sstream_wire_is_batch (data, size))
        return s_malformed ("a binary header where a msgpack one was due");
    if (size > SSTREAM_WIRE_HEADER_MAX)
        return s_malformed ("header frame of %zu bytes is over the limit of %d",
                            size, SSTREAM_WIRE_HEADER_MAX);
    if (!s_sizes_are_sane ((const byte *) data, size))
        return s_malformed ("a container declares more elements than the frame holds, "
                            "or nests deeper than %d", NESTING_MAX);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    msgpack_unpack_return result =
        msgpack_unpack_next (&unpacked, (const char *) data, size, &offset);
    int rc = 0;
    if (result == MSGPACK_UNPACK_CONTINUE)
        rc = s_malformed ("truncated");
    else
    if (result == MSGPACK_UNPACK_NOMEM_ERROR)
        //  What a 64 KiB header can do to msgpack-c: nest too deeply
        rc = s_malformed ("nested too deeply");
    else
    if (result != MSGPACK_UNPACK_SUCCESS && result != MSGPACK_UNPACK_EXTRA_BYTES)
        rc = s_malformed ("not msgpack");
    else
    if (offset != size)
        rc = s_malformed ("%zu bytes after the header map", size - offset);
    else
    if (unpacked.data.type != MSGPACK_OBJECT_MAP)
        rc = s_malformed ("not a map");

    uint64_t seen = 0;
    bool has_version = false, has_type = false;
    if (!rc)
        rc = s_decode_map (self, &unpacked.data, &seen, &has_version, &has_type);
    msgpack_unpacked_destroy (&unpacked);
    if (!rc && !has_version)
        rc = s_malformed ("no protocol version 'v'");
    else
    if (!rc && !has_type)
        rc = s_malformed ("no message type 't'");
    if (!rc) {
        uint64_t missing = s_types [self->type].required & ~seen;
        int key;
        for (key = 0; key < FIELD_COUNT && missing; key++)
            if (missing & B (key)) {
                rc = s_malformed ("%s message without '%s'", s_type_names [self->type],
                                  s_fields [key].key);
                break;
            }
    }
    if (!rc && (self->window > SSTREAM_WIRE_WINDOW_MAX || self->bytes > SSTREAM_WIRE_WINDOW_MAX)
    &&  self->type != SSTREAM_WIRE_END && self->type != SSTREAM_WIRE_END_ACK)
        rc = s_malformed ("window or credit over the limit of %llu bytes", SSTREAM_WIRE_WINDOW_MAX);
    if (!rc && self->heartbeat > 3600 * 1000)
        rc = s_malformed ("heartbeat of %" PRIu64 " ms is over an hour", self->heartbeat);
    if (!rc && self->type == SSTREAM_WIRE_OPEN) {
        if (self->role != SSTREAM_ROLE_PRODUCE && self->role != SSTREAM_ROLE_CONSUME)
            rc = s_malformed ("open with role '%s'", s_role_names [self->role]);
        else
        if (self->role == SSTREAM_ROLE_CONSUME && self->window == 0)
            rc = s_malformed ("open to consume without a 'window'");
    }
    if (!rc && self->type == SSTREAM_WIRE_HELLO && self->role != SSTREAM_ROLE_GATEWAY)
        rc = s_malformed ("hello with role '%s'", s_role_names [self->role]);
    if (!rc && self->type == SSTREAM_WIRE_SESSION_OPEN
    &&  self->role != SSTREAM_ROLE_INBOUND && self->role != SSTREAM_ROLE_OUTBOUND)
        rc = s_malformed ("session-open with role '%s' (inbound or outbound)", s_role_names [self->role]);
    if (rc)
        memset (self, 0, sizeof (sstream_wire_t));
    return rc;
}

int
sstream_wire_check_meta (const void *meta, size_t size)
{
    if (!meta || size == 0)
        return SSTREAM_OK;
    if (size > SSTREAM_WIRE_HEADER_MAX - 512)
        return sstream_error_set (SSTREAM_ETOOBIG,
            "metadata of %zu bytes is over the limit of %d", size,
            SSTREAM_WIRE_HEADER_MAX - 512);
    if (!s_sizes_are_sane ((const byte *) meta, size))
        return sstream_error_set (SSTREAM_EINVAL,
            "metadata declares more elements than it holds, or nests deeper than %d",
            NESTING_MAX - 1);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    msgpack_unpack_return result =
        msgpack_unpack_next (&unpacked, (const char *) meta, size, &offset);
    int rc = SSTREAM_OK;
    if (result != MSGPACK_UNPACK_SUCCESS && result != MSGPACK_UNPACK_EXTRA_BYTES)
        rc = sstream_error_set (SSTREAM_EINVAL, "metadata is not valid msgpack");
    else
    if (offset != size)
        rc = sstream_error_set (SSTREAM_EINVAL, "metadata has %zu bytes after its map",
                                size - offset);
    else
    if (unpacked.data.type != MSGPACK_OBJECT_MAP)
        rc = sstream_error_set (SSTREAM_EINVAL, "metadata is not a msgpack map");
    msgpack_unpacked_destroy (&unpacked);
    return rc;
}

//  --------------------------------------------------------------------------
//  Sessions lists

struct _sstream_wire_list_t {
    msgpack_sbuffer buffer;
    msgpack_packer packer;
    size_t rows;                //  Written so far
};

sstream_wire_list_t *
sstream_wire_list_new (void)
{
    sstream_wire_list_t *self = (sstream_wire_list_t *) zmalloc (sizeof (sstream_wire_list_t));
    if (self) {
        msgpack_sbuffer_init (&self->buffer);
        msgpack_packer_init (&self->packer, &self->buffer, msgpack_sbuffer_write);
    }
    return self;
}

void
sstream_wire_list_destroy (sstream_wire_list_t **self_p)
{
    if (self_p && *self_p) {
        msgpack_sbuffer_destroy (&(*self_p)->buffer);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Rows are written as they come; the array header, which needs their
//  count, goes in front when the frame is made.
void
sstream_wire_list_row (sstream_wire_list_t *self, size_t fields)
{
    msgpack_pack_map (&self->packer, fields);
    self->rows++;
}

void
sstream_wire_list_text (sstream_wire_list_t *self, const char *name, const char *text)
{
    s_pack_str (&self->packer, name);
    s_pack_str (&self->packer, text);
}

void
sstream_wire_list_number (sstream_wire_list_t *self, const char *name, uint64_t value)
{
    s_pack_str (&self->packer, name);
    msgpack_pack_uint64 (&self->packer, value);
}

zframe_t *
sstream_wire_list_frame (sstream_wire_list_t *self)
{
    msgpack_sbuffer head;
    msgpack_sbuffer_init (&head);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &head, msgpack_sbuffer_write);
    msgpack_pack_array (&packer, self->rows);
    zframe_t *frame = head.data? zframe_new (NULL, head.size + self->buffer.size): NULL;
    if (frame) {
        memcpy (zframe_data (frame), head.data, head.size);
        if (self->buffer.size)
            memcpy (zframe_data (frame) + head.size, self->buffer.data, self->buffer.size);
    }
    msgpack_sbuffer_destroy (&head);
    return frame;
}

static void
s_row_destroy (void **item_p)
{
    zhashx_destroy ((zhashx_t **) item_p);
}

int
sstream_wire_list_decode (const void *data, size_t size, zlistx_t **rows_p)
{
    *rows_p = NULL;
    if (!data || size == 0 || size > SSTREAM_WIRE_LIST_MAX)
        return s_malformed ("a list of %zu bytes (1 to %d)", size, SSTREAM_WIRE_LIST_MAX);
    if (!s_sizes_are_sane ((const byte *) data, size))
        return s_malformed ("a list declares more elements than it holds, or nests deeper than %d",
                            NESTING_MAX);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    msgpack_unpack_return result =
        msgpack_unpack_next (&unpacked, (const char *) data, size, &offset);
    int rc = SSTREAM_OK;
    if (result != MSGPACK_UNPACK_SUCCESS && result != MSGPACK_UNPACK_EXTRA_BYTES)
        rc = s_malformed ("a list that is not msgpack");
    else
    if (offset != size)
        rc = s_malformed ("%zu bytes after a list", size - offset);
    else
    if (unpacked.data.type != MSGPACK_OBJECT_ARRAY)
        rc = s_malformed ("a list that is not a msgpack array");
    zlistx_t *rows = rc? NULL: zlistx_new ();
    if (!rc && !rows)
        rc = sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    if (rows)
        zlistx_set_destructor (rows, s_row_destroy);
    uint32_t index;
    for (index = 0; !rc && index < unpacked.data.via.array.size; index++) {
        const msgpack_object *map = &unpacked.data.via.array.ptr [index];
        if (map->type != MSGPACK_OBJECT_MAP) {
            rc = s_malformed ("a list entry that is not a map");
            break;
        }
        zhashx_t *fields = zhashx_new ();
        if (!fields || !zlistx_add_end (rows, fields)) {
            zhashx_destroy (&fields);
            rc = sstream_error_set (SSTREAM_ENOMEM, "out of memory");
            break;
        }
        zhashx_set_destructor (fields, (zhashx_destructor_fn *) zstr_free);
        uint32_t field;
        for (field = 0; field < map->via.map.size; field++) {
            const msgpack_object *key = &map->via.map.ptr [field].key;
            const msgpack_object *value = &map->via.map.ptr [field].val;
            if (key->type != MSGPACK_OBJECT_STR || key->via.str.size > 64)
                continue;       //  Not ours to read: ignored, as unknown keys are
            char name [65];
            memcpy (name, key->via.str.ptr, key->via.str.size);
            name [key->via.str.size] = 0;
            char *text = NULL;
            if (value->type == MSGPACK_OBJECT_STR)
                text = zsys_sprintf ("%.*s", (int) value->via.str.size, value->via.str.ptr);
            else
            if (value->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                text = zsys_sprintf ("%" PRIu64, value->via.u64);
            if (text)
                zhashx_update (fields, name, text);
        }
    }
    msgpack_unpacked_destroy (&unpacked);
    if (rc)
        zlistx_destroy (&rows);
    *rows_p = rows;
    return rc;
}
