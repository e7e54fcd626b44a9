"""sstream: stream data through sstream gateways from and into Python.

A thin ctypes layer over libsstream (core/include/sstream.h):

    with sstream.Producer("tcp://gw-a:7001", "frames", key="producer.secret",
                          gateway_key="gateway-a.pub") as producer:
        producer.send(array, meta={"shape": array.shape, "dtype": str(array.dtype)})

    with sstream.Consumer("tcp://gw-b:7002", "frames", key="consumer.secret",
                          gateway_key="gateway-b.pub") as consumer:
        for message in consumer:
            image = numpy.frombuffer(message.data, message.meta["dtype"])

Sending takes any C-contiguous buffer (bytes, bytearray, memoryview, numpy
arrays) without a copy on the Python side. A received message's .data is a
memoryview over the library's own buffer: numpy.frombuffer on it copies
nothing. Blocking calls wait in short slices, so Ctrl-C interrupts them.
"""

import ctypes
import os
import time

import msgpack

from . import _native, errors
from ._native import lib, check, encode
from .errors import (SstreamError, ConfigurationError, KeyFileError,        # noqa: F401
                     AuthenticationError, TimeoutError, ProtocolError, RefusedError,
                     StreamAbortedError, ConnectionLostError, InvalidArgumentError,
                     ClosedError)

__all__ = ["Producer", "Consumer", "Message", "Gateway", "keygen", "version",
           "SstreamError", "ConfigurationError", "KeyFileError", "AuthenticationError",
           "TimeoutError", "ProtocolError", "RefusedError", "StreamAbortedError",
           "ConnectionLostError", "InvalidArgumentError", "ClosedError"]

#   Blocking calls go to the library in slices this long, so that Python
#   can run its signal handlers (Ctrl-C) in between.
_SLICE_MS = 200


def version():
    """The library's version, "major.minor.patch"."""
    return lib.sstream_version().decode()


def keygen(name, dir="."):
    """Make a CURVE key pair: DIR/NAME.pub and DIR/NAME.secret (mode 0600).
    Returns the two paths."""
    check(lib.sstream_keygen(encode(name), encode(dir)))
    base = os.path.join(os.fspath(dir), name)
    return base + ".pub", base + ".secret"


class _Config:
    """An sstream_config_t, filled from a ZPL file and/or values."""

    def __init__(self, path=None):
        self.handle = ctypes.c_void_p()
        if path is not None:
            check(lib.sstream_config_load(ctypes.byref(self.handle), encode(path)))
        else:
            check(lib.sstream_config_new(ctypes.byref(self.handle)))

    def set(self, path, value):
        if isinstance(value, bool):
            value = "on" if value else "off"
        check(lib.sstream_config_set(self.handle, encode(path), encode(value)))

    def set_tree(self, tree, prefix=""):
        """Values from a dict: {"gateway": {"name": "a"}} or {"gateway/name": "a"}."""
        for key, value in tree.items():
            path = prefix + str(key)
            if isinstance(value, dict):
                self.set_tree(value, path + "/")
            else:
                self.set(path, value)

    def close(self):
        _native.destroy(lib.sstream_config_destroy, self.handle.value)
        self.handle = ctypes.c_void_p()


def _client_config(config, key, gateway_key, options):
    """Options of a producer or consumer: a ZPL file's 'client' section,
    then key, gateway_key and the keyword options (connect_timeout="2s",
    window="16MiB", security="none", ...), under 'client/'."""
    settings = _Config(config)
    try:
        if key is not None:
            settings.set("client/secret-key", key)
        if gateway_key is not None:
            settings.set("client/gateway-key", gateway_key)
        for name, value in options.items():
            settings.set("client/" + name.replace("_", "-"), value)
    except BaseException:
        settings.close()
        raise
    return settings


#   Records at least this large go without a copy (sstream_producer_give);
#   smaller ones are copied into a batch, which is cheaper than a callback
_GIVE_AT_LEAST = 64 * 1024


def _size_of(data):
    try:
        return memoryview(data).nbytes
    except TypeError:
        return 0


def _deadline(timeout):
    return None if timeout is None else time.monotonic() + timeout


def _slice(deadline):
    """Milliseconds for the next call: a slice, or what is left."""
    if deadline is None:
        return _SLICE_MS
    left = int((deadline - time.monotonic()) * 1000)
    return max(0, min(_SLICE_MS, left))


def _expired(deadline):
    return deadline is not None and time.monotonic() >= deadline


