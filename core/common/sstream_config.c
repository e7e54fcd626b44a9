/*  =========================================================================
    sstream_config - settings for gateways, producers and consumers

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A thin layer over CZMQ's zconfig that remembers where each value came
    from, so that every complaint about a config names a file and a line.
    zconfig itself parses; we only map its nodes back to lines.
*/

#include "sstream_common.h"


struct _sstream_config_t {
    zconfig_t *root;            //  The tree
    char *filename;             //  File it was loaded from, if any
    char *folder;               //  That file's folder, for relative paths
    zhashx_t *lines;            //  "%p" of a loaded node -> its line number
    zhashx_t *origins;          //  "%p" of a node set from elsewhere (a
                                //  command line) -> that place, as "--window"
};

//  The key of a node in lines and origins
#define S_NODE_KEY(key, node) snprintf (key, sizeof (key), "%p", (void *) (node))

//  A node's value; sections made by zconfig_put have none.
static const char *
s_value (zconfig_t *node)
{
    const char *value = zconfig_value (node);
    return value? value: "";
}

int
sstream_config_new (sstream_config_t **self_p)
{
    if (!self_p)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_config_new: no handle pointer");
    sstream_library_init ();
    sstream_config_t *self = (sstream_config_t *) zmalloc (sizeof (sstream_config_t));
    if (self)
        self->root = zconfig_new ("root", NULL);
    if (self)
        self->lines = zhashx_new ();
    if (self)
        self->origins = zhashx_new ();
    if (self && self->origins) {
        zhashx_set_duplicator (self->origins, (zhashx_duplicator_fn *) strdup);
        zhashx_set_destructor (self->origins, (zhashx_destructor_fn *) zstr_free);
    }
    if (!self || !self->root || !self->lines || !self->origins) {
        sstream_config_destroy (&self);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory creating a config");
    }
    *self_p = self;
    return SSTREAM_OK;
}

void
sstream_config_destroy (sstream_config_t **self_p)
{
    if (self_p && *self_p) {
        sstream_config_t *self = *self_p;
        zconfig_destroy (&self->root);
        zhashx_destroy (&self->lines);
        zhashx_destroy (&self->origins);
        zstr_free (&self->filename);
        zstr_free (&self->folder);
        free (self);
        *self_p = NULL;
    }
}

//  zconfig reports a syntax error by printing it on stdout, which a library
//  must not do (stdout may carry a stream, or belong to the application).
//  So text goes to zconfig only once it passes the same rules zconfig
//  applies (czmq src/zconfig.c, ZPL as in ZeroMQ RFC 4); this check builds
//  nothing, zconfig still does the parsing.

static bool
s_is_namechar (char c)
{
    return c && (isalnum ((unsigned char) c) || strchr ("$-_@.&+/", c));
}

//  Rest of a line after a name or value: blanks, then nothing or a comment.
static bool
s_is_end_of_line (const char *reader)
{
    while (isspace ((unsigned char) *reader))
        reader++;
    return *reader == 0 || *reader == '#';
}

