"""`open_channel`: a grpc.aio channel, plaintext or TLS, connected; a failure says why."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from .._errors import GrpcError

if TYPE_CHECKING:
    from .._security.tls import ClientTls  # generated stubs load this module; TLS loads when used

# What a failed connection's reason says, and what to do about it. The first three cannot
# heal by retrying, so connecting gives up at once rather than waiting for the timeout.
_HINTS = (
    (
        "CERTIFICATE_VERIFY_FAILED",
        "the server's certificate is not signed by a CA this client trusts; pass "
        "ClientTls(ca='ca.pem') with the CA that signed it",
    ),
    (
        "Hostname Verification",
        "the server's certificate is not issued for this host name; connect with a name it "
        "lists or pass ClientTls(server_name=...)",
    ),
    (
        "WRONG_VERSION_NUMBER",
        "the server does not speak TLS on this port; connect without tls=",
    ),
)
_NO_CLIENT_CERT = (
    "the server closed the connection during the TLS handshake: it probably requires a "
    "client certificate (mTLS); pass ClientTls(cert_chain='client.pem', private_key='client.key')"
)
_PLAINTEXT = "if the server uses TLS, connect with tls=ClientTls(...)"


async def open_channel(
    target: str,
    *,
    tls: ClientTls | None = None,
    timeout: float = 10.0,
    max_message_size: int = 4_194_304,
) -> grpc.aio.Channel:
    """Open a channel to `target` ("host:port"), over TLS with `tls`, and wait until ready.

    `max_message_size` caps the messages sent and received, in bytes.

    Raises:
        GrpcError: UNAVAILABLE with the reason (a TLS handshake failure at once, with the
            fix), or when no connection is made within `timeout` seconds.
    """
    options = [
        ("grpc.max_send_message_length", max_message_size),
        ("grpc.max_receive_message_length", max_message_size),
    ]
    if tls is None:
        channel = grpc.aio.insecure_channel(target, options=options)
    else:
        opts = [*options, *tls.channel_options()]
        channel = grpc.aio.secure_channel(target, tls.credentials(), options=opts)
    try:
        await _ready(channel, target, tls, timeout)
    except BaseException:
        await channel.close()
        raise
    return channel


async def _ready(
    channel: grpc.aio.Channel, target: str, tls: ClientTls | None, timeout: float
) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    reason = ""
    state = channel.get_state(try_to_connect=True)
    while state != grpc.ChannelConnectivity.READY:
        if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
            reason = await _failure_reason(channel)
            hint, final = _hint(reason, tls)
            if final:
                raise GrpcError(
                    GrpcError.UNAVAILABLE, f"cannot connect to {target}: {reason}; {hint}"
                )
        try:
            await asyncio.wait_for(channel.wait_for_state_change(state), end - loop.time())
        except TimeoutError:
            hint = _hint(reason, tls)[0] if reason else ""
            detail = f": {reason}; {hint}" if reason else ""
            raise GrpcError(
                GrpcError.UNAVAILABLE, f"could not connect to {target} within {timeout}s{detail}"
            ) from None
        state = channel.get_state(try_to_connect=True)


async def _failure_reason(channel: grpc.aio.Channel) -> str:
    """Why the channel failed to connect: grpc only tells it to a call, so make one."""
    probe: Any = channel.unary_unary("/grpc.health.v1.Health/Check")
    try:
        await probe(b"", timeout=5, wait_for_ready=False)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            return exc.details() or ""
    return ""


def _hint(reason: str, tls: ClientTls | None) -> tuple[str, bool]:
    """The fix for a connection failure's `reason`, and whether retrying is hopeless."""
    for marker, hint in _HINTS:
        if marker in reason:
            return hint, True
    if "Socket closed" in reason or "handshake" in reason.lower():
        if tls is None:
            return _PLAINTEXT, False
        if not tls.has_client_cert:
            return _NO_CLIENT_CERT, True
        return "the server refused the TLS handshake; check the client certificate", True
    return "is the server running and reachable?", False
