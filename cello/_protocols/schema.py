"""The schema of the served rpcs as a `FileDescriptorSet`, for web tools (`buf curl --schema`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._call.endpoint import Endpoint

SCHEMA_PATH = "/cello.schema.v1/FileDescriptorSet.binpb"
"""Where `GET` returns the binary `FileDescriptorSet` (the `.binpb` suffix tells buf its format)."""


def descriptor_set(endpoints: Iterable[Endpoint]) -> bytes:
    """The serialized `FileDescriptorSet` of the endpoints' `.proto` files and their imports,
    each file after the files it imports."""
    from google.protobuf import descriptor_pb2

    files: dict[str, Any] = {}
    for ep in endpoints:
        pool = ep.request_type.DESCRIPTOR.file.pool
        try:
            method = pool.FindMethodByName(ep.method[1:].replace("/", "."))
        except KeyError:
            roots = [ep.request_type.DESCRIPTOR.file, ep.response_type.DESCRIPTOR.file]
        else:
            roots = [method.containing_service.file]
        for root in roots:
            _add(root, files)
    fds = descriptor_pb2.FileDescriptorSet()
    for file in files.values():
        proto = fds.file.add()
        file.CopyToProto(proto)
    return fds.SerializeToString()


def _add(file: Any, files: dict[str, Any]) -> None:
    if file.name in files:
        return
    for dependency in file.dependencies:
        _add(dependency, files)
    files[file.name] = file
