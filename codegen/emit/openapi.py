"""Schema model → an OpenAPI 3.1 document of every REST route (`google.api.http` rule).

Messages become component schemas in their proto3 JSON form: properties by JSON name,
64-bit integers as strings, enums by name, well-known types as their JSON mapping.
A field is `required` when the wire policy refuses a message without it (a message or
enum field that is neither Optional nor defaulted); docstrings become descriptions.
Every operation answers `google.rpc.Status` on error; a server stream is described as
newline-delimited `{"result": ...}` objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from cello._definitions.http import Variable, parse_template

from ..model import (
    EnumDef,
    FieldDef,
    HttpRule,
    Kind,
    Label,
    MessageDef,
    MethodDef,
    Schema,
    ServiceDef,
    TypeRef,
)

_INT32 = {"int32", "sint32", "sfixed32", "uint32", "fixed32"}
_INT64 = {"int64", "sint64", "sfixed64", "uint64", "fixed64"}
_WKT: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.type.Date": {
        "type": "object",
        "properties": {k: {"type": "integer"} for k in ("year", "month", "day")},
    },
    "google.type.TimeOfDay": {
        "type": "object",
        "properties": {k: {"type": "integer"} for k in ("hours", "minutes", "seconds", "nanos")},
    },
}
_STATUS = {
    "type": "object",
    "description": "google.rpc.Status: the gRPC status code, its message and details.",
    "properties": {
        "code": {"type": "integer", "format": "int32"},
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"@type": {"type": "string"}},
                "additionalProperties": True,
            },
        },
    },
}


def json_name(field: FieldDef) -> str:
    """The field's proto3 JSON name: declared, else protoc's lowerCamel of the proto name."""
    if field.json_name is not None:
        return field.json_name
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), field.name)


def document(schema: Schema, *, title: str, version: str = "1.0.0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of every rule in `schema`'s services (a JSON-ready dict)."""
    messages = {m.full_name: m for f in schema.files for m in f.messages}
    enums = {e.full_name: e for f in schema.files for e in f.enums}
    builder = _Builder(messages, enums)
    paths: dict[str, dict[str, Any]] = {}
    for service in (s for f in schema.files for s in f.services):
        for method in service.methods:
            if method.http is None:
                continue
            rules = (method.http, *method.http.additional_bindings)
            for i, rule in enumerate(rules):
                path, operation = builder.operation(service, method, rule, i)
                paths.setdefault(path, {})[rule.method.lower()] = operation
    components = {"Status": _STATUS, **dict(sorted(builder.schemas.items()))}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": components},
    }


