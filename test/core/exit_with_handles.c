/*  =========================================================================
    exit_with_handles - a program that exits while its gateways, producer
    and consumer are still open, as a careless application would (for
    test_exit)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    Usage: exit_with_handles [idle|receiving]
    With "receiving", a second thread is waiting in sstream_consumer_recv
    when the main thread calls exit (3). A clean exit returns 3.
*/

#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *
s_receive (void *args)
{
    sstream_consumer_t *consumer = (sstream_consumer_t *) args;
    sstream_message_t *message = NULL;
    while (sstream_consumer_recv (consumer, &message, 60000) == SSTREAM_OK)
        sstream_message_destroy (&message);
    return NULL;
}

int
main (int argc, char **argv)
{
    bool receiving = argc > 1 && strcmp (argv [1], "receiving") == 0;
    support_path_t path;
    if (support_path_start (&path, NULL)) {
        fprintf (stderr, "cannot start the gateways: %s\n", sstream_errmsg ());
        return 1;
    }
    sstream_consumer_t *consumer;
    sstream_producer_t *producer;
    if (sstream_consumer_new (&consumer, sstream_gateway_endpoint (path.b, "local"), "left-open",
                              path.consumer_options)
    ||  sstream_producer_new (&producer, sstream_gateway_endpoint (path.a, "local"), "left-open",
                              path.producer_options)
    ||  sstream_producer_send (producer, "hello", 5, NULL, 0, 10000)) {
        fprintf (stderr, "cannot open the stream: %s\n", sstream_errmsg ());
        return 1;
    }
    if (receiving) {
        pthread_t thread;
        pthread_create (&thread, NULL, s_receive, consumer);
    }
    else {
        sstream_message_t *message;
        if (sstream_consumer_recv (consumer, &message, 10000)) {
            fprintf (stderr, "cannot receive: %s\n", sstream_errmsg ());
            return 1;
        }
        sstream_message_destroy (&message);
    }
    fprintf (stderr, "exiting with every handle open\n");
    exit (3);
}
