"""sstream: stream data through sstream gateways from and into Python.

A thin ctypes layer over libsstream (core/include/sstream.h):

    with sstream.Producer("tcp://gw-a:7001", "frames", key="producer.secret",
                          gateway_key="gateway-a.pub") as producer:
        producer.send(array, meta={"shape": array.shape, "dtype": str(array.dtype)})

    with sstream.Consumer("tcp://gw-b:7002", "frames", key="consumer.secret",
                          gateway_key="gateway-b.pub") as consumer:
        for message in consumer:
            image = numpy.frombuffer(message, message.meta["dtype"])

Sending takes any C-contiguous buffer (bytes, bytearray, memoryview, numpy
arrays) without a copy on the Python side. A received Message is itself a
buffer over the library's own memory: memoryview(message) and
numpy.frombuffer(message) copy nothing. Producer.send_array and
Consumer.recv_array carry an array's dtype and shape with it. Blocking calls
wait in short slices, so Ctrl-C interrupts them.
"""

from __future__ import annotations

import ctypes
import functools
import os
import time
from typing import (TYPE_CHECKING, Any, Dict, Iterator, Mapping, Optional, Tuple, Type,
                    Union, cast)

import msgpack

from . import _native, errors
from ._native import lib, check, encode
from .errors import (SstreamError, ConfigurationError, KeyFileError,        # noqa: F401
                     AuthenticationError, TimeoutError, ProtocolError, RefusedError,
                     StreamAbortedError, ConnectionLostError, InvalidArgumentError,
                     ClosedError)

if TYPE_CHECKING:
    from numpy.typing import NDArray

#   The package's version: the library's own (test_version checks they agree)
__version__ = "0.1.0"

#   A file's path, as the library takes it
PathLike = Union[str, bytes, "os.PathLike[str]"]
#   A setting's value: "2s", "64MiB", 8, True ("on")
Setting = Union[str, bytes, int, float, bool, "os.PathLike[str]"]

__all__ = ["Producer", "Consumer", "Message", "Gateway", "keygen", "version",
           "SstreamError", "ConfigurationError", "KeyFileError", "AuthenticationError",
           "TimeoutError", "ProtocolError", "RefusedError", "StreamAbortedError",
           "ConnectionLostError", "InvalidArgumentError", "ClosedError"]

#   Blocking calls go to the library in slices this long, so that Python
#   can run its signal handlers (Ctrl-C) in between.
_SLICE_MS = 200


def version() -> str:
    """The library's version, "major.minor.patch"."""
    value: bytes = lib.sstream_version()
    return value.decode()


def keygen(name: str, dir: PathLike = ".") -> Tuple[str, str]:
    """Make a CURVE key pair: DIR/NAME.pub and DIR/NAME.secret (mode 0600).
    Returns the two paths."""
    check(lib.sstream_keygen(encode(name), encode(dir)))
    base = os.path.join(os.fsdecode(dir), name)
    return base + ".pub", base + ".secret"


class _Config:
    """An sstream_config_t, filled from a ZPL file and/or values."""

    def __init__(self, path: Optional[PathLike] = None) -> None:
        self.handle = ctypes.c_void_p()
        if path is not None:
            check(lib.sstream_config_load(ctypes.byref(self.handle), encode(path)))
        else:
            check(lib.sstream_config_new(ctypes.byref(self.handle)))

    def set(self, path: str, value: Setting) -> None:
        if isinstance(value, bool):
            value = "on" if value else "off"
        check(lib.sstream_config_set(self.handle, encode(path), encode(value)))

    def set_tree(self, tree: Mapping[str, Any], prefix: str = "") -> None:
        """Values from a dict: {"gateway": {"name": "a"}} or {"gateway/name": "a"}."""
        for key, value in tree.items():
            path = prefix + str(key)
            if isinstance(value, dict):
                self.set_tree(value, path + "/")
            else:
                self.set(path, value)

    def close(self) -> None:
        _native.destroy(lib.sstream_config_destroy, self.handle.value)
        self.handle = ctypes.c_void_p()


def _client_config(config: Optional[PathLike], key: Optional[PathLike],
                   gateway_key: Optional[PathLike], options: Mapping[str, Setting]) -> _Config:
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


def _read_only(data: Any) -> bool:
    try:
        return memoryview(data).readonly
    except TypeError:
        return False


def _size_of(data: Any) -> int:
    try:
        return memoryview(data).nbytes
    except (TypeError, ValueError):         # no memoryview: send copies it, or refuses it
        return 0


