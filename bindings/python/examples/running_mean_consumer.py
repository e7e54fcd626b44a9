#!/usr/bin/env python3
"""Receive detector frames through sstream and keep a running mean image.

Each frame is viewed in place (Message.array, numpy.frombuffer on the
message with the dtype and shape send_array sent: no copy) and
added to a float64 accumulator. At the end of the stream it prints what it
saw, optionally saves the mean image (.npy), and acknowledges the stream.

    python3 running_mean_consumer.py -c conf/consumer.cfg tcp://127.0.0.1:7002 detector
"""

import argparse
import sys
import time

import numpy as np

import sstream


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("endpoint", help="the facility's gateway, e.g. tcp://127.0.0.1:7002")
    parser.add_argument("stream", help="stream name")
    parser.add_argument("-c", "--config", help="client options (ZPL), e.g. conf/consumer.cfg")
    parser.add_argument("-k", "--key", help="our secret key file")
    parser.add_argument("-g", "--gateway-key", help="the gateway's public key file")
    parser.add_argument("--save", help="write the mean image to this .npy file")
    args = parser.parse_args()

    total = None
    count = 0
    received = 0
    started = None
    try:
        with sstream.Consumer(args.endpoint, args.stream, key=args.key,
                              gateway_key=args.gateway_key, config=args.config) as consumer:
            for message in consumer:
                if started is None:
                    started = time.monotonic()
                meta = message.meta
                frame = message.array()     # a view of the message: no copy
                if total is None:
                    total = np.zeros(frame.shape, dtype=np.float64)
                total += frame
                count += 1
                received += message.size
                message.release()
                if count % 10 == 0:
                    print("frame %d: mean so far %.2f, latency %.1f ms"
                          % (meta["frame"], total.mean() / count,
                             (time.time() - meta["time"]) * 1000), flush=True)
    except sstream.SstreamError as error:
        print("running_mean_consumer: %s" % error, file=sys.stderr)
        return 1
    if count == 0:
        print("the stream ended without frames")
        return 0
    seconds = max(time.monotonic() - started, 1e-9)
    mean = total / count
    print("%d frames, %d bytes, %.3f GB/s; mean image: min %.2f, max %.2f, mean %.2f"
          % (count, received, received / seconds / 1e9, mean.min(), mean.max(), mean.mean()))
    if args.save:
        np.save(args.save, mean)
    return 0


if __name__ == "__main__":
    sys.exit(main())
