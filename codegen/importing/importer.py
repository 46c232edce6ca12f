"""`cello-gen import`: a contract's descriptors → the code-first Python that builds it again.

Each `.proto` file becomes one module: messages are dataclasses, enums `IntEnum`s, services
`GrpcService` classes whose rpcs answer UNIMPLEMENTED until a subclass overrides them.
What the code-first side cannot say is refused with `ImportRefusedError`, naming the
file, the element and the feature, so an import is exact or it is not written.
"""

from __future__ import annotations

import dataclasses
import json
import keyword
import re
import sys
import textwrap
from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2 as d
from google.protobuf import unknown_fields

from cello._errors import DefinitionError

from ..schema import contract, naming

F = d.FieldDescriptorProto

_SCALARS: dict[int, tuple[str, str | None, str]] = {  # type → (python, marker, zero)
    F.TYPE_DOUBLE: ("float", None, "0.0"),
    F.TYPE_FLOAT: ("float", "Float", "0.0"),
    F.TYPE_INT64: ("int", None, "0"),
    F.TYPE_UINT64: ("int", "UInt64", "0"),
    F.TYPE_INT32: ("int", "Int32", "0"),
    F.TYPE_FIXED64: ("int", "Fixed64", "0"),
    F.TYPE_FIXED32: ("int", "Fixed32", "0"),
    F.TYPE_BOOL: ("bool", None, "False"),
    F.TYPE_STRING: ("str", None, '""'),
    F.TYPE_BYTES: ("bytes", None, 'b""'),
    F.TYPE_UINT32: ("int", "UInt32", "0"),
    F.TYPE_SFIXED32: ("int", "SFixed32", "0"),
    F.TYPE_SFIXED64: ("int", "SFixed64", "0"),
    F.TYPE_SINT32: ("int", "SInt32", "0"),
    F.TYPE_SINT64: ("int", "SInt64", "0"),
}

# well-known types Cello maps to Python types, and the files that hold them
MAPPED = {
    ".google.protobuf.Timestamp": "datetime.datetime",
    ".google.protobuf.Duration": "datetime.timedelta",
    ".google.protobuf.Struct": "dict[str, Any]",
    ".google.protobuf.Value": "Any",
    ".google.protobuf.ListValue": "list[Any]",
    ".google.type.Date": "datetime.date",
    ".google.type.TimeOfDay": "datetime.time",
}
MAPPED_FILES = frozenset(
    """google/protobuf/timestamp.proto google/protobuf/duration.proto
    google/protobuf/struct.proto google/protobuf/empty.proto google/type/date.proto
    google/type/timeofday.proto""".split()
)
EMPTY = ".google.protobuf.Empty"
# a field named so would hide, in its class body, a name the annotations use
_SHADOWED = frozenset("dataclasses datetime enum builtins Annotated Any Field Doc".split())
# ...and these builtins are then written `builtins.str` in that class
_BUILTINS = frozenset("int str bytes bool float list dict".split())
WIDTH = 100


class ImportRefusedError(DefinitionError):
    """A contract uses something Cello cannot represent; names file, element and feature."""

    def __init__(self, file: str, element: str, feature: str, detail: str = "") -> None:
        self.file, self.element, self.feature = file, element, feature
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{file}: {element}: {feature}{extra} cannot be expressed in Cello")


def module_path(proto: str, prefix: str = "") -> str:
    """`a/b/c.proto` → `P/a/b/c.py`."""
    stem = proto.removesuffix(".proto")
    return "/".join([*prefix.split("."), stem] if prefix else [stem]) + ".py"


