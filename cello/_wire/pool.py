"""Loading a `_pb2` module whose file or symbols are already in the descriptor pool.

Protobuf keeps one global pool per process, and a file name or symbol may be added only
once. Two things collide there:

- In a notebook or REPL a package grows as services are defined one after another, so
  the same `.proto` file is generated again with more in it.
- Another project's `_pb2` modules (the official `grpc.health.v1` or `grpc.testing`
  stubs, say) may already hold the same file name or some of the same symbols.

Rather than fail, the new file is added under a fresh name, holding only the definitions
the pool lacks and importing the files that hold the rest. A definition the pool already
has is reused when identical (a service also when it has every rpc Cello serves, as the
official contract of a service implementing some of its rpcs does); when it differs the
error names the symbol, both files and the fix. The stand-in module exposes what protoc's
`_pb2` module would: `DESCRIPTOR`, message classes, enums and their values, extensions and
the `_UPPER` descriptors.

Only a definition this process's Cello stubs added earlier can be "stale" (a class edited
in a notebook); one that another project's `_pb2` added is that project's contract.
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
# the files Cello's own stubs put in the pool: only a change to one of them is "stale"
_ours: set[str] = set()


def record_loaded(file_name: str) -> None:
    """Note that Cello's stubs added the file `file_name` to the pool."""
    _ours.add(file_name)


def is_duplicate_file_error(exc: BaseException) -> bool:
    """True for the error protobuf raises when a file or symbol is already defined."""
    return isinstance(exc, TypeError) and "duplicate" in str(exc)


def load_supplement(module_name: str, pb2_path: Path) -> types.ModuleType:
    """A stand-in `_pb2` module exposing what protoc's module of the file at `pb2_path` does.

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
    kinds: tuple[tuple[str, Callable[[str], Any]], ...] = (
        ("message_type", pool.FindMessageTypeByName),
        ("enum_type", pool.FindEnumTypeByName),
        ("service", pool.FindServiceByName),
        ("extension", pool.FindExtensionByName),
    )
    for field, find in kinds:
        for owner in _keep_new_only(supplement, field, find, wanted, pb2_path):
            if owner not in owners:
                owners.append(owner)
    supplement.dependency.extend(o for o in owners if o not in supplement.dependency)
    described = owners[0] if owners else wanted.name  # the file holding what was reused
    if any(getattr(supplement, field) for field, _ in kinds):
        pool.Add(supplement)
        _ours.add(supplement.name)
        described = supplement.name
    file = pool.FindFileByName(described)
    return _stand_in(module_name, pb2_path, wanted, pool, file, message_factory)


def _stand_in(
    module_name: str, pb2_path: Path, wanted: Any, pool: Any, file: Any, factory: Any
) -> types.ModuleType:
    """A module with the names protoc's `_pb2` module of `wanted` has, each found in the pool
    (whichever file now holds it), as `google.protobuf.internal.builder` would set them."""
    from google.protobuf.internal import enum_type_wrapper

    module = types.ModuleType(module_name)
    module.__file__ = str(pb2_path)
    names = module.__dict__
    names["DESCRIPTOR"] = file
    prefix = f"{wanted.package}." if wanted.package else ""
    for enum in wanted.enum_type:
        descriptor = pool.FindEnumTypeByName(prefix + enum.name)
        names[f"_{enum.name.upper()}"] = descriptor
        names[enum.name] = enum_type_wrapper.EnumTypeWrapper(descriptor)
        for value in descriptor.values:
            names[value.name] = value.number
    for extension in wanted.extension:
        descriptor = pool.FindExtensionByName(prefix + extension.name)
        names[f"{extension.name.upper()}_FIELD_NUMBER"] = descriptor.number
        names[extension.name] = descriptor
    for service in wanted.service:
        names[f"_{service.name.upper()}"] = pool.FindServiceByName(prefix + service.name)
    for message in wanted.message_type:
        descriptor = pool.FindMessageTypeByName(prefix + message.name)
        _nested_descriptors(names, descriptor, f"_{message.name.upper()}")
        names[message.name] = factory.GetMessageClass(descriptor)
    return module


def _nested_descriptors(names: dict[str, Any], descriptor: Any, name: str) -> None:
    names[name] = descriptor
    for nested in descriptor.nested_types:
        _nested_descriptors(names, nested, f"{name}_{nested.name.upper()}")
    for enum in descriptor.enum_types:
        names[f"{name}_{enum.name.upper()}"] = enum


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
        if current != item and not _serves_within(item, current):
            raise _clash(full, owner, wanted.name, pb2_path)
        owners.append(owner)
    del items[:]
    items.extend(keep)
    return owners


def _serves_within(ours: Any, existing: Any) -> bool:
    """Whether service `ours` is `existing` less some rpcs: a server implementing part of a
    published contract whose official `_pb2` module is loaded (reflection then lists the
    official service, whose other rpcs answer UNIMPLEMENTED)."""
    from google.protobuf import descriptor_pb2

    if not isinstance(ours, descriptor_pb2.ServiceDescriptorProto) or ours.options != (
        existing.options
    ):
        return False
    methods = {m.name: m for m in existing.method}
    return all(methods.get(m.name) == m for m in ours.method)


def _clash(full: str, owner: str, name: str, pb2_path: Path) -> CelloError:
    if owner in _ours:
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
