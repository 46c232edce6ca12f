"""Where `cello-gen import` reads a contract: `.proto` files, a descriptor set, or reflection."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pb2 as d

from cello._errors import GenerationError

from ..emit.protoc import _run, wkt_include


def from_protos(
    files: Sequence[str], proto_path: Sequence[str]
) -> descriptor_pb2.FileDescriptorSet:
    """Compile `.proto` files (with their imports and comments) into a descriptor set.

    Raises:
        GenerationError: carrying protoc's own message.
    """
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory(prefix="cello-import-") as scratch:
        out = Path(scratch) / "set.pb"
        args = ["protoc", *(f"--proto_path={p}" for p in proto_path)]
        args += [f"--proto_path={wkt_include()}", "--include_imports", "--include_source_info"]
        args += [f"--descriptor_set_out={out}", *files]
        code, message = _run(protoc.main, args)
        if code != 0:
            raise GenerationError(f"protoc failed on {', '.join(files)}: {message.strip()}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def from_file(path: Path) -> descriptor_pb2.FileDescriptorSet:
    """A serialized `FileDescriptorSet` (`protoc --include_imports -o`, `buf build -o`).

    Raises:
        GenerationError: the file is not a descriptor set.
    """
    try:
        return descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    except Exception as exc:
        raise GenerationError(
            f"{path}: not a serialized FileDescriptorSet ({exc}); write one with "
            "`protoc --include_imports -o FILE` or `buf build -o FILE`"
        ) from exc


def from_reflection(target: str, *, timeout: float = 10.0) -> descriptor_pb2.FileDescriptorSet:
    """Every file a live server's reflection serves for its services, with their imports;
    `grpc.reflection.v1` first, then `v1alpha`.

    Raises:
        GenerationError: the server does not answer reflection.
    """
    import grpc

    errors = []
    for version in ("v1", "v1alpha"):
        try:
            return _reflect(grpc, target, version, timeout)
        except grpc.RpcError as exc:
            errors.append(f"{version}: {exc.code().name} {exc.details()}")
        except ImportError:  # grpcio-reflection before 1.62 has only v1alpha
            errors.append(f"{version}: not in this grpcio-reflection")
    raise GenerationError(f"{target}: server reflection failed ({'; '.join(errors)})")


def _reflect(grpc: Any, target: str, version: str, timeout: float) -> d.FileDescriptorSet:
    import importlib

    pb2 = importlib.import_module(f"grpc_reflection.{version}.reflection_pb2")
    pb2_grpc = importlib.import_module(f"grpc_reflection.{version}.reflection_pb2_grpc")
    with grpc.insecure_channel(target) as channel:
        stub = pb2_grpc.ServerReflectionStub(channel)

        def ask(**request: str) -> Any:
            (reply,) = list(
                stub.ServerReflectionInfo(
                    iter([pb2.ServerReflectionRequest(**request)]), timeout=timeout
                )
            )
            if reply.HasField("error_response"):
                raise GenerationError(f"{target}: reflection: {reply.error_response.error_message}")
            return reply

        services = [s.name for s in ask(list_services="").list_services_response.service]
        files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
        pending = [
            ("file_containing_symbol", s) for s in services if not s.startswith("grpc.reflection.")
        ]
        while pending:
            kind, value = pending.pop()
            reply = ask(**{kind: value})
            for raw in reply.file_descriptor_response.file_descriptor_proto:
                proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
                if proto.name not in files:
                    files[proto.name] = proto
                    pending += [("file_by_filename", d) for d in proto.dependency if d not in files]
    result = descriptor_pb2.FileDescriptorSet()
    result.file.extend(_dependency_order(files))
    return result


def _dependency_order(
    files: dict[str, descriptor_pb2.FileDescriptorProto],
) -> list[descriptor_pb2.FileDescriptorProto]:
    done: dict[str, descriptor_pb2.FileDescriptorProto] = {}

    def visit(name: str) -> None:
        if name in done or name not in files:
            return
        for dep in files[name].dependency:
            visit(dep)
        done[name] = files[name]

    for name in sorted(files):
        visit(name)
    return list(done.values())