static bool
s_zpl_check (const char *text, int *bad_line, char *reason, size_t reason_size)
{
    int lineno = 0;
    int chain = 0;              //  Depth of the newest item's chain
    const char *reader = text;
    while (*reader) {
        const char *eoln = strchr (reader, '\n');
        size_t length = eoln? (size_t) (eoln - reader): strlen (reader);
        char line [1025];
        size_t kept = length > 1024? 1024: length;   //  zconfig reads 1024
        memcpy (line, reader, kept);
        line [kept] = 0;
        while (kept && isspace ((unsigned char) line [kept - 1]))
            line [--kept] = 0;
        reader = eoln? eoln + 1: reader + length;
        lineno++;
        *bad_line = lineno;
        const char *scan = line;
        while (*scan == ' ')
            scan++;
        size_t indent = (size_t) (scan - line);
        if (indent % 4) {
            snprintf (reason, reason_size, "indent 4 spaces at once");
            return false;
        }
        int level = (int) (indent / 4);
        const char *name = scan;
        while (s_is_namechar (*scan))
            scan++;
        size_t name_length = (size_t) (scan - name);
        if (name_length == 0) {
            if (!s_is_end_of_line (scan)) {
                snprintf (reason, reason_size, "invalid syntax '%.60s'", scan);
                return false;
            }
            continue;
        }
        if (name [0] == '/' || name [name_length - 1] == '/') {
            snprintf (reason, reason_size, "'/' not valid at name start or end");
            return false;
        }
        while (isspace ((unsigned char) *scan))
            scan++;
        if (*scan == '=') {
            scan++;
            while (isspace ((unsigned char) *scan))
                scan++;
            if (*scan == '"' || *scan == '\'') {
                const char *close = strchr (scan + 1, *scan);
                if (!close) {
                    snprintf (reason, reason_size, "missing %c", *scan);
                    return false;
                }
                if (!s_is_end_of_line (close + 1)) {
                    snprintf (reason, reason_size, "invalid syntax '%.60s'", close + 1);
                    return false;
                }
            }
        }
        else
        if (!s_is_end_of_line (scan)) {
            snprintf (reason, reason_size, "invalid syntax '%.60s'", scan);
            return false;
        }
        if (level > chain) {
            snprintf (reason, reason_size, "indentation error");
            return false;
        }
        chain = level + 1;
    }
    return true;
}

zconfig_t *
sstream_config_parse (const char *text, char *message, size_t message_size)
{
    int line = 0;
    char reason [128];
    if (!s_zpl_check (text, &line, reason, sizeof (reason))) {
        snprintf (message, message_size, "%d: %s", line, reason);
        return NULL;
    }
    message [0] = 0;
    return zconfig_str_load (text);
}

//  True if zconfig would take this line as naming an item (see zconfig.c:
//  after the indent, a name starts with one of these characters).

static bool
s_line_names_item (const char *line, size_t length)
{
    size_t index = 0;
    while (index < length && line [index] == ' ')
        index++;
    if (index == length)
        return false;
    return s_is_namechar (line [index]);
}

//  Walk the tree in file order (zconfig makes one node per such line, in
//  order), pairing each node with its line.

static void
s_map_lines (sstream_config_t *self, zconfig_t *node,
             const int *lines, size_t nlines, size_t *cursor)
{
    zconfig_t *child;
    for (child = zconfig_child (node); child; child = zconfig_next (child)) {
        char key [32];
        snprintf (key, sizeof (key), "%p", (void *) child);
        if (*cursor < nlines)
            zhashx_insert (self->lines, key, (void *) (intptr_t) lines [*cursor]);
        (*cursor)++;
        s_map_lines (self, child, lines, nlines, cursor);
    }
}

//  The line a node was loaded from, 0 for one set since
static int
s_node_line (sstream_config_t *self, zconfig_t *node)
{
    if (!node || !self->filename)
        return 0;
    char key [32];
    S_NODE_KEY (key, node);
    return (int) (intptr_t) zhashx_lookup (self->lines, key);
}

//  Where a node's value was given, for those set with an origin
static const char *
s_node_origin (sstream_config_t *self, zconfig_t *node)
{
    if (!node)
        return NULL;
    char key [32];
    S_NODE_KEY (key, node);
    return (const char *) zhashx_lookup (self->origins, key);
}

//  "FILE:LINE: PATH" for a loaded node, its origin ("--window") for one set
//  with one, "option 'PATH'" for one set in code, "FILE: PATH" for none.

static const char *
s_where_node (sstream_config_t *self, zconfig_t *node, const char *path)
{
    static __thread char where [512];
    int line = s_node_line (self, node);
    const char *origin = s_node_origin (self, node);
    if (origin)
        snprintf (where, sizeof (where), "%s", origin);
    else
    if (line > 0)
        snprintf (where, sizeof (where), "%s:%d: %s", self->filename, line, path);
    else
    if (self->filename && !node)
        snprintf (where, sizeof (where), "%s: %s", self->filename, path);
    else
        snprintf (where, sizeof (where), "option '%s'", path);
    return where;
}

