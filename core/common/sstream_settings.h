/*  =========================================================================
    sstream_settings - checking a config against what a component knows,
    and typed reads of its values (private to libsstream)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#ifndef SSTREAM_SETTINGS_H_INCLUDED
#define SSTREAM_SETTINGS_H_INCLUDED

typedef enum {
    SSTREAM_SETTING_TEXT,       //  any string
    SSTREAM_SETTING_PATH,       //  a file or folder, relative to the file
    SSTREAM_SETTING_SIZE,       //  sstream_parse_size
    SSTREAM_SETTING_DURATION,   //  sstream_parse_duration
    SSTREAM_SETTING_COUNT,      //  a whole number
    SSTREAM_SETTING_CHOICE,     //  one of the words in choices
    SSTREAM_SETTING_PASS,       //  "section/*": any subsection, checked by
                                //  whoever it is passed to (plugins)
    SSTREAM_SETTING_REPEATED    //  a section that may appear more than once
} sstream_setting_kind_t;

typedef struct {
    const char *path;           //  "gateway/buffer", or "local/*" for PASS
    sstream_setting_kind_t kind;
    const char *choices;        //  for CHOICE: "curve|none"
} sstream_setting_t;

//  Parse ZPL text with zconfig without letting it print; NULL if invalid,
//  with zconfig's complaint in message.
zconfig_t *
    sstream_config_parse (const char *text, char *message, size_t message_size);

//  Check every section and value in self against schema (ended by an
//  entry with a NULL path): unknown keys, repeated keys, and values of the
//  wrong kind are SSTREAM_ECONFIG errors naming file and line.
int
    sstream_config_check (sstream_config_t *self, const sstream_setting_t *schema);

//  The zconfig tree inside, for walking repeated sections.
zconfig_t *
    sstream_config_root (sstream_config_t *self);

//  A path value as a file path: relative to the config file's folder.
//  Caller frees.
char *
    sstream_config_resolve (sstream_config_t *self, const char *value);

//  The file the config was loaded from, or NULL.
const char *
    sstream_config_filename (sstream_config_t *self);

//  Where a node was set, for messages (see sstream_config_where).
const char *
    sstream_config_where_node (sstream_config_t *self, zconfig_t *node, const char *path);

//  Where a path was set, for messages: "FILE:LINE" for a loaded value,
//  its origin for one set with one, "option 'PATH'" for one set in code. The string is valid until the
//  next call in this thread.
const char *
    sstream_config_where (sstream_config_t *self, const char *path);

//  The code for a bad value at path: SSTREAM_EINVAL for one set with an
//  origin (sstream_config_set_from: a command line's), SSTREAM_ECONFIG
//  otherwise.
int
    sstream_config_fault (sstream_config_t *self, const char *path);

//  True when the path is present.
bool
    sstream_config_has (sstream_config_t *self, const char *path);

//  Typed reads; each returns SSTREAM_OK with the default when the path is
//  absent, or SSTREAM_ECONFIG naming the place when the value is bad.
int
    sstream_config_size (sstream_config_t *self, const char *path,
                         uint64_t default_value, uint64_t *value);
int
    sstream_config_duration (sstream_config_t *self, const char *path,
                             int64_t default_value, int64_t *value);
int
    sstream_config_count (sstream_config_t *self, const char *path,
                          uint64_t default_value, uint64_t *value);

//  A path value resolved against the config file's folder; *value is NULL
//  when absent. Caller frees.
int
    sstream_config_path (sstream_config_t *self, const char *path, char **value);

//  Fail if section has a subsection not named transport (options meant for
//  another transport, or a typo).
int
    sstream_config_check_transport (sstream_config_t *self, const char *section,
                                    const char *transport);

//  The key/value pairs of a section, as key, value, ..., NULL, for a
//  transport plugin. Caller frees the array with free (); the strings
//  belong to the config.
const char **
    sstream_config_section_pairs (sstream_config_t *self, const char *path);

#endif
