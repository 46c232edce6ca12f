"""`behind_envoy`: the app's ASGI scope as the client saw it, from the headers Envoy sets.

The app runs behind Envoy on a private Unix socket, so the socket's peer is Envoy. Envoy
writes the real client address into `x-cello-peer` and, on mTLS, the verified client
certificate into `x-forwarded-client-cert` (it drops both when a client sends them: see
`bootstrap.py`), and the client's HTTP version into `x-cello-http`. This wrapper moves
them into the scope's `client`, `http_version` and ASGI `tls` extension, which
`current_call().peer` and `peer_identity` read on every transport, and removes them,
with the other forwarding headers, from the metadata handlers see. It also drops the
`connection` response header, which HTTP/2 forbids.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from ..._security.identity import PeerIdentity
from .bootstrap import CERT_HEADER, PEER_HEADER, PROTOCOL_HEADER

_PEER = PEER_HEADER.encode("ascii")
_PROTOCOL = PROTOCOL_HEADER.encode("ascii")
_CERT = CERT_HEADER.encode("ascii")
# set by Envoy for the app, never the client's metadata (nor is any `x-envoy-*` header:
# Envoy strips a client's own and adds `x-envoy-external-address`)
_HIDDEN = frozenset({_PEER, _PROTOCOL, _CERT, b"x-forwarded-proto", b"x-forwarded-for"})


def behind_envoy(app: Any) -> Any:
    """`app` with each request's scope rebuilt from Envoy's forwarding headers."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_to_envoy(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and any(
                name == b"connection" for name, _ in message.get("headers", ())
            ):
                # the web protocols ask an HTTP/1.1 client to close when its body was not
                # read to the end; on HTTP/2 to Envoy that header is a protocol error (the
                # call would become a 502), and Envoy closes such a client's connection
                # itself when the response ends before the request
                headers = [(n, v) for n, v in message["headers"] if n != b"connection"]
                message = {**message, "headers": headers}
            await send(message)

        await app(_client_scope(scope), receive, send_to_envoy)

    return asgi


def _client_scope(scope: dict[str, Any]) -> dict[str, Any]:
    peer = cert = proto = http = None
    headers = []
    for name, value in scope["headers"]:
        if name in _HIDDEN or name.startswith(b"x-envoy-"):
            if name == _PEER:
                peer = value
            elif name == _CERT:
                cert = value
            elif name == b"x-forwarded-proto":
                proto = value
            elif name == _PROTOCOL:
                http = value
        else:
            headers.append((name, value))
    scope = {**scope, "headers": headers}
    if peer is not None:
        scope["client"] = _address(peer.decode("latin-1"))
    if http is not None and http.startswith(b"HTTP/1"):
        # an HTTP/1.1 client cannot read trailers: without the extension, native gRPC
        # answers it with HTTP 400 as on `h2`, instead of a response missing its status
        scope["http_version"] = "1.1"
        extensions = dict(scope.get("extensions") or {})
        extensions.pop("http.response.trailers", None)
        scope["extensions"] = extensions
    if proto == b"https":
        scope["scheme"] = "https"
        extensions = dict(scope.get("extensions") or {})
        extensions["tls"] = _tls_extension(cert)
        scope["extensions"] = extensions
    return scope


def _address(text: str) -> tuple[str, int] | None:
    """("127.0.0.1", 5000) from "127.0.0.1:5000" or "[::1]:5000"."""
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        return None
    return host.removeprefix("[").removesuffix("]"), int(port)


def _tls_extension(xfcc: bytes | None) -> dict[str, Any]:
    """The ASGI `tls` extension, as `cello._security.identity` builds it from a socket."""
    pem = _certificate(xfcc) if xfcc else None
    return {
        "server_cert": None,
        "client_cert_chain": [pem] if pem else [],
        "client_cert_name": PeerIdentity.from_certificate(pem).subject if pem else None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


def _certificate(xfcc: bytes) -> str | None:
    """The PEM of the `Cert="..."` element (URL-encoded) of Envoy's XFCC header."""
    text = xfcc.decode("latin-1")
    # one element (one proxy: Envoy, which sanitised what the client sent)
    for part in text.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "cert":
            return unquote(value.strip().strip('"')) or None
    return None
