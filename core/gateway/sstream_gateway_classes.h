/*  =========================================================================
    sstream_gateway_classes - private header of the gateway side

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#ifndef SSTREAM_GATEWAY_CLASSES_H_INCLUDED
#define SSTREAM_GATEWAY_CLASSES_H_INCLUDED

#include "../common/sstream_common.h"

#include "sstream_numbers.h"
#include "sstream_access.h"
#include "sstream_replies.h"
#include "sstream_party.h"
#include "sstream_peering.h"
#include "sstream_stream.h"
#include "sstream_streams.h"
#include "sstream_tunnel_seal.h"
#include "sstream_tunnel_end.h"
#include "sstream_tunnels.h"
#include "sstream_router.h"
#include "sstream_sessions.h"
#include "sstream_metrics.h"
#include "sstream_fault.h"

#endif
