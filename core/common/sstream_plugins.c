/*  =========================================================================
    sstream_plugins - finding and loading transport plugins

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Plugins stay loaded until the process ends: sockets configured by them
    may outlive any one user, and a plugin is a few kilobytes.

    Callers get the loader's own copy of a plugin's table, never the
    plugin's: an ABI 1 table ends before the bulk operations, so reading
    them from it would read past its end. In the copy, the bulk operations
    of a plugin without SSTREAM_TRANSPORT_BULK are NULL, whatever its
    table held, so a caller may test either the flag or the operation.
*/

#define _GNU_SOURCE             //  dladdr
#include "sstream_common.h"

#include <dlfcn.h>
#include <pthread.h>

#ifndef SSTREAM_PLUGIN_INSTALL_DIR
#   error "SSTREAM_PLUGIN_INSTALL_DIR must be defined by the build"
#endif
#ifndef SSTREAM_PLUGIN_BUILD_DIR
#   error "SSTREAM_PLUGIN_BUILD_DIR must be defined by the build"
#endif
#ifndef SSTREAM_BUILD_ROOT
#   error "SSTREAM_BUILD_ROOT must be defined by the build"
#endif

#define PLUGIN_MAX 16
#define NAME_MAX_LENGTH 32

//  The flags this libsstream knows
#define KNOWN_FLAGS SSTREAM_TRANSPORT_BULK

typedef struct {
    char name [NAME_MAX_LENGTH + 1];
    void *handle;
    sstream_transport_t transport;      //  A copy of the plugin's table
} s_plugin_t;

static s_plugin_t s_plugins [PLUGIN_MAX];
static size_t s_plugin_count;
static pthread_mutex_t s_plugins_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
s_name_is_valid (const char *name)
{
    size_t length = strlen (name);
    if (length == 0 || length > NAME_MAX_LENGTH)
        return false;
    const char *reader;
    for (reader = name; *reader; reader++)
        if (!(islower ((unsigned char) *reader) || isdigit ((unsigned char) *reader)
           || *reader == '_' || *reader == '-'))
            return false;
    return true;
}

//  The build tree's plugins are for a library running from the build tree
//  (tests, the quick start), never for an installed one: a build folder may
//  be gone, or someone else's, by the time an installed library runs.

static bool
s_running_from_build_tree (void)
{
    Dl_info info;
    if (!dladdr ((void *) s_running_from_build_tree, &info) || !info.dli_fname)
        return false;
    //  Linked into a program (the white-box tests), dladdr gives argv [0],
    //  which need not be a path at all
    const char *file = strchr (info.dli_fname, '/')? info.dli_fname: "/proc/self/exe";
    char *real = realpath (file, NULL);
    if (!real)
        return false;
    size_t length = strlen (SSTREAM_BUILD_ROOT);
    bool inside = strncmp (real, SSTREAM_BUILD_ROOT, length) == 0 && real [length] == '/';
    free (real);
    return inside;
}

//  A plugin runs inside the gateway: refuse one that somebody other than
//  root or us could have changed.

static int
s_check_ownership (const char *path)
{
    struct stat stat_buf;
    if (stat (path, &stat_buf) != 0)
        return sstream_error_set (SSTREAM_EPLUGIN, "transport plugin %s: %s", path, strerror (errno));
    if (stat_buf.st_uid != 0 && stat_buf.st_uid != geteuid ())
        return sstream_error_set (SSTREAM_EPLUGIN,
            "transport plugin %s belongs to another user (uid %u): refusing to load it",
            path, (unsigned) stat_buf.st_uid);
    if (stat_buf.st_mode & (S_IWGRP | S_IWOTH))
        return sstream_error_set (SSTREAM_EPLUGIN,
            "transport plugin %s can be changed by group or others: refusing to load it "
            "(chmod go-w %s)", path, path);
    return SSTREAM_OK;
}

//  Whether a plugin's table is one this libsstream can use, and how much
//  of it there is to read: 0, or an error naming the file.

