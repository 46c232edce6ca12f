"""Compile `.proto` files with grpcio-tools' bundled protoc, in-process."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from importlib import resources
from pathlib import Path

from cello._errors import GenerationError


def wkt_include() -> str:
    """The directory holding `google/protobuf/*.proto`, shipped inside grpcio-tools."""
    return str(resources.files("grpc_tools") / "_proto")


def googleapis_include() -> str:
    """The directory holding `google/api/annotations.proto`, shipped inside
    googleapis-common-protos (next to its `_pb2` modules)."""
    from google.api import annotations_pb2

    return str(Path(annotations_pb2.__file__).parent.parent.parent)


def compile_protos(proto_root: Path, files: list[str], out: Path, *, grpc: bool = True) -> None:
    """Run protoc on `files` (relative to `proto_root`), writing `_pb2`, `.pyi`, `_pb2_grpc`.

    Raises:
        GenerationError: carrying protoc's own message.
    """
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"--proto_path={proto_root}",
        f"--proto_path={wkt_include()}",
        f"--proto_path={googleapis_include()}",
        f"--python_out={out}",
        f"--pyi_out={out}",
    ]
    if grpc:
        args.append(f"--grpc_python_out={out}")
    args += sorted(files)
    code, message = _run(protoc.main, args)
    if code != 0:
        raise GenerationError(f"protoc failed on {', '.join(sorted(files))}: {message.strip()}")


def _run(main: object, args: list[str]) -> tuple[int, str]:
    """protoc writes errors to fd 2 from C++; capture it through a temporary file."""
    with tempfile.TemporaryFile(mode="w+b") as capture:
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            with contextlib.redirect_stderr(io.StringIO()):
                code = main(args)  # type: ignore[operator]
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        return int(code), capture.read().decode(errors="replace")
