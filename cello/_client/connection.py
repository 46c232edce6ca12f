"""`open_channel`, `open_sync_channel`: a grpc channel, plaintext or TLS, connected or why not."""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Iterable
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


ChannelOptions = Iterable[tuple[str, Any]]
"""grpc channel arguments, e.g. `[("grpc.keepalive_time_ms", 30_000)]`."""


async def open_channel(
    target: str,
    *,
    tls: ClientTls | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    options: ChannelOptions = (),
    timeout: float = 10.0,
    max_message_size: int = 4_194_304,
    tracing: bool = False,
) -> grpc.aio.Channel:
    """Open a channel to `target` ("host:port"), over TLS with `tls`, and wait until ready.

    Args:
        target: "host:port".
        tls: connect over TLS (mTLS with a client certificate); None is plaintext.
        credentials: grpc channel credentials made by hand, instead of `tls`.
        options: more grpc channel arguments; one named here replaces the one set from
            the other arguments.
        timeout: seconds to wait for the connection.
        max_message_size: largest message sent or received, in bytes.
        tracing: an OpenTelemetry client span per call, its context sent in the metadata.

    Raises:
        GrpcError: UNAVAILABLE with the reason (a TLS handshake failure at once, with the
            fix), or when no connection is made within `timeout` seconds.
        TypeError: both `tls` and `credentials` are given.
    """
    channel: grpc.aio.Channel = _channel(
        grpc.aio, target, tls, credentials, options, max_message_size, tracing
    )
    try:
        await _ready(channel, target, tls, timeout)
    except BaseException:
        await channel.close()
        raise
    return channel


def open_sync_channel(
    target: str,
    *,
    tls: ClientTls | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    options: ChannelOptions = (),
    timeout: float = 10.0,
    max_message_size: int = 4_194_304,
    tracing: bool = False,
) -> grpc.Channel:
    """`open_channel` for grpc's blocking channel: the same arguments and errors."""
    channel: grpc.Channel = _channel(
        grpc, target, tls, credentials, options, max_message_size, tracing
    )
    try:
        _ready_sync(channel, target, tls, timeout)
    except BaseException:
        channel.close()
        raise
    return channel


def _channel(
    module: Any,
    target: str,
    tls: ClientTls | None,
    credentials: grpc.ChannelCredentials | None,
    options: ChannelOptions,
    max_message_size: int,
    tracing: bool = False,
) -> Any:
    """A channel of `module` (`grpc` or `grpc.aio`), not yet connected."""
    if tracing and module is grpc:  # a blocking channel is wrapped; an aio one (below)
        # takes its interceptors when made
        from .tracing import SyncTracing

        plain = _channel(module, target, tls, credentials, options, max_message_size)
        return grpc.intercept_channel(plain, SyncTracing(target))
    extra: dict[str, Any] = {}
    if tracing:
        from .tracing import AioTracing

        extra["interceptors"] = [AioTracing(target)]
    if tls is not None and credentials is not None:
        raise TypeError(
            f"connect({target!r}): pass tls= or credentials=, not both; tls=ClientTls(...) "
            "covers CA, client certificate and server name, credentials= is for grpc "
            "credentials made by hand"
        )
    given = list(options)
    ours = [
        ("grpc.max_send_message_length", max_message_size),
        ("grpc.max_receive_message_length", max_message_size),
    ]
    if tls is not None:
        ours += tls.channel_options()
        credentials = tls.credentials()
    # an argument the caller gives replaces ours rather than appearing twice
    opts = [o for o in ours if o[0] not in {k for k, _ in given}] + given
    if credentials is None:
        return module.insecure_channel(target, options=opts, **extra)
    return module.secure_channel(target, credentials, options=opts, **extra)


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
            _give_up_if_hopeless(target, reason, tls)
        try:
            await asyncio.wait_for(channel.wait_for_state_change(state), end - loop.time())
        except TimeoutError:
            raise _timed_out(target, reason, tls, timeout) from None
        state = channel.get_state(try_to_connect=True)


def _ready_sync(channel: grpc.Channel, target: str, tls: ClientTls | None, timeout: float) -> None:
    """`_ready` for a blocking channel, which reports its states to a callback."""
    states: queue.SimpleQueue[grpc.ChannelConnectivity] = queue.SimpleQueue()
    report = states.put  # one bound method, so that unsubscribe finds it
    channel.subscribe(report, try_to_connect=True)
    end = time.monotonic() + timeout
    reason = ""
    try:
        while True:
            try:
                state = states.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise _timed_out(target, reason, tls, timeout) from None
            if state == grpc.ChannelConnectivity.READY:
                return
            if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                reason = _failure_reason_sync(channel)
                _give_up_if_hopeless(target, reason, tls)
    finally:
        channel.unsubscribe(report)


_PROBE = "/grpc.health.v1.Health/Check"


async def _failure_reason(channel: grpc.aio.Channel) -> str:
    """Why the channel failed to connect: grpc only tells it to a call, so make one."""
    probe: Any = channel.unary_unary(_PROBE)
    try:
        await probe(b"", timeout=5, wait_for_ready=False)
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            return exc.details() or ""
    return ""


def _failure_reason_sync(channel: grpc.Channel) -> str:
    probe: Any = channel.unary_unary(_PROBE)
    try:
        probe(b"", timeout=5, wait_for_ready=False)
    except grpc.RpcError as exc:
        call: Any = exc
        if call.code() == grpc.StatusCode.UNAVAILABLE:
            return call.details() or ""
    return ""


def _give_up_if_hopeless(target: str, reason: str, tls: ClientTls | None) -> None:
    hint, final = _hint(reason, tls)
    if final:
        raise GrpcError(GrpcError.UNAVAILABLE, f"cannot connect to {target}: {reason}; {hint}")


def _timed_out(target: str, reason: str, tls: ClientTls | None, timeout: float) -> GrpcError:
    hint = _hint(reason, tls)[0] if reason else ""
    detail = f": {reason}; {hint}" if reason else ""
    return GrpcError(
        GrpcError.UNAVAILABLE, f"could not connect to {target} within {timeout}s{detail}"
    )


def _hint(reason: str, tls: ClientTls | None) -> tuple[str, bool]:
    """The fix for a connection failure's `reason`, and whether retrying is hopeless."""
    for marker, hint in _HINTS:
        if marker in reason:
            return hint, True
    if "TSI_DATA_CORRUPTED" in reason and tls is not None and not tls.has_client_cert:
        # TLS 1.3 to a BoringSSL server (Envoy): the handshake completes on our side and
        # the server's "certificate required" alert arrives as unreadable data
        return _NO_CLIENT_CERT, True
    if "Socket closed" in reason or "handshake" in reason.lower():
        if tls is None:
            return _PLAINTEXT, False
        if not tls.has_client_cert:
            return _NO_CLIENT_CERT, True
        return "the server refused the TLS handshake; check the client certificate", True
    return "is the server running and reachable?", False
