"""Exact-contract helpers: file placement, file options, comments and enum value naming."""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any, get_args, get_origin

from cello._definitions.markers import ENUM_OPTIONS_ATTR, Doc, EnumOptions
from cello._errors import DefinitionError

from ..model import Reserved
from . import naming
from .numbering import MAX_FIELD_NUMBER

FILE_ATTR = "__cello_file__"
OPTIONS_ATTR = "__cello_options__"
PACKAGE_ATTR = "__cello_package__"
TYPES_ATTR = "__cello_types__"
RESERVED_ATTR = "__cello_reserved__"

_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # also a Python module name

# File options of descriptor.proto a contract may set, by the type of their value.
STRING_OPTIONS = frozenset(
    """java_package java_outer_classname go_package objc_class_prefix csharp_namespace
    swift_prefix php_class_prefix php_namespace php_metadata_namespace ruby_package""".split()
)
BOOL_OPTIONS = frozenset(
    """java_multiple_files java_generate_equals_and_hash java_string_check_utf8
    cc_generic_services java_generic_services py_generic_services deprecated
    cc_enable_arenas""".split()
)
OPTIMIZE_FOR = frozenset({"SPEED", "CODE_SIZE", "LITE_RUNTIME"})


# -- files -----------------------------------------------------------------------------------


def _declared(cls: type, attr: str) -> tuple[str, Any] | None:
    """`(where, value)` of `attr` on the class or its module, else on its bases and theirs:
    a service subclass stays in the file of the contract it implements."""
    for klass in cls.__mro__:
        if attr in klass.__dict__:
            return f"{klass.__module__}.{klass.__qualname__}", klass.__dict__[attr]
        module = sys.modules.get(klass.__module__)
        if module is not None and attr in vars(module):
            return module.__name__, vars(module)[attr]
    return None


def declared_file(cls: type) -> Any:
    """The `.proto` file a class asks for (`__cello_file__`), or None for the default."""
    found = _declared(cls, FILE_ATTR)
    return None if found is None else found[1]


def module_package(cls: type) -> str | None:
    """The package a service's module (or, as for the file, a base class's module) declares
    with `__cello_package__`, checked; None without one."""
    found = _module_attr(cls, PACKAGE_ATTR)
    if found is None:
        return None
    where, value = found
    return naming.check_package(value, where=f"{where}.{PACKAGE_ATTR}")


def type_package(cls: type) -> str | None:
    """The package a message or enum's own module declares with `__cello_package__`."""
    found = _module_attr(cls, PACKAGE_ATTR, bases=False)
    if found is None:
        return None
    where, value = found
    return naming.check_package(value, where=f"{where}.{PACKAGE_ATTR}")


def _module_attr(cls: type, attr: str, *, bases: bool = True) -> tuple[str, Any] | None:
    """`(module name, value)` of a module-level `attr` of the class's module (or, with
    `bases`, of its bases' modules, nearest first)."""
    for klass in cls.__mro__ if bases else (cls,):
        module = sys.modules.get(klass.__module__)
        if module is not None and attr in vars(module):
            return module.__name__, vars(module)[attr]
    return None


def declared_types(module: Any, *, where: str) -> list[type]:
    """The messages and enums a module lists in `__cello_types__`, to emit unused or not.

    Raises:
        DefinitionError: the value is not a tuple or list of dataclasses and Enums.
    """
    value = vars(module).get(TYPES_ATTR, ()) if module is not None else ()
    items = list(value) if isinstance(value, tuple | list) else None
    if items is None or not all(_is_type(item) for item in items):
        raise DefinitionError(
            f"{where}.{TYPES_ATTR}: {value!r} is not a tuple of message classes and Enums; "
            f"write `{TYPES_ATTR} = (LogsData, Flags)`"
        )
    return items


def _is_type(item: Any) -> bool:
    import enum

    from .hints import is_message_class

    return is_message_class(item) or (isinstance(item, type) and issubclass(item, enum.Enum))


