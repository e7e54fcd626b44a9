/*  =========================================================================
    sstream_access - who may produce and who may consume which streams
    (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    From a gateway config's "access" section:

        access
            default = allow             allow or deny what no rule names
            rule                        first rule whose streams match decides
                streams = detector-*    a glob (fnmatch); '*' matches '/' too
                producers = keys/beam   keys that may produce: a folder or
                                        file of public keys, '*' for any key
                                        the link admits, or 'none'
                consumers = *           keys that may consume, likewise

    Without an access section, any key a link admits may do anything.
*/

#ifndef SSTREAM_ACCESS_H_INCLUDED
#define SSTREAM_ACCESS_H_INCLUDED

typedef struct _sstream_access_t sstream_access_t;

//  The settings this class reads, for a component's schema
#define SSTREAM_ACCESS_SCHEMA \
    { "access/default", SSTREAM_SETTING_CHOICE, "allow|deny" }, \
    { "access/rule", SSTREAM_SETTING_REPEATED, NULL }, \
    { "access/rule/streams", SSTREAM_SETTING_TEXT, NULL }, \
    { "access/rule/producers", SSTREAM_SETTING_TEXT, NULL }, \
    { "access/rule/consumers", SSTREAM_SETTING_TEXT, NULL }

//  Read the rules from a (checked) config.
int
    sstream_access_new (sstream_access_t **self_p, sstream_config_t *config);

void
    sstream_access_destroy (sstream_access_t **self_p);

//  Re-read the key folders the rules name.
void
    sstream_access_refresh (sstream_access_t *self);

//  SSTREAM_OK if key may take role (SSTREAM_ROLE_PRODUCE or _CONSUME) on
//  stream; else SSTREAM_EDENIED, with the reason in sstream_errmsg ().
int
    sstream_access_check (sstream_access_t *self, const char *stream, const char *key, int role);

#endif
