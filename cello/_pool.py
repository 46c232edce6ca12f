"""Loading a `_pb2` module whose file is already in the descriptor pool with other content.

Protobuf keeps one global pool per process, and a file name or symbol may be added only
once. In a notebook or REPL a package grows as services are defined one after another, so
the same `.proto` file is generated again with more in it. Rather than fail, the new file
is added under a fresh name, holding only the definitions the pool lacks; definitions it
already has are reused when identical and refused (restart needed) when they changed.
"""

from __future__ import annotations

import ast
import re
import types
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from ._errors import StaleStubsError

_SERIALIZED = re.compile(r"AddSerializedFile\((b'.*?')\)", re.S)


def is_duplicate_file_error(exc: BaseException) -> bool:
    """True for the error protobuf raises when a file or symbol is already defined."""
    return isinstance(exc, TypeError) and "duplicate" in str(exc)


def load_supplement(module_name: str, pb2_path: Path) -> types.ModuleType:
    """A stand-in `_pb2` module exposing every message class of the file at `pb2_path`."""
    match = _SERIALIZED.search(pb2_path.read_text(encoding="utf-8"))
    if match is None:
        raise StaleStubsError(f"{pb2_path}: not a protoc-generated _pb2 module")
    wanted = descriptor_pb2.FileDescriptorProto.FromString(ast.literal_eval(match.group(1)))
    pool = descriptor_pool.Default()
    supplement = descriptor_pb2.FileDescriptorProto()
    supplement.CopyFrom(wanted)
    supplement.name = _fresh_name(pool, wanted.name)
    previous = pool.FindFileByName(wanted.name)
    supplement.dependency.append(previous.name)
    _keep_new_only(supplement, "message_type", pool.FindMessageTypeByName, wanted.package)
    _keep_new_only(supplement, "enum_type", pool.FindEnumTypeByName, wanted.package)
    _keep_new_only(supplement, "service", pool.FindServiceByName, wanted.package)
    if supplement.message_type or supplement.enum_type or supplement.service:
        pool.Add(supplement)
    module = types.ModuleType(module_name)
    module.__file__ = str(pb2_path)
    for message in wanted.message_type:
        descriptor = pool.FindMessageTypeByName(f"{wanted.package}.{message.name}")
        setattr(module, message.name, message_factory.GetMessageClass(descriptor))
    return module


def _fresh_name(pool: descriptor_pool.DescriptorPool, name: str) -> str:
    stem = name.removesuffix(".proto")
    for n in range(2, 10_000):
        candidate = f"{stem}.{n}.proto"
        try:
            pool.FindFileByName(candidate)
        except KeyError:
            return candidate
    raise StaleStubsError(f"{name} was redefined too many times in this process")


def _keep_new_only(file: Any, field: str, find: Any, package: str) -> None:
    """Drop definitions the pool has; refuse ones that changed since they were added."""
    items = getattr(file, field)
    keep = []
    for item in items:
        full = f"{package}.{item.name}"
        try:
            existing = find(full)
        except KeyError:
            keep.append(item)
            continue
        current = type(item)()
        existing.CopyToProto(current)
        if current != item:
            raise StaleStubsError(
                f"{full} changed since it was first loaded in this process; protobuf cannot "
                "redefine a type at run time, so restart the process"
            )
    del items[:]
    items.extend(keep)