class _Builder:
    def __init__(self, messages: dict[str, MessageDef], enums: dict[str, EnumDef]) -> None:
        self.messages = messages
        self.enums = enums
        self.schemas: dict[str, dict[str, Any]] = {}

    def operation(
        self, service: ServiceDef, method: MethodDef, rule: HttpRule, index: int
    ) -> tuple[str, dict[str, Any]]:
        template = parse_template(rule.path, where=f"{service.full_name}.{method.name}")
        path = "/" + "/".join(
            "{" + s.field + "}" if isinstance(s, Variable) else s for s in template.segments
        )
        path += f":{template.verb}" if template.verb else ""
        operation: dict[str, Any] = {
            "operationId": f"{service.full_name}.{method.name}" + (f"_{index}" if index else ""),
            "tags": [service.full_name],
        }
        if method.doc:
            operation["description"] = method.doc
        parameters = [self._path_parameter(method.request, v) for v in template.variables]
        bound = {v.field for v in template.variables}
        if rule.body != "*":
            parameters += list(self._query(method.request, "", bound | {rule.body}, set()))
        if parameters:
            operation["parameters"] = parameters
        if rule.body:
            body = self.ref(method.request)
            if rule.body != "*":
                body = self._field(self._fields(method.request)[rule.body])
            # the binary form (application/x-protobuf) is said in words: OpenAPI
            # generators refuse a second, non-JSON content type for one body
            operation["requestBody"] = {
                "required": True,
                "description": "proto3 JSON; or the binary message as application/x-protobuf",
                "content": {"application/json": {"schema": body}},
            }
        reply = self.ref(method.response)
        if rule.response_body:
            reply = self._field(self._fields(method.response)[rule.response_body])
        if method.server_streaming:
            reply = {
                "type": "object",
                "description": "One line per message (newline-delimited JSON); a failed "
                "stream ends with an `error` line.",
                "properties": {"result": reply, "error": {"$ref": "#/components/schemas/Status"}},
            }
        operation["responses"] = {
            "200": {"description": "OK", "content": {"application/json": {"schema": reply}}},
            "default": {
                "description": "An error, with the HTTP status of its gRPC code",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Status"}}
                },
            },
        }
        return path, operation

    def _fields(self, ref: TypeRef) -> dict[str, FieldDef]:
        message = self.messages.get(ref.name)
        return {f.name: f for f in message.fields} if message else {}

    def _path_parameter(self, request: TypeRef, variable: Variable) -> dict[str, Any]:
        field = self._at(request, variable.field)
        schema = self._field(field) if field is not None else {"type": "string"}
        parameter = {"name": variable.field, "in": "path", "required": True, "schema": schema}
        if variable.segments != ("*",):
            parameter["description"] = "/".join(variable.segments) + " (slashes included)"
        return parameter

    def _at(self, ref: TypeRef, dotted: str) -> FieldDef | None:
        field = None
        for part in dotted.split("."):
            field = self._fields(ref).get(part)
            if field is None:
                return None
            ref = field.type
        return field

    def _query(
        self, ref: TypeRef, prefix: str, bound: set[str], seen: set[str]
    ) -> Iterator[dict[str, Any]]:
        """A query parameter per scalar or enum field not bound (`bound`: field paths
        relative to `ref`), nested ones with dots."""
        message = self.messages.get(ref.name)
        if message is None or ref.name in seen:
            return
        for f in message.fields:
            if f.name in bound or f.label is Label.MAP:
                continue
            name = prefix + json_name(f)  # the proto name is accepted too
            if f.type.kind is Kind.MESSAGE and f.type.name in self.messages:
                if f.label is Label.SINGULAR or f.label is Label.OPTIONAL:
                    inner = {b[len(f.name) + 1 :] for b in bound if b.startswith(f.name + ".")}
                    yield from self._query(f.type, name + ".", inner, seen | {ref.name})
                continue
            parameter: dict[str, Any] = {"name": name, "in": "query", "schema": self._field(f)}
            if f.doc:
                parameter["description"] = f.doc
            if f.label is Label.REPEATED:
                parameter["explode"] = True
            yield parameter

    def ref(self, ref: TypeRef) -> dict[str, Any]:
        """A `$ref` to the message or enum's component schema (built on first use)."""
        if ref.name in _WKT:
            return dict(_WKT[ref.name])
        if ref.name not in self.schemas:
            self.schemas[ref.name] = {}  # a recursive message refers to itself
            if ref.kind is Kind.ENUM:
                self.schemas[ref.name] = self._enum(self.enums[ref.name])
            elif ref.name in self.messages:
                self.schemas[ref.name] = self._message(self.messages[ref.name])
            else:
                self.schemas[ref.name] = {"type": "object"}
        return {"$ref": f"#/components/schemas/{ref.name}"}

    def _message(self, message: MessageDef) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object"}
        if message.doc:
            schema["description"] = message.doc
        schema["properties"] = {json_name(f): self._field(f) for f in message.fields}
        required = [json_name(f) for f in message.fields if self._required(f)]
        if required:
            schema["required"] = required
        return schema

    def _required(self, f: FieldDef) -> bool:
        """The wire policy refuses a message without it (docs/wire-policy.md)."""
        if f.has_default or f.nullable or f.label is not Label.SINGULAR or f.oneof is not None:
            return False
        if f.type.kind is Kind.MESSAGE:
            return True
        enum = self.enums.get(f.type.name)
        return enum is not None and all(v.python_name is None for v in enum.values[:1])

    def _enum(self, enum: EnumDef) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "enum": [v.name for v in enum.values]}
        if enum.doc:
            schema["description"] = enum.doc
        return schema

    def _field(self, f: FieldDef) -> dict[str, Any]:
        one = self._type(f.type)
        if f.doc:
            one = {**one, "description": f.doc} if "$ref" not in one else one
        if f.label is Label.REPEATED:
            return {"type": "array", "items": one}
        if f.label is Label.MAP:
            return {"type": "object", "additionalProperties": one}
        return one

    def _type(self, ref: TypeRef) -> dict[str, Any]:
        if ref.kind is not Kind.SCALAR:
            return self.ref(ref)
        name = ref.name
        if name in _INT32:
            return {"type": "integer", "format": name if name.startswith("u") else "int32"}
        if name in _INT64:
            # proto3 JSON writes 64-bit integers as strings (beyond JavaScript's 2**53)
            return {"type": "string", "format": name, "pattern": r"^-?[0-9]+$"}
        if name in ("float", "double"):
            return {"type": "number", "format": name}
        if name == "bool":
            return {"type": "boolean"}
        if name == "bytes":
            return {"type": "string", "contentEncoding": "base64"}
        if ref.choices:
            return {"type": "string", "enum": list(ref.choices)}
        return {"type": "string"}
