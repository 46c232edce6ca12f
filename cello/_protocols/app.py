"""`GrpcWebApp`: the ASGI 3 app serving endpoints over HTTP, one protocol per content type.

The app owns what every HTTP protocol shares: method routing, CORS, negotiation by
content type, the request limits, and the `GET` routes (the schema, Connect's GET calls).
Each protocol module (`grpc`, `grpc_web`, `connect`) exposes `CONTENT_TYPES`, `REQUEST_HEADERS`,
`EXPOSED_HEADERS` and `serve(request, find, limits)`, and is listed in `_PROTOCOLS`; one
that serves `GET` calls too also exposes `serve_get(request, find, limits) -> bool`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from .._call.endpoint import Endpoint
from . import connect, docs_page, grpc, grpc_web, rest
from .http import (
    Header,
    Limits,
    Receive,
    Request,
    RequestHeaders,
    Scope,
    Send,
    lifespan,
    method_path,
    plain,
    send_bytes,
)
from .routes import router
from .schema import SCHEMA_PATH, descriptor_set

_PROTOCOLS: tuple[ModuleType, ...] = (grpc, grpc_web, connect)
_GET_PROTOCOLS = tuple(p for p in _PROTOCOLS if hasattr(p, "serve_get"))
_METHODS = b"GET, POST, OPTIONS"
OPENAPI_PATH = "/openapi.json"
_RPC_PATH = re.compile(r"/[A-Za-z_]\w*(\.\w+)+/\w+")  # /package.Service/Method
_REST_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"
_UNSUPPORTED = (
    "Unsupported content type; send one of "
    + ", ".join(ct for p in _PROTOCOLS for ct in p.CONTENT_TYPES)
    + "\n"
).encode("ascii")


class GrpcWebApp:
    """An ASGI 3 app serving a server's rpcs over HTTP: gRPC-Web, Connect and gRPC.

    Get one from `GrpcServer.web_app()` (which also serves it on `web_port` with
    `enable_web`), and mount it in any ASGI server at any path: the path it is mounted at
    (`root_path`) is stripped before the method is looked up. Unary and server-streaming
    rpcs are served: gRPC-Web in binary and text modes, Connect in JSON and binary (and
    `GET` for side-effect-free rpcs); on an HTTP/2 server with the ASGI trailers
    extension (Cello's HTTP/2 server, `GrpcConfig(transport="h2")`), native gRPC too, all four call
    shapes. `GET /cello.schema.v1/FileDescriptorSet.binpb`
    returns the schema as a binary `FileDescriptorSet`.

    Args:
        endpoints: the rpcs to serve (`GrpcServer.endpoints()`).
        max_message_size: the largest request or response message, in bytes.
        allowed_origins: origins browsers may call from (CORS). Empty (the default) sends
            no CORS headers: same-origin pages only. `"*"` allows any origin.
        allowed_headers: request headers, besides gRPC-Web's own, that cross-origin
            calls may send (e.g. `"authorization"`).
        body_timeout: seconds a request body may take to arrive in full.
        compression: compress responses by default (`"gzip"`), for clients that accept it.
        json_ignore_unknown_fields: Connect JSON requests may carry unknown fields (they
            are dropped); by default they are refused with INVALID_ARGUMENT.
        openapi: an OpenAPI document (JSON) served at `GET /openapi.json`.
    """

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        max_message_size: int = 4_194_304,
        allowed_origins: Sequence[str] = (),
        allowed_headers: Sequence[str] = (),
        body_timeout: float = 10.0,
        compression: str | None = None,
        json_ignore_unknown_fields: bool = False,
        openapi: bytes | None = None,
    ) -> None:
        self._endpoints = {ep.method: ep for ep in endpoints}
        self._rest = router(endpoints)  # google.api.http rules; clashes refused here
        self._limits = Limits(
            max_message_size=int(max_message_size),
            body_timeout=body_timeout,
            compression=compression,
            json_ignore_unknown_fields=json_ignore_unknown_fields,
        )
        self._schema: bytes | None = None
        self._openapi = openapi
        self._allowed_origins = (
            (allowed_origins,) if isinstance(allowed_origins, str) else tuple(allowed_origins)
        )
        self._by_type = {ct: p for p in _PROTOCOLS for ct in p.CONTENT_TYPES}
        requested = [h for p in (*_PROTOCOLS, rest) for h in p.REQUEST_HEADERS]
        own = [h.strip().lower() for h in allowed_headers]
        self._allow_headers = ", ".join(dict.fromkeys([*requested, *own])).encode("latin-1")
        exposed = [h for p in (*_PROTOCOLS, rest) for h in p.EXPOSED_HEADERS]
        self._expose_headers = ", ".join(dict.fromkeys(exposed)).encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"GrpcWebApp cannot serve ASGI scope type {scope['type']!r}")
        headers = RequestHeaders(scope.get("headers") or ())
        path = method_path(scope)
        # an rpc's own path is never a REST route: gRPC and Connect calls skip the matching
        if (
            self._rest
            and path not in self._endpoints
            and (found := self._rest.match(scope["method"], path))
        ):
            cors = self._cors(headers)
            if cors is None:
                await plain(send, 403, b"Origin not allowed\n")
                return
            request = Request(scope, receive, send, headers, cors)
            await rest.serve(request, *found, self._limits)
        elif scope["method"] == "OPTIONS":
            await self._preflight(headers, send)
        elif scope["method"] == "GET":
            await self._get(scope, receive, send, headers)
        elif self._rest and not _RPC_PATH.fullmatch(path):
            await self._no_route(scope, send)  # an unknown rpc gets its protocol's status
        elif scope["method"] != "POST":
            await plain(send, 405, b"Calls are POST (or GET for Connect)\n", [(b"allow", _METHODS)])
        elif (protocol := self._by_type.get(headers.media_type)) is None:
            await plain(send, 415, _UNSUPPORTED)
        else:
            request = Request(scope, receive, send, headers, self._cors(headers) or [])
            await protocol.serve(request, self._endpoints.get, self._limits)

    async def _get(
        self, scope: Scope, receive: Receive, send: Send, headers: RequestHeaders
    ) -> None:
        cors = self._cors(headers)
        if cors is None:
            await plain(send, 403, b"Origin not allowed\n")
            return
        if method_path(scope) == SCHEMA_PATH:
            if self._schema is None:
                self._schema = descriptor_set(self._endpoints.values())
            await send_bytes(send, self._schema, b"application/x-protobuf", cors)
            return
        if self._openapi is not None and await self._openapi_get(method_path(scope), send, cors):
            return
        request = Request(scope, receive, send, headers, cors)
        for protocol in _GET_PROTOCOLS:
            if await protocol.serve_get(request, self._endpoints.get, self._limits):
                return
        if self._rest:
            await self._no_route(scope, send)
            return
        await plain(send, 405, b"Calls are POST (GET only for Connect)\n", [(b"allow", _METHODS)])

    async def _openapi_get(self, path: str, send: Send, cors: list[Header]) -> bool:
        """Serve `/openapi.json`, the `/docs` page and its assets; False for other paths."""
        assert self._openapi is not None
        if path == OPENAPI_PATH:
            await send_bytes(send, self._openapi, b"application/json", cors)
        elif path == docs_page.DOCS_PATH:
            html = docs_page.page("API")
            if html is None:
                await plain(send, 404, docs_page.MISSING)
            else:
                await send_bytes(send, html, b"text/html; charset=utf-8", cors)
        elif (found := docs_page.asset(path)) is not None:
            await send_bytes(send, found[0], found[1], cors)
        else:
            return False
        return True

    async def _no_route(self, scope: Scope, send: Send) -> None:
        """404 naming the REST routes nearest to the request's."""
        wanted = f"{scope['method']} {method_path(scope)}"
        nearest = self._rest.nearest(scope["method"], method_path(scope))
        text = f"No route for {wanted}; the nearest routes:\n" + "".join(
            f"  {label}\n" for label in nearest
        )
        await plain(send, 404, text.encode("utf-8"))

    def _cors(self, headers: RequestHeaders) -> list[Header] | None:
        """CORS headers for the request's origin: [] when CORS does not apply, None if refused."""
        origin = headers.get("origin")
        if origin is None:
            return []
        if "*" in self._allowed_origins:
            return [(b"access-control-allow-origin", b"*")]
        if origin in self._allowed_origins:
            return [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"vary", b"Origin"),
            ]
        return None

    async def _preflight(self, headers: RequestHeaders, send: Send) -> None:
        cors = self._cors(headers)
        if not cors:
            await plain(send, 403 if cors is None else 204, b"")
            return
        extra: list[Any] = [
            *cors,
            (b"access-control-allow-methods", _REST_METHODS if self._rest else _METHODS),
            (b"access-control-allow-headers", self._allow_headers),
            (b"access-control-expose-headers", self._expose_headers),
            (b"access-control-max-age", b"86400"),
        ]
        await plain(send, 204, b"", extra)