def _deadline(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else time.monotonic() + timeout


def _slice(deadline: Optional[float]) -> int:
    """Milliseconds for the next call: a slice, or what is left."""
    if deadline is None:
        return _SLICE_MS
    left = int((deadline - time.monotonic()) * 1000)
    return max(0, min(_SLICE_MS, left))


def _expired(deadline: Optional[float]) -> bool:
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

    def __init__(self, endpoint: str, stream: str, key: Optional[PathLike] = None,
                 gateway_key: Optional[PathLike] = None, config: Optional[PathLike] = None,
                 **options: Setting) -> None:
        self._handle = ctypes.c_void_p()
        settings = _client_config(config, key, gateway_key, options)
        try:
            check(lib.sstream_producer_new(ctypes.byref(self._handle), encode(endpoint),
                                           encode(stream), settings.handle))
        finally:
            settings.close()
        self.stream = stream

    def send(self, data: Any, meta: Optional[Mapping[str, Any]] = None,
             timeout: Optional[float] = None, copy: Optional[bool] = None) -> None:
        """Send one record: data is any C-contiguous buffer; meta a dict
        (msgpack-encoded; numbers, strings, lists, dicts, bytes) that the
        consumer receives with it. The record is copied, so the caller may
        change or reuse data at once, unless it is 64 KiB or more and
        either read-only (bytes, a read-only array) or copy is False: then
        it is sent straight from data, which is held (its buffer kept
        alive) until the consumer has acknowledged it, and which the caller
        must not change meanwhile (the end-to-end checksum would catch it,
        and fail the stream). Waits while the path is full, at most timeout
        seconds (None: as long as it takes); raises TimeoutError if the
        message could not be sent."""
        handle = self._live()
        packed = None if meta is None else msgpack.packb(meta, use_bin_type=True)
        meta_size = 0 if packed is None else len(packed)
        deadline = _deadline(timeout)
        if copy is None:
            copy = not _read_only(data)
        if not copy and _size_of(data) >= _GIVE_AT_LEAST:
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

    def send_array(self, array: Any, meta: Optional[Mapping[str, Any]] = None,
                   timeout: Optional[float] = None, copy: Optional[bool] = None) -> None:
        """Send a numpy array with its dtype and shape in the metadata
        (keys "dtype" and "shape", beside those of meta), for
        Consumer.recv_array or Message.array. A C-contiguous array goes
        as send sends it (copy as there); any other is copied into C order
        first."""
        np = _numpy()
        array = np.asarray(array)
        if not array.flags["C_CONTIGUOUS"]:
            array = np.ascontiguousarray(array)     # (which makes a 0-d array 1-d)
        header = _array_meta(np, array, meta)
        #   As bytes: numpy exports no buffer for some dtypes (datetime64)
        self.send(array.reshape(-1).view(np.uint8), meta=header, timeout=timeout, copy=copy)

    def close(self, timeout: Optional[float] = None) -> None:
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
    def messages(self) -> int:
        """Records sent so far."""
        return int(lib.sstream_producer_messages(self._live()))

    @property
    def bytes(self) -> int:
        """Payload bytes sent so far."""
        return int(lib.sstream_producer_bytes(self._live()))

    def destroy(self) -> None:
        """Let go of the producer; if it was not closed, the stream is
        aborted and the consumer told so."""
        _native.destroy(lib.sstream_producer_destroy, self._handle.value)
        self._handle = ctypes.c_void_p()

    def _live(self) -> ctypes.c_void_p:
        if not self._handle.value:
            raise ClosedError(errors.ECLOSED, "the producer was destroyed")
        return self._handle

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException],
                 traceback: Any) -> None:
        try:
            if kind is None:
                self.close()
        finally:
            self.destroy()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self.destroy()


class _MessageBuffer:
    """Owns one sstream_message_t; frees it with the Message that holds it,
    which goes only once no view of its payload remains."""

    __slots__ = ("handle",)

    def __init__(self, handle: int) -> None:
        self.handle = handle

    def __del__(self) -> None:
        _native.destroy(lib.sstream_message_destroy, self.handle)


if TYPE_CHECKING:
    #   What every Message is at run time (_message_class), for type
    #   checkers: a buffer, which memoryview () and numpy.frombuffer take
    _MessageBase = ctypes.Array[ctypes.c_ubyte]
else:
    _MessageBase = object


