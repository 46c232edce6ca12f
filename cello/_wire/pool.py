"""Loading a `_pb2` module whose file or symbols are already in the descriptor pool.

Protobuf keeps one global pool per process, and a file name or symbol may be added only
once. Two things collide there:

- In a notebook or REPL a package grows as services are defined one after another, so
  the same `.proto` file is generated again with more in it.
- Another project's `_pb2` modules (the official `grpc.health.v1` or `grpc.testing`
  stubs, say) may already hold the same file name or some of the same symbols.

Rather than fail, the new file is added under a fresh name, holding only the definitions
the pool lacks and importing the files that hold the rest. A definition the pool already
has is reused when identical; when it differs the error names the symbol, both files and
the fix.
"""

from __future__ import annotations

import ast
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import CelloError, DefinitionError, StaleStubsError

if TYPE_CHECKING:
    from google.protobuf import descriptor_pool

_SERIALIZED = re.compile(r"AddSerializedFile\((b'.*?')\)", re.S)


def is_duplicate_file_error(exc: BaseException) -> bool:
    """True for the error protobuf raises when a file or symbol is already defined."""
    return isinstance(exc, TypeError) and "duplicate" in str(exc)


def load_supplement(module_name: str, pb2_path: Path) -> types.ModuleType:
    """A stand-in `_pb2` module exposing every message class of the file at `pb2_path`.

    Raises:
        DefinitionError: a symbol of the file is already defined differently by another
            file in the process.
        StaleStubsError: a symbol changed since this process loaded it (restart needed).
    """
    # loaded only for a clash, which is rare: `descriptor_pb2` alone is a large module
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    match = _SERIALIZED.search(pb2_path.read_text(encoding="utf-8"))
    if match is None:
        raise StaleStubsError(f"{pb2_path}: not a protoc-generated _pb2 module")
    wanted = descriptor_pb2.FileDescriptorProto.FromString(ast.literal_eval(match.group(1)))
    pool = descriptor_pool.Default()
    supplement = descriptor_pb2.FileDescriptorProto()
    supplement.CopyFrom(wanted)
    supplement.name = _fresh_name(pool, wanted.name)
    owners: list[str] = []
    try:
        owners.append(pool.FindFileByName(wanted.name).name)
    except KeyError:  # a symbol clash with a file of another name, not our own file again
        pass
    package = wanted.package
    kinds: tuple[tuple[str, Callable[[str], Any]], ...] = (
        ("message_type", pool.FindMessageTypeByName),
        ("enum_type", pool.FindEnumTypeByName),
        ("service", pool.FindServiceByName),
    )
    for field, find in kinds:
        for owner in _keep_new_only(supplement, field, find, wanted, pb2_path):
            if owner not in owners:
                owners.append(owner)
    supplement.dependency.extend(o for o in owners if o not in supplement.dependency)
    if supplement.message_type or supplement.enum_type or supplement.service:
        pool.Add(supplement)
    module = types.ModuleType(module_name)
    module.__file__ = str(pb2_path)
    for message in wanted.message_type:
        descriptor = pool.FindMessageTypeByName(f"{package}.{message.name}")
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


def _keep_new_only(
    file: Any, field: str, find: Callable[[str], Any], wanted: Any, pb2_path: Path
) -> list[str]:
    """Drop definitions the pool has; refuse ones that differ. Returns their files' names."""
    items = getattr(file, field)
    keep = []
    owners = []
    for item in items:
        full = f"{wanted.package}.{item.name}" if wanted.package else item.name
        try:
            existing = find(full)
        except KeyError:
            keep.append(item)
            continue
        current = type(item)()
        existing.CopyToProto(current)
        owner = existing.file.name
        if current != item:
            raise _clash(full, owner, wanted.name, pb2_path)
        owners.append(owner)
    del items[:]
    items.extend(keep)
    return owners


def _clash(full: str, owner: str, name: str, pb2_path: Path) -> CelloError:
    stem = name.removesuffix(".proto")
    if owner == name or (owner.startswith(f"{stem}.") and owner.endswith(".proto")):
        # our own file, loaded earlier in this process with other content (notebook)
        return StaleStubsError(
            f"{full} changed since it was first loaded in this process; protobuf cannot "
            "redefine a type at run time, so restart the process"
        )
    return DefinitionError(
        f"{full} is defined twice: by {owner} (already loaded in this process, e.g. by "
        f"another project's _pb2 module) and, differently, by {name} ({pb2_path}); rename "
        "the Python class or give the service another `package`"
    )