def import_contract(
    files: descriptor_pb2_set, *, module_prefix: str = "", only: Iterable[str] | None = None
) -> dict[str, str]:
    """Python sources for the files of a descriptor set (those in `only` and what they
    import), `{relative path: text}`, with an `__init__.py` in every package folder.

    Raises:
        ImportRefusedError: a file uses a feature Cello cannot represent.
    """
    top = module_prefix.split(".")[0] if module_prefix else None
    if top in sys.stdlib_module_names or (module_prefix and not _is_dotted(module_prefix)):
        raise DefinitionError(
            f"module prefix {module_prefix!r} is not a free package name (the standard "
            "library has one of that name, or it is not a dotted identifier); choose "
            "another, e.g. `contracts`"
        )
    by_name = {f.name: f for f in files.file}
    wanted = list(only) if only is not None else [f.name for f in files.file]
    chosen: list[str] = []

    def visit(name: str, importer: str) -> None:
        if name in chosen or name in MAPPED_FILES:
            return
        if name.startswith("google/protobuf/"):
            feature = f"the well-known types of {name}, which have no Python type in Cello"
            raise ImportRefusedError(importer, f"import {name!r}", feature)
        if name not in by_name:
            raise ImportRefusedError(importer, f"import {name!r}", "a file missing from the set")
        _check_file(by_name[name])  # a file's own refusal before its imports'
        for dep in by_name[name].dependency:
            try:
                visit(dep, name)
            except ImportRefusedError as exc:
                if exc.file == name:
                    raise
                # a file using custom options imports the file declaring them (extensions)
                feature = "custom options" if exc.feature == "extensions" else exc.feature
                raise ImportRefusedError(name, f"import {dep!r}", feature, str(exc)) from exc
        chosen.append(name)

    for name in wanted:
        visit(name, name)
    types, zeros = _type_index([by_name[n] for n in chosen], module_prefix)
    out: dict[str, str] = {}
    for name in reversed(chosen):  # a file's own refusal before its imports'
        path = module_path(name, module_prefix)
        out[path] = _Module(by_name[name], types, zeros, module_prefix).render()
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.setdefault("/".join(parts[:i]) + "/__init__.py", "")
    return dict(sorted(out.items()))


descriptor_pb2_set = d.FileDescriptorSet


