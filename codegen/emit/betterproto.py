"""The optional betterproto target: dataclass stubs from the same `.proto` files."""

from __future__ import annotations

import shutil
import sysconfig
import tempfile
from pathlib import Path

from cello._errors import GenerationError

from .protoc import _run, googleapis_include, wkt_include

PLUGIN = "protoc-gen-python_betterproto"
# Not "betterproto": with `out` on sys.path that directory would shadow the betterproto
# library itself, which every generated module imports.
TARGET = "betterproto_stubs"


def plugin_path() -> str:
    """Where betterproto's protoc plugin is: next to this Python, else on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / PLUGIN
    if beside.exists():
        return str(beside)
    found = shutil.which(PLUGIN)
    if found is None:
        raise GenerationError(
            f"{PLUGIN} not found; install the extra: pip install --pre 'cello-grpc[betterproto]'"
        )
    return found


def generate_betterproto(out: Path, protos: list[str]) -> list[Path]:
    """Write betterproto modules for `protos` (relative to `out`) into `out/betterproto_stubs`.

    The result is a package, `betterproto_stubs.<proto package>` with `out` on `sys.path`,
    so it can live beside the grpcio modules of the same proto package. The directory is
    replaced as a whole, so modules of removed packages do not linger; a failing protoc
    leaves it as it was.

    Returns:
        The paths written, sorted.

    Raises:
        GenerationError: the plugin is missing, or protoc failed (with its message).
    """
    from grpc_tools import protoc

    plugin = plugin_path()
    target = out / TARGET
    with tempfile.TemporaryDirectory(prefix="cello-betterproto-") as scratch:
        args = [
            "protoc",
            f"--proto_path={out}",
            f"--proto_path={wkt_include()}",
            f"--proto_path={googleapis_include()}",
            f"--plugin={PLUGIN}={plugin}",
            f"--python_betterproto_out={scratch}",
            *protos,
        ]
        code, message = _run(protoc.main, args)
        if code != 0:
            raise GenerationError(f"betterproto generation failed: {message.strip()}")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(scratch, target)
    return sorted(p for p in target.rglob("*.py"))
