"""The import lines a generated module needs, computed from its rendered body."""

from __future__ import annotations

import re

from ..model import FileDef
from .converters import TYPE_MODULES, WKT_MODULES, import_aliases

_ABC = ("AsyncIterable", "AsyncIterator", "Iterable")
_CELLO = {  # alias → import line, in ruff's isort order
    "_c": "from cello import _convert as _c",
    "_w": "from cello import _wire as _w",
    "_Method": "from cello._binding import MethodBinding as _Method",
    "_Service": "from cello._binding import ServiceBinding as _Service",
    "_Metadata": "from cello._client import Metadata as _Metadata",
    "_Client": "from cello._client import StubClient as _Client",
}


def relative_package(here: str, there: str) -> str:
    """The relative import of the folder of file `there` from the folder of file `here`:
    `.` for the same folder, `..common.v1` for a sibling package's."""
    a = here.rsplit("/", 1)[0].split("/") if "/" in here else []
    b = there.rsplit("/", 1)[0].split("/") if "/" in there else []
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    return "." * (len(a) - common + 1) + ".".join(b[common:])


def stub_imports(body: str, file: FileDef, module_alias: dict[str, str]) -> dict[str, object]:
    """The import lines the stub body uses, grouped and sorted as ruff's isort wants them."""
    used = set(re.findall(r"(?<![\w.])[A-Za-z_][A-Za-z0-9_]*\b", body))  # not attributes
    wkt = sorted(set(WKT_MODULES.values()))
    local = [(".", f"{file.module_stem}_pb2", "_pb2")]
    local += [
        (
            relative_package(file.path, path),
            path.rsplit("/", 1)[-1].removesuffix(".proto") + suffix,
            prefix + alias,
        )
        for prefix, suffix in (("_s_", "_cello"), ("_p_", "_pb2"))
        for path, alias in import_aliases(file).items()
    ]
    return {
        "datetime": "_dt" in used,
        "abc": [name for name in _ABC if name in used],
        "any": "Any" in used,
        "cello": [line for alias, line in _CELLO.items() if alias in used],
        # ruff's isort order: the furthest relative package first
        "local": sorted(
            (item for item in local if item[2] in used),
            key=lambda i: (len(i[0].lstrip(".")) - len(i[0]), i[0], i[1]),
        ),
        "wkt_modules": [m for m in wkt if f"_{m}" in used and m not in TYPE_MODULES],
        "type_modules": [m for m in wkt if f"_{m}" in used and m in TYPE_MODULES],
        "user_modules": sorted((m, alias) for m, alias in module_alias.items() if alias in used),
    }


def client_imports(body: str, *, pb2: bool) -> list[str]:
    """The import lines the body uses (so the module passes `ruff check` as written)."""
    stdlib = []
    if "_dt." in body:
        stdlib.append("import datetime as _dt")
    if "enum.IntEnum" in body:
        stdlib.append("import enum")
    abc = sorted(
        n
        for n in ("AsyncIterable", "AsyncIterator", "Iterable", "Iterator")
        if re.search(rf"\b{n}\[", body)
    )
    if abc:
        stdlib.append(f"from collections.abc import {', '.join(abc)}")
    if "@dataclass" in body:
        stdlib.append("from dataclasses import dataclass")
    if "_field(" in body:
        stdlib.append("from dataclasses import field as _field")
    if pb2:
        stdlib.append("from importlib import import_module")
    if re.search(r"\bAny\b", body):
        stdlib.append("from typing import Any")
    return stdlib


def client_modules(body: str, file: FileDef) -> list[tuple[str, str, str]]:
    """`(alias, dotted module, kind)` of the `_pb2` modules and sibling clients the body uses.

    A client module reaches the types of its package's other files through their modules:
    their classes and converters from `<stem>_client`, their wire classes from `<stem>_pb2`.
    """
    package = file.path.rsplit("/", 1)[0].replace("/", ".")
    out = [("_pb2", f"{package}.{file.module_stem}_pb2", "pb2")]
    aliases = import_aliases(file)
    for path in file.imports:
        if path in WKT_MODULES:
            continue
        dotted = path.removesuffix(".proto").replace("/", ".")
        out.append((f"_p_{aliases[path]}", f"{dotted}_pb2", "pb2"))
        out.append((f"_s_{aliases[path]}", f"{dotted}_client", "client"))
    return [m for m in out if re.search(rf"(?<![\w.]){m[0]}\.", body)]
