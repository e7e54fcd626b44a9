"""Exceptions: one class per way a caller reacts differently.

Every exception carries the library's code (.code) and its one-line message
(str (error), also .message).
"""

import builtins
from typing import Dict, Type

EINVAL = 1
ENOMEM = 2
ECONFIG = 3
EKEY = 4
EAUTH = 5
EDENIED = 6
ETIMEDOUT = 7
EPROTO = 8
EPLUGIN = 9
ECLOSED = 10
EABORTED = 11
ELOST = 12
ETOOBIG = 13
EINTR = 14
EIO = 15


class SstreamError(Exception):
    """Anything libsstream reports."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ConfigurationError(SstreamError):
    """A bad option, config file, key file or transport plugin: fix the
    setup; retrying will not help."""


class KeyFileError(ConfigurationError):
    """A key file is missing, malformed, or readable by others."""


class AuthenticationError(SstreamError):
    """The gateway refused our key, or the handshake failed (wrong gateway
    key, security settings that differ)."""


class TimeoutError(SstreamError, builtins.TimeoutError):   # noqa: A001 - also the builtin
    """Nothing happened in time: the gateway is unreachable, or the path
    stayed full, or no message came."""


class ProtocolError(SstreamError):
    """The other side sent something the protocol does not allow."""


class RefusedError(SstreamError):
    """The gateway refused the request (stream busy, too many streams)."""


class StreamAbortedError(SstreamError):
    """The stream was aborted by another party: the producer or consumer
    went away or gave up, or a gateway stopped."""


class ConnectionLostError(StreamAbortedError):
    """The connection to the gateway, or between gateways, was lost."""


class InvalidArgumentError(SstreamError, ValueError):
    """A bad argument to a call."""


class ClosedError(SstreamError):
    """The producer or consumer is closed."""


_CLASSES: Dict[int, Type[SstreamError]] = {
    EINVAL: InvalidArgumentError,
    ECONFIG: ConfigurationError,
    EKEY: KeyFileError,
    EPLUGIN: ConfigurationError,
    EAUTH: AuthenticationError,
    EDENIED: RefusedError,
    ETIMEDOUT: TimeoutError,
    EPROTO: ProtocolError,
    ECLOSED: ClosedError,
    EABORTED: StreamAbortedError,
    ELOST: ConnectionLostError,
    ETOOBIG: InvalidArgumentError,
}


def from_code(code: int, message: str) -> SstreamError:
    return _CLASSES.get(code, SstreamError)(code, message)
