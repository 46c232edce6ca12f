"""`cello-gen`: build stubs from service classes, or print a service's `.proto`."""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cello._errors import CelloError

from .build import generate, import_target, with_siblings, write_outputs
from .lock import write_lock


def project_config(start: Path) -> dict[str, Any]:
    """`[tool.cello]` from the nearest pyproject.toml at or above `start`."""
    for folder in (start, *start.parents):
        path = folder / "pyproject.toml"
        if path.exists():
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            section: dict[str, Any] = data.get("tool", {}).get("cello", {})
            return section
    return {}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cello-gen", description="Generate .proto files and stubs from GrpcService classes."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write .proto, _pb2, _pb2_grpc, .pyi and _cello stubs")
    build.add_argument("targets", nargs="*", metavar="MODULE[:Class]")
    build.add_argument("--out", help="output directory (default: [tool.cello] out, else ./generated)")
    build.add_argument("--package", help="protobuf package for services that set none")
    build.add_argument(
        "--betterproto", action="store_true", help="also emit betterproto dataclass stubs"
    )
    proto = sub.add_parser("proto", help="print the .proto of the targets")
    proto.add_argument("targets", nargs="+", metavar="MODULE[:Class]")
    proto.add_argument("--package", help="protobuf package for services that set none")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 bad definitions or generation, 2 usage)."""
    args = _parser().parse_args(argv)
    cwd = Path.cwd()
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))  # targets are modules of the project being built
    config = project_config(cwd)
    try:
        return _run(args, config, cwd)
    except CelloError as exc:
        print(f"cello-gen: error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, config: dict[str, Any], cwd: Path) -> int:
    targets = list(args.targets) or list(config.get("targets", []))
    if not targets:
        print(
            "cello-gen: error: no targets; pass MODULE[:Class] or set [tool.cello] targets",
            file=sys.stderr,
        )
        return 2
    package = args.package or config.get("package")
    services = with_siblings([c for t in targets for c in import_target(t)], package)
    _, texts = generate(services, default_package=package)
    if args.command == "proto":
        sys.stdout.write("\n".join(t for p, t in texts.items() if p.endswith(".proto")))
        return 0
    out = cwd / (args.out or config.get("out", "generated"))
    written = write_outputs(texts, out)
    written.append(write_lock(out, {"package": package, "targets": targets}))
    if args.betterproto or config.get("betterproto"):
        from .betterproto import generate_betterproto

        written += generate_betterproto(out, sorted(p for p in texts if p.endswith(".proto")))
    for path in written:
        print(path.relative_to(cwd) if path.is_relative_to(cwd) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