def declared_reserved(cls: type, *, where: str, enum: bool) -> Reserved:
    """The numbers, ranges and names a message or Enum reserves with `__cello_reserved__`
    (`(1, range(8, 10), "old_name")`; a range is half-open, as Python's).

    Raises:
        DefinitionError: an entry is not a number, a range or a name, naming it.
    """
    value = cls.__dict__.get(RESERVED_ATTR, ())
    if isinstance(value, int | str | range):
        value = (value,)
    ranges: list[tuple[int, int]] = []
    names: list[str] = []
    low, high = (-(2**31), 2**31 - 1) if enum else (1, MAX_FIELD_NUMBER)
    what = "enum value" if enum else "field"
    here = f"{where}.{RESERVED_ATTR}"
    if not isinstance(value, tuple | list):
        raise DefinitionError(
            f"{here}: {value!r} is not a tuple; write `{RESERVED_ATTR} = (1, range(8, 10), "
            '"old_name")`'
        )
    for item in value:
        if isinstance(item, str):
            names.append(naming.check_field_name(item, what=f"reserved {what} name", where=here))
            continue
        if isinstance(item, int) and not isinstance(item, bool):
            first, last = item, item
        elif isinstance(item, range) and item.step == 1 and len(item) > 0:
            first, last = item.start, item.stop - 1
        else:
            raise DefinitionError(
                f"{here}: {item!r} is not a {what} number, a `range(start, stop)` (step 1, not "
                "empty) or a name"
            )
        if not (low <= first and last <= high):
            raise DefinitionError(f"{here}: {item!r} is outside the {what} numbers {low}..{high}")
        ranges.append((first, last))
    # in the order written: a descriptor lists them so
    return Reserved(declared_ranges=tuple(ranges), declared_names=tuple(names))


def file_path(declared: Any, package: str, default: str, *, where: str) -> str:
    """Where a type or service of `package` goes: `declared` is a file name (placed in the
    package's directory) or a relative path ending in `.proto`; None means `default`.

    Raises:
        DefinitionError: the value is not a safe relative `.proto` path.
    """
    if declared is None:
        return default
    ok = isinstance(declared, str) and declared.endswith(".proto")
    parts = declared.removesuffix(".proto").split("/") if ok else []
    if not parts or not all(_SEGMENT.match(p) for p in parts):
        raise DefinitionError(
            f"{where}: {FILE_ATTR} {declared!r} is not a relative `.proto` path; use a name "
            "such as `messages.proto` or `grpc/testing/messages.proto` (each part letters, "
            "digits and `_`, as the generated Python modules are named after it)"
        )
    path = str(declared)
    if len(parts) == 1 and "/" in default:
        return default.rsplit("/", 1)[0] + "/" + path
    return path


def definition_order(ref: Any, modules: list[str]) -> tuple[float, ...]:
    """A sort key placing classes in the order they are written: by module (in the order
    of `modules`), then by position in the module, and in each enclosing class.
    Synthesized messages (no class) sort last, keeping their order among themselves."""
    if ref is None:
        return (float("inf"),)
    key: list[float] = [modules.index(ref.module) if ref.module in modules else len(modules)]
    obj: Any = sys.modules.get(ref.module)
    for part in ref.qualname.split("."):
        names = list(vars(obj)) if obj is not None else []
        key.append(names.index(part) if part in names else len(names))
        obj = getattr(obj, part, None)
    return tuple(key)


# -- file options ----------------------------------------------------------------------------


def check_options(options: Any, *, where: str) -> dict[str, str | bool]:
    """Validate file options (`{"go_package": "...", "java_multiple_files": True}`).

    Raises:
        DefinitionError: an unknown option or a value of the wrong type, naming both.
    """
    if not isinstance(options, Mapping):
        raise DefinitionError(
            f"{where}: file options must be a mapping such as {{'go_package': '...'}}, "
            f"got {options!r}"
        )
    checked: dict[str, str | bool] = {}
    for name, value in options.items():
        if name in STRING_OPTIONS:
            ok = isinstance(value, str) and not any(_is_control(c) for c in value)
            need = "a string without control characters"
        elif name in BOOL_OPTIONS:
            ok = isinstance(value, bool)
            need = "true or false"
        elif name == "optimize_for":
            ok = value in OPTIMIZE_FOR
            need = "one of " + ", ".join(sorted(OPTIMIZE_FOR))
        else:
            known = ", ".join(sorted(STRING_OPTIONS | BOOL_OPTIONS | {"optimize_for"}))
            raise DefinitionError(f"{where}: unknown file option {name!r}; known: {known}")
        if not ok:
            raise DefinitionError(f"{where}: file option {name} = {value!r} must be {need}")
        checked[str(name)] = value
    return checked


