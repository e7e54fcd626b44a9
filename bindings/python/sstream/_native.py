"""Loading libsstream and declaring its C API for ctypes.

Nothing here adds behaviour: each function is the C function of the same
name (core/include/sstream.h). Every ctypes call releases the GIL.
"""

import ctypes
import importlib
import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Union

from . import errors

_SONAME = "libsstream.so.0"
#   As the path was given, symbolic links and all: _paths.py's relative
#   path is between the folders as CMake installed them
_HERE = Path(os.path.abspath(__file__)).parent


def _candidates() -> Iterator[Tuple[str, str]]:
    """Where to look, in order: SSTREAM_LIBRARY alone if it is set; else
    the library of the installation this package belongs to (_paths.py,
    which CMake writes into the installed package only), the build tree of
    the repository this package sits in, and the system's loader."""
    explicit = os.environ.get("SSTREAM_LIBRARY")
    if explicit:
        yield "SSTREAM_LIBRARY", explicit
        return
    try:
        _paths = importlib.import_module(__package__ + "._paths")
    except ImportError:
        pass
    else:
        beside = os.path.normpath(os.path.join(_HERE, _paths.LIBRARY_FROM_HERE))
        yield "installed beside this package", beside
        if _paths.LIBRARY != beside:
            yield "install location", _paths.LIBRARY
    top = _HERE.parents[2]
    if (top / "core" / "include" / "sstream.h").exists():
        yield "build tree", str(top / "build" / "core" / _SONAME)
    yield "system library path", _SONAME


def _load() -> Tuple[ctypes.CDLL, str]:
    tried = []
    for where, path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append("%s (%s): no such file" % (path, where))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as error:
            tried.append("%s (%s): %s" % (path, where, error))
    raise ImportError(
        "sstream: cannot find libsstream; looked at " + "; ".join(tried)
        + ". Build it (see the README's quick start), install it with "
        "'cmake --install build', or set SSTREAM_LIBRARY to its path.")


#   The library, and the path it was loaded from
lib, path = _load()

_c = ctypes
_handle = _c.c_void_p
_handle_p = _c.POINTER(_c.c_void_p)


def _declare(name: str, restype: Any, *argtypes: Any) -> None:
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)


_declare("sstream_strerror", _c.c_char_p, _c.c_int)
_declare("sstream_errmsg", _c.c_char_p)
_declare("sstream_version", _c.c_char_p)
_declare("sstream_keygen", _c.c_int, _c.c_char_p, _c.c_char_p)
_declare("sstream_set_log_level", None, _c.c_int)

_declare("sstream_config_new", _c.c_int, _handle_p)
_declare("sstream_config_load", _c.c_int, _handle_p, _c.c_char_p)
_declare("sstream_config_set", _c.c_int, _handle, _c.c_char_p, _c.c_char_p)
_declare("sstream_config_destroy", None, _handle_p)

_declare("sstream_producer_new", _c.c_int, _handle_p, _c.c_char_p, _c.c_char_p, _handle)
_declare("sstream_producer_send", _c.c_int, _handle, _c.c_void_p, _c.c_size_t,
         _c.c_void_p, _c.c_size_t, _c.c_int)
_RELEASE_FN = _c.CFUNCTYPE(None, _c.c_void_p, _c.c_void_p)
_declare("sstream_producer_give", _c.c_int, _handle, _c.c_void_p, _c.c_size_t,
         _c.c_void_p, _c.c_size_t, _RELEASE_FN, _c.c_void_p, _c.c_int)
_declare("sstream_producer_close", _c.c_int, _handle, _c.c_int)
_declare("sstream_producer_messages", _c.c_uint64, _handle)
_declare("sstream_producer_bytes", _c.c_uint64, _handle)
_declare("sstream_producer_destroy", None, _handle_p)

_declare("sstream_consumer_new", _c.c_int, _handle_p, _c.c_char_p, _c.c_char_p, _handle)
_declare("sstream_consumer_recv", _c.c_int, _handle, _handle_p, _c.c_int)
_declare("sstream_consumer_close", _c.c_int, _handle, _c.c_int)
_declare("sstream_consumer_abort", _c.c_int, _handle, _c.c_char_p)
_declare("sstream_consumer_messages", _c.c_uint64, _handle)
_declare("sstream_consumer_bytes", _c.c_uint64, _handle)
_declare("sstream_consumer_destroy", None, _handle_p)

