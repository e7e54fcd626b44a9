#   fake_journald.py RECORDS STDERR STOP COMMAND...: a stand-in for
#   journald, for test_logs. Listens where journald does
#   (/run/systemd/journal/socket: run it in a mount namespace of its own,
#   with a tmpfs on /run), runs COMMAND with its stderr to the file STDERR,
#   which JOURNAL_STREAM names as systemd does, and writes each entry that
#   comes to RECORDS as a JSON object (field: value). Once an entry's
#   MESSAGE holds STOP, COMMAND gets SIGTERM; it ends when COMMAND has
#   ended, with COMMAND's exit status.
#
#   Copyright the sstream authors. Licensed under the Apache License 2.0.

import array
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

records_path, stderr_path, stop, command = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]


def parse(data):
    """Fields of one entry of journald's native protocol."""
    fields, at = {}, 0
    while at < len(data):
        end = data.index(b"\n", at)
        line = data[at:end]
        if b"=" in line:
            name, value = line.split(b"=", 1)
            at = end + 1
        else:
            name = line
            (length,) = struct.unpack("<Q", data[end + 1:end + 9])
            value = data[end + 9:end + 9 + length]
            at = end + 9 + length + 1
        fields[name.decode()] = value.decode("utf-8", "backslashreplace")
    return fields


def receive(sock):
    """An entry: in the datagram, or in a memfd passed with it."""
    fds = array.array("i")
    data, ancillary, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(4 * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    for fd in fds:
        with os.fdopen(fd, "rb") as memfd:
            data = memfd.read()
    return parse(data)


os.makedirs("/run/systemd/journal", exist_ok=True)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("/run/systemd/journal/socket")
stderr = open(stderr_path, "wb")
status = os.fstat(stderr.fileno())
environment = dict(os.environ, JOURNAL_STREAM="%d:%d" % (status.st_dev, status.st_ino))
environment.pop("SSTREAM_LOG_FORMAT", None)
child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=environment)
entries, stopped, deadline = [], False, time.monotonic() + 60
while True:
    ended = child.poll() is not None
    readable, _, _ = select.select([sock], [], [], 0 if ended else 0.1)
    if readable:
        entry = receive(sock)
        entries.append(entry)
        if not stopped and stop in entry.get("MESSAGE", ""):
            child.send_signal(signal.SIGTERM)
            stopped = True
    elif ended:
        break
    if time.monotonic() > deadline:
        child.kill()
        sys.exit("%s did not end: %d entries" % (command[0], len(entries)))
with open(records_path, "w") as records:
    for entry in entries:
        records.write(json.dumps(entry, sort_keys=True) + "\n")
sys.exit(child.returncode)