def option_line(name: str, value: str | bool) -> str:
    """`option go_package = "example.com/x";` with the value escaped for a proto string."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif name == "optimize_for":
        text = value
    else:
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"option {name} = {text};"


def module_options(cls: type) -> tuple[str, Any] | None:
    """`(where, options)` declared by `__cello_options__` on a class or its module (or,
    as for the file, a base class or its module)."""
    return _declared(cls, OPTIONS_ATTR)


# -- field and method options ------------------------------------------------------------


def proto_options(
    options: Any, message: str, *, where: str, block: bool = False
) -> tuple[tuple[str, str], ...] | None:
    """Options of `descriptor.proto`'s `message` (`FieldOptions`, `MethodOptions`) as
    `(name, text)` pairs for the `.proto`; None for no options (with `block`, `{}` is an
    empty options block, else `()`).

    Raises:
        DefinitionError: an unknown option, a repeated or message option, or a value of
            the wrong type, naming the option and the fix.
    """
    from google.protobuf import descriptor_pb2

    if options is None:
        return None if block else ()
    items = options.items() if isinstance(options, Mapping) else options
    descriptor = getattr(descriptor_pb2, message).DESCRIPTOR
    F = descriptor_pb2.FieldDescriptorProto
    out = []
    for name, value in items:
        fd = descriptor.fields_by_name.get(name)
        if name == "idempotency_level":
            raise DefinitionError(
                f"{where}: set `idempotent=True` rather than option idempotency_level (Connect "
                "then allows GET); other levels cannot be set"
            )
        if fd is None or fd.is_repeated or fd.type == F.TYPE_MESSAGE:
            known = sorted(
                f.name for f in descriptor.fields if not f.is_repeated and f.type != F.TYPE_MESSAGE
            )
            raise DefinitionError(
                f"{where}: {name!r} is not an option of {message} Cello can write; known: "
                f"{', '.join(known)}"
            )
        if fd.type == F.TYPE_BOOL and isinstance(value, bool):
            text = "true" if value else "false"
        elif fd.type == F.TYPE_ENUM and value in fd.enum_type.values_by_name:
            text = str(value)
        elif fd.type == F.TYPE_STRING and isinstance(value, str):
            text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif (
            fd.type not in (F.TYPE_BOOL, F.TYPE_ENUM, F.TYPE_STRING)
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            text = repr(value)
        else:
            need = (
                "one of " + ", ".join(fd.enum_type.values_by_name)
                if fd.type == F.TYPE_ENUM
                else {F.TYPE_BOOL: "True or False", F.TYPE_STRING: "a str"}.get(fd.type, "a number")
            )
            raise DefinitionError(f"{where}: option {name} = {value!r} must be {need}")
        out.append((str(name), text))
    return tuple(out)


# -- comments --------------------------------------------------------------------------------


def docstring(obj: Any) -> str:
    """The cleaned docstring written on `obj` itself ("" if none, or dataclass's made-up one)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if not isinstance(doc, str):
        return ""
    if isinstance(obj, type) and dataclasses.is_dataclass(obj) and _is_dataclass_signature(obj):
        return ""
    return clean_doc(doc)


def clean_doc(doc: str) -> str:
    """A doc text as the model keeps it: indentation cleaned, every line break Python knows
    made `\n`, control characters made spaces, so a template can print it line by line."""
    lines = [
        "".join(" " if _is_control(c) else c for c in line).rstrip()
        for line in inspect.cleandoc(doc).splitlines()
    ]
    return "\n".join(lines).strip("\n")


def _is_dataclass_signature(cls: type) -> bool:
    # dataclass writes `Name(field: type, ...)` when the class has no docstring. Its text
    # depends on how the annotations' modules are named at that moment (a script's classes
    # are `__main__.X` until adopted), so recognise the shape rather than recompute it.
    doc = cls.__dict__.get("__doc__")
    return (
        isinstance(doc, str)
        and doc.startswith(f"{cls.__name__}(")
        and doc.endswith(")")
        and "\n" not in doc
    )


def field_doc(hint: Any) -> str:
    """The text of a `Doc(...)` marker in a field's `Annotated` hint (also under `| None`)."""
    while True:
        if get_origin(hint) is Annotated:
            hint, *extras = get_args(hint)
            for extra in extras:
                if isinstance(extra, Doc):
                    return clean_doc(extra.text)
            continue
        inner = [a for a in get_args(hint) if get_origin(a) is Annotated]
        if len(inner) != 1:
            return ""
        hint = inner[0]


def comment_lines(doc: str) -> list[str]:
    """`// ` lines for a doc text. Every line break Python knows starts a new `//` line and
    control characters become spaces, so no text can end the comment early."""
    lines = []
    for line in doc.splitlines():
        clean = "".join(" " if _is_control(c) else c for c in line).rstrip()
        lines.append(f"// {clean}" if clean else "//")
    while lines and lines[-1] == "//":
        lines.pop()
    while lines and lines[0] == "//":
        lines.pop(0)
    return lines


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") and char != "\t"


# -- enums -----------------------------------------------------------------------------------


def enum_options_of(cls: type) -> EnumOptions:
    """The options `@enum_options` attached to an Enum (defaults when none)."""
    options = cls.__dict__.get(ENUM_OPTIONS_ATTR)
    return options if isinstance(options, EnumOptions) else EnumOptions()
