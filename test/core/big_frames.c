/*  =========================================================================
    big_frames - a client with a trusted key that sends oversized frames
    over several connections at once (for test_failures)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Usage: big_frames ENDPOINT SECRET_KEY SERVER_PUBLIC_KEY CONNECTIONS MIB
    Each connection sends one frame of MIB mebibytes, then waits (at most
    30 s) until the gateway has dropped it. Exits 0 when every connection
    was dropped, 1 otherwise.
*/

#include <czmq.h>

int
main (int argc, char **argv)
{
    if (argc != 6) {
        fprintf (stderr, "usage: big_frames ENDPOINT SECRET PUBLIC CONNECTIONS MIB\n");
        return 2;
    }
    zsys_handler_set (NULL);
    int connections = atoi (argv [4]);
    size_t size = (size_t) atoi (argv [5]) << 20;
    zcert_t *cert = zcert_load (argv [2]);
    zcert_t *server = zcert_load (argv [3]);
    if (!cert || !server || connections < 1 || connections > 16) {
        fprintf (stderr, "big_frames: bad arguments\n");
        return 2;
    }
    zsock_t *socks [16];
    zactor_t *monitors [16];
    int index;
    for (index = 0; index < connections; index++) {
        socks [index] = zsock_new (ZMQ_DEALER);
        zcert_apply (cert, socks [index]);
        zsock_set_curve_serverkey (socks [index], zcert_public_txt (server));
        zsock_set_reconnect_ivl (socks [index], -1);        //  Once dropped, gone
        monitors [index] = zactor_new (zmonitor, socks [index]);
        zstr_sendx (monitors [index], "LISTEN", "DISCONNECTED", NULL);
        zstr_send (monitors [index], "START");
        zsock_wait (monitors [index]);
        zsock_connect (socks [index], "%s", argv [1]);
        zframe_t *frame = zframe_new (NULL, size);
        memset (zframe_data (frame), 'x', size);
        zframe_send (&frame, socks [index], 0);
    }
    int dropped = 0;
    int64_t deadline = zclock_mono () + 30000;
    for (index = 0; index < connections; index++) {
        zsock_set_rcvtimeo (monitors [index], (int) (deadline - zclock_mono () > 0
                                                     ? deadline - zclock_mono (): 1));
        zmsg_t *event = zmsg_recv (monitors [index]);
        char *name = event? zmsg_popstr (event): NULL;
        if (name && streq (name, "DISCONNECTED"))
            dropped++;
        zstr_free (&name);
        zmsg_destroy (&event);
    }
    for (index = 0; index < connections; index++) {
        zactor_destroy (&monitors [index]);
        zsock_destroy (&socks [index]);
    }
    zcert_destroy (&cert);
    zcert_destroy (&server);
    printf ("%d of %d connections dropped\n", dropped, connections);
    return dropped == connections? 0: 1;
}
