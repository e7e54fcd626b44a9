/*  =========================================================================
    sstream_config - settings for gateways, producers and consumers

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A config is a tree of named values, read from a ZPL file (ZeroMQ RFC 4,
    parsed by CZMQ's zconfig) or built with sstream_config_set. Paths name
    a value by its sections: "gateway/buffer", "local/endpoint".

    Relative file paths inside a loaded file are taken relative to the
    file's own folder; relative paths set with sstream_config_set are taken
    relative to the current directory.

    Whoever uses a config checks it against what they know: an unknown
    section or key, or a value of the wrong kind, is an SSTREAM_ECONFIG
    error naming the file and line (or the path, for values that were set).
*/

#ifndef SSTREAM_CONFIG_H_INCLUDED
#define SSTREAM_CONFIG_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _sstream_config_t sstream_config_t;

//  Create an empty config.
SSTREAM_EXPORT int
    sstream_config_new (sstream_config_t **self_p);

//  Load a config from a ZPL file. A syntax error is reported with the file
//  name and line.
SSTREAM_EXPORT int
    sstream_config_load (sstream_config_t **self_p, const char *filename);

//  Set a value, creating sections as needed; replaces an existing value.
SSTREAM_EXPORT int
    sstream_config_set (sstream_config_t *self, const char *path,
                        const char *value);

//  Set a value given outside any file, as by a command-line flag: every
//  complaint about it names origin (e.g. "--window") instead of a file and
//  line, and is SSTREAM_EINVAL (a bad argument) instead of SSTREAM_ECONFIG.
//  origin is copied; NULL makes this sstream_config_set.
SSTREAM_EXPORT int
    sstream_config_set_from (sstream_config_t *self, const char *path,
                             const char *value, const char *origin);

//  Value at path, or default_value when there is none.
SSTREAM_EXPORT const char *
    sstream_config_get (sstream_config_t *self, const char *path,
                        const char *default_value);

//  Destroy a config; idempotent, sets *self_p to NULL.
SSTREAM_EXPORT void
    sstream_config_destroy (sstream_config_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