class Producer:
    """The sending end of a stream.

    Producer(endpoint, stream, key=None, gateway_key=None, config=None,
             **options)

    key is our secret key file, gateway_key the gateway's public key file;
    config a ZPL file with a 'client' section. Options are the client
    settings of the README with '_' for '-': connect_timeout, heartbeat,
    peer_timeout, security ("curve" or "none"), transport, pipe, readers
    (the public key file, or folder of them, of those who may read the
    stream: records are sealed end to end for them, the default), payload
    ("sealed" or "hop": no end-to-end sealing). Connecting waits at most
    connect_timeout (default 10 s).
    """

    def __init__(self, endpoint, stream, key=None, gateway_key=None, config=None, **options):
        self._handle = ctypes.c_void_p()
        settings = _client_config(config, key, gateway_key, options)
        try:
            check(lib.sstream_producer_new(ctypes.byref(self._handle), encode(endpoint),
                                           encode(stream), settings.handle))
        finally:
            settings.close()
        self.stream = stream

    def send(self, data, meta=None, timeout=None):
        """Send one record: data is any C-contiguous buffer; meta a dict
        (msgpack-encoded; numbers, strings, lists, dicts, bytes) that the
        consumer receives with it. A record of 64 KiB or more is sent
        straight from data, which is held (its buffer kept alive) until
        the library is done with it; a smaller one is copied into a batch. Waits while
        the path is full, at most timeout seconds (None: as long as it
        takes); raises TimeoutError if the message could not be sent."""
        handle = self._live()
        packed = None if meta is None else msgpack.packb(meta, use_bin_type=True)
        meta_size = 0 if packed is None else len(packed)
        deadline = _deadline(timeout)
        if _size_of(data) >= _GIVE_AT_LEAST:
            #   Large: the library sends straight from the array, and lets
            #   go of it once sent
            number, address, size = _native.given.hold(data)
            while True:
                rc = lib.sstream_producer_give(handle, address, size, packed, meta_size,
                                               _native.release, number, _slice(deadline))
                if rc not in (_native.ETIMEDOUT, _native.EINTR) or _expired(deadline):
                    break
            if rc != _native.OK:
                _native.given.drop(number)      # Still ours: the library did not take it
            check(rc)
            return
        with _native.pinned(data) as (address, size):
            while True:
                rc = lib.sstream_producer_send(handle, address, size, packed, meta_size,
                                               _slice(deadline))
                if rc not in (_native.ETIMEDOUT, _native.EINTR) or _expired(deadline):
                    break
        check(rc)

    def close(self, timeout=None):
        """End the stream and wait (at most timeout seconds) until the
        consumer has acknowledged everything. Returns only then."""
        handle = self._live()
        deadline = _deadline(timeout)
        while True:
            rc = lib.sstream_producer_close(handle, _slice(deadline))
            if rc not in (_native.ETIMEDOUT, _native.EINTR) or _expired(deadline):
                break
        check(rc)

    @property
    def messages(self):
        return lib.sstream_producer_messages(self._live())

    @property
    def bytes(self):
        return lib.sstream_producer_bytes(self._live())

    def destroy(self):
        """Let go of the producer; if it was not closed, the stream is
        aborted and the consumer told so."""
        _native.destroy(lib.sstream_producer_destroy, self._handle.value)
        self._handle = ctypes.c_void_p()

    def _live(self):
        if not self._handle.value:
            raise ClosedError(errors.ECLOSED, "the producer was destroyed")
        return self._handle

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        try:
            if kind is None:
                self.close()
        finally:
            self.destroy()
        return False

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            self.destroy()


class _MessageBuffer:
    """Owns one sstream_message_t; frees it when the last view of its
    payload is gone."""

    __slots__ = ("handle",)

    def __init__(self, handle):
        self.handle = handle

    def __del__(self):
        _native.destroy(lib.sstream_message_destroy, self.handle)


class Message:
    """One received message.

    .data   a memoryview over the library's buffer (no copy); numpy.frombuffer
            works on it without copying. The buffer lives as long as any
            view of it does.
    .meta   the producer's metadata (a dict; {} when none was sent)
    .seq    its sequence number in the stream, from 0
    """

    __slots__ = ("seq", "meta", "address", "_data")

    def __init__(self, handle):
        owner = _MessageBuffer(handle)
        self.address = lib.sstream_message_data(handle) or 0
        size = lib.sstream_message_size(handle)
        self.seq = lib.sstream_message_seq(handle)
        meta_size = ctypes.c_size_t()
        meta = lib.sstream_message_meta(handle, ctypes.byref(meta_size))
        self.meta = (msgpack.unpackb(ctypes.string_at(meta, meta_size.value), raw=False)
                     if meta else {})
        window = (ctypes.c_char * size).from_address(self.address) if size else bytearray()
        if size:
            window._owner = owner          # the view keeps the message alive
        else:
            owner = None                   # nothing to view: free it now
        self._data = memoryview(window).cast("B")

    @property
    def data(self):
        if self._data is None:
            raise ClosedError(errors.ECLOSED, "the message was released")
        return self._data

    @property
    def size(self):
        return self.data.nbytes

    def release(self):
        """Drop this message's hold on its buffer (freed once no view of it
        remains)."""
        self._data = None

    def __len__(self):
        return self.size

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


