/*  =========================================================================
    sstream_auth - the process's ZAP handler and what it trusts (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    libzmq asks one ZAP handler per process (inproc://zeromq.zap.01) to
    admit each CURVE client; without one, it admits everybody. This class
    runs CZMQ's zauth for as long as any bound link needs it, pointed at a
    private folder into which it writes, once each, the public keys of every
    place (sstream_keyring) that a bound link of this process trusts.
    sstream_auth_refresh re-reads those places, so keys added to a trusted
    folder are admitted without a restart, and removed ones refused.

    One process, one handler: every bound link of a process admits the
    union of the keys. Links tell their clients apart afterwards by the key
    that ZAP reports (User-Id). Run one gateway per process where that
    matters.
*/

#ifndef SSTREAM_AUTH_H_INCLUDED
#define SSTREAM_AUTH_H_INCLUDED

//  Trust the public keys at path (a folder of key files, or one key file)
//  until the registration is dropped; starts zauth if it is not running.
int
    sstream_auth_trust (const char *path, void **registration_p);

//  Drop a registration; stops zauth after the last one. Idempotent.
void
    sstream_auth_untrust (void **registration_p);

//  Re-read every trusted place; update what zauth admits if keys changed.
void
    sstream_auth_refresh (void);

#endif
