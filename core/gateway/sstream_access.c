/*  =========================================================================
    sstream_access - who may produce and who may consume which streams

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_gateway_classes.h"

#include <fnmatch.h>

typedef enum {
    WHO_ANY,                    //  Any key the link admits
    WHO_NONE,
    WHO_KEYS                    //  The keys in a keyring
} s_who_t;

typedef struct {
    s_who_t who;
    sstream_keyring_t *keys;
    char *said;                 //  As written, for messages
} s_party_t;

typedef struct {
    char *streams;              //  Glob
    s_party_t producers;
    s_party_t consumers;
} s_rule_t;

struct _sstream_access_t {
    bool default_allow;
    zlistx_t *rules;            //  s_rule_t, in order
};

static void
s_rule_destroy (void **item_p)
{
    s_rule_t *rule = (s_rule_t *) *item_p;
    if (rule) {
        free (rule->streams);
        sstream_keyring_destroy (&rule->producers.keys);
        sstream_keyring_destroy (&rule->consumers.keys);
        free (rule->producers.said);
        free (rule->consumers.said);
        free (rule);
        *item_p = NULL;
    }
}

static int
s_party_read (sstream_config_t *config, zconfig_t *rule, const char *name, s_party_t *party)
{
    zconfig_t *item = zconfig_locate (rule, name);
    const char *value = item? zconfig_value (item): NULL;
    char path [64];
    snprintf (path, sizeof (path), "access/rule/%s", name);
    if (!value || !*value)
        return sstream_error_set (SSTREAM_ECONFIG,
            "%s: a rule must say its %s: a key folder or file, '*' or 'none'",
            sstream_config_where_node (config, rule, "access/rule"), name);
    party->said = strdup (value);
    if (streq (value, "*"))
        party->who = WHO_ANY;
    else
    if (streq (value, "none"))
        party->who = WHO_NONE;
    else {
        party->who = WHO_KEYS;
        char *resolved = sstream_config_resolve (config, value);
        char what [256];
        snprintf (what, sizeof (what), "keys of access rule '%s' %s",
                  zconfig_value (zconfig_locate (rule, "streams")), name);
        int rc = sstream_keyring_new (&party->keys, resolved, what);
        free (resolved);
        if (rc) {
            char detail [1024];
            snprintf (detail, sizeof (detail), "%s", sstream_errmsg ());
            return sstream_error_set (SSTREAM_ECONFIG, "%s: %s",
                                      sstream_config_where_node (config, item, path), detail);
        }
    }
    return SSTREAM_OK;
}

int
sstream_access_new (sstream_access_t **self_p, sstream_config_t *config)
{
    *self_p = NULL;
    sstream_access_t *self = (sstream_access_t *) zmalloc (sizeof (sstream_access_t));
    if (!self || !(self->rules = zlistx_new ())) {
        free (self);
        return sstream_error_set (SSTREAM_ENOMEM, "out of memory");
    }
    zlistx_set_destructor (self->rules, s_rule_destroy);
    self->default_allow = streq (sstream_config_get (config, "access/default", "allow"), "allow");
    zconfig_t *section = zconfig_locate (sstream_config_root (config), "access");
    zconfig_t *child;
    int rc = SSTREAM_OK;
    for (child = section? zconfig_child (section): NULL; child && !rc; child = zconfig_next (child)) {
        if (!streq (zconfig_name (child), "rule"))
            continue;
        s_rule_t *rule = (s_rule_t *) zmalloc (sizeof (s_rule_t));
        zlistx_add_end (self->rules, rule);
        zconfig_t *streams = zconfig_locate (child, "streams");
        if (!streams || !zconfig_value (streams) || !*zconfig_value (streams))
            rc = sstream_error_set (SSTREAM_ECONFIG, "%s: a rule must say which streams it is for",
                                    sstream_config_where_node (config, child, "access/rule"));
        else
            rule->streams = strdup (zconfig_value (streams));
        if (!rc)
            rc = s_party_read (config, child, "producers", &rule->producers);
        if (!rc)
            rc = s_party_read (config, child, "consumers", &rule->consumers);
    }
    if (rc)
        sstream_access_destroy (&self);
    *self_p = self;
    return rc;
}

void
sstream_access_destroy (sstream_access_t **self_p)
{
    if (self_p && *self_p) {
        sstream_access_t *self = *self_p;
        zlistx_destroy (&self->rules);
        free (self);
        *self_p = NULL;
    }
}

void
sstream_access_refresh (sstream_access_t *self)
{
    s_rule_t *rule;
    for (rule = (s_rule_t *) zlistx_first (self->rules); rule;
         rule = (s_rule_t *) zlistx_next (self->rules)) {
        if (rule->producers.keys)
            sstream_keyring_refresh (rule->producers.keys);
        if (rule->consumers.keys)
            sstream_keyring_refresh (rule->consumers.keys);
    }
}

int
sstream_access_check (sstream_access_t *self, const char *stream, const char *key, int role)
{
    const char *verb = role == SSTREAM_ROLE_PRODUCE? "produce": "consume";
    const char *who = key && *key? key: "(no key: security is off)";
    s_rule_t *rule;
    for (rule = (s_rule_t *) zlistx_first (self->rules); rule;
         rule = (s_rule_t *) zlistx_next (self->rules)) {
        if (fnmatch (rule->streams, stream, 0) != 0)
            continue;
        s_party_t *party = role == SSTREAM_ROLE_PRODUCE? &rule->producers: &rule->consumers;
        bool allowed = party->who == WHO_ANY
                    || (party->who == WHO_KEYS && key && sstream_keyring_has (party->keys, key));
        if (allowed)
            return SSTREAM_OK;
        return sstream_error_set (SSTREAM_EDENIED,
            "not authorized for stream '%s': key %s may not %s it (rule for '%s': %s %s)",
            stream, who, verb, rule->streams, role == SSTREAM_ROLE_PRODUCE? "producers": "consumers",
            party->said);
    }
    if (self->default_allow)
        return SSTREAM_OK;
    return sstream_error_set (SSTREAM_EDENIED,
        "not authorized for stream '%s': no rule names it, and the default is deny", stream);
}
