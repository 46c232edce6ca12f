"""Protobuf naming rules: case conversions and identifier validation."""

from __future__ import annotations

import keyword
import re

from cello._errors import DefinitionError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
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

    Every name that reaches a template passes through here, so user code cannot
    inject text into generated files.
    """
    if not isinstance(name, str) or not _IDENT.match(name):
        raise DefinitionError(
            f"{where}: {what} {name!r} is not a valid identifier; use letters, digits and `_`"
        )
    if name in PROTO_KEYWORDS:
        raise DefinitionError(
            f"{where}: {what} {name!r} is a protobuf keyword; rename it (e.g. {name}_value)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
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
    if keyword.iskeyword(name):
        raise DefinitionError(
            f"{where}: {what} {name!r} is a Python keyword, which would break the generated "
            f"Python stubs (protoc accepts it); rename it (e.g. {name}_)"
        )
    return name


def check_package(package: str, *, where: str) -> str:
    """Return `package` if it is a valid lower-case dotted protobuf package, else raise."""
    if not isinstance(package, str) or not _PACKAGE.match(package):
        raise DefinitionError(
            f"{where}: package {package!r} is not a valid protobuf package; use dotted "
            "lower-case identifiers such as `acme.users.v1`"
        )
    for part in package.split("."):
        if part in PROTO_KEYWORDS or keyword.iskeyword(part):
            raise DefinitionError(f"{where}: package {package!r} contains the keyword {part!r}")
    return package


def package_from_module(module: str) -> str:
    """A protobuf package derived from a Python module name (`My-App.api` → `my_app.api`)."""
    parts = []
    for part in module.split("."):
        part = re.sub(r"[^a-z0-9_]", "_", to_snake(part).strip("_"))
        if not part or not part[0].isalpha():
            part = "m" + part
        if part in PROTO_KEYWORDS or keyword.iskeyword(part):
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