def _type_index(
    files: list[d.FileDescriptorProto], prefix: str
) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Full name `.pkg.Outer.Inner` → (Python module, qualified name), and each enum's
    first (zero) value."""
    index: dict[str, tuple[str, str]] = {}
    zeros: dict[str, str] = {}
    for f in files:
        module = module_path(f.name, prefix).removesuffix(".py").replace("/", ".")
        pkg = f".{f.package}" if f.package else ""

        def walk(
            messages: Iterable[d.DescriptorProto],
            enums: Iterable[d.EnumDescriptorProto],
            scope: str,
            pkg: str = pkg,
            module: str = module,
        ) -> None:
            for e in enums:
                index[f"{pkg}.{scope}{e.name}"] = (module, scope + e.name)
                zeros[f"{pkg}.{scope}{e.name}"] = e.value[0].name
            for m in messages:
                index[f"{pkg}.{scope}{m.name}"] = (module, scope + m.name)
                walk(m.nested_type, m.enum_type, f"{scope}{m.name}.")

        walk(f.message_type, f.enum_type, "")
    return index, zeros


def _is_dotted(name: str) -> bool:
    return all(p.isidentifier() and not keyword.iskeyword(p) for p in name.split("."))


def _check_file(f: d.FileDescriptorProto) -> None:
    """What a whole file may refuse, checked before its imports are read."""

    def refuse(element: str, feature: str, detail: str = "") -> ImportRefusedError:
        return ImportRefusedError(f.name, element, feature, detail)

    if f.syntax != "proto3":
        raise refuse("file", f"syntax {f.syntax or 'proto2'!r}", "Cello writes proto3")
    if not f.package:
        raise refuse("file", "a file without a package")
    if f.extension:
        raise refuse(f"extend {f.extension[0].extendee}", "extensions")
    if f.public_dependency or f.weak_dependency:
        raise refuse("file", "`import public` / `import weak`")
    for part in f.name.removesuffix(".proto").split("/"):
        if not part.isidentifier() or keyword.iskeyword(part):
            raise refuse("file", "a file name that is not a Python module name", part)


def json_name(name: str) -> str:
    """The JSON name protoc derives: `foo_bar` → `fooBar`."""
    out, upper = [], False
    for c in name:
        if c == "_":
            upper = True
        else:
            out.append(c.upper() if upper else c)
            upper = False
    return "".join(out)


def _q(text: str) -> str:
    """A Python string literal as ruff formats it: double quotes unless that needs escapes."""
    quoted = json.dumps(text, ensure_ascii=False)
    if text.count('"') > text.count("'"):
        return "'" + quoted[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
    return quoted


@dataclasses.dataclass
class _Module:
    """The source of one module, built line by line."""

    file: d.FileDescriptorProto
    types: dict[str, tuple[str, str]]
    zeros: dict[str, str]
    prefix: str
    lines: list[str] = dataclasses.field(default_factory=list)
    uses: set[str] = dataclasses.field(default_factory=set)  # helper names used
    modules: dict[str, str] = dataclasses.field(default_factory=dict)  # module → alias
    docs: dict[tuple[int, ...], str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = module_path(self.file.name, self.prefix).removesuffix(".py").replace("/", ".")
        for loc in self.file.source_code_info.location:
            if loc.leading_comments.strip():
                self.docs[tuple(loc.path)] = contract.clean_doc(loc.leading_comments)
        self.local = {q.split(".")[0] for m, q in self.types.values() if m == self.name}

    def refuse(self, element: str, feature: str, detail: str = "") -> ImportRefusedError:
        return ImportRefusedError(self.file.name, element, feature, detail)

    # -- the file ------------------------------------------------------------------------

    def render(self) -> str:
        f = self.file
        options = self._file_options()
        body: list[str] = []
        for i, e in enumerate(f.enum_type):
            body += ["", "", *self._enum(e, (5, i), "", "")]
        for i, m in enumerate(f.message_type):
            body += ["", "", *self._message(m, (4, i), "", "")]
        for i, s in enumerate(f.service):
            body += ["", "", *self._service(s, (6, i))]
        self._check_dependencies()
        top = [t.name for t in f.enum_type] + [t.name for t in f.message_type]
        head = ["# Generated by cello-gen import. Subclass the services to serve them."]
        head += [f'"""The contract of {f.name}."""', ""]
        head += ["from __future__ import annotations", ""]
        head += self._imports()
        head += ["", f"__cello_package__ = {_q(f.package)}", f"__cello_file__ = {_q(f.name)}"]
        if options:
            head.append("__cello_options__ = {")
            head += [f"    {_q(k)}: {v}," for k, v in options]
            head.append("}")
        if top:
            names = ", ".join(top) + ("," if len(top) == 1 else "")
            line = f"__cello_types__ = ({names})"
            if len(line) > WIDTH:
                head += ["__cello_types__ = (", *(f"    {n}," for n in top), ")"]
            elif top:
                head.append(line)
        if top:  # the types must be defined before the tuple: move it to the end
            cut = next(i for i, x in enumerate(head) if x.startswith("__cello_types__"))
            types_lines = head[cut:]
            head = head[:cut]
            body += ["", "", *types_lines]
        return "\n".join(head + body) + "\n"

    def _imports(self) -> list[str]:
        lines = []
        std = sorted(m for m in ("builtins", "dataclasses", "datetime", "enum") if m in self.uses)
        lines += [f"import {m}" for m in std]
        if "AsyncIterator" in self.uses:
            lines.append("from collections.abc import AsyncIterator")
        typing_names = sorted(n for n in ("Annotated", "Any") if n in self.uses)
        if typing_names:
            lines.append(f"from typing import {', '.join(typing_names)}")
        lines.append("")
        cello = [n for n in self.uses if n[0].isupper() or n == "enum_options"]
        cello = [n for n in cello if n not in ("Annotated", "Any", "AsyncIterator", "GrpcService")]
        # isort's order by type: CONSTANTS, Classes, functions
        cello.sort(key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
        if cello:
            lines.append(_wrap_import("cello", cello))
        if "GrpcService" in self.uses:
            lines.append("from cello.grpc import GrpcService, grpc_method")
        if self.modules:
            lines.append("")
        for module, alias in sorted(self.modules.items()):
            here = self.name.split(".")[:-1]
            there = module.split(".")
            common = 0
            while common < min(len(here), len(there) - 1) and here[common] == there[common]:
                common += 1
            dots = "." * (len(here) - common + 1)
            parent = ".".join(there[common:-1])
            lines.append(f"from {dots}{parent} import {there[-1]} as {alias}")
        if lines[-1] == "":
            lines.pop()
        return lines

    def _file_options(self) -> list[tuple[str, str]]:
        opts = self.file.options
        found = []
        for fd, value in opts.ListFields():
            name = fd.name
            if fd.is_extension or name not in (
                contract.STRING_OPTIONS | contract.BOOL_OPTIONS | {"optimize_for"}
            ):
                raise self.refuse(
                    "file", f"file option {fd.full_name if fd.is_extension else name}"
                )
            if name == "optimize_for":
                found.append((name, _q(d.FileOptions.OptimizeMode.Name(value))))
            elif isinstance(value, bool):
                found.append((name, "True" if value else "False"))
            else:
                found.append((name, _q(value)))
        if len(unknown_fields.UnknownFieldSet(opts)):
            raise self.refuse("file", "custom file options")
        return sorted(found)

    def _check_dependencies(self) -> None:
        """Cello writes a file's imports sorted, and only those its types need."""
        need = set()
        for m in self._all_messages():
            for fl in m.field:
                if fl.type_name:
                    need.add(self._file_of(fl.type_name))
        for s in self.file.service:
            for rpc in s.method:
                need.add(self._file_of(rpc.input_type))
                need.add(self._file_of(rpc.output_type))
        need.discard(self.file.name)
        need.discard(None)
        if list(self.file.dependency) != sorted(need):  # type: ignore[type-var]
            detail = f"has {list(self.file.dependency)}, Cello would write {sorted(need)}"  # type: ignore[type-var]
            raise self.refuse("imports", "imports that are unused or not sorted", detail)

    def _file_of(self, full: str) -> str | None:
        files = {
            ".google.protobuf.Timestamp": "google/protobuf/timestamp.proto",
            ".google.protobuf.Duration": "google/protobuf/duration.proto",
            ".google.protobuf.Struct": "google/protobuf/struct.proto",
            ".google.protobuf.Value": "google/protobuf/struct.proto",
            ".google.protobuf.ListValue": "google/protobuf/struct.proto",
            ".google.protobuf.Empty": "google/protobuf/empty.proto",
            ".google.type.Date": "google/type/date.proto",
            ".google.type.TimeOfDay": "google/type/timeofday.proto",
        }
        if full in files:
            return files[full]
        module = self.types[full][0]
        for name in self._known_files():
            if module_path(name, self.prefix).removesuffix(".py").replace("/", ".") == module:
                return name
        return None

    def _known_files(self) -> list[str]:
        return [*self.file.dependency, self.file.name]

    def _all_messages(self) -> list[d.DescriptorProto]:
        out: list[d.DescriptorProto] = []

        def walk(ms: Iterable[d.DescriptorProto]) -> None:
            for m in ms:
                out.append(m)
                walk(m.nested_type)

        walk(self.file.message_type)
        return out

    # -- types ---------------------------------------------------------------------------

    def _type(self, full: str, where: str, scope: str) -> str:
        """A Python annotation for a message or enum type."""
        if full in MAPPED:
            py = MAPPED[full]
            self.uses.add("datetime" if py.startswith("datetime") else "Any")
            return py
        if full not in self.types:
            raise self.refuse(where, f"type {full.lstrip('.')}", "Cello has no Python type for it")
        module, qual = self.types[full]
        if module == self.name:
            return qual
        alias = self.modules.setdefault(
            module, "_" + module.removeprefix(self.prefix + ".").replace(".", "_")
        )
        return f"{alias}.{qual}"

    def _enum(
        self, e: d.EnumDescriptorProto, path: tuple[int, ...], scope: str, pad: str
    ) -> list[str]:
        where = scope + e.name
        if e.HasField("options"):
            raise self.refuse(where, "enum options", str(e.options).strip().replace("\n", ", "))
        prefix = naming.to_upper_snake(e.name) + "_"
        prefixed = all(v.name.startswith(prefix) for v in e.value)
        lines: list[str] = []
        if not prefixed:
            self.uses.add("enum_options")
            lines.append(f"{pad}@enum_options(prefix=False)")
        self.uses.add("enum")
        lines.append(f"{pad}class {e.name}(enum.IntEnum):")
        lines += self._docstring(self.docs.get(path, ""), pad + "    ", blank=True)
        reserved = self._reserved(e.reserved_range, e.reserved_name, enum=True)
        if reserved:
            lines.append(f"{pad}    __cello_reserved__ = {reserved}")
        for i, v in enumerate(e.value):
            if v.HasField("options"):
                raise self.refuse(f"{where}.{v.name}", "enum value options")
            if (
                naming.to_upper_snake(v.name) != v.name
                or keyword.iskeyword(v.name)
                or v.name.startswith("_")
            ):
                raise self.refuse(f"{where}.{v.name}", "an enum value name that is not UPPER_SNAKE")
            doc = self.docs.get((*path, 2, i), "")
            if doc:
                lines += [f"{pad}    # {x}".rstrip() for x in doc.splitlines()]
            lines.append(f"{pad}    {v.name} = {v.number}")
        return lines

    @staticmethod
    def _reserved(ranges: Iterable[object], names: Iterable[str], *, enum: bool) -> str:
        items = []
        for r in ranges:
            start, end = r.start, r.end + (1 if enum else 0)  # type: ignore[attr-defined]
            items.append(str(start) if end == start + 1 else f"range({start}, {end})")
        items += [_q(n) for n in names]
        if not items:
            return ""
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"

    def _message(
        self, m: d.DescriptorProto, path: tuple[int, ...], scope: str, pad: str
    ) -> list[str]:
        where = scope + m.name
        if m.HasField("options"):
            raise self.refuse(where, "message options", str(m.options).strip().replace("\n", ", "))
        if m.extension or m.extension_range:
            raise self.refuse(where, "extensions")
        lines = [f"{pad}@dataclasses.dataclass", f"{pad}class {m.name}:"]
        self.uses.add("dataclasses")
        lines += self._docstring(self.docs.get(path, ""), pad + "    ", blank=True)
        reserved = self._reserved(m.reserved_range, m.reserved_name, enum=False)
        inner: list[str] = []
        if reserved:
            inner.append(f"{pad}    __cello_reserved__ = {reserved}")
        maps = {n.name: n for n in m.nested_type if n.options.map_entry}
        kinds = [n.name in maps for n in m.nested_type]
        if True in kinds and False in kinds[kinds.index(True) :]:
            first = next(n.name for n in m.nested_type if n.name in maps)
            raise self.refuse(
                where, "a map field declared before a nested message", f"entry {first}"
            )
        for o in m.oneof_decl:
            if keyword.iskeyword(o.name) or o.name in _SHADOWED:
                raise self.refuse(f"{where}.{o.name}", "a oneof name that is a Python keyword")
        for i, e in enumerate(m.enum_type):
            inner += [
                *([""] if inner else []),
                *self._enum(e, (*path, 4, i), f"{where}.", pad + "    "),
            ]
        for i, n in enumerate(m.nested_type):
            if n.name in maps:
                continue
            inner += [
                *([""] if inner else []),
                *self._message(n, (*path, 3, i), f"{where}.", pad + "    "),
            ]
        if inner and m.field:
            inner.append("")
        for i, fl in enumerate(m.field):
            inner += self._field(m, fl, maps, self.docs.get((*path, 2, i), ""), where, pad + "    ")
        if not inner and len(lines) == 2:
            inner.append(f"{pad}    pass")
        if not inner and lines[-1] == "":
            lines.pop()
        return lines + inner

    def _options(self, owner: Any, where: str, what: str) -> str:
        """A dict literal of options of descriptor.proto; custom options are refused."""
        options = owner.options if hasattr(owner, "options") else owner
        if len(unknown_fields.UnknownFieldSet(options)):
            raise self.refuse(where, f"custom {what}")
        items = []
        for fd, value in options.ListFields():
            if fd.is_extension or fd.is_repeated or fd.message_type is not None:
                raise self.refuse(where, f"{what}: {fd.full_name if fd.is_extension else fd.name}")
            if fd.enum_type is not None:
                text = _q(fd.enum_type.values_by_number[value].name)
            elif isinstance(value, str):
                text = _q(value)
            else:
                text = repr(value)
            items.append(f"{_q(fd.name)}: {text}")
        return "{" + ", ".join(items) + "}"

    def _field(
        self,
        m: d.DescriptorProto,
        fl: d.FieldDescriptorProto,
        maps: dict[str, d.DescriptorProto],
        doc: str,
        owner: str,
        pad: str,
    ) -> list[str]:
        where = f"{owner}.{fl.name}"
        field_options = (
            self._options(fl, where, "field options") if fl.HasField("options") else None
        )
        if fl.label == F.LABEL_REQUIRED:
            raise self.refuse(where, "proto2 `required`")
        if fl.type == F.TYPE_GROUP:
            raise self.refuse(where, "groups")
        if fl.HasField("default_value"):
            raise self.refuse(where, "proto2 defaults")
        if (
            naming.to_snake(fl.name) != fl.name
            or keyword.iskeyword(fl.name)
            or fl.name.startswith("_")
        ):
            raise self.refuse(where, "a field name that is not lower_snake", fl.name)
        if fl.name in _SHADOWED:
            raise self.refuse(where, "a field name that shadows a name the module uses", fl.name)
        extras: list[str] = []
        oneof = None
        if fl.HasField("oneof_index") and not fl.proto3_optional:
            oneof = m.oneof_decl[fl.oneof_index].name
        if (
            fl.type_name.endswith("." + fl.type_name.rsplit(".", 1)[-1])
            and fl.label == F.LABEL_REPEATED
            and fl.type == F.TYPE_MESSAGE
            and fl.type_name.rsplit(".", 1)[-1] in maps
            and fl.type_name == f"{self._scope_full(owner)}.{fl.type_name.rsplit('.', 1)[-1]}"
        ):
            entry = maps[fl.type_name.rsplit(".", 1)[-1]]
            key = self._element(entry.field[0], where, owner)
            value = self._element(entry.field[1], where, owner)
            hint, default = f"dict[{key}, {value}]", "dataclasses.field(default_factory=dict)"
        elif fl.label == F.LABEL_REPEATED:
            hint = f"list[{self._element(fl, where, owner)}]"
            default = "dataclasses.field(default_factory=list)"
        elif fl.type in (F.TYPE_MESSAGE, F.TYPE_ENUM) and not (oneof or fl.proto3_optional):
            if fl.type_name == EMPTY:
                raise self.refuse(where, "a google.protobuf.Empty field")
            hint = self._type(fl.type_name, where, owner)
            if fl.type == F.TYPE_MESSAGE:
                if hint.startswith(("dict[", "list[")) or hint == "Any":
                    default = (
                        "dataclasses.field(default_factory=dict)"
                        if hint.startswith("dict")
                        else (
                            "dataclasses.field(default_factory=list)"
                            if hint.startswith("list")
                            else "None"
                        )
                    )
                    if hint == "Any":
                        raise self.refuse(where, "a singular google.protobuf.Value field")
                else:
                    hint, default = f"{hint} | None", "None"
            else:
                default = self._enum_default(fl.type_name, owner)
        else:
            base = self._element(fl, where, owner, bare=True)
            if fl.type == F.TYPE_MESSAGE and (base.startswith(("dict[", "list[")) or base == "Any"):
                raise self.refuse(where, f"{fl.type_name} as a oneof member or optional field")
            if oneof or fl.proto3_optional or fl.type == F.TYPE_MESSAGE:
                hint, default = f"{base} | None", "None"
            else:
                hint, default = base, _SCALARS[fl.type][2]
            marker = _SCALARS.get(fl.type, (None, None))[1]
            if marker:
                self.uses.add(marker)
                extras.append(marker)
        number = [str(fl.number)]
        if oneof:
            number.append(f"oneof={_q(oneof)}")
        if fl.json_name and fl.json_name != json_name(fl.name):
            number.append(f"json_name={_q(fl.json_name)}")
        if field_options is not None:
            number.append(f"options={field_options}")
        self.uses.add("Field")
        self.uses.add("Annotated")
        if doc:
            self.uses.add("Doc")
        shadowed = {f.name for f in m.field} & _BUILTINS
        if shadowed:  # evaluated in the class body, where a field of that name hides it
            self.uses.add("builtins")
            hint, default = _qualified(hint, shadowed), _qualified(default, shadowed)
        return _annotated(
            pad, fl.name, [hint, *extras, f"Field({', '.join(number)})"], doc, default
        )

    def _scope_full(self, owner: str) -> str:
        return f".{self.file.package}.{owner}"

    def _element(
        self, fl: d.FieldDescriptorProto, where: str, owner: str, *, bare: bool = False
    ) -> str:
        """The Python type of one value of a field (markers inside, for list and dict)."""
        if fl.type in (F.TYPE_MESSAGE, F.TYPE_ENUM):
            if fl.type_name == EMPTY:
                raise self.refuse(where, "a google.protobuf.Empty field")
            t = self._type(fl.type_name, where, owner)
            if (
                not bare
                and (t.startswith(("dict[", "list[")) or t == "Any")
                and fl.type == F.TYPE_MESSAGE
            ):
                if t != "Any":
                    raise self.refuse(where, f"a repeated or map {fl.type_name.lstrip('.')}")
            return t
        if fl.type not in _SCALARS:
            raise self.refuse(where, f"field type {fl.type}")
        py, marker, _ = _SCALARS[fl.type]
        if marker and not bare:
            self.uses.update({marker, "Annotated"})
            return f"Annotated[{py}, {marker}]"
        return py

    def _enum_default(self, full: str, owner: str) -> str:
        """The zero value; a lambda where the enum is not yet defined at this point."""
        if full in MAPPED or full not in self.types:
            return "0"
        module, qual = self.types[full]
        value = self._first_value(full)
        ref = self._type(full, owner, owner)
        if module != self.name:
            return f"{ref}.{value}"
        outer = owner.split(".")[0]
        enclosing = qual.rsplit(".", 1)[0] if "." in qual else ""
        if "." not in qual or enclosing == owner:  # module level (enums come first), or own scope
            local = qual if "." not in qual else qual.rsplit(".", 1)[1]
            return f"{local}.{value}"
        del outer
        self.uses.add("dataclasses")
        return f"dataclasses.field(default_factory=lambda: {ref}.{value})"

    def _first_value(self, full: str) -> str:
        return self.zeros[full]

    # -- services ------------------------------------------------------------------------

    def _service(self, s: d.ServiceDescriptorProto, path: tuple[int, ...]) -> list[str]:
        if s.HasField("options"):
            raise self.refuse(s.name, "service options")
        self.uses.add("GrpcService")
        lines = [f"class {s.name}(GrpcService, contract=True):"]
        lines += self._docstring(
            self.docs.get(path, "")
            or f"The {self.file.package}.{s.name} contract: subclass it to serve its rpcs.",
            "    ",
        )
        for i, rpc in enumerate(s.method):
            where = f"{s.name}.{rpc.name}"
            args = ["implemented=False"]
            if rpc.HasField("options"):
                level = rpc.options.idempotency_level
                if level not in (
                    d.MethodOptions.IDEMPOTENCY_UNKNOWN,
                    d.MethodOptions.NO_SIDE_EFFECTS,
                ):
                    raise self.refuse(where, "method option idempotency_level IDEMPOTENT")
                rest = d.MethodOptions()
                rest.CopyFrom(rpc.options)
                rest.ClearField("idempotency_level")
                if rest.ListFields() or not rpc.options.ListFields():
                    args.append(f"options={self._options(rest, where, 'method options')}")
                if level == d.MethodOptions.NO_SIDE_EFFECTS:
                    args.append("idempotent=True")
            py = naming.to_snake(rpc.name)
            if keyword.iskeyword(py):
                py += "_"
            from cello._definitions.service import to_rpc_name

            if to_rpc_name(py) != rpc.name:
                args.insert(0, f"name={_q(rpc.name)}")
            req = self._rpc_type(rpc.input_type, where, request=True)
            resp = self._rpc_type(rpc.output_type, where, request=False)
            if rpc.client_streaming:
                if req is None:
                    raise self.refuse(where, "a client stream of google.protobuf.Empty")
                self.uses.add("AsyncIterator")
                params = f"self, requests: AsyncIterator[{req}]"
            else:
                params = "self" if req is None else f"self, request: {req}"
            if rpc.server_streaming:
                if resp == "None":
                    raise self.refuse(where, "a server stream of google.protobuf.Empty")
                self.uses.add("AsyncIterator")
                resp = f"AsyncIterator[{resp}]"
            lines.append("")
            lines.append(f"    @grpc_method({', '.join(args)})")
            doc = self.docs.get((*path, 2, i), "")
            end = ":" if doc else ": ..."
            one = f"    async def {py}({params}) -> {resp}{end}"
            if len(one) <= WIDTH:
                lines.append(one)
            else:
                lines += [f"    async def {py}(", f"        {params}", f"    ) -> {resp}{end}"]
            lines += self._docstring(doc, "        ")
        return lines

    def _rpc_type(self, full: str, where: str, *, request: bool) -> str | None:
        if full == EMPTY:
            return None if request else "None"
        if full in MAPPED and full != ".google.protobuf.Struct":
            raise self.refuse(where, f"{full.lstrip('.')} as a request or response")
        return self._type(full, where, "")

    @staticmethod
    def _docstring(doc: str, pad: str, *, blank: bool = False) -> list[str]:
        """A docstring; `blank`: a class's, followed by an empty line as ruff writes it."""
        if not doc:
            return []
        if blank:
            return [*_Module._docstring(doc, pad), ""]
        text = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        out = []
        for para in text.split("\n"):
            wrapped = textwrap.wrap(
                para, WIDTH - len(pad) - 3, break_long_words=False, break_on_hyphens=False
            ) or [""]
            out += wrapped
        if text.endswith('"'):
            out[-1] += " "
        if len(out) == 1 and len(pad) + len(out[0]) + 6 <= WIDTH:
            return [f'{pad}"""{out[0]}"""']
        return [f'{pad}"""{out[0]}', *[f"{pad}{x}".rstrip() for x in out[1:]], f'{pad}"""']


