"""The round trip of `cello-gen import`: descriptors → modules → `cello-gen build` → descriptors."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path

from google.protobuf import descriptor_pb2

from cello.codegen.build import generate
from cello.codegen.emit.protoc import _run, wkt_include
from cello.codegen.importing.importer import import_contract, json_name
from cello.codegen.schema.targets import module_services


def write(texts: dict[str, str], root: Path) -> None:
    for rel, text in texts.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def round_trip(
    files: descriptor_pb2.FileDescriptorSet, names: list[str], scratch: Path, prefix: str
) -> dict[str, tuple[descriptor_pb2.FileDescriptorProto, descriptor_pb2.FileDescriptorProto]]:
    """Import `names` from `files` under `prefix`, build the modules again, and return
    `{file: (original, rebuilt)}` with `source_code_info` cleared.

    Raises:
        ImportRefusedError: the import refuses a file.
    """
    from grpc_tools import protoc

    texts = import_contract(files, module_prefix=prefix, only=names)
    src = scratch / "src"
    write(texts, src)
    sys.path.insert(0, str(src))
    try:
        importlib.invalidate_caches()
        modules = [
            importlib.import_module(rel.removesuffix(".py").replace("/", "."))
            for rel in texts
            if not rel.endswith("__init__.py")
        ]
    finally:
        sys.path.remove(str(src))
    services = [s for m in modules for s in module_services(m)]
    typed = [m.__name__ for m in modules if not module_services(m)]
    _, built = generate(services, modules=typed)
    protos = scratch / "protos"
    write({p: t for p, t in built.items() if p.endswith(".proto")}, protos)
    out = scratch / "set.pb"
    rebuilt_names = sorted(p for p in built if p.endswith(".proto"))
    args = ["protoc", f"-I{protos}", f"-I{wkt_include()}", f"-o{out}", *rebuilt_names]
    code, message = _run(protoc.main, args)
    assert code == 0, message
    rebuilt = {
        f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    }
    originals = {f.name: f for f in files.file}
    result = {}
    for rel in texts:
        if rel.endswith("__init__.py"):
            continue
        name = rel.removeprefix(prefix.replace(".", "/") + "/").removesuffix(".py") + ".proto"
        original = descriptor_pb2.FileDescriptorProto()
        original.CopyFrom(originals[name])
        original.ClearField("source_code_info")
        _default_json_names(original)
        result[name] = (original, rebuilt.get(name, descriptor_pb2.FileDescriptorProto()))
    return result


def _default_json_names(file: descriptor_pb2.FileDescriptorProto) -> None:
    """A `_pb2` module's embedded descriptor leaves out the JSON names protoc derives;
    fill them in as protoc does, so it compares with a compiled one."""

    def walk(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
        for m in messages:
            for f in m.field:
                if not f.HasField("json_name"):
                    f.json_name = json_name(f.name)
            walk(m.nested_type)

    walk(file.message_type)
