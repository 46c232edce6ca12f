"""The schema model: plain, immutable descriptions of files, services and messages.

Introspection builds it, rendering and the lock read it. It knows nothing of Jinja or grpc.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """What a field's type refers to."""

    SCALAR = "scalar"
    MESSAGE = "message"
    ENUM = "enum"


class Label(StrEnum):
    """A field's cardinality."""

    SINGULAR = "singular"
    OPTIONAL = "optional"  # proto3 `optional`: presence kept
    REPEATED = "repeated"
    MAP = "map"


class PyShape(StrEnum):
    """How a message looks on the Python side, which decides its converters."""

    DATACLASS = "dataclass"  # a user dataclass
    PARAMS = "params"  # synthesized from a handler's parameters: a dict of keyword arguments
    VALUE = "value"  # synthesized around a scalar return value: field `value`
    STRUCT = "struct"  # google.protobuf.Struct: a dict
    EMPTY = "empty"  # google.protobuf.Empty: None


class Wkt(StrEnum):
    """Well-known types with a special Python mapping."""

    TIMESTAMP = "google.protobuf.Timestamp"
    DURATION = "google.protobuf.Duration"
    STRUCT = "google.protobuf.Struct"
    VALUE = "google.protobuf.Value"
    LIST_VALUE = "google.protobuf.ListValue"
    EMPTY = "google.protobuf.Empty"
    DATE = "google.type.Date"
    TIME_OF_DAY = "google.type.TimeOfDay"


WKT_FILES = {
    Wkt.TIMESTAMP: "google/protobuf/timestamp.proto",
    Wkt.DURATION: "google/protobuf/duration.proto",
    Wkt.STRUCT: "google/protobuf/struct.proto",
    Wkt.VALUE: "google/protobuf/struct.proto",
    Wkt.LIST_VALUE: "google/protobuf/struct.proto",
    Wkt.EMPTY: "google/protobuf/empty.proto",
    Wkt.DATE: "google/type/date.proto",
    Wkt.TIME_OF_DAY: "google/type/timeofday.proto",
}


class Convert(StrEnum):
    """A Python type sent as a protobuf string, converted by the generated code."""

    UUID = "uuid"
    DECIMAL = "decimal"
    LITERAL = "literal"


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A field or method type: a scalar name (`int64`), or a message/enum full name."""

    kind: Kind
    name: str  # "int64" | "demo.v1.User" | "google.protobuf.Timestamp"
    convert: Convert | None = None  # a Python type carried in a scalar
    choices: tuple[str, ...] = ()  # a Literal's strings (template quotes them with json.dumps)

    @property
    def wkt(self) -> Wkt | None:
        """The well-known type this refers to, if any."""
        try:
            return Wkt(self.name)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class PyRef:
    """Where a Python class lives: `module` and `qualname`."""

    module: str
    qualname: str


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One message field."""

    name: str  # proto name, lower_snake
    python_name: str
    number: int
    type: TypeRef
    label: Label = Label.SINGULAR
    key_type: str | None = None  # scalar key type for maps
    oneof: str | None = None  # proto name of the enclosing oneof
    explicit_number: bool = False
    has_default: bool = False  # the Python field or parameter has a default
    nullable: bool = False  # the Python hint admits None
    doc: str = ""  # becomes a `//` comment above the field
    as_tuple: bool = False  # a repeated field the Python class holds as `tuple[T, ...]`
    newtype: bool = False  # the Python hint names a `NewType` of the wire type
    json_name: str | None = None  # declared `json_name`; None: protoc derives it
    options: tuple[tuple[str, str], ...] = ()  # `[name = text]`, checked and rendered


@dataclass(frozen=True, slots=True)
class OneofDef:
    """A oneof: one Python field whose Union members became several proto fields (the short
    form), or, `declared`, a group of Python fields marked `Field(n, oneof=name)`."""

    name: str
    python_name: str  # the Python field; for a declared oneof, its name
    optional: bool  # the Python hint admits None
    declared: bool = False  # each member is a Python field of its own


@dataclass(frozen=True, slots=True)
class Reserved:
    """Numbers and names never to be used: the lock's (fields removed since an earlier
    build, kept so they are never reused) and those the class declares itself
    (`__cello_reserved__`), the latter in the order written, as a contract's descriptor
    lists them. The lock records only its own."""

    numbers: tuple[int, ...] = ()  # the lock's
    names: tuple[str, ...] = ()  # the lock's
    declared_ranges: tuple[tuple[int, int], ...] = ()  # `first to last`, both included
    declared_names: tuple[str, ...] = ()

    def holds(self, number: int) -> bool:
        """Whether `number` is reserved, alone or in a range."""
        return number in self.numbers or any(a <= number <= b for a, b in self.declared_ranges)

    def with_declared(self, declared: Reserved) -> Reserved:
        """The lock's reservations with a class's own."""
        return Reserved(self.numbers, self.names, declared.declared_ranges, declared.declared_names)

    def lock_only(self) -> Reserved:
        """Only the lock's reservations: what the lock records (the code keeps its own)."""
        return Reserved(self.numbers, self.names)