//  What a bad value is: a bad argument when it was given with an origin
//  (a command line's), else bad configuration
static int
s_fault_code (sstream_config_t *self, zconfig_t *node)
{
    return s_node_origin (self, node)? SSTREAM_EINVAL: SSTREAM_ECONFIG;
}

int
sstream_config_load (sstream_config_t **self_p, const char *filename)
{
    if (!self_p || !filename)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_config_load: no file name");
    *self_p = NULL;
    FILE *file = fopen (filename, "rb");
    if (!file)
        return sstream_error_set (SSTREAM_ECONFIG, "cannot open config file %s: %s",
                                  filename, strerror (errno));
    struct stat stat_buf;
    if (fstat (fileno (file), &stat_buf) == 0 && S_ISDIR (stat_buf.st_mode)) {
        fclose (file);
        return sstream_error_set (SSTREAM_ECONFIG, "config file %s is a folder", filename);
    }
    size_t capacity = 4096, size = 0;
    char *text = (char *) malloc (capacity);
    while (text) {
        size_t got = fread (text + size, 1, capacity - size - 1, file);
        size += got;
        if (got == 0)
            break;
        if (size + 1 == capacity) {
            if (capacity >= 1024 * 1024) {
                free (text);
                fclose (file);
                return sstream_error_set (SSTREAM_ECONFIG,
                    "config file %s is larger than 1 MiB", filename);
            }
            char *larger = (char *) realloc (text, capacity * 2);
            if (!larger) {
                free (text);
                text = NULL;
            }
            else {
                text = larger;
                capacity *= 2;
            }
        }
    }
    bool read_failed = ferror (file);
    fclose (file);
    if (!text)
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory reading %s", filename);
    if (read_failed) {
        free (text);
        return sstream_error_set (SSTREAM_ECONFIG, "cannot read config file %s", filename);
    }
    text [size] = 0;
    if (strlen (text) != size) {
        free (text);
        return sstream_error_set (SSTREAM_ECONFIG,
            "config file %s has a NUL byte: is it a text file?", filename);
    }

    char complaint [512];
    zconfig_t *root = sstream_config_parse (text, complaint, sizeof (complaint));
    if (!root) {
        free (text);
        if (*complaint)         //  "LINE: reason"
            return sstream_error_set (SSTREAM_ECONFIG, "%s:%s", filename, complaint);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory parsing %s", filename);
    }

    //  Line numbers of the lines that name an item, in file order
    size_t nlines = 0, allocated = 64;
    int *lines = (int *) malloc (allocated * sizeof (int));
    const char *reader = text;
    int lineno = 0;
    while (lines && *reader) {
        const char *eoln = strchr (reader, '\n');
        size_t length = eoln? (size_t) (eoln - reader): strlen (reader);
        lineno++;
        if (s_line_names_item (reader, length)) {
            if (nlines == allocated) {
                allocated *= 2;
                int *larger = (int *) realloc (lines, allocated * sizeof (int));
                if (!larger) {
                    free (lines);
                    lines = NULL;
                    break;
                }
                lines = larger;
            }
            lines [nlines++] = lineno;
        }
        reader = eoln? eoln + 1: reader + length;
    }
    free (text);

    sstream_config_t *self;
    int rc = sstream_config_new (&self);
    if (rc || !lines) {
        free (lines);
        zconfig_destroy (&root);
        sstream_config_destroy (&self);
        return rc? rc: sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    zconfig_destroy (&self->root);
    self->root = root;
    self->filename = strdup (filename);
    char *folder = strdup (filename);
    char *slash = strrchr (folder, '/');
    if (slash) {
        *(slash == folder? slash + 1: slash) = 0;
        self->folder = folder;
    }
    else {
        free (folder);
        self->folder = strdup (".");
    }
    size_t cursor = 0;
    s_map_lines (self, self->root, lines, nlines, &cursor);
    free (lines);
    *self_p = self;
    return SSTREAM_OK;
}

static bool
s_path_is_valid (const char *path)
{
    if (!path || !*path || *path == '/' || path [strlen (path) - 1] == '/'
    ||  strstr (path, "//"))
        return false;
    const char *reader;
    for (reader = path; *reader; reader++)
        if (!(isalnum ((unsigned char) *reader) || strchr ("$-_@.&+/", *reader)))
            return false;
    return true;
}

int
sstream_config_set (sstream_config_t *self, const char *path, const char *value)
{
    if (!self)
        return sstream_error_set (SSTREAM_EINVAL, "sstream_config_set: no config");
    if (!s_path_is_valid (path))
        return sstream_error_set (SSTREAM_EINVAL,
            "'%s' is not a config path (like 'gateway/buffer')", path? path: "(null)");
    if (!value)
        return sstream_error_set (SSTREAM_EINVAL, "no value for config path '%s'", path);
    zconfig_t *item = zconfig_locate (self->root, path);
    if (item) {
        //  No longer the value that was on that line, or given there
        char key [32];
        S_NODE_KEY (key, item);
        zhashx_delete (self->lines, key);
        zhashx_delete (self->origins, key);
    }
    zconfig_put (self->root, path, value);
    return SSTREAM_OK;
}

int
sstream_config_set_from (sstream_config_t *self, const char *path, const char *value,
                         const char *origin)
{
    int rc = sstream_config_set (self, path, value);
    if (rc || !origin)
        return rc;
    char key [32];
    S_NODE_KEY (key, zconfig_locate (self->root, path));
    zhashx_update (self->origins, key, (void *) origin);
    return SSTREAM_OK;
}

const char *
sstream_config_get (sstream_config_t *self, const char *path, const char *default_value)
{
    if (!self || !s_path_is_valid (path))
        return default_value;
    zconfig_t *item = zconfig_locate (self->root, path);
    return item? s_value (item): default_value;
}

bool
sstream_config_has (sstream_config_t *self, const char *path)
{
    return self && s_path_is_valid (path) && zconfig_locate (self->root, path) != NULL;
}

zconfig_t *
sstream_config_root (sstream_config_t *self)
{
    assert (self);
    return self->root;
}

const char *
sstream_config_filename (sstream_config_t *self)
{
    assert (self);
    return self->filename;
}

char *
sstream_config_resolve (sstream_config_t *self, const char *value)
{
    if (!value)
        return NULL;
    if (*value == '/' || !self->folder)
        return strdup (value);
    return zsys_sprintf ("%s/%s", self->folder, value);
}

const char *
sstream_config_where_node (sstream_config_t *self, zconfig_t *node, const char *path)
{
    return s_where_node (self, node, path);
}

const char *
sstream_config_where (sstream_config_t *self, const char *path)
{
    assert (self);
    zconfig_t *item = s_path_is_valid (path)? zconfig_locate (self->root, path): NULL;
    return s_where_node (self, item, path);
}

int
sstream_config_fault (sstream_config_t *self, const char *path)
{
    assert (self);
    return s_fault_code (self, s_path_is_valid (path)? zconfig_locate (self->root, path): NULL);
}


//  --------------------------------------------------------------------------
//  Checking against a schema

//  The schema entry for path; *is_section when path is a section the
//  schema knows. A PASS entry "local/*" matches the section "local", and
//  its direct subsections (has_children), never its plain keys.

static const sstream_setting_t *
s_schema_find (const sstream_setting_t *schema, const char *path, bool has_children,
               bool *is_section)
{
    *is_section = false;
    size_t length = strlen (path);
    const sstream_setting_t *entry;
    for (entry = schema; entry->path; entry++) {
        if (entry->kind == SSTREAM_SETTING_REPEATED)
            continue;           //  A mark on a section, found by its keys
        if (entry->kind == SSTREAM_SETTING_PASS) {
            size_t prefix = strlen (entry->path) - 1;           //  "local/"
            if (length > prefix && strncmp (path, entry->path, prefix) == 0
            &&  !strchr (path + prefix, '/') && has_children)
                return entry;
            if (length == prefix - 1 && strncmp (path, entry->path, length) == 0) {
                *is_section = true;
                return entry;
            }
            continue;
        }
        if (streq (entry->path, path))
            return entry;
        if (strncmp (entry->path, path, length) == 0 && entry->path [length] == '/') {
            *is_section = true;
            return entry;
        }
    }
    return NULL;
}

static int
s_check_value (sstream_config_t *self, const sstream_setting_t *entry,
               zconfig_t *node, const char *path, const char *value)
{
    int rc = SSTREAM_OK;
    switch (entry->kind) {
        case SSTREAM_SETTING_SIZE: {
            uint64_t size;
            rc = sstream_parse_size (value, &size);
            break;
        }
        case SSTREAM_SETTING_DURATION: {
            int64_t msecs;
            rc = sstream_parse_duration (value, &msecs);
            break;
        }
        case SSTREAM_SETTING_COUNT: {
            char *end;
            errno = 0;
            if (!isdigit ((unsigned char) *value)
            ||  (strtoull (value, &end, 10), errno) || *end)
                rc = sstream_error_set (SSTREAM_EINVAL, "'%s' is not a whole number", value);
            break;
        }
        case SSTREAM_SETTING_CHOICE: {
            size_t length = strlen (value);
            const char *choice = entry->choices;
            bool found = false;
            while (choice && *choice && !found) {
                const char *bar = strchr (choice, '|');
                size_t choice_length = bar? (size_t) (bar - choice): strlen (choice);
                if (length && choice_length == length && strncmp (choice, value, length) == 0)
                    found = true;
                choice = bar? bar + 1: NULL;
            }
            if (!found)
                rc = sstream_error_set (SSTREAM_EINVAL, "'%s' is not one of %s",
                                        value, entry->choices);
            break;
        }
        case SSTREAM_SETTING_TEXT:
        case SSTREAM_SETTING_PATH:
            if (!*value)
                rc = sstream_error_set (SSTREAM_EINVAL, "no value given");
            break;
        case SSTREAM_SETTING_PASS:
        case SSTREAM_SETTING_REPEATED:
            break;
    }
    if (rc) {
        char detail [1024];
        snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
        return sstream_error_set (s_fault_code (self, node), "%s: %s",
                                  s_where_node (self, node, path), detail);
    }
    return SSTREAM_OK;
}

static int
s_check_node (sstream_config_t *self, zconfig_t *node, const char *prefix,
              const sstream_setting_t *schema)
{
    zconfig_t *child;
    for (child = zconfig_child (node); child; child = zconfig_next (child)) {
        const char *name = zconfig_name (child);
        char path [512];
        snprintf (path, sizeof (path), "%s%s%s", prefix, *prefix? "/": "", name);

        bool repeatable = false;
        const sstream_setting_t *entry_for;
        for (entry_for = schema; entry_for->path; entry_for++)
            if (entry_for->kind == SSTREAM_SETTING_REPEATED && streq (entry_for->path, path))
                repeatable = true;
        zconfig_t *sibling;
        for (sibling = zconfig_child (node); sibling != child && !repeatable;
             sibling = zconfig_next (sibling))
            if (streq (zconfig_name (sibling), name)) {
                //  The first occurrence has the recorded line; name the path
                return sstream_error_set (SSTREAM_ECONFIG,
                    "%s: '%s' is given twice", s_where_node (self, child, path), name);
            }

        bool is_section;
        const sstream_setting_t *entry = s_schema_find (schema, path,
                                                        zconfig_child (child) != NULL,
                                                        &is_section);
        if (!entry) {
            if (*prefix)
                return sstream_error_set (SSTREAM_ECONFIG,
                    "%s: unknown key '%s' in section '%s'",
                    s_where_node (self, child, path), name, prefix);
            return sstream_error_set (SSTREAM_ECONFIG, "%s: unknown section '%s'",
                                      s_where_node (self, child, path), name);
        }
        if (entry->kind == SSTREAM_SETTING_PASS && !is_section)
            continue;           //  Checked by whoever it is passed to
        if (is_section) {
            if (*s_value (child))
                return sstream_error_set (SSTREAM_ECONFIG,
                    "%s: '%s' is a section and takes no value",
                    s_where_node (self, child, path), name);
            int rc = s_check_node (self, child, path, schema);
            if (rc)
                return rc;
        }
        else {
            if (zconfig_child (child))
                return sstream_error_set (SSTREAM_ECONFIG,
                    "%s: '%s' is a value, not a section",
                    s_where_node (self, child, path), name);
            int rc = s_check_value (self, entry, child, path, s_value (child));
            if (rc)
                return rc;
        }
    }
    return SSTREAM_OK;
}

int
sstream_config_check (sstream_config_t *self, const sstream_setting_t *schema)
{
    assert (self && schema);
    return s_check_node (self, self->root, "", schema);
}


//  --------------------------------------------------------------------------
//  Typed reads

static int
s_read_error (sstream_config_t *self, const char *path)
{
    char detail [1024];
    snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
    return sstream_error_set (sstream_config_fault (self, path), "%s: %s",
                              sstream_config_where (self, path), detail);
}

int
sstream_config_size (sstream_config_t *self, const char *path,
                     uint64_t default_value, uint64_t *value)
{
    const char *text = sstream_config_get (self, path, NULL);
    *value = default_value;
    if (text && sstream_parse_size (text, value))
        return s_read_error (self, path);
    return SSTREAM_OK;
}

int
sstream_config_duration (sstream_config_t *self, const char *path,
                         int64_t default_value, int64_t *value)
{
    const char *text = sstream_config_get (self, path, NULL);
    *value = default_value;
    if (text && sstream_parse_duration (text, value))
        return s_read_error (self, path);
    return SSTREAM_OK;
}

int
sstream_config_count (sstream_config_t *self, const char *path,
                      uint64_t default_value, uint64_t *value)
{
    const char *text = sstream_config_get (self, path, NULL);
    *value = default_value;
    if (text) {
        char *end;
        errno = 0;
        unsigned long long number = strtoull (text, &end, 10);
        if (!isdigit ((unsigned char) *text) || errno || *end) {
            sstream_error_set (SSTREAM_EINVAL, "'%s' is not a whole number", text);
            return s_read_error (self, path);
        }
        *value = number;
    }
    return SSTREAM_OK;
}

int
sstream_config_path (sstream_config_t *self, const char *path, char **value)
{
    const char *text = sstream_config_get (self, path, NULL);
    *value = NULL;
    if (!text || !*text)
        return SSTREAM_OK;
    //  Relative to the file's folder if it came from the file; to the
    //  current folder if it was set (as on a command line)
    if (*text == '/' || !self->folder
    ||  s_node_line (self, zconfig_locate (self->root, path)) == 0)
        *value = strdup (text);
    else
        *value = zsys_sprintf ("%s/%s", self->folder, text);
    return *value? SSTREAM_OK: sstream_error_set (SSTREAM_ENOMEM, "out of memory");
}

int
sstream_config_check_transport (sstream_config_t *self, const char *section,
                                const char *transport)
{
    zconfig_t *node = zconfig_locate (self->root, section);
    zconfig_t *child;
    for (child = node? zconfig_child (node): NULL; child; child = zconfig_next (child))
        if (zconfig_child (child) && !streq (zconfig_name (child), transport)) {
            char path [256];
            snprintf (path, sizeof (path), "%s/%s", section, zconfig_name (child));
            return sstream_error_set (SSTREAM_ECONFIG,
                "%s: options for transport '%s', but this link uses '%s'",
                s_where_node (self, child, path), zconfig_name (child), transport);
        }
    return SSTREAM_OK;
}

const char **
sstream_config_section_pairs (sstream_config_t *self, const char *path)
{
    zconfig_t *section = self? zconfig_locate (self->root, path): NULL;
    size_t count = 0;
    zconfig_t *child;
    for (child = section? zconfig_child (section): NULL; child; child = zconfig_next (child))
        count++;
    const char **pairs = (const char **) calloc (2 * count + 1, sizeof (char *));
    if (!pairs)
        return NULL;
    size_t index = 0;
    for (child = section? zconfig_child (section): NULL; child; child = zconfig_next (child)) {
        pairs [index++] = zconfig_name (child);
        pairs [index++] = s_value (child);
    }
    return pairs;
}