_declare("sstream_message_data", _c.c_void_p, _handle)
_declare("sstream_message_size", _c.c_size_t, _handle)
_declare("sstream_message_seq", _c.c_uint64, _handle)
_declare("sstream_message_meta", _c.c_void_p, _handle, _c.POINTER(_c.c_size_t))
_declare("sstream_message_destroy", None, _handle_p)

_declare("sstream_gateway_new", _c.c_int, _handle_p, _handle)
_declare("sstream_gateway_load", _c.c_int, _handle_p, _c.c_char_p)
_declare("sstream_gateway_endpoint", _c.c_char_p, _handle, _c.c_char_p)
_declare("sstream_gateway_stat", _c.c_int, _handle, _c.c_char_p, _c.POINTER(_c.c_uint64))
_declare("sstream_gateway_destroy", None, _handle_p)

#   Codes from sstream.h
OK = 0
ETIMEDOUT = 7
EINTR = 14             # a signal came: Python runs its handler, then we go on
EEND = 16
FOREVER = -1


def check(rc: int) -> None:
    """Raise the exception for a non-zero return code, with the library's
    one-line message for this thread."""
    if rc != OK:
        message = lib.sstream_errmsg().decode("utf-8", "replace")
        raise errors.from_code(rc, message)


def encode(text: Union[str, bytes, "os.PathLike[str]", int, float]) -> bytes:
    if isinstance(text, os.PathLike):
        text = os.fspath(text)
    if isinstance(text, bytes):
        return text
    return str(text).encode("utf-8")


def destroy(function: Callable[[Any], None], handle: Optional[int]) -> None:
    """Call a C destroy function (which takes a pointer to the handle)."""
    if handle:
        pointer = _c.c_void_p(handle)
        function(_c.byref(pointer))


#   Borrowing the memory of any Python buffer without copying it, read-only
#   buffers (bytes, read-only numpy arrays) included: PyObject_GetBuffer.

class _PyBuffer(_c.Structure):
    _fields_ = [("buf", _c.c_void_p), ("obj", _c.c_void_p), ("len", _c.c_ssize_t),
                ("itemsize", _c.c_ssize_t), ("readonly", _c.c_int), ("ndim", _c.c_int),
                ("format", _c.c_char_p), ("shape", _c.c_void_p), ("strides", _c.c_void_p),
                ("suboffsets", _c.c_void_p), ("internal", _c.c_void_p)]


_get_buffer = _c.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [_c.py_object, _c.POINTER(_PyBuffer), _c.c_int]
_get_buffer.restype = _c.c_int
_release_buffer = _c.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [_c.POINTER(_PyBuffer)]
_release_buffer.restype = None
_PyBUF_C_CONTIGUOUS = 0x0038                # PyBUF_C_CONTIGUOUS, read-only allowed


class given:
    """Buffers handed to the library without a copy (sstream_producer_give):
    each is held (PyObject_GetBuffer) until the library calls release, from
    any of its threads, with the number it was given under."""

    _lock = threading.Lock()
    _held: Dict[int, _PyBuffer] = {}
    _next = 1

    @classmethod
    def hold(cls, data: Any) -> Tuple[int, int, int]:
        """Pin data; (number, address, size)."""
        view = _PyBuffer()
        try:
            _get_buffer(data, _c.byref(view), _PyBUF_C_CONTIGUOUS)
        except (BufferError, TypeError, ValueError) as error:
            raise errors.InvalidArgumentError(
                errors.EINVAL,
                "data must be bytes-like and C-contiguous (%s)" % error) from None
        with cls._lock:
            number = cls._next
            cls._next += 1
            cls._held[number] = view
        return number, view.buf or 0, view.len

    @classmethod
    def drop(cls, number: int) -> None:
        with cls._lock:
            view = cls._held.pop(number, None)
        if view is not None:
            _release_buffer(_c.byref(view))


def _release(data: Optional[int], arg: int) -> None:
    given.drop(arg)


#   What the library calls, from any of its threads, when it is done with a
#   given buffer
release = _RELEASE_FN(_release)


class pinned:
    """with pinned(obj) as (address, size): the buffer's memory, held."""

    def __init__(self, data: Any) -> None:
        self._data = data
        self._view = _PyBuffer()

    def __enter__(self) -> Tuple[int, int]:
        try:
            _get_buffer(self._data, _c.byref(self._view), _PyBUF_C_CONTIGUOUS)
        except (BufferError, TypeError, ValueError) as error:
            raise errors.InvalidArgumentError(
                errors.EINVAL,
                "data must be bytes-like and C-contiguous (%s)" % error) from None
        return self._view.buf or 0, self._view.len

    def __exit__(self, *exc: object) -> None:
        _release_buffer(_c.byref(self._view))
