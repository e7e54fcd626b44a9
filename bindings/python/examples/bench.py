#!/usr/bin/env python3
"""Throughput into Python: a producer and a consumer, both in Python, through
two gateways in this process (fresh keys, CURVE on all three links unless
--security none). Prints one JSON line, like sstream-pipe bench.

    python3 bench.py --bytes 1GiB --msg-size 1MiB
"""

import argparse
import json
import os
import tempfile
import threading
import time

import numpy as np

import sstream


def size(text):
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "K": 1000, "M": 10 ** 6, "G": 10 ** 9}
    for unit, scale in sorted(units.items(), key=lambda item: -len(item[0])):
        if text.endswith(unit):
            return int(text[:-len(unit)]) * scale
    return int(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bytes", type=size, default=1 << 30)
    parser.add_argument("--msg-size", type=size, default=1 << 20)
    parser.add_argument("--security", choices=("curve", "none"), default="curve")
    args = parser.parse_args()
    secure = args.security == "curve"

    with tempfile.TemporaryDirectory() as folder:
        keys = os.path.join(folder, "gw")
        if secure:
            sstream.keygen("gateway-a", keys)
            sstream.keygen("gateway-b", keys)
            sstream.keygen("producer", os.path.join(folder, "a"))
            sstream.keygen("consumer", os.path.join(folder, "b"))
        security = {"security": args.security}

        def gateway(name, other, peer):
            config = {"gateway": {"name": name}, "local": dict(security, endpoint="tcp://127.0.0.1:*"),
                      "peer": dict(security, name=other, **peer)}
            if secure:
                config["gateway"]["secret-key"] = os.path.join(keys, name + ".secret")
                config["local"]["trusted-keys"] = os.path.join(folder, name[-1])
                config["peer"]["public-key"] = os.path.join(keys, other + ".pub")
            return sstream.Gateway(config)

        a = gateway("gateway-a", "gateway-b", {"endpoint": "tcp://127.0.0.1:*", "mode": "bind"})
        b = gateway("gateway-b", "gateway-a", {"endpoint": a.endpoint("peer")})
        client = {} if secure else {"security": "none"}
        block = np.random.default_rng(0).integers(0, 256, size=(16 << 20) + args.msg_size, dtype=np.uint8)

        def produce():
            extra = ({"key": os.path.join(folder, "a", "producer.secret"),
                      "gateway_key": os.path.join(keys, "gateway-a.pub"),
                      "readers": os.path.join(folder, "b", "consumer.pub")}
                     if secure else {"payload": "hop"})
            with sstream.Producer(a.endpoint(), "bench", **client, **extra) as producer:
                sent = 0
                while sent < args.bytes:
                    count = min(args.msg_size, args.bytes - sent)
                    start = (sent * 7) % (16 << 20)
                    producer.send(block[start:start + count])
                    sent += count

        extra = ({"key": os.path.join(folder, "b", "consumer.secret"),
                  "gateway_key": os.path.join(keys, "gateway-b.pub")} if secure else {})
        started = time.monotonic()
        thread = threading.Thread(target=produce)
        thread.start()
        received = 0
        messages = 0
        with sstream.Consumer(b.endpoint(), "bench", **client, **extra) as consumer:
            for message in consumer:
                view = np.frombuffer(message, dtype=np.uint8)
                received += view.nbytes
                messages += 1
        thread.join()
        seconds = time.monotonic() - started
        b.close()
        a.close()
    print(json.dumps({"bytes": received, "messages": messages, "seconds": round(seconds, 4),
                      "gbytes_per_s": round(received / seconds / 1e9, 4), "msg_size": args.msg_size,
                      "security": args.security, "transport": "tcp", "consumer": "python"}))
    return 0 if received == args.bytes else 1


if __name__ == "__main__":
    raise SystemExit(main())
