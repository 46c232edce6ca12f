"""`Http`: an rpc's REST route (google.api.http's HttpRule), and its path templates parsed.

A rule is checked for its own syntax here, when the decorator runs; whether its field
paths exist in the request is checked by the generator (`codegen/schema/introspect.py`) and again
when a server registers the rpc, against the compiled descriptor.

Path templates follow HttpRule's grammar::

    Template = "/" Segments [ ":" Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import DefinitionError

VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")
"""The HTTP methods HttpRule names as fields; any other is a `custom` rule."""
_LITERAL = re.compile(r"[A-Za-z0-9._~\-%]+\Z")
_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


@dataclass(frozen=True, slots=True)
class Variable:
    """`{field.path=segments}`: the URL segments it spans bind one (nested) request field."""

    field: str  # dotted, as written: "book.isbn"
    segments: tuple[str, ...]  # "*" (one segment), "**" (the rest), or literals


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed path template: literal segments, wildcards and variables, and the verb."""

    segments: tuple[str | Variable, ...]
    verb: str  # the custom verb after ":" ("cancel"), or ""

    @property
    def variables(self) -> tuple[Variable, ...]:
        """The variables, in path order."""
        return tuple(s for s in self.segments if isinstance(s, Variable))

    def shape(self) -> tuple[str, ...]:
        """The template with variables flattened to their segments: two templates with
        the same shape and verb match the same URLs, whatever their field names."""
        flat: list[str] = []
        for s in self.segments:
            flat.extend(s.segments if isinstance(s, Variable) else (s,))
        return (*flat, ":" + self.verb)


def parse_template(path: str, *, where: str) -> Template:
    """Parse an HttpRule path template.

    Raises:
        DefinitionError: the template breaks HttpRule's grammar; names `where` and the fix.
    """

    def bad(problem: str) -> DefinitionError:
        return DefinitionError(
            f"{where}: the path {path!r} {problem}; write it as HttpRule does, e.g. "
            '"/v1/shelves/{shelf}/books/{book.isbn}" or "/v1/{name=operations/*}:cancel"'
        )

    if not path.startswith("/"):
        raise bad("does not start with '/'")
    body, verb = path[1:], ""
    # a verb is a ':' after the last '}' or '/', not one inside a variable
    tail = max(body.rfind("/"), body.rfind("}"))
    if ":" in body[tail + 1 :]:
        body, _, verb = body.rpartition(":")
        if not _LITERAL.match(verb):
            raise bad(f"has an invalid verb {verb!r}")
    segments: list[str | Variable] = []
    for raw in _split(body, bad):
        if raw.startswith("{"):
            if not raw.endswith("}"):
                raise bad(f"has an unclosed variable {raw!r}")
            field, _, spec = raw[1:-1].partition("=")
            if not _FIELD_PATH.match(field):
                raise bad(f"has a variable {raw!r} whose field path is not `name` or `a.b`")
            inner = tuple(spec.split("/")) if spec else ("*",)
            for part in inner:
                if part not in ("*", "**") and not _LITERAL.match(part):
                    raise bad(f"has a variable {raw!r} with an invalid segment {part!r}")
            segments.append(Variable(field, inner))
        elif raw in ("*", "**") or _LITERAL.match(raw):
            segments.append(raw)
        else:
            raise bad(f"has an invalid segment {raw!r}")
    flat = Template(tuple(segments), verb).shape()[:-1]
    if "**" in flat[:-1]:
        raise bad("has '**' before its last segment")
    names = [v.field for v in Template(tuple(segments), verb).variables]
    if len(set(names)) != len(names):
        raise bad("binds the same field twice")
    return Template(tuple(segments), verb)


