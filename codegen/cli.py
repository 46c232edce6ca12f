"""`cello-gen`: build stubs from service classes, check them, or print a service's `.proto`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cello._definitions.service import GrpcService
from cello._errors import CelloError, DefinitionError

from .build import generate, import_target, stale_files, with_siblings, write_outputs
from .emit.openapi import document
from .evolution.breaking import Change, compare, describe, reservations
from .evolution.lock import LOCK_FILE, lock_from_schema, read_lock, write_lock
from .project import Project as Project  # re-exported: callers import them here
from .project import find_project as find_project
from .project import project_config as project_config
from .schema.targets import type_modules


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cello-gen", description="Generate .proto files and stubs from GrpcService classes."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write .proto, _pb2, _pb2_grpc, .pyi and _cello stubs")
    build.add_argument("targets", nargs="*", metavar="MODULE[:Class]")
    build.add_argument(
        "--out", help="output directory (default: [tool.cello] out, else ./generated)"
    )
    build.add_argument("--package", help="protobuf package for services that set none")
    build.add_argument(
        "--betterproto", action="store_true", help="also emit betterproto dataclass stubs"
    )
    build.add_argument(
        "--client",
        metavar="DIR",
        help="also write standalone typed clients (no server code needed) into DIR "
        "(default: [tool.cello] client)",
    )
    build.add_argument(
        "--allow-breaking",
        action="store_true",
        help="accept wire-breaking changes since the lock (removed numbers are still reserved), "
        "and let a reserved name come back with its old number (undo an unreleased change)",
    )
    check = sub.add_parser(
        "check",
        help="fail if the output is out of date or the change since the lock breaks clients",
    )
    check.add_argument("targets", nargs="*", metavar="MODULE[:Class]")
    check.add_argument("--out", help="the build's output directory (default as for build)")
    check.add_argument("--package", help="protobuf package for services that set none")
    check.add_argument(
        "--strict", action="store_true", help="JSON-breaking changes (renames) are errors too"
    )
    check.add_argument(
        "--client", metavar="DIR", help="also check the clients in DIR (see build --client)"
    )
    proto = sub.add_parser("proto", help="print the .proto of the targets")
    proto.add_argument("targets", nargs="+", metavar="MODULE[:Class]")
    proto.add_argument("--package", help="protobuf package for services that set none")
    proto.add_argument("--out", help="number fields with the lock of this build directory")
    openapi = sub.add_parser("openapi", help="write the OpenAPI 3.1 document of the REST routes")
    openapi.add_argument("targets", nargs="*", metavar="MODULE[:Class]")
    openapi.add_argument("--package", help="protobuf package for services that set none")
    openapi.add_argument(
        "--out", help="the file to write: .json, else YAML (default: print JSON to stdout)"
    )
    openapi.add_argument("--title", help="info.title (default: the services' names)")
    imp = sub.add_parser("import", help="write code-first Python modules for a .proto contract")
    imp.add_argument("protos", nargs="*", metavar="FILE.proto")
    imp.add_argument("-I", "--proto-path", action="append", default=[], metavar="DIR")
    imp.add_argument("--descriptor-set", metavar="FILE", help="a serialized FileDescriptorSet")
    imp.add_argument("--reflection", metavar="HOST:PORT", help="a live server's reflection")
    imp.add_argument("--out", help="directory for the modules (required)")
    imp.add_argument("--module-prefix", default="", help="package the modules go under")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code.

    0 ok; 1 bad definitions, failed generation, stale output or a breaking change; 2 usage.
    """
    args = _parser().parse_args(argv)
    cwd = Path.cwd()
    try:
        project = find_project(cwd)
    except CelloError as exc:
        _say("error", str(exc))
        return 1
    # a project's paths and imports are the same from any of its subfolders
    root = project.root if project is not None else cwd
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))  # targets are modules of the project being built
    config = project.config if project is not None else {}
    try:
        if args.command == "check":
            return _check(args, config, cwd, root)
        if args.command == "import":
            return _import(args, cwd)
        return _run(args, config, cwd, root)
    except CelloError as exc:
        _say("error", str(exc))
        return 1


