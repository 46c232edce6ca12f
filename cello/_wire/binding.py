"""What a generated stub module tells the runtime about each rpc."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class MethodBinding:
    """One rpc: its wire types, its converters, and how the user's handler is called.

    `style` is one of "message", "wrapper", "params", "none" (see codegen.model.HandlerStyle).
    `response_shape` is the response's Python shape (see codegen.model.PyShape).
    """

    service: str
    name: str
    python_name: str
    client_streaming: bool
    server_streaming: bool
    style: str
    request_type: type
    response_type: type
    decode_request: Callable[[Any], Any]
    encode_request: Callable[[Any], Any]
    decode_response: Callable[[Any], Any]
    encode_response: Callable[[Any], Any]
    response_shape: str = "dataclass"
    # a dict returned by a typed handler → the response (a generated `_encd_`), if any
    encode_response_dict: Callable[[Any], Any] | None = None

    @property
    def request_is_struct(self) -> bool:
        """The request is `google.protobuf.Struct`: the handler sees a dict."""
        name: str = self.request_type.DESCRIPTOR.full_name  # type: ignore[attr-defined]
        return name == "google.protobuf.Struct"

    @property
    def path(self) -> str:
        """The HTTP/2 path, `/package.Service/Method`."""
        return f"/{self.service}/{self.name}"

    @property
    def kind(self) -> str:
        """`unary_unary`, `unary_stream`, `stream_unary` or `stream_stream`."""
        left = "stream" if self.client_streaming else "unary"
        right = "stream" if self.server_streaming else "unary"
        return f"{left}_{right}"


@dataclass(frozen=True, slots=True)
class ServiceBinding:
    """One service of a generated stub module."""

    full_name: str
    name: str
    python_class: str  # "module:QualName" of the GrpcService it was built from
    methods: tuple[MethodBinding, ...]
    proto_file: str