static int
s_check_table (const char *path, const char *name, const sstream_transport_t *transport,
               size_t *table_size)
{
    if (!transport)
        return sstream_error_set (SSTREAM_EPLUGIN, "transport plugin %s returned no table", path);
    if (transport->abi_version == 1)
        *table_size = SSTREAM_TRANSPORT_ABI1_SIZE;
    else
    if (transport->abi_version == SSTREAM_TRANSPORT_ABI_VERSION)
        *table_size = sizeof (sstream_transport_t);
    else
        return sstream_error_set (SSTREAM_EPLUGIN,
            "transport plugin %s was built for transport ABI %u; this libsstream %s speaks ABI 1 to %d: rebuild the plugin",
            path, transport->abi_version, sstream_version (), SSTREAM_TRANSPORT_ABI_VERSION);
    if (transport->size < *table_size)
        return sstream_error_set (SSTREAM_EPLUGIN,
            "transport plugin %s has a table of %u bytes, smaller than ABI %u's %zu",
            path, transport->size, transport->abi_version, *table_size);
    if (!transport->name || !streq (transport->name, name))
        return sstream_error_set (SSTREAM_EPLUGIN,
            "transport plugin %s calls itself '%s', not '%s'",
            path, transport->name? transport->name: "(null)", name);
    if (transport->flags & ~KNOWN_FLAGS)
        return sstream_error_set (SSTREAM_EPLUGIN,
            "transport plugin %s needs features (flags 0x%x) that this libsstream lacks",
            path, transport->flags & ~KNOWN_FLAGS);
    if (!transport->schemes || !transport->check || !transport->configure || !transport->bound)
        return sstream_error_set (SSTREAM_EPLUGIN,
            "transport plugin %s leaves required operations empty", path);
    if (!(transport->flags & SSTREAM_TRANSPORT_BULK))
        return SSTREAM_OK;
    if (transport->abi_version == 1)
        return sstream_error_set (SSTREAM_EPLUGIN,
            "transport plugin %s claims the bulk path, but its ABI 1 table has no bulk operations",
            path);
    const char *missing = !transport->bulk_listen? "bulk_listen"
                        : !transport->bulk_accept? "bulk_accept"
                        : !transport->bulk_connect? "bulk_connect"
                        : !transport->bulk_poll? "bulk_poll"
                        : !transport->bulk_send? "bulk_send"
                        : !transport->bulk_recv? "bulk_recv"
                        : !transport->bulk_progress? "bulk_progress"
                        : !transport->bulk_close? "bulk_close"
                        : NULL;
    if (missing)
        return sstream_error_set (SSTREAM_EPLUGIN,
            "transport plugin %s claims the bulk path but leaves %s empty", path, missing);
    return SSTREAM_OK;
}

//  Open path as a plugin called name, or fail saying why.

static int
s_plugin_open (const char *path, const char *name, s_plugin_t *plugin)
{
    int rc = s_check_ownership (path);
    if (rc)
        return rc;
    dlerror ();
    void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *reason = dlerror ();
        return sstream_error_set (SSTREAM_EPLUGIN,
            "transport plugin %s cannot be loaded: %s", path, reason? reason: "unknown reason");
    }
    sstream_transport_plugin_fn *entry;
    *(void **) (&entry) = dlsym (handle, SSTREAM_TRANSPORT_ENTRY);
    if (!entry) {
        dlclose (handle);
        return sstream_error_set (SSTREAM_EPLUGIN,
            "%s is not an sstream transport plugin: it has no %s function",
            path, SSTREAM_TRANSPORT_ENTRY);
    }
    const sstream_transport_t *transport = entry ();
    size_t table_size = 0;
    rc = s_check_table (path, name, transport, &table_size);
    if (rc) {
        dlclose (handle);
        return rc;
    }
    memset (&plugin->transport, 0, sizeof (plugin->transport));
    memcpy (&plugin->transport, transport, table_size);
    if (!(transport->flags & SSTREAM_TRANSPORT_BULK)) {
        plugin->transport.bulk_listen = NULL;
        plugin->transport.bulk_accept = NULL;
        plugin->transport.bulk_connect = NULL;
        plugin->transport.bulk_poll = NULL;
        plugin->transport.bulk_send = NULL;
        plugin->transport.bulk_recv = NULL;
        plugin->transport.bulk_progress = NULL;
        plugin->transport.bulk_close = NULL;
    }
    snprintf (plugin->name, sizeof (plugin->name), "%s", name);
    plugin->handle = handle;
    return SSTREAM_OK;
}

