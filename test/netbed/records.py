#!/usr/bin/env python3
"""Numbered records for the fault table (test/netbed/faults.sh).

  records.py make BYTES [--size N]            numbered records to stdout
  records.py check BYTES [--size N] --report FILE [--progress FILE]
                                              read them from stdin, count

Each record is N bytes (default 1 MiB): an 8-byte mark, its number (8 bytes,
little endian), then bytes of a fixed pattern. The checker reads standard
input as a stream of bytes (message boundaries do not matter), and counts
records delivered in order, duplicates (a number already seen), lost (a
number skipped), and damaged (a record whose bytes differ from the
pattern, or a short one at the end). It writes the bytes taken so far to
the progress file ten times a second (so that faults.sh strikes at a given
point of the stream, not after a time that assumes a speed), and at the end
a report of KEY=VALUE lines; it exits 0 only when every record came once,
in order, unchanged.
"""

import argparse
import hashlib
import os
import sys
import time

MARK = b"sstream#"


def pattern(size):
    """The bytes after each record's header: the same for every record."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.blake2b(counter.to_bytes(8, "little"), digest_size=64).digest()
        counter += 1
    return bytes(out[:size])


def header(number):
    return MARK + number.to_bytes(8, "little")


def make(args):
    count = args.bytes // args.size
    body = pattern(args.size - 16)
    out = sys.stdout.buffer
    try:
        for number in range(count):
            out.write(header(number) + body)
        out.flush()
    except BrokenPipeError:
        # send is gone: faults.sh reports what it says
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


class Checker:
    def __init__(self, args):
        self.size = args.size
        self.expected_records = args.bytes // args.size
        self.body = pattern(args.size - 16)
        self.next = 0               # the number the next record should have
        self.seen = set()           # numbers delivered (for duplicates)
        self.in_order = 0
        self.duplicates = 0
        self.lost = 0
        self.damaged = 0
        self.bytes = 0
        self.first = None
        self.last = None
        self.longest_stall = 0.0
        self.progress = args.progress
        self.written = 0.0

    def record(self, block):
        if block[:8] != MARK:
            self.damaged += 1
            return
        number = int.from_bytes(block[8:16], "little")
        if block[16:] != self.body:
            self.damaged += 1
        if number in self.seen:
            self.duplicates += 1
            return
        self.seen.add(number)
        if number == self.next:
            self.in_order += 1
        elif number > self.next:
            self.lost += number - self.next
        self.next = max(self.next, number + 1)

    def took(self, size, now):
        if self.first is None:
            self.first = now
        elif now - self.last > self.longest_stall:
            self.longest_stall = now - self.last
        self.last = now
        self.bytes += size
        if self.progress and now - self.written >= 0.1:
            self.write_progress()
            self.written = now

    def write_progress(self):
        temporary = self.progress + ".new"
        with open(temporary, "w") as file:
            file.write(f"{self.bytes}\n")
        os.replace(temporary, self.progress)

    def run(self):
        pending = bytearray()
        stdin = sys.stdin.buffer.raw
        while True:
            chunk = stdin.read(1 << 20)
            if not chunk:
                break
            self.took(len(chunk), time.monotonic())
            pending += chunk
            offset = 0
            while len(pending) - offset >= self.size:
                self.record(bytes(pending[offset:offset + self.size]))
                offset += self.size
            del pending[:offset]
        if pending:
            self.damaged += 1       # a record cut short
        if self.next < self.expected_records:
            self.lost += self.expected_records - self.next
        if self.progress:
            self.write_progress()

    def report(self, path):
        seconds = (self.last - self.first) if self.first is not None else 0.0
        lines = {
            "bytes": self.bytes,
            "records": len(self.seen),
            "in_order": self.in_order,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "damaged": self.damaged,
            "longest_stall": f"{self.longest_stall:.2f}",
            "seconds": f"{seconds:.2f}",
        }
        with open(path, "w") as file:
            for key, value in lines.items():
                file.write(f"{key}={value}\n")
        return (self.duplicates == 0 and self.lost == 0 and self.damaged == 0
                and self.in_order == self.expected_records)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["make", "check"])
    parser.add_argument("bytes", type=int)
    parser.add_argument("--size", type=int, default=1 << 20)
    parser.add_argument("--report")
    parser.add_argument("--progress")
    args = parser.parse_args()
    if args.size < 64 or args.bytes < args.size:
        parser.error("--size must be at least 64 and BYTES at least one record")
    if args.action == "make":
        return make(args)
    if not args.report:
        parser.error("check needs --report FILE")
    checker = Checker(args)
    checker.run()
    return 0 if checker.report(args.report) else 1


if __name__ == "__main__":
    sys.exit(main())
