"""The optional betterproto target: dataclass stubs from the same `.proto` files."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

from cello._errors import GenerationError

from .protoc import _run, wkt_include

PLUGIN = "protoc-gen-python_betterproto"


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
    """Write betterproto modules for `protos` (relative to `out`) into `out/betterproto`."""
    from grpc_tools import protoc

    target = out / "betterproto"
    target.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"--proto_path={out}",
        f"--proto_path={wkt_include()}",
        f"--plugin={PLUGIN}={plugin_path()}",
        f"--python_betterproto_out={target}",
        *protos,
    ]
    code, message = _run(protoc.main, args)
    if code != 0:
        raise GenerationError(f"betterproto generation failed: {message.strip()}")
    return sorted(p for p in target.rglob("*.py"))