class Message(_MessageBase):
    """One received message, which is also its payload's bytes.

    A Message supports the buffer protocol over the library's own buffer:
    memoryview(message), numpy.frombuffer(message, dtype) and
    bytes(message) work on it directly, the first two without a copy.
    The buffer lives as long as the message or any view of it does.

    .data   the same bytes as a memoryview of format "B" (memoryview (message)
            has ctypes' format "<B": bytes and slices work on it, indexing
            and tolist need .data)
    .meta   the producer's metadata (a dict; {} when none was sent)
    .seq    its sequence number in the stream, from 0
    .size   its payload's size in bytes (also len(message))
    .array()  the payload as the numpy array send_array sent

    (With ctypes only, and Python before 3.12 without __buffer__, every
    message is an instance of a subclass of Message that is also a ctypes
    array of its size, laid over the library's buffer.)
    """

    seq: int
    meta: Dict[str, Any]
    address: int
    _owner: _MessageBuffer
    _released: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("Messages come from Consumer.recv")

    @property
    def data(self) -> memoryview:
        #   Made on each use: a view kept in the message would be a cycle
        #   (message -> view -> message), and the buffer would wait for the
        #   garbage collector instead of going with the last reference
        if self._released:
            raise ClosedError(errors.ECLOSED, "the message was released")
        return memoryview(self).cast("B")

    @property
    def size(self) -> int:
        return ctypes.sizeof(self)

    def array(self) -> NDArray[Any]:
        """The payload as a numpy array, with the dtype and shape that
        Producer.send_array put in the metadata; a view of the message's
        buffer (no copy), which it keeps alive."""
        np = _numpy()
        dtype, shape = _array_type(np, self)
        return cast("NDArray[Any]", np.frombuffer(self, dtype=dtype).reshape(shape))

    def release(self) -> None:
        """Make .data refuse. The buffer itself goes with the message, once
        neither it nor any view of it (memoryview, numpy array) remains."""
        self._released = True

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return "<sstream.Message seq=%d, %d bytes>" % (self.seq, self.size)

    def __enter__(self) -> Message:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@functools.lru_cache(maxsize=256)
def _message_class(size: int) -> Type[Message]:
    """A Message that is a ctypes array of size bytes. Made by hand rather
    than as c_ubyte * size, whose cache would keep a type for every size
    ever received; these few hundred are kept, the rest are collected."""
    array_type: Any = type(ctypes.Array)
    made = array_type("Message", (Message, ctypes.Array),
                      {"_type_": ctypes.c_ubyte, "_length_": size, "__module__": __name__,
                       "__qualname__": "Message", "__doc__": Message.__doc__})
    return made     # type: ignore[no-any-return]


def _message(handle: int) -> Message:
    """The Message of a handle from sstream_consumer_recv: laid over the
    library's buffer, and owning the handle."""
    owner = _MessageBuffer(handle)
    address = lib.sstream_message_data(handle) or 0
    size = lib.sstream_message_size(handle)
    message = _message_class(size).from_address(address)
    message._owner = owner                  # freed with the message, after its views
    message.address = address
    message.seq = lib.sstream_message_seq(handle)
    meta_size = ctypes.c_size_t()
    meta = lib.sstream_message_meta(handle, ctypes.byref(meta_size))
    message.meta = (msgpack.unpackb(ctypes.string_at(meta, meta_size.value), raw=False)
                    if meta else {})
    message._released = False
    return message


#   Arrays: dtype and shape in the metadata, as in pyzmq's send_array
#   recipe. A plain dtype travels as its string ("<u2"), a structured one
#   as numpy's description of it (numpy.lib.format, as in .npy files).

def _numpy() -> Any:
    try:
        import numpy
    except ImportError as error:
        raise ImportError("sstream: arrays need numpy (apt-get install python3-numpy)") from error
    return numpy


