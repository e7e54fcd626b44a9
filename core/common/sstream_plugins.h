/*  =========================================================================
    sstream_plugins - finding and loading transport plugins (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#ifndef SSTREAM_PLUGINS_H_INCLUDED
#define SSTREAM_PLUGINS_H_INCLUDED

//  Load (once per process) the transport plugin called name.
int
    sstream_plugins_load (const char *name, const sstream_transport_t **transport_p);

//  The transport for an endpoint: the plugin called name when name is not
//  NULL, else the one named by the endpoint's scheme. Checks that the
//  plugin serves that scheme.
int
    sstream_plugins_find (const char *endpoint, const char *name,
                          const sstream_transport_t **transport_p);

#endif
