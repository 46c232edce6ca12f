"""The exception tree of Cello.

CelloError
├── DefinitionError      a service, method or type hint cannot be mapped to protobuf
├── GenerationError      protoc or a template failed, or built stubs are unusable
│   └── StaleStubsError  built stubs no longer match the service classes
├── GrpcError            a call ended with a non-OK gRPC status
├── TlsError             a certificate or key cannot be used (also a ValueError)
└── WireError            a message on the wire has a value Python cannot hold exactly
                         (also a ValueError: the server answers INVALID_ARGUMENT)

CelloWarning (a UserWarning)  a definition Cello serves, but probably not as meant
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class CelloError(Exception):
    """Root of every error Cello raises on purpose."""


class DefinitionError(CelloError):
    """A user definition (service, method, dataclass, type hint) has no valid protobuf mapping."""


class GenerationError(CelloError):
    """Producing or loading generated code failed (protoc, templates, stub files)."""


class StaleStubsError(GenerationError):
    """Stubs on disk were built from different service classes than the ones being served."""


class TlsError(CelloError, ValueError):
    """A TLS setting is unusable: a missing file, a mismatched key, an expired certificate."""


class WireError(CelloError, ValueError):
    """A received message holds a value its Python type cannot represent exactly.

    Raised by generated decoders (an unknown enum number, 0 for a required enum without a
    zero member, a timestamp finer than a microsecond) instead of changing the value. The
    server answers INVALID_ARGUMENT with the message; a typed client raises it.
    """


class CelloWarning(UserWarning):
    """A definition that works, but likely not as its author meant (e.g. a public `async def`
    on a service without `@grpc_method`, which is not served). Filter it by this category."""


_STATUS_NAMES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)


class GrpcError(CelloError):
    """A gRPC status: raise it in a handler to end the call with `code` and `message`.

    The 17 standard status codes are class constants (`GrpcError.NOT_FOUND == 5`).
    `details` are protobuf messages (e.g. `google.rpc.BadRequest`) sent as a
    `google.rpc.Status` in `grpc-status-details-bin`, which clients in any language read;
    on the client side they are the details the server sent.
    """

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    def __init__(
        self,
        code: int = UNKNOWN,
        message: str = "",
        *,
        metadata: dict[str, Any] | None = None,
        details: Sequence[Any] = (),
    ) -> None:
        code = int(code)
        if not 0 <= code < len(_STATUS_NAMES):
            raise ValueError(f"GrpcError code must be 0..16, got {code}")
        self.code = code
        self.message = message
        self.metadata = dict(metadata or {})
        self.details = list(details)
        super().__init__(f"{status_name(code)}: {message}" if message else status_name(code))

    @property
    def status_name(self) -> str:
        """The status code's name, e.g. ``"NOT_FOUND"``."""
        return status_name(self.code)


def status_name(code: int) -> str:
    """Name of a numeric gRPC status code (``5`` → ``"NOT_FOUND"``)."""
    return _STATUS_NAMES[code] if 0 <= code < len(_STATUS_NAMES) else f"STATUS_{code}"
