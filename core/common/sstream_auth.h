/*  =========================================================================
    sstream_auth - the one place that admits keys: the process's ZAP
    handler, and what each bound link trusts (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    libzmq asks one ZAP handler per process (inproc://zeromq.zap.01) to
    admit each CURVE client; without one, it admits everybody. This class
    runs that handler, in a thread of its own, for as long as any bound link
    needs it. Each bound link registers its own ZAP domain with the keys it
    trusts (a sstream_keyring), so a key trusted on one link of a process
    is refused on the others. The handler answers with the client's public
    key (Z85) as the User-Id, which every message from that connection
    carries.
*/

#ifndef SSTREAM_AUTH_H_INCLUDED
#define SSTREAM_AUTH_H_INCLUDED

typedef struct _sstream_auth_t sstream_auth_t;

//  Trust the public keys at path (a folder of key files, or one key file)
//  on the sockets of ZAP domain domain, until the registration is
//  destroyed; starts the handler if it is not running. what starts the
//  log lines of changes to the keys (see sstream_keyring).
int
    sstream_auth_new (sstream_auth_t **self_p, const char *domain, const char *path,
                      const char *what);

//  Drop a registration; stops the handler after the last one. Idempotent.
void
    sstream_auth_destroy (sstream_auth_t **self_p);

//  Re-read the trusted place; true when the keys changed. A key goes only
//  as sstream_keyring says (a file rewritten in place, or a folder gone
//  for a moment, takes none away).
bool
    sstream_auth_refresh (sstream_auth_t *self);

//  True if the key (Z85) is trusted now.
bool
    sstream_auth_trusts (sstream_auth_t *self, const char *key);

//  What a trusted key is called (sstream_keyring_name), into name; false
//  if it is not trusted here.
bool
    sstream_auth_key_name (sstream_auth_t *self, const char *key, char *name, size_t size);

//  The key (Z85) the handler last refused on this registration's domain,
//  into key: false (key "") if it refused none. The socket's monitor says
//  that a handshake failed, not whose: this says whose, for the log.
bool
    sstream_auth_refused_key (sstream_auth_t *self, char key [41]);

//  ZAP requests the handler refused so far, process-wide.
uint64_t
    sstream_auth_refused (void);

#endif