def _split(body: str, bad: object) -> list[str]:
    """Split on '/' outside braces (a variable may span several segments)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "/" and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    if depth != 0 or any(p == "" for p in parts):
        raise bad("has an empty segment or unbalanced braces")  # type: ignore[operator]
    return parts


@dataclass(frozen=True, slots=True)
class Http:
    """An rpc's REST route, with google.api.http (HttpRule) semantics.

    Build one with `Http.get(...)`, `Http.post(...)`, `Http.put(...)`, `Http.patch(...)`,
    `Http.delete(...)` or `Http.custom(method, ...)` and pass it as
    `@grpc_method(http=...)`. Path variables (`{shelf}`, `{book.isbn}`,
    `{name=shelves/*}`) bind request fields; `body="*"` maps the whole request from the
    body, `body="book"` one field, and the fields not bound by the path or the body come
    from the query string. `response_body` sends one field of the response instead of
    the whole message.

    Attributes:
        method: the HTTP method, upper case.
        path: the path template, as written.
        body: "" (no body), "*" or a request field name.
        response_body: "" (the whole response) or a response field name.
        additional_bindings: more routes to the same rpc (without bindings of their own).
    """

    method: str
    path: str
    body: str = ""
    response_body: str = ""
    additional_bindings: tuple[Http, ...] = ()

    def __post_init__(self) -> None:
        where = f"Http.{self.method.lower()}({self.path!r})"
        if not re.fullmatch(r"[A-Z]+", self.method):
            raise DefinitionError(
                f"{where}: method {self.method!r} is not an HTTP method; use upper-case letters"
            )
        parse_template(self.path, where=where)
        if self.body not in ("", "*") and not _FIELD_PATH.match(self.body):
            raise DefinitionError(
                f"{where}: body={self.body!r} is neither '*' nor a request field name"
            )
        if self.response_body and not _FIELD_PATH.match(self.response_body):
            raise DefinitionError(
                f"{where}: response_body={self.response_body!r} is not a response field name"
            )
        object.__setattr__(self, "additional_bindings", tuple(self.additional_bindings))
        for extra in self.additional_bindings:
            if not isinstance(extra, Http) or extra.additional_bindings:
                raise DefinitionError(
                    f"{where}: additional_bindings holds Http rules without bindings of "
                    f"their own, got {extra!r}"
                )

    @property
    def template(self) -> Template:
        """The parsed path template."""
        return parse_template(self.path, where=self.path)

    def bindings(self) -> tuple[Http, ...]:
        """This rule and its additional bindings, in order."""
        return (self, *self.additional_bindings)

    @classmethod
    def get(
        cls, path: str, /, *, response_body: str = "", additional_bindings: tuple[Http, ...] = ()
    ) -> Http:
        """A GET route: the fields not in the path come from the query string."""
        return cls("GET", path, "", response_body, additional_bindings)

    @classmethod
    def delete(
        cls, path: str, /, *, response_body: str = "", additional_bindings: tuple[Http, ...] = ()
    ) -> Http:
        """A DELETE route: the fields not in the path come from the query string."""
        return cls("DELETE", path, "", response_body, additional_bindings)

    @classmethod
    def post(
        cls,
        path: str,
        /,
        *,
        body: str = "",
        response_body: str = "",
        additional_bindings: tuple[Http, ...] = (),
    ) -> Http:
        """A POST route; `body="*"` reads the request from the body."""
        return cls("POST", path, body, response_body, additional_bindings)

    @classmethod
    def put(
        cls,
        path: str,
        /,
        *,
        body: str = "",
        response_body: str = "",
        additional_bindings: tuple[Http, ...] = (),
    ) -> Http:
        """A PUT route."""
        return cls("PUT", path, body, response_body, additional_bindings)

    @classmethod
    def patch(
        cls,
        path: str,
        /,
        *,
        body: str = "",
        response_body: str = "",
        additional_bindings: tuple[Http, ...] = (),
    ) -> Http:
        """A PATCH route."""
        return cls("PATCH", path, body, response_body, additional_bindings)

    @classmethod
    def custom(
        cls,
        method: str,
        path: str,
        /,
        *,
        body: str = "",
        response_body: str = "",
        additional_bindings: tuple[Http, ...] = (),
    ) -> Http:
        """A route with another HTTP method (HttpRule's `custom`), e.g. `"HEAD"`."""
        return cls(method.upper(), path, body, response_body, additional_bindings)