def _qualified(code: str, names: set[str]) -> str:
    """`str` → `builtins.str` in an annotation or default, for each of `names`."""
    pattern = r"(?<![\w.\"'])(" + "|".join(sorted(names)) + r")(?![\w\"'])"
    return re.sub(pattern, r"builtins.\1", code)


def _wrap_import(module: str, names: list[str]) -> str:
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= WIDTH:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"


def _annotated(pad: str, name: str, parts: list[str], doc: str, default: str) -> list[str]:
    """`name: Annotated[...] = default`, laid out as ruff formats it."""
    doc = " ".join(doc.split())  # one paragraph: a `Doc` marker is one string
    docs = []
    if doc:
        docs = [f"Doc({_q(doc)})"]
    items = [parts[0], *docs, *parts[1:]]
    one = f"{pad}{name}: Annotated[{', '.join(items)}] = {default}"
    if len(one) <= WIDTH:
        return [one]
    call = "dataclasses.field("
    if default.startswith(call) and len(one) - len(default) + len(call) <= WIDTH:
        head = one[: len(one) - len(default) + len(call)]
        return [head, f"{pad}    {default[len(call) : -1]}", f"{pad})"]
    inner = f"{pad}    {', '.join(items)}"
    if len(inner) <= WIDTH and not docs:
        return [f"{pad}{name}: Annotated[", inner, f"{pad}] = {default}"]
    lines = [f"{pad}{name}: Annotated["]
    for item in items:
        if item.startswith("Doc(") and len(f"{pad}        {_q(doc)}") <= WIDTH < len(
            f"{pad}    {item},"
        ):
            lines += [f"{pad}    Doc(", f"{pad}        {_q(doc)}", f"{pad}    ),"]
        elif item.startswith("Doc(") and len(f"{pad}    {item},") > WIDTH:
            chunks = textwrap.wrap(
                doc,
                WIDTH - len(pad) - 12,
                drop_whitespace=False,
                break_long_words=False,
                break_on_hyphens=False,
            ) or [doc]
            lines.append(f"{pad}    Doc(")
            lines += [f"{pad}        {_q(c)}" for c in chunks]
            lines.append(f"{pad}    ),")
        else:
            lines.append(f"{pad}    {item},")
    lines.append(f"{pad}] = {default}")
    return lines
