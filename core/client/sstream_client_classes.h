/*  =========================================================================
    sstream_client_classes - private header of the client side: producers,
    consumers and control clients

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#ifndef SSTREAM_CLIENT_CLASSES_H_INCLUDED
#define SSTREAM_CLIENT_CLASSES_H_INCLUDED

#include "../common/sstream_common.h"

#include "sstream_client.h"
#include "sstream_outbox.h"
#include "sstream_inbox.h"
#include "sstream_sealer.h"
#include "sstream_replay.h"
#include "sstream_resumer.h"
#include "sstream_opener.h"

#endif
