#!/usr/bin/env python3
"""Stream frames of a synthetic area detector through sstream.

Each frame is a 2048 x 2048 uint16 image: Poisson noise around a background,
with a bright spot that drifts across the sensor. Frames go out at --rate per
second (or as fast as the path takes them with --rate 0), each with metadata
saying its shape, dtype, number and time. The producer waits while the path
is full and exits 0 only once the consumer has acknowledged every frame.

    python3 detector_producer.py -c conf/producer.cfg tcp://127.0.0.1:7001 detector \\
        --frames 100 --rate 10
"""

import argparse
import sys
import time

import numpy as np

import sstream


def frames(count, size, seed=0):
    """Background, cycling noise, and a Gaussian spot that drifts; cheap
    enough per frame to keep up with a real detector's rate."""
    rng = np.random.default_rng(seed)
    background = rng.poisson(100, size=(size, size)).astype(np.uint16)
    noises = [rng.integers(0, 16, size=(size, size), dtype=np.uint16) for _ in range(8)]
    radius = max(4, size // 32)
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    spot = (4000 * np.exp(-(x ** 2 + y ** 2) / (2 * (radius / 3.0) ** 2))).astype(np.uint16)
    for number in range(count):
        #   A new array each frame: send hands a large frame to the library
        #   without a copy, and it must not change until it has gone
        frame = np.add(background, noises[number % len(noises)])
        cy = int(size / 2 + (size / 2 - radius - 1) * np.sin(number / 10))
        cx = int(size / 2 + (size / 2 - radius - 1) * np.cos(number / 10))
        frame[cy - radius:cy + radius + 1, cx - radius:cx + radius + 1] += spot
        yield number, frame


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("endpoint", help="the facility's gateway, e.g. tcp://127.0.0.1:7001")
    parser.add_argument("stream", help="stream name")
    parser.add_argument("-c", "--config", help="client options (ZPL), e.g. conf/producer.cfg")
    parser.add_argument("-k", "--key", help="our secret key file")
    parser.add_argument("-g", "--gateway-key", help="the gateway's public key file")
    parser.add_argument("-r", "--readers",
                        help="public key file (or folder) of who may read the stream")
    parser.add_argument("--frames", type=int, default=100, help="how many frames (100)")
    parser.add_argument("--rate", type=float, default=10.0,
                        help="frames per second; 0 for as fast as possible (10)")
    parser.add_argument("--size", type=int, default=2048, help="frame side in pixels (2048)")
    args = parser.parse_args()

    started = time.monotonic()
    try:
        with sstream.Producer(args.endpoint, args.stream, key=args.key,
                              gateway_key=args.gateway_key, config=args.config,
                              **({"readers": args.readers} if args.readers else {})) as producer:
            for number, frame in frames(args.frames, args.size):
                if args.rate > 0:
                    due = started + number / args.rate
                    time.sleep(max(0.0, due - time.monotonic()))
                #   The frame's dtype and shape travel in its metadata
                producer.send_array(frame, meta={"frame": number, "time": time.time()})
            sent = producer.bytes
    except sstream.SstreamError as error:
        print("detector_producer: %s" % error, file=sys.stderr)
        return 1
    seconds = time.monotonic() - started
    print("sent %d frames, %d bytes in %.2f s (%.1f frames/s, %.3f GB/s); all acknowledged"
          % (args.frames, sent, seconds, args.frames / seconds, sent / seconds / 1e9))
    return 0


if __name__ == "__main__":
    sys.exit(main())
