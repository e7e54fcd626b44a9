/*  =========================================================================
    sstream_wire - encode and decode protocol headers

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_classes.h"

static const char *s_type_names [] = {
    NULL, "hello", "welcome", "open", "accepted", "data",
    "credit", "end", "end-ack", "error", "ping"
};
#define TYPE_COUNT (int) (sizeof (s_type_names) / sizeof (s_type_names [0]))

static const char *s_role_names [] = {
    NULL, "produce", "consume", "gateway"
};
#define ROLE_COUNT (int) (sizeof (s_role_names) / sizeof (s_role_names [0]))

const char *
sstream_wire_type_name (int type)
{
    return type > 0 && type < TYPE_COUNT? s_type_names [type]: "unknown";
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

static void
s_pack_key_uint (msgpack_packer *packer, const char *key, uint64_t value)
{
    s_pack_str (packer, key);
    msgpack_pack_uint64 (packer, value);
}

static void
s_pack_key_str (msgpack_packer *packer, const char *key, const char *value)
{
    s_pack_str (packer, key);
    s_pack_str (packer, value);
}

zframe_t *
sstream_wire_encode (const sstream_wire_t *self, const void *meta, size_t meta_size)
{
    assert (self);
    assert (self->type > 0 && self->type < TYPE_COUNT);
    s_buffer_t buffer = { NULL, 0, 256 + meta_size, false };
    buffer.data = (byte *) malloc (buffer.capacity);
    if (!buffer.data)
        return NULL;
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, s_buffer_write);

    bool has_meta = self->type == SSTREAM_WIRE_DATA && meta && meta_size;
    size_t keys = 2;
    switch (self->type) {
        case SSTREAM_WIRE_HELLO:    keys += 3; break;
        case SSTREAM_WIRE_WELCOME:  keys += 1; break;
        case SSTREAM_WIRE_OPEN:     keys += 3 + (self->window? 1: 0); break;
        case SSTREAM_WIRE_ACCEPTED: keys += 2 + (*self->text? 1: 0); break;
        case SSTREAM_WIRE_DATA:     keys += 3 + (self->flags? 1: 0) + (has_meta? 1: 0); break;
        case SSTREAM_WIRE_CREDIT:   keys += 2; break;
        case SSTREAM_WIRE_END:
        case SSTREAM_WIRE_END_ACK:  keys += 3; break;
        case SSTREAM_WIRE_ERROR:    keys += 2 + (*self->stream? 1: 0); break;
        case SSTREAM_WIRE_PING:     break;
    }
    bool has_heartbeat = self->heartbeat
        && (self->type == SSTREAM_WIRE_HELLO || self->type == SSTREAM_WIRE_WELCOME
         || self->type == SSTREAM_WIRE_OPEN || self->type == SSTREAM_WIRE_ACCEPTED);
    if (has_heartbeat)
        keys++;
    msgpack_pack_map (&packer, keys);
    s_pack_key_uint (&packer, "v", SSTREAM_WIRE_VERSION);
    s_pack_key_str (&packer, "t", s_type_names [self->type]);
    switch (self->type) {
        case SSTREAM_WIRE_HELLO:
            s_pack_key_str (&packer, "role", s_role_names [SSTREAM_ROLE_GATEWAY]);
            s_pack_key_str (&packer, "name", self->text);
            s_pack_key_uint (&packer, "session", self->session);
            break;
        case SSTREAM_WIRE_WELCOME:
            s_pack_key_str (&packer, "name", self->text);
            break;
        case SSTREAM_WIRE_OPEN:
            assert (self->role == SSTREAM_ROLE_PRODUCE || self->role == SSTREAM_ROLE_CONSUME);
            s_pack_key_str (&packer, "stream", self->stream);
            s_pack_key_str (&packer, "role", s_role_names [self->role]);
            s_pack_key_str (&packer, "mode", "lossless");
            if (self->window)
                s_pack_key_uint (&packer, "window", self->window);
            break;
        case SSTREAM_WIRE_ACCEPTED:
            s_pack_key_str (&packer, "stream", self->stream);
            s_pack_key_uint (&packer, "window", self->window);
            if (*self->text)
                s_pack_key_str (&packer, "name", self->text);
            break;
        case SSTREAM_WIRE_DATA:
            s_pack_key_str (&packer, "stream", self->stream);
            s_pack_key_uint (&packer, "seq", self->seq);
            s_pack_key_uint (&packer, "len", self->len);
            if (self->flags)
                s_pack_key_uint (&packer, "flags", self->flags);
            if (has_meta) {
                //  meta is already a msgpack map: its bytes are the value
                s_pack_str (&packer, "meta");
                s_buffer_write (&buffer, (const char *) meta, meta_size);
            }
            break;
        case SSTREAM_WIRE_CREDIT:
            s_pack_key_str (&packer, "stream", self->stream);
            s_pack_key_uint (&packer, "bytes", self->bytes);
            break;
        case SSTREAM_WIRE_END:
        case SSTREAM_WIRE_END_ACK:
            s_pack_key_str (&packer, "stream", self->stream);
            s_pack_key_uint (&packer, "seq", self->seq);
            s_pack_key_uint (&packer, "bytes", self->bytes);
            break;
        case SSTREAM_WIRE_ERROR:
            s_pack_key_uint (&packer, "code", self->code);
            s_pack_key_str (&packer, "text", self->text);
            if (*self->stream)
                s_pack_key_str (&packer, "stream", self->stream);
            break;
        case SSTREAM_WIRE_PING:
            break;
    }
    if (has_heartbeat)
        s_pack_key_uint (&packer, "heartbeat", self->heartbeat);
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
    return sstream_wire_encode (&message, NULL, 0);
}

zframe_t *
sstream_wire_credit (const char *stream, uint64_t bytes)
{
    sstream_wire_t message = { .type = SSTREAM_WIRE_CREDIT, .bytes = bytes };
    snprintf (message.stream, sizeof (message.stream), "%s", stream);
    return sstream_wire_encode (&message, NULL, 0);
}

zframe_t *
sstream_wire_ping (void)
{
    sstream_wire_t message = { .type = SSTREAM_WIRE_PING };
    return sstream_wire_encode (&message, NULL, 0);
}


//  --------------------------------------------------------------------------
//  Decoding

void
sstream_wire_reset (sstream_wire_t *self)
{
    assert (self);
    free (self->meta);
    memset (self, 0, sizeof (sstream_wire_t));
}

static int
s_malformed (const char *format, ...)
{
    char reason [256];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof (reason), format, args);
    va_end (args);
    return sstream_error_set (SSTREAM_EPROTO, "malformed header: %s", reason);
}

static bool
s_key_is (const msgpack_object *key, const char *name)
{
    size_t length = strlen (name);
    return key->via.str.size == length && memcmp (key->via.str.ptr, name, length) == 0;
}

static int
s_get_uint (const msgpack_object *value, const char *key, uint64_t *result)
{
    if (value->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return s_malformed ("'%s' is not an unsigned integer", key);
    *result = value->via.u64;
    return 0;
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

//  Bits for the keys we know, to check presence and catch repeats
enum {
    K_V = 1 << 0, K_T = 1 << 1, K_STREAM = 1 << 2, K_SEQ = 1 << 3,
    K_LEN = 1 << 4, K_FLAGS = 1 << 5, K_META = 1 << 6, K_BYTES = 1 << 7,
    K_WINDOW = 1 << 8, K_ROLE = 1 << 9, K_CODE = 1 << 10, K_TEXT = 1 << 11,
    K_NAME = 1 << 12, K_MODE = 1 << 13, K_SESSION = 1 << 14, K_HEARTBEAT = 1 << 15
};

static int
s_decode_map (sstream_wire_t *self, const msgpack_object *map, bool want_meta,
              unsigned *seen)
{
    uint32_t index;
    for (index = 0; index < map->via.map.size; index++) {
        const msgpack_object *key = &map->via.map.ptr [index].key;
        const msgpack_object *value = &map->via.map.ptr [index].val;
        if (key->type != MSGPACK_OBJECT_STR)
            return s_malformed ("a key is not a string");
        unsigned bit = 0;
        int rc = 0;
        if (s_key_is (key, "v")) {
            bit = K_V;
            uint64_t version = 0;
            rc = s_get_uint (value, "v", &version);
            if (!rc && version != SSTREAM_WIRE_VERSION)
                return sstream_error_set (SSTREAM_EPROTO,
                    "unsupported protocol version %" PRIu64 " (this side speaks %d)",
                    version, SSTREAM_WIRE_VERSION);
        }
        else
        if (s_key_is (key, "t")) {
            bit = K_T;
            rc = s_lookup_name (value, "type", s_type_names, TYPE_COUNT, &self->type);
        }
        else
        if (s_key_is (key, "stream")) {
            bit = K_STREAM;
            rc = s_get_str (value, "stream", self->stream, sizeof (self->stream), false);
            if (!rc && sstream_check_stream_name (self->stream))
                rc = s_malformed ("bad stream name");
        }
        else
        if (s_key_is (key, "seq")) {
            bit = K_SEQ;
            rc = s_get_uint (value, "seq", &self->seq);
        }
        else
        if (s_key_is (key, "len")) {
            bit = K_LEN;
            rc = s_get_uint (value, "len", &self->len);
            if (!rc && self->len > SSTREAM_MESSAGE_MAX)
                rc = s_malformed ("payload length %" PRIu64 " is over the limit of %llu",
                                  self->len, SSTREAM_MESSAGE_MAX);
        }
        else
        if (s_key_is (key, "flags")) {
            bit = K_FLAGS;
            rc = s_get_uint (value, "flags", &self->flags);
        }
        else
        if (s_key_is (key, "meta")) {
            bit = K_META;
            if (value->type != MSGPACK_OBJECT_MAP)
                rc = s_malformed ("'meta' is not a map");
            else
            if (want_meta) {
                msgpack_sbuffer sbuffer;
                msgpack_sbuffer_init (&sbuffer);
                msgpack_packer packer;
                msgpack_packer_init (&packer, &sbuffer, msgpack_sbuffer_write);
                if (msgpack_pack_object (&packer, *value) != 0) {
                    msgpack_sbuffer_destroy (&sbuffer);
                    return sstream_error_set (SSTREAM_ENOMEM, "out of memory copying metadata");
                }
                self->meta_size = sbuffer.size;
                self->meta = (byte *) msgpack_sbuffer_release (&sbuffer);
            }
        }
        else
        if (s_key_is (key, "bytes")) {
            bit = K_BYTES;
            rc = s_get_uint (value, "bytes", &self->bytes);
        }
        else
        if (s_key_is (key, "window")) {
            bit = K_WINDOW;
            rc = s_get_uint (value, "window", &self->window);
        }
        else
        if (s_key_is (key, "role")) {
            bit = K_ROLE;
            rc = s_lookup_name (value, "role", s_role_names, ROLE_COUNT, &self->role);
        }
        else
        if (s_key_is (key, "code")) {
            bit = K_CODE;
            uint64_t code = 0;
            rc = s_get_uint (value, "code", &code);
            if (!rc && code > UINT32_MAX)
                rc = s_malformed ("'code' is out of range");
            self->code = (uint32_t) code;
        }
        else
        if (s_key_is (key, "text")) {
            bit = K_TEXT;
            rc = s_get_str (value, "text", self->text, sizeof (self->text), true);
        }
        else
        if (s_key_is (key, "name")) {
            bit = K_NAME;
            rc = s_get_str (value, "name", self->text, sizeof (self->text), true);
        }
        else
        if (s_key_is (key, "session")) {
            bit = K_SESSION;
            rc = s_get_uint (value, "session", &self->session);
        }
        else
        if (s_key_is (key, "heartbeat")) {
            bit = K_HEARTBEAT;
            rc = s_get_uint (value, "heartbeat", &self->heartbeat);
            if (!rc && self->heartbeat > 3600 * 1000)
                rc = s_malformed ("heartbeat of %" PRIu64 " ms is over an hour", self->heartbeat);
        }
        else
        if (s_key_is (key, "mode")) {
            bit = K_MODE;
            char mode [32];
            rc = s_get_str (value, "mode", mode, sizeof (mode), false);
            if (!rc && !streq (mode, "lossless"))
                rc = sstream_error_set (SSTREAM_EINVAL,
                    "delivery mode '%s' is not supported (this side supports lossless)", mode);
        }
        //  Other keys: from a later version; ignored by design
        if (rc)
            return rc;
        if (bit & *seen)
            return s_malformed ("key '%.*s' appears twice",
                                (int) key->via.str.size, key->via.str.ptr);
        *seen |= bit;
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
sstream_wire_decode (sstream_wire_t *self, const void *data, size_t size, bool want_meta)
{
    assert (self);
    memset (self, 0, sizeof (sstream_wire_t));
    if (!data || size == 0)
        return s_malformed ("empty header frame");
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

    unsigned seen = 0;
    if (!rc)
        rc = s_decode_map (self, &unpacked.data, want_meta, &seen);
    msgpack_unpacked_destroy (&unpacked);
    if (rc) {
        sstream_wire_reset (self);
        return rc;
    }
    if (!(seen & K_V))
        rc = s_malformed ("no protocol version 'v'");
    else
    if (!(seen & K_T))
        rc = s_malformed ("no message type 't'");
    else {
        unsigned required = 0;
        switch (self->type) {
            case SSTREAM_WIRE_HELLO:    required = K_ROLE | K_NAME | K_SESSION; break;
            case SSTREAM_WIRE_WELCOME:  required = K_NAME; break;
            case SSTREAM_WIRE_OPEN:     required = K_STREAM | K_ROLE; break;
            case SSTREAM_WIRE_ACCEPTED: required = K_STREAM | K_WINDOW; break;
            case SSTREAM_WIRE_DATA:     required = K_STREAM | K_SEQ | K_LEN; break;
            case SSTREAM_WIRE_CREDIT:   required = K_STREAM | K_BYTES; break;
            case SSTREAM_WIRE_END:
            case SSTREAM_WIRE_END_ACK:  required = K_STREAM | K_SEQ | K_BYTES; break;
            case SSTREAM_WIRE_ERROR:    required = K_CODE | K_TEXT; break;
            case SSTREAM_WIRE_PING:     required = 0; break;
        }
        static const struct { unsigned bit; const char *name; } s_keys [] = {
            { K_STREAM, "stream" }, { K_SEQ, "seq" }, { K_LEN, "len" },
            { K_BYTES, "bytes" }, { K_WINDOW, "window" }, { K_ROLE, "role" },
            { K_CODE, "code" }, { K_TEXT, "text" }, { K_NAME, "name" },
            { K_SESSION, "session" }
        };
        size_t index;
        for (index = 0; index < sizeof (s_keys) / sizeof (s_keys [0]); index++)
            if ((required & s_keys [index].bit) && !(seen & s_keys [index].bit)) {
                rc = s_malformed ("%s message without '%s'",
                                  s_type_names [self->type], s_keys [index].name);
                break;
            }
    }
    if (!rc && (self->window > SSTREAM_WIRE_WINDOW_MAX
             || (self->type == SSTREAM_WIRE_CREDIT && self->bytes > SSTREAM_WIRE_WINDOW_MAX)))
        rc = s_malformed ("window or credit over the limit of %llu bytes", SSTREAM_WIRE_WINDOW_MAX);
    if (!rc && self->type == SSTREAM_WIRE_OPEN) {
        if (self->role != SSTREAM_ROLE_PRODUCE && self->role != SSTREAM_ROLE_CONSUME)
            rc = s_malformed ("open with role '%s'", s_role_names [self->role]);
        else
        if (self->role == SSTREAM_ROLE_CONSUME && self->window == 0)
            rc = s_malformed ("open to consume without a 'window'");
    }
    if (!rc && self->type == SSTREAM_WIRE_HELLO && self->role != SSTREAM_ROLE_GATEWAY)
        rc = s_malformed ("hello with role '%s'", s_role_names [self->role]);
    if (!rc && self->type == SSTREAM_WIRE_DATA && self->flags)
        rc = sstream_error_set (SSTREAM_EPROTO,
            "data message with flags 0x%" PRIx64 ", which this version does not support",
            self->flags);
    if (rc)
        sstream_wire_reset (self);
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