def _array_meta(np: Any, array: Any, meta: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    if array.dtype.hasobject:
        raise InvalidArgumentError(errors.EINVAL, "an array of Python objects (dtype %s) "
                                   "has no bytes to send" % array.dtype)
    header = dict(meta or {})
    for key in ("dtype", "shape"):
        if key in header:
            raise InvalidArgumentError(errors.EINVAL, "meta may not have '%s': "
                                       "send_array sets it from the array" % key)
    header["dtype"] = np.lib.format.dtype_to_descr(array.dtype)
    header["shape"] = list(array.shape)
    return header


def _descr(value: Any) -> Any:
    """A dtype description back from msgpack, which made its tuples lists."""
    if isinstance(value, str):
        return value
    fields = []
    for field in value:
        name, kind = field[0], _descr(field[1])
        name = tuple(name) if isinstance(name, list) else name
        fields.append((name, kind, tuple(field[2])) if len(field) > 2 else (name, kind))
    return fields


def _array_type(np: Any, message: Message) -> Tuple[Any, Tuple[int, ...]]:
    meta = message.meta
    if not isinstance(meta, dict) or "dtype" not in meta or "shape" not in meta:
        raise InvalidArgumentError(errors.EINVAL, "message %d has no dtype and shape in its "
                                   "metadata (send it with send_array)" % message.seq)
    try:
        dtype = np.lib.format.descr_to_dtype(_descr(meta["dtype"]))
        shape = tuple(int(n) for n in meta["shape"])
    except (TypeError, ValueError, IndexError) as error:
        raise InvalidArgumentError(errors.EINVAL, "message %d: dtype %r, shape %r: %s"
                                   % (message.seq, meta["dtype"], meta["shape"], error)) from None
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != message.size:
        raise InvalidArgumentError(errors.EINVAL, "message %d has %d bytes, not the %d of %s %s"
                                   % (message.seq, message.size, count * dtype.itemsize,
                                      dtype, shape))
    return dtype, shape


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

    def __init__(self, endpoint: str, stream: str, key: Optional[PathLike] = None,
                 gateway_key: Optional[PathLike] = None, config: Optional[PathLike] = None,
                 **options: Setting) -> None:
        self._handle = ctypes.c_void_p()
        self.ended = False
        settings = _client_config(config, key, gateway_key, options)
        try:
            check(lib.sstream_consumer_new(ctypes.byref(self._handle), encode(endpoint),
                                           encode(stream), settings.handle))
        finally:
            settings.close()
        self.stream = stream

    def recv(self, timeout: Optional[float] = None) -> Optional[Message]:
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
        return _message(message.value or 0)

    def recv_array(self, timeout: Optional[float] = None) -> Optional[NDArray[Any]]:
        """The next message as the numpy array that Producer.send_array
        sent (a view of the message's buffer: no copy); None at the end of
        the stream. Its other metadata: recv, then Message.array."""
        message = self.recv(timeout)
        return None if message is None else message.array()

    def __iter__(self) -> Iterator[Message]:
        return self

    def __next__(self) -> Message:
        message = self.recv()
        if message is None:
            raise StopIteration
        return message

    def close(self, timeout: Optional[float] = 10.0) -> None:
        """After the end of the stream: acknowledge it to the producer."""
        handle = self._live()
        deadline = _deadline(timeout)
        while True:
            rc = lib.sstream_consumer_close(handle, _slice(deadline))
            if rc not in (_native.ETIMEDOUT, _native.EINTR) or _expired(deadline):
                break
        check(rc)

    def abort(self, reason: Optional[str] = None) -> None:
        """Give the stream up, telling the producer why."""
        check(lib.sstream_consumer_abort(self._live(), None if reason is None else encode(reason)))

    @property
    def messages(self) -> int:
        """Records received so far."""
        return int(lib.sstream_consumer_messages(self._live()))

    @property
    def bytes(self) -> int:
        """Payload bytes received so far."""
        return int(lib.sstream_consumer_bytes(self._live()))

    def destroy(self) -> None:
        _native.destroy(lib.sstream_consumer_destroy, self._handle.value)
        self._handle = ctypes.c_void_p()

    def _live(self) -> ctypes.c_void_p:
        if not self._handle.value:
            raise ClosedError(errors.ECLOSED, "the consumer was destroyed")
        return self._handle

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException],
                 traceback: Any) -> None:
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

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self.destroy()


class Gateway:
    """A gateway running in this process (in a thread of its own).

    Gateway(config) where config is a ZPL file's path, or a dict:
    {"gateway": {"name": "a"}, "local": {"endpoint": "tcp://*:7001", ...}}
    or {"local/endpoint": ...}. See the README's Configuration.
    """

    def __init__(self, config: Union[PathLike, Mapping[str, Any]]) -> None:
        self._handle = ctypes.c_void_p()
        if isinstance(config, Mapping):
            settings = _Config()
            try:
                settings.set_tree(config)
                check(lib.sstream_gateway_new(ctypes.byref(self._handle), settings.handle))
            finally:
                settings.close()
        else:
            check(lib.sstream_gateway_load(ctypes.byref(self._handle), encode(config)))

    def endpoint(self, link: str = "local") -> Optional[str]:
        """Where a link is bound ("local" or "peer"), with the real port."""
        found = lib.sstream_gateway_endpoint(self._live(), encode(link))
        return found.decode() if found else None

    def stat(self, name: str) -> int:
        """A statistic: streams, buffered, buffered-peak, bytes-in,
        bytes-out, malformed, aborted, completed, peer-up,
        handshake-failures."""
        value = ctypes.c_uint64()
        check(lib.sstream_gateway_stat(self._live(), encode(name), ctypes.byref(value)))
        return int(value.value)

    def close(self) -> None:
        """Stop: open streams are aborted and both ends told."""
        _native.destroy(lib.sstream_gateway_destroy, self._handle.value)
        self._handle = ctypes.c_void_p()

    def _live(self) -> ctypes.c_void_p:
        if not self._handle.value:
            raise ClosedError(errors.ECLOSED, "the gateway was closed")
        return self._handle

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self.close()
