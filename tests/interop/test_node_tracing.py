"""A Node @grpc/grpc-js client with a hand-set W3C `traceparent` continues its trace into
a traced Cello server: the server span carries the client's trace id and parent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peers
import pytest
from opentelemetry.trace import SpanKind

from cello.grpc import GrpcConfig, GrpcServer
from tests import otel_sdk
from tests.loop_thread import LoopThread

LIBRARY_PROTO = "demo/library/v1/library.proto"

pytestmark = pytest.mark.peer

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


@pytest.fixture
def traced_address(stubs_out: Path) -> Iterator[str]:
    from examples.library import LibraryService

    otel_sdk.install()
    server = GrpcServer(
        host="127.0.0.1", port=0, config=GrpcConfig(tracing=True), stubs_dir=stubs_out
    )
    server.register_service(LibraryService())
    loop = LoopThread()
    try:
        loop.run(server.start())
        yield server.address
        loop.run(server.stop(0))
    finally:
        loop.close()


def test_node_clients_trace_continues_on_the_server(stubs_out: Path, traced_address: str) -> None:
    otel_sdk.SPANS.clear()
    replies = peers.node_call(
        stubs_out,
        LIBRARY_PROTO,
        "demo.library.v1.LibraryService",
        "GetBook",
        {"isbn": "978-0"},
        traced_address,
        metadata={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    )
    assert replies[0]["title"] == "Dune"
    (span,) = [s for s in otel_sdk.SPANS.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert span.name == "demo.library.v1.LibraryService/GetBook"
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.parent.is_remote