int
sstream_plugins_load (const char *name, const sstream_transport_t **transport_p)
{
    assert (transport_p);
    *transport_p = NULL;
    if (!name || !s_name_is_valid (name))
        return sstream_error_set (SSTREAM_EPLUGIN,
            "'%s' is not a transport name (1 to %d of [a-z0-9_-])", name? name: "",
            NAME_MAX_LENGTH);

    pthread_mutex_lock (&s_plugins_lock);
    size_t index;
    for (index = 0; index < s_plugin_count; index++)
        if (streq (s_plugins [index].name, name)) {
            *transport_p = &s_plugins [index].transport;
            pthread_mutex_unlock (&s_plugins_lock);
            return SSTREAM_OK;
        }

    //  Folders to search, in order
    char searched [2048] = "";
    char *path_env = getenv ("SSTREAM_PLUGIN_PATH")? strdup (getenv ("SSTREAM_PLUGIN_PATH")): NULL;
    const char *folders [64];
    size_t folder_count = 0;
    char *cursor = path_env, *folder;
    while (cursor && folder_count < 62 && (folder = strsep (&cursor, ":"))) {
        if (*folder && *folder != '/') {
            pthread_mutex_unlock (&s_plugins_lock);
            int rc = sstream_error_set (SSTREAM_EPLUGIN,
                "SSTREAM_PLUGIN_PATH has '%s', which is not an absolute path", folder);
            free (path_env);
            return rc;
        }
        if (*folder)
            folders [folder_count++] = folder;
    }
    folders [folder_count++] = SSTREAM_PLUGIN_INSTALL_DIR;
    if (s_running_from_build_tree ())
        folders [folder_count++] = SSTREAM_PLUGIN_BUILD_DIR;

    int rc = SSTREAM_EPLUGIN;
    bool found = false;
    for (index = 0; index < folder_count && !found; index++) {
        char path [4096];
        snprintf (path, sizeof (path), "%s/sstream-transport-%s.so", folders [index], name);
        size_t used = strlen (searched);
        snprintf (searched + used, sizeof (searched) - used, "%s%s", used? ", ": "", folders [index]);
        if (access (path, F_OK) != 0)
            continue;
        found = true;
        if (s_plugin_count == PLUGIN_MAX)
            rc = sstream_error_set (SSTREAM_EPLUGIN, "too many transport plugins loaded");
        else {
            rc = s_plugin_open (path, name, &s_plugins [s_plugin_count]);
            if (rc == SSTREAM_OK)
                *transport_p = &s_plugins [s_plugin_count++].transport;
        }
    }
    pthread_mutex_unlock (&s_plugins_lock);
    free (path_env);
    if (!found)
        return sstream_error_set (SSTREAM_EPLUGIN,
            "no transport plugin '%s': sstream-transport-%s.so is not in %s "
            "(set SSTREAM_PLUGIN_PATH to the folder that has it)", name, name, searched);
    return rc;
}

int
sstream_plugins_find (const char *endpoint, const char *name,
                      const sstream_transport_t **transport_p)
{
    assert (transport_p);
    *transport_p = NULL;
    if (!endpoint || !*endpoint)
        return sstream_error_set (SSTREAM_EINVAL, "no endpoint given");
    const char *separator = strstr (endpoint, "://");
    if (!separator || separator == endpoint || separator - endpoint > NAME_MAX_LENGTH)
        return sstream_error_set (SSTREAM_EINVAL,
            "endpoint '%s' has no scheme (write it like tcp://host:port or ipc:///path)",
            endpoint);
    char scheme [NAME_MAX_LENGTH + 1];
    memcpy (scheme, endpoint, separator - endpoint);
    scheme [separator - endpoint] = 0;
    int rc = sstream_plugins_load (name? name: scheme, transport_p);
    if (rc)
        return rc;
    const char *const *served;
    for (served = (*transport_p)->schemes; *served; served++)
        if (streq (*served, scheme))
            return SSTREAM_OK;
    const sstream_transport_t *transport = *transport_p;
    *transport_p = NULL;
    return sstream_error_set (SSTREAM_EPLUGIN,
        "transport '%s' does not serve %s:// endpoints like '%s'",
        transport->name, scheme, endpoint);
}
