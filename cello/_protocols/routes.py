"""REST routes: each rpc's `google.api.http` rule read from its descriptor, compiled once.

The rules come from the compiled `.proto` (the `(google.api.http)` method option), so an
rpc declared with `@grpc_method(http=...)` and one imported from a `.proto` carrying the
option are served alike. Everything a request needs is decided here, when the app is
built: the matcher of each path template, the request fields each variable binds, and
route clashes between rpcs, refused naming both.
"""

from __future__ import annotations

import difflib
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .._call.endpoint import Endpoint
from .._definitions.http import Template, Variable, parse_template
from .._errors import DefinitionError, GrpcError
from .http import Finished

_VERB_FIELDS = ("get", "put", "post", "delete", "patch")
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})


@dataclass(frozen=True, slots=True)
class Route:
    """One binding of an rpc: the HTTP method, the compiled template, what the body is."""

    method: str
    path: str
    template: Template
    pattern: re.Pattern[str]
    ep: Endpoint
    variables: tuple[tuple[Any, ...], ...]  # the fields along each variable's path
    body: str  # "", "*" or a top-level field
    response_body: str

    @property
    def label(self) -> str:
        """`GET /v1/books/{isbn}`, as errors and the 404 page show it."""
        return f"{self.method} {self.path}"


class Router:
    """The routes of a set of endpoints, matched by HTTP method and path."""

    def __init__(self, routes: Sequence[Route]) -> None:
        # more literal segments first, so `/v1/books:search` wins over `/v1/books/{id}`
        self.routes = sorted(
            routes, key=lambda r: -sum(isinstance(s, str) for s in r.template.segments)
        )

    def __bool__(self) -> bool:
        return bool(self.routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route serving `method path`, with its variables' values, or None."""
        for route in self.routes:
            if route.method == method and (m := route.pattern.fullmatch(path)) is not None:
                return route, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
        return None

    def nearest(self, method: str, path: str, count: int = 5) -> list[str]:
        """The routes closest to `method path`, for a 404's text."""
        wanted = f"{method} {path}"
        labels = [r.label for r in self.routes]
        close = difflib.get_close_matches(wanted, labels, n=count, cutoff=0.0)
        return close or labels[:count]


def router(endpoints: Iterable[Endpoint]) -> Router:
    """Compile the rules of `endpoints`.

    Raises:
        DefinitionError: a rule names a field its request lacks, is on a client-streaming
            rpc, or has the route of another rpc (both are named).
    """
    routes: list[Route] = []
    seen: dict[tuple[str, tuple[str, ...]], Route] = {}
    for ep in endpoints:
        for rule in _rules(ep):
            route = _route(ep, rule)
            key = (route.method, route.template.shape())
            other = seen.get(key)
            if other is not None:
                raise DefinitionError(
                    f"{ep.method[1:]}: the REST route {route.label} clashes with "
                    f"{other.ep.method[1:]}'s {other.label}; give one of them another path"
                )
            seen[key] = route
            routes.append(route)
    return Router(routes)


def _rules(ep: Endpoint) -> list[Any]:
    """The HttpRule and its additional bindings, from the method's descriptor options."""
    try:
        from google.api import annotations_pb2
    except ImportError:  # googleapis-common-protos absent: no rule can have been compiled
        return []
    try:
        pool = ep.request_type.DESCRIPTOR.file.pool
        method = pool.FindMethodByName(ep.method[1:].replace("/", "."))
    except (KeyError, AttributeError):
        return []
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    rule = options.Extensions[annotations_pb2.http]
    return [rule, *rule.additional_bindings]


def _route(ep: Endpoint, rule: Any) -> Route:
    pattern_kind = rule.WhichOneof("pattern")
    if pattern_kind == "custom":
        method, path = rule.custom.kind.upper(), rule.custom.path
    else:
        method, path = pattern_kind.upper(), getattr(rule, pattern_kind)
    where = f"{ep.method[1:]} ({method} {path})"
    if ep.client_streaming:
        raise DefinitionError(
            f"{where}: REST serves unary and server-streaming rpcs; this one is "
            "client-streaming: drop its google.api.http rule and call it over gRPC"
        )
    template = parse_template(path, where=where)
    request = ep.request_type.DESCRIPTOR
    variables = tuple(tuple(field_path(request, v.field, where=where)) for v in template.variables)
    for variable, fields in zip(template.variables, variables, strict=True):
        leaf = fields[-1]
        if leaf.message_type is not None or _repeated(leaf):
            raise DefinitionError(
                f"{where}: {{{variable.field}}} binds {leaf.full_name}, a message or repeated "
                "field; a path variable binds a single scalar or enum field"
            )
    if rule.body not in ("", "*"):
        field_path(request, rule.body, where=where)
    if rule.response_body:
        field_path(ep.response_type.DESCRIPTOR, rule.response_body, where=where)
    return Route(
        method=method,
        path=path,
        template=template,
        pattern=re.compile(_regex(template)),
        ep=ep,
        variables=variables,
        body=rule.body,
        response_body=rule.response_body,
    )


def _regex(template: Template) -> str:
    def segments(parts: Iterable[str]) -> str:
        return "/".join("[^/]+" if p == "*" else ".+" if p == "**" else re.escape(p) for p in parts)

    out = []
    for i, s in enumerate(template.segments):
        if isinstance(s, Variable):
            out.append(f"(?P<v{i}>{segments(s.segments)})")
        else:
            out.append(segments((s,)))
    return "/" + "/".join(out) + (":" + re.escape(template.verb) if template.verb else "")


def field_path(descriptor: Any, dotted: str, *, where: str) -> list[Any]:
    """The fields along `dotted` (proto or JSON names) from the message `descriptor`.

    Raises:
        DefinitionError: a part names no field, or descends through a non-message field.
    """
    fields = []
    current = descriptor
    for part in dotted.split("."):
        field = _field(current, part) if current is not None else None
        if field is None:
            known = ", ".join(f.name for f in current.fields) if current is not None else "none"
            raise DefinitionError(
                f"{where}: {dotted!r} names no field of {descriptor.full_name} "
                f"(at {part!r}; fields there: {known}); use a field's proto name"
            )
        fields.append(field)
        single_message = field.message_type is not None and not _repeated(field)
        current = field.message_type if single_message else None
    return fields


def _field(descriptor: Any, name: str) -> Any:
    field = descriptor.fields_by_name.get(name)
    if field is None:
        field = next((f for f in descriptor.fields if f.json_name == name), None)
    return field


def _repeated(field: Any) -> bool:
    return bool(field.is_repeated)


def params(
    route: Route, values: dict[str, str], query: str, *, ignore_unknown: bool = False
) -> dict[str, Any]:
    """The request fields bound by the path and, unless the body is `*`, the query string,
    as a proto3 JSON object (strings for numbers, which the JSON mapping accepts).

    Raises:
        Finished: INVALID_ARGUMENT, a query key names no field (unless `ignore_unknown`),
            or a value does not fit.
    """
    out: dict[str, Any] = {}
    for variable, value in zip(route.variables, values.values(), strict=True):
        _put(out, variable, value, replace=True)
    if route.body == "*" or not query:
        return out
    request = route.ep.request_type.DESCRIPTOR
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        try:
            fields = field_path(request, key, where=f"{route.label}: query parameter")
        except DefinitionError as exc:
            if ignore_unknown:
                continue
            raise Finished(GrpcError.INVALID_ARGUMENT, str(exc)) from None
        if route.body and fields[0].name == route.body:
            raise Finished(
                GrpcError.INVALID_ARGUMENT,
                f"query parameter {key!r} is bound by the body of {route.label}",
            )
        _put(out, fields, value, replace=False)
    return out


def _put(out: dict[str, Any], fields: Sequence[Any], text: str, *, replace: bool) -> None:
    for field in fields[:-1]:
        out = out.setdefault(field.name, {})
    leaf = fields[-1]
    value: Any = text
    if leaf.type == leaf.TYPE_BOOL:
        lowered = text.lower()
        if lowered not in _TRUE | _FALSE:
            raise Finished(
                GrpcError.INVALID_ARGUMENT,
                f"{leaf.full_name}: {text!r} is not a bool; send true or false",
            )
        value = lowered in _TRUE
    if _repeated(leaf) and not replace:
        out.setdefault(leaf.name, []).append(value)
    else:
        out[leaf.name] = [value] if _repeated(leaf) else value