def _openapi(
    args: argparse.Namespace,
    services: list[type[GrpcService]],
    package: str | None,
    config: dict[str, Any],
    cwd: Path,
) -> int:
    schema, _ = generate(services, default_package=package, file_options=_options(config))
    title = args.title or ", ".join(cls.name for cls in services)
    text = openapi_text(
        document(schema, title=title), yaml=bool(args.out) and not str(args.out).endswith(".json")
    )
    if not args.out:
        sys.stdout.write(text)
        return 0
    (cwd / str(args.out)).write_text(text, encoding="utf-8", newline="\n")
    _say("info", f"wrote {args.out}")
    return 0


def openapi_text(doc: dict[str, Any], *, yaml: bool) -> str:
    """The document as YAML (with PyYAML installed) or as JSON, which YAML reads too."""
    if yaml:
        try:
            import yaml as pyyaml
        except ImportError:
            pass
        else:
            return str(pyyaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _say(level: str, message: object) -> None:
    print(f"cello-gen: {level}: {message}", file=sys.stderr)


def _services(targets: Sequence[str], package: str | None) -> list[type[GrpcService]]:
    return with_siblings([c for t in targets for c in import_target(t)], package)


def _out(args: argparse.Namespace, config: dict[str, Any], cwd: Path, root: Path) -> Path:
    """`--out` is relative to where the user typed it; the configured one to the project."""
    if args.out:
        return cwd / str(args.out)
    return root / str(config.get("out", "generated"))


def _run(args: argparse.Namespace, config: dict[str, Any], cwd: Path, root: Path) -> int:
    targets = list(args.targets) or list(config.get("targets", []))
    if not targets:
        _say("error", "no targets; pass MODULE[:Class] or set [tool.cello] targets")
        return 2
    package = args.package or config.get("package")
    services = _services(targets, package)
    if args.command == "openapi":
        return _openapi(args, services, package, config, cwd)
    if args.command == "proto":
        lock = read_lock(cwd / args.out) if args.out else None
        _, texts = generate(
            services,
            default_package=package,
            lock=lock,
            file_options=_options(config),
            modules=type_modules(targets),
        )
        sys.stdout.write("\n".join(t for p, t in texts.items() if p.endswith(".proto")))
        return 0
    out = _out(args, config, cwd, root)
    lock = read_lock(out)
    # --allow-breaking also lets a reserved name come back with its old number (an undo)
    numbering = replace(lock, restore=True) if args.allow_breaking else lock
    schema, texts = generate(
        services,
        default_package=package,
        lock=numbering,
        file_options=_options(config),
        modules=type_modules(targets),
    )
    if not _accept(
        compare(lock, schema), allow_breaking=args.allow_breaking, lock_path=out / LOCK_FILE
    ):
        return 1
    reserved, restored = reservations(lock, schema)
    for item in reserved:
        _say("note", f"reserved {item}: removed since {LOCK_FILE}, so never reused")
    for item in restored:
        _say("warning", f"restored {item} from its reservation [accepted: --allow-breaking]")
    client_dir = args.client or config.get("client")
    client_texts = None
    if client_dir:
        from .emit.client import render_clients

        client_texts = render_clients(schema)  # may refuse a default: before writing anything
    written = write_outputs(texts, out)
    new_lock = lock_from_schema(schema, previous=lock, package=package, targets=tuple(targets))
    written.append(write_lock(out, new_lock))
    if client_texts is not None:
        written += write_outputs(client_texts, cwd / str(client_dir))
    if args.betterproto or config.get("betterproto"):
        from .emit.betterproto import generate_betterproto

        written += generate_betterproto(out, sorted(p for p in texts if p.endswith(".proto")))
    for path in written:
        print(path.relative_to(cwd) if path.is_relative_to(cwd) else path)
    return 0


def _accept(changes: list[Change], *, allow_breaking: bool, lock_path: Path) -> bool:
    """Report changes since the lock; False if a wire-breaking one is not allowed."""
    breaking = [c for c in changes if c.breaking]
    for change in changes:
        if change.breaking and not allow_breaking:
            _say("error", change)
        elif change.breaking:
            _say("warning", f"{change} [accepted: --allow-breaking]")
        else:
            _say("warning", change)
    if breaking and not allow_breaking:
        _say(
            "error",
            f"{len(breaking)} wire-breaking change(s) since {lock_path}; nothing written. "
            "Fix them, or pass --allow-breaking to accept them on purpose",
        )
        return False
    return True


def _check(args: argparse.Namespace, config: dict[str, Any], cwd: Path, root: Path) -> int:
    out = _out(args, config, cwd, root)
    if not (out / LOCK_FILE).exists():
        _say("error", f"{out / LOCK_FILE} not found; run `cello-gen build --out {out}` first")
        return 1
    lock = read_lock(out)
    targets = list(args.targets) or list(lock.targets) or list(config.get("targets", []))
    if not targets:
        _say("error", "no targets; pass MODULE[:Class] or set [tool.cello] targets")
        return 2
    package = args.package or lock.package or config.get("package")
    schema, texts = generate(
        _services(targets, package),
        default_package=package,
        lock=lock,
        file_options=_options(config),
        modules=type_modules(targets),
    )
    errors = [
        f"{_show(path, cwd)} is out of date with the code; run `cello-gen build --out "
        f"{_show(out, cwd)}`"
        for path in stale_files(out, texts)
    ]
    client_dir = args.client or config.get("client")
    if client_dir:
        from .emit.client import render_clients

        errors += [
            f"{_show(path, cwd)} is out of date with the code; run `cello-gen build --out "
            f"{_show(out, cwd)} --client {client_dir}`"
            for path in stale_files(cwd / str(client_dir), render_clients(schema))
        ]
    diff = describe(lock, schema)
    if diff:
        print(f"{_show(out, cwd)}: {len(diff)} schema change(s) since {LOCK_FILE}:")
        for line in diff:
            print(f"  {line}")
    warnings: list[str] = []
    for change in compare(lock, schema):
        (errors if change.breaking or args.strict else warnings).append(str(change))
    for line in warnings:
        _say("warning", line)
    for line in errors:
        _say("error", line)
    if not errors:
        print(f"{_show(out, cwd)}: up to date, no breaking changes since {LOCK_FILE}")
    return 1 if errors else 0


def _import(args: argparse.Namespace, cwd: Path) -> int:
    """`cello-gen import`: one input, modules written under `--out`."""
    from .importing import sources
    from .importing.importer import import_contract

    given = [bool(args.protos), bool(args.descriptor_set), bool(args.reflection)]
    if sum(given) != 1:
        _say(
            "error", "give one input: .proto files, --descriptor-set FILE or --reflection HOST:PORT"
        )
        return 2
    if not args.out:
        _say("error", "give the directory to write the modules in: --out DIR")
        return 2
    only = None
    if args.protos:
        paths = args.proto_path or ["."]
        names = [_proto_name(p, paths) for p in args.protos]
        files = sources.from_protos(names, paths)
        only = names
    elif args.descriptor_set:
        files = sources.from_file(cwd / args.descriptor_set)
    else:
        files = sources.from_reflection(args.reflection)
    texts = import_contract(files, module_prefix=args.module_prefix, only=only)
    out = cwd / args.out
    for rel, text in texts.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("__init__.py") and path.exists():
            continue
        path.write_text(text, encoding="utf-8", newline="\n")
        print(_show(path, cwd))
    return 0


def _proto_name(path: str, roots: list[str]) -> str:
    """A `.proto` argument as protoc names it: relative to the `-I` directory holding it."""
    for root in roots:
        full, base = Path(path).resolve(), Path(root).resolve()
        if full.is_relative_to(base):
            return full.relative_to(base).as_posix()
    return path


def _options(config: dict[str, Any]) -> dict[str, Any]:
    """`[tool.cello.options]`: file options by package or `.proto` path."""
    options = config.get("options", {})
    if not isinstance(options, dict):
        raise DefinitionError(
            f"[tool.cello] options must be a table such as "
            f'[tool.cello.options."acme.v1"], got {options!r}'
        )
    return options


def _show(path: Path, cwd: Path) -> Path:
    return path.relative_to(cwd) if path.is_relative_to(cwd) else path


if __name__ == "__main__":
    raise SystemExit(main())
