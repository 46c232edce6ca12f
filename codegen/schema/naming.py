"""Protobuf naming rules: case conversions and identifier validation.

Invariant: every string of the schema model that a template prints (proto names, packages,
Python module paths, qualnames, attribute and field names) went through a check of this
module, so it is an ASCII identifier or a dotted path of them. Templates never see quotes,
newlines or spaces from user code; `tests/codegen/test_names.py` walks the model to prove it.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from cello._errors import DefinitionError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")

# Python's hard keywords, the same on 3.11, 3.12 and 3.13 (`keyword.kwlist`). Soft keywords
# (`_`, `case`, `match`, and `type` since 3.12) are valid names everywhere, so they are
# allowed; spelling the list out keeps the result independent of the running Python.
PYTHON_KEYWORDS = frozenset(
    """False None True and as assert async await break class continue def del elif else except
    finally for from global if import in is lambda nonlocal not or pass raise return try while
    with yield""".split()
)
_PACKAGE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\Z")

# Words of the protobuf language; a field or message spelled like one confuses readers and
# some code generators, so Cello refuses them.
PROTO_KEYWORDS = frozenset(
    """syntax edition import weak public package option message enum service rpc returns stream
    oneof map reserved extensions extend to max optional required repeated group true false inf
    nan double float int32 int64 uint32 uint64 sint32 sint64 fixed32 fixed64 sfixed32 sfixed64
    bool string bytes""".split()
)


def to_snake(name: str) -> str:
    """`userId` → `user_id`, `HTTPCode` → `http_code`, `user_id` stays."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return name.lower()


def to_upper_snake(name: str) -> str:
    """`PaymentState` → `PAYMENT_STATE`."""
    return to_snake(name).upper()


def to_camel(name: str) -> str:
    """`user_id` → `userId` (the JSON name protobuf derives)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def check_identifier(name: str, *, what: str, where: str) -> str:
    """Return `name` if it is a safe protobuf and Python identifier, else raise.

    Every proto name that reaches a template passes through here (see the module docstring
    for the other checks), so user code cannot inject text into generated files.
    """
    if not isinstance(name, str) or not _IDENT.match(name):
        raise DefinitionError(
            f"{where}: {what} {name!r} is not a valid identifier; use letters, digits and `_`"
        )
    if name in PROTO_KEYWORDS:
        raise DefinitionError(
            f"{where}: {what} {name!r} is a protobuf keyword; rename it (e.g. {name}_value)"
        )
    if name in PYTHON_KEYWORDS:
        raise DefinitionError(f"{where}: {what} {name!r} is a Python keyword; rename it")
    return name


def check_field_name(name: str, *, what: str, where: str) -> str:
    """Return `name` if it can name a field (or oneof, or enum value), else raise.

    Any identifier protoc accepts is allowed, protobuf keywords such as `message` included:
    contracts use them. Refused are what protoc refuses and Python keywords, which the
    generated stubs could not spell as attributes or keyword arguments; the message says
    which of the two it is.
    """
    if not isinstance(name, str) or not _IDENT.match(name):
        raise DefinitionError(
            f"{where}: {what} {name!r} is refused by protoc (not an identifier); "
            "use letters, digits and `_`, not starting with a digit"
        )
    if name in PYTHON_KEYWORDS:
        raise DefinitionError(
            f"{where}: {what} {name!r} is a Python keyword, which would break the generated "
            f"Python stubs (protoc accepts it); rename it (e.g. {name}_)"
        )
    return name


def check_json_name(name: str, *, where: str) -> str:
    """Return a declared `json_name` if it is an identifier (so it prints safely in a
    `.proto` and reads as a JSON key), else raise."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise DefinitionError(
            f"{where}: json_name {name!r} is not a valid identifier; use letters, digits "
            "and `_`, such as `userId`"
        )
    return name