@dataclass(frozen=True, slots=True)
class MessageDef:
    """A protobuf message and its Python counterpart."""

    name: str
    full_name: str
    shape: PyShape
    fields: tuple[FieldDef, ...] = ()
    oneofs: tuple[OneofDef, ...] = ()
    python: PyRef | None = None  # the dataclass, for DATACLASS
    reserved: Reserved = field(default_factory=Reserved)
    doc: str = ""
    scope: tuple[str, ...] = ()  # enclosing messages, outermost first: nested in `Outer`

    @property
    def local_name(self) -> str:
        """The name inside its package: `Outer.Inner` for a nested message."""
        return ".".join((*self.scope, self.name))


@dataclass(frozen=True, slots=True)
class EnumValueDef:
    """One enum value; `python_name` is None for the synthesized zero value."""

    name: str
    number: int
    python_name: str | None


@dataclass(frozen=True, slots=True)
class EnumDef:
    """A protobuf enum and the Python `Enum` it comes from."""

    name: str
    full_name: str
    values: tuple[EnumValueDef, ...]
    python: PyRef
    reserved: Reserved = field(default_factory=Reserved)
    doc: str = ""
    scope: tuple[str, ...] = ()  # enclosing messages, outermost first
    closed: bool = False  # `@enum_options(closed=True)`: an unknown number is refused

    @property
    def local_name(self) -> str:
        """The name inside its package: `Outer.Kind` for a nested enum."""
        return ".".join((*self.scope, self.name))


class HandlerStyle(StrEnum):
    """What the user's handler takes, so the adapter can call it."""

    MESSAGE = "message"  # handler(request: Dataclass)
    WRAPPER = "wrapper"  # handler(request: GrpcRequest[...]) or untyped handler(request)
    PARAMS = "params"  # handler(id: int, verbose: bool = False)
    NONE = "none"  # handler()


HTTP_ANNOTATIONS = "google/api/annotations.proto"
"""The file declaring `google.api.http`, imported by a file with REST routes."""


@dataclass(frozen=True, slots=True)
class HttpRule:
    """An rpc's REST route (google.api.http), checked against its request and response."""

    method: str  # GET, POST, PUT, PATCH, DELETE, or another (a `custom` rule)
    path: str
    body: str = ""
    response_body: str = ""
    additional_bindings: tuple[HttpRule, ...] = ()


@dataclass(frozen=True, slots=True)
class MethodDef:
    """One rpc."""

    name: str
    python_name: str
    request: TypeRef
    response: TypeRef
    client_streaming: bool
    server_streaming: bool
    style: HandlerStyle
    doc: str = ""
    implemented: bool = True  # False: declared for the schema, answers UNIMPLEMENTED
    idempotent: bool = False  # True: `idempotency_level = NO_SIDE_EFFECTS` (GET over Connect)
    http: HttpRule | None = None  # `option (google.api.http)`
    options: tuple[tuple[str, str], ...] | None = None  # `option name = text;`; () is `{}`


@dataclass(frozen=True, slots=True)
class ServiceDef:
    """One service: a `GrpcService` subclass."""

    name: str
    full_name: str
    python: PyRef
    methods: tuple[MethodDef, ...]
    doc: str = ""


@dataclass(frozen=True, slots=True)
class FileDef:
    """One `.proto` file: a protobuf package's types and services (a package may have several)."""

    path: str  # e.g. "demo/users/v1/users.proto"
    package: str
    imports: tuple[str, ...]
    messages: tuple[MessageDef, ...]
    enums: tuple[EnumDef, ...]
    services: tuple[ServiceDef, ...]
    options: tuple[tuple[str, str | bool], ...] = ()  # file options, validated, sorted

    @property
    def module_stem(self) -> str:
        """The file name without `.proto`; the Python modules are `<stem>_pb2` etc."""
        return self.path.rsplit("/", 1)[-1].removesuffix(".proto")


@dataclass(frozen=True, slots=True)
class Schema:
    """Everything generated in one build."""

    files: tuple[FileDef, ...]
