#!/usr/bin/python3
"""An unmodified ZeroMQ PUB/SUB pair (pyzmq), for the tunnel tests.

    zmq_pubsub.py pub ENDPOINT          publish numbered messages until killed;
                                        print "bound ENDPOINT" once bound (for
                                        tcp://127.0.0.1:*, the port it got)
    zmq_pubsub.py sub ENDPOINT COUNT    subscribe; exit 0 after COUNT messages
                                        that follow each other without a gap

The publisher binds at facility A; the subscriber connects to the tunnel's
port at facility B. PUB drops messages while no subscriber is there (the
slow joiner), so the subscriber checks that what it gets, once it gets
something, has no gaps and is intact.
"""

import hashlib
import sys
import time

import zmq


def publish(endpoint):
    context = zmq.Context()
    socket = context.socket(zmq.PUB)
    socket.setsockopt(zmq.SNDHWM, 100000)
    socket.bind(endpoint)
    print("bound %s" % socket.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    number = 0
    while True:
        body = (b"%d:" % number) * 100
        socket.send_multipart([b"numbers", b"%d" % number, body,
                               hashlib.sha256(body).hexdigest().encode()])
        number += 1
        if number % 100 == 0:
            time.sleep(0.001)


def subscribe(endpoint, count):
    context = zmq.Context()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.SUBSCRIBE, b"numbers")
    socket.setsockopt(zmq.RCVTIMEO, 20000)
    socket.connect(endpoint)
    previous = None
    got = 0
    while got < count:
        try:
            topic, number, body, digest = socket.recv_multipart()
        except zmq.Again:
            print("no message within 20 s after %d" % got, file=sys.stderr)
            return 1
        number = int(number)
        if hashlib.sha256(body).hexdigest().encode() != digest:
            print("message %d is corrupt" % number, file=sys.stderr)
            return 1
        if previous is not None and number != previous + 1:
            print("gap: %d after %d" % (number, previous), file=sys.stderr)
            return 1
        previous = number
        got += 1
    print("received %d messages, %d to %d" % (got, previous - got + 1, previous))
    socket.close(linger=0)
    context.term()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "pub":
        publish(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "sub":
        sys.exit(subscribe(sys.argv[2], int(sys.argv[3])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