def check_python_name(name: Any, *, what: str, where: str) -> str:
    """Return `name` if it is an ASCII Python identifier and no hard keyword, else raise.

    For names that stay on the Python side (rpc attributes, field and member names): generated
    code spells them out, so anything else would be a syntax error or injected code.
    """
    if not isinstance(name, str) or not _IDENT.match(name):
        fix = "use ASCII letters, digits and `_`"
        if isinstance(name, str) and name.isidentifier():
            fix = "generated stubs and protobuf names are ASCII; rename it with ASCII letters"
        raise DefinitionError(f"{where}: {what} {name!r} is not a valid name; {fix}")
    if name in PYTHON_KEYWORDS:
        raise DefinitionError(f"{where}: {what} {name!r} is a Python keyword; rename it")
    return name


def python_ref(cls: Any, *, where: str, importable: bool = True) -> tuple[str, str]:
    """`(module, qualname)` of a class that generated stubs import, checked and resolved.

    Both are printed into `_cello.py` (`import module`, `module.Qual.Name`), so each must be
    a dotted path of identifiers, and the qualname must lead back to this very class.
    A service class is only named in a string (`importable=False`): it may be local to a
    function, but its names still hold nothing but identifiers, dots and `<locals>`.
    """
    module, qualname = getattr(cls, "__module__", None), getattr(cls, "__qualname__", None)
    where = where.encode("unicode_escape").decode("ascii")  # one line, whatever it holds
    if not isinstance(module, str) or not _DOTTED.match(module) or _has_keyword(module):
        raise DefinitionError(
            f"{where}: module name {module!r} is not a dotted path of Python identifiers; "
            "define the class in an importable module"
        )
    if not importable:
        if not isinstance(qualname, str) or not _DOTTED.match(qualname.replace(".<locals>", "")):
            raise DefinitionError(
                f"{where}: __qualname__ {qualname!r} is not a dotted path of Python "
                "identifiers; do not overwrite __qualname__"
            )
        return module, qualname
    if "<locals>" in str(qualname):
        raise DefinitionError(
            f"{where}: types used by services must be defined at module level (generated "
            "stubs import them by name); move the class out of the function"
        )
    if not isinstance(qualname, str) or not _DOTTED.match(qualname) or _has_keyword(qualname):
        raise DefinitionError(
            f"{where}: __qualname__ {qualname!r} is not a dotted path of Python identifiers; "
            "do not overwrite __qualname__"
        )
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not cls:
        raise DefinitionError(
            f"{where}: {module}.{qualname} does not lead to this class (its __module__ or "
            "__qualname__ was changed, or another object took the name); define the class "
            "under its own name at module level"
        )
    return module, qualname


def _has_keyword(dotted: str) -> bool:
    return any(part in PYTHON_KEYWORDS for part in dotted.split("."))


def check_package(package: str, *, where: str) -> str:
    """Return `package` if it is a valid lower-case dotted protobuf package, else raise."""
    if not isinstance(package, str) or not _PACKAGE.match(package):
        raise DefinitionError(
            f"{where}: package {package!r} is not a valid protobuf package; use dotted "
            "lower-case identifiers such as `acme.users.v1`"
        )
    # words of the protobuf language are fine in a package (protoc takes `google.rpc`);
    # Python's are not: the generated modules live in folders named after the parts
    for part in package.split("."):
        if part in PYTHON_KEYWORDS:
            raise DefinitionError(f"{where}: package {package!r} contains the keyword {part!r}")
    return package


def package_from_module(module: str) -> str:
    """A protobuf package derived from a Python module name (`My-App.api` → `my_app.api`)."""
    parts = []
    for part in module.split("."):
        part = re.sub(r"[^a-z0-9_]", "_", to_snake(part).strip("_"))
        if not part or not part[0].isalpha():
            part = "m" + part
        if part in PROTO_KEYWORDS or part in PYTHON_KEYWORDS:
            part += "_"
        parts.append(part)
    return ".".join(parts)


_VERSION = re.compile(r"v\d+((alpha|beta|test)\d*)?\Z")


def file_path_for(package: str) -> str:
    """The `.proto` path of a package: a directory per component (as buf expects), named
    after the last component that is not a version: `acme.users.v1` → `acme/users/v1/users.proto`.
    """
    parts = package.split(".")
    named = [p for p in parts if not _VERSION.match(p)] or parts
    return f"{'/'.join(parts)}/{named[-1]}.proto"