class Consumer:
    """The receiving end of a stream; iterate over it for Messages.

    Consumer(endpoint, stream, key=None, gateway_key=None, config=None,
             **options)

    Options as for Producer, and window (bytes in flight to us, e.g. "64MiB").
    Iteration ends at the end of the stream; close() then acknowledges it,
    which is the promise that the data is safe. Leaving a with block after
    the end closes; leaving it early, or on an exception, aborts the stream
    and tells the producer.
    """

    def __init__(self, endpoint, stream, key=None, gateway_key=None, config=None, **options):
        self._handle = ctypes.c_void_p()
        self.ended = False
        settings = _client_config(config, key, gateway_key, options)
        try:
            check(lib.sstream_consumer_new(ctypes.byref(self._handle), encode(endpoint),
                                           encode(stream), settings.handle))
        finally:
            settings.close()
        self.stream = stream

    def recv(self, timeout=None):
        """The next Message; None at the end of the stream. Waits at most
        timeout seconds (None: as long as it takes), then raises
        TimeoutError."""
        if self.ended:
            return None
        handle = self._live()
        deadline = _deadline(timeout)
        message = ctypes.c_void_p()
        while True:
            rc = lib.sstream_consumer_recv(handle, ctypes.byref(message), _slice(deadline))
            if rc not in (_native.ETIMEDOUT, _native.EINTR) or _expired(deadline):
                break
        if rc == _native.EEND:
            self.ended = True
            return None
        check(rc)
        return Message(message.value)

    def __iter__(self):
        return self

    def __next__(self):
        message = self.recv()
        if message is None:
            raise StopIteration
        return message

    def close(self, timeout=10.0):
        """After the end of the stream: acknowledge it to the producer."""
        handle = self._live()
        deadline = _deadline(timeout)
        while True:
            rc = lib.sstream_consumer_close(handle, _slice(deadline))
            if rc not in (_native.ETIMEDOUT, _native.EINTR) or _expired(deadline):
                break
        check(rc)

    def abort(self, reason=None):
        """Give the stream up, telling the producer why."""
        check(lib.sstream_consumer_abort(self._live(), None if reason is None else encode(reason)))

    @property
    def messages(self):
        return lib.sstream_consumer_messages(self._live())

    @property
    def bytes(self):
        return lib.sstream_consumer_bytes(self._live())

    def destroy(self):
        _native.destroy(lib.sstream_consumer_destroy, self._handle.value)
        self._handle = ctypes.c_void_p()

    def _live(self):
        if not self._handle.value:
            raise ClosedError(errors.ECLOSED, "the consumer was destroyed")
        return self._handle

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        try:
            if kind is None and self.ended:
                self.close()
            elif self._handle.value:
                reason = ("the consumer stopped before the end of the stream" if kind is None
                          else "the consumer failed: %s: %s" % (kind.__name__, value))
                try:
                    self.abort(reason)
                except SstreamError:
                    pass                   # already failed: nothing to tell
        finally:
            self.destroy()
        return False

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            self.destroy()


class Gateway:
    """A gateway running in this process (in a thread of its own).

    Gateway(config) where config is a ZPL file's path, or a dict:
    {"gateway": {"name": "a"}, "local": {"endpoint": "tcp://*:7001", ...}}
    or {"local/endpoint": ...}. See the README's Configuration.
    """

    def __init__(self, config):
        self._handle = ctypes.c_void_p()
        if isinstance(config, dict):
            settings = _Config()
            try:
                settings.set_tree(config)
                check(lib.sstream_gateway_new(ctypes.byref(self._handle), settings.handle))
            finally:
                settings.close()
        else:
            check(lib.sstream_gateway_load(ctypes.byref(self._handle), encode(config)))

    def endpoint(self, link="local"):
        """Where a link is bound ("local" or "peer"), with the real port."""
        found = lib.sstream_gateway_endpoint(self._live(), encode(link))
        return found.decode() if found else None

    def stat(self, name):
        """A statistic: streams, buffered, buffered-peak, bytes-in,
        bytes-out, malformed, aborted, completed, peer-up,
        handshake-failures."""
        value = ctypes.c_uint64()
        check(lib.sstream_gateway_stat(self._live(), encode(name), ctypes.byref(value)))
        return value.value

    def close(self):
        """Stop: open streams are aborted and both ends told."""
        _native.destroy(lib.sstream_gateway_destroy, self._handle.value)
        self._handle = ctypes.c_void_p()

    def _live(self):
        if not self._handle.value:
            raise ClosedError(errors.ECLOSED, "the gateway was closed")
        return self._handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            self.close()
