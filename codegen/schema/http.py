"""REST routes (`@grpc_method(http=Http...)`) → `HttpRule`s, checked against the messages.

Every field path a rule names must exist once the whole schema is known: the path
variables end at a singular scalar or enum field, `body` and `response_body` name a
top-level field. The errors name `module.Class.method`, the rule and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cello._definitions.http import VERBS, Http, parse_template
from cello._errors import DefinitionError

from ..model import FieldDef, HttpRule, Kind, Label, MessageDef, MethodDef, ServiceDef

GET_LIKE = ("GET", "DELETE")
"""Methods without a body: the fields not in the path come from the query string."""


def to_rule(http: Http) -> HttpRule:
    """The model of a declared route (its syntax was checked when `Http` was built)."""
    return HttpRule(
        method=http.method,
        path=http.path,
        body=http.body,
        response_body=http.response_body,
        additional_bindings=tuple(to_rule(extra) for extra in http.additional_bindings),
    )


def check_rules(services: Iterable[ServiceDef], messages: Mapping[str, MessageDef]) -> None:
    """Check every rule of `services` against the request and response messages.

    Raises:
        DefinitionError: a field path does not exist or cannot be bound, a body on a GET,
            a rule on a client-streaming rpc, or two rpcs with the same route.
    """
    routes: dict[tuple[str, tuple[str, ...]], str] = {}
    for service in services:
        cls = f"{service.python.module}.{service.python.qualname}" if service.python else ""
        for method in service.methods:
            if method.http is None:
                continue
            where = f"{cls}.{method.python_name}"
            for rule in (method.http, *method.http.additional_bindings):
                _check(rule, method, messages, where)
                key = (rule.method, parse_template(rule.path, where=where).shape())
                if key in routes:
                    raise DefinitionError(
                        f"{where}: the route {rule.method} {rule.path} is also "
                        f"{routes[key]}'s; give one of them a different path"
                    )
                routes[key] = f"{where} ({rule.method} {rule.path})"


def _check(
    rule: HttpRule, method: MethodDef, messages: Mapping[str, MessageDef], where: str
) -> None:
    said = f"http=Http.{rule.method.lower() if rule.method in VERBS else 'custom'}({rule.path!r})"
    if method.client_streaming:
        raise DefinitionError(
            f"{where}: {said} is on a client-streaming rpc, and REST serves unary and "
            "server-streaming rpcs only; drop the rule (call it over gRPC)"
        )
    template = parse_template(rule.path, where=f"{where}: {said}")
    bound: set[str] = set()
    for variable in template.variables:
        field = _resolve(messages, method.request.name, variable.field, where, said)
        if field.label in (Label.REPEATED, Label.MAP) or field.type.kind is Kind.MESSAGE:
            raise DefinitionError(
                f"{where}: {said} binds {{{variable.field}}} to a "
                f"{field.label.value} {field.type.name} field; a path variable binds a "
                "single scalar or enum field: bind a field of it, e.g. "
                f"{{{variable.field}.id}}"
            )
        bound.add(variable.field.split(".")[0])
    if rule.body and rule.method in GET_LIKE:
        raise DefinitionError(
            f"{where}: {said} has body={rule.body!r}, but a {rule.method} has no body; "
            "drop body= (the fields come from the path and the query string) or use POST"
        )
    if rule.body not in ("", "*"):
        if "." in rule.body:
            raise DefinitionError(
                f"{where}: {said} has body={rule.body!r}; body names a top-level field"
            )
        _resolve(messages, method.request.name, rule.body, where, said)
        if rule.body in bound:
            raise DefinitionError(
                f"{where}: {said} binds {rule.body!r} both from the path and as the body; "
                "bind it once"
            )
    if rule.response_body:
        if "." in rule.response_body:
            raise DefinitionError(
                f"{where}: {said} has response_body={rule.response_body!r}; "
                "response_body names a top-level field"
            )
        _resolve(messages, method.response.name, rule.response_body, where, said)


def _resolve(
    messages: Mapping[str, MessageDef], type_name: str, path: str, where: str, said: str
) -> FieldDef:
    """The field at dotted `path` in the message `type_name`, through singular messages."""
    current_name = type_name
    field: FieldDef | None = None
    for i, part in enumerate(path.split(".")):
        current = messages.get(current_name)
        if current is None:
            raise DefinitionError(
                f"{where}: {said} names {path!r}, but {current_name} has no fields Cello "
                "can bind; bind a field of a message declared in your code"
            )
        names = {f.name: f for f in current.fields}
        field = names.get(part)
        if field is None:
            known = ", ".join(sorted(names)) or "none"
            raise DefinitionError(
                f"{where}: {said} names {path!r}, but {current_name} has no field "
                f"{part!r} (its fields: {known}); use a field's proto name"
            )
        if i < path.count(".") and (
            field.type.kind is not Kind.MESSAGE or field.label is not Label.SINGULAR
        ):
            raise DefinitionError(
                f"{where}: {said} names {path!r}, but {current_name}.{part} is not a "
                "singular message field, so it has no field to descend into"
            )
        current_name = field.type.name
    assert field is not None  # a path has at least one part
    return field
