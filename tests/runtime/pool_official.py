"""A process that imports a contract's official `_pb2` first, then serves it code-first.

Usage: python -c "from tests.runtime.pool_official import run; run()" health|grpc_testing OUT
(imported, not run as a script: the stubs import this module by name). It runs in its own
process because protobuf's pool is per process: another test's stubs loaded first would
change what this one sees. Prints one JSON object with what the official stubs received.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc.aio
from grpc_tools import protoc

from cello import enum_options
from cello.grpc import GrpcConfig, GrpcServer, GrpcService, grpc_method

__cello_file__ = "grpc_health/v1/health.proto"  # grpcio-health-checking's file name

CASES = Path(__file__).parents[1] / "codegen" / "cases"


@dataclasses.dataclass
class HealthCheckRequest:
    service: str = ""


@dataclasses.dataclass
class HealthCheckResponse:
    @enum_options(prefix=False)
    class ServingStatus(enum.IntEnum):
        UNKNOWN = 0
        SERVING = 1
        NOT_SERVING = 2
        SERVICE_UNKNOWN = 3

    status: ServingStatus = ServingStatus.UNKNOWN


class Health(GrpcService):
    """The official health contract, of which this server implements only `Check`."""

    package = "grpc.health.v1"

    @grpc_method
    async def Check(self, request: HealthCheckRequest) -> HealthCheckResponse:
        return HealthCheckResponse(HealthCheckResponse.ServingStatus.SERVING)


def _official_testing(out: Path) -> ModuleType:
    """grpc-go's test.proto as its owners ship it: the golden case's file plus messages the
    code-first case does not declare, compiled by protoc and imported first."""
    proto = out / "test" / "grpc_testing" / "test.proto"
    proto.parent.mkdir(parents=True)
    golden = CASES / "grpc_testing" / "expected" / "test" / "grpc_testing" / "test.proto"
    extra = """
        message EchoStatus {
          int32 code = 1;
          string message = 2;
        }
    """
    proto.write_text(golden.read_text() + textwrap.dedent(extra))
    args = ["protoc", f"-I{out}", f"--python_out={out}", str(proto)]
    assert protoc.main(args) == 0
    # `test` is also the standard library's package: load the file by its path
    spec = importlib.util.spec_from_file_location(
        "official_test_pb2", proto.with_name("test_pb2.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _serve_and_call(
    service: GrpcService, path: str, request: Any, reply_type: Any
) -> tuple[Any, GrpcServer]:
    # without the built-in health service, which would answer in place of a code-first one
    server = GrpcServer(host="127.0.0.1", port=0, config=GrpcConfig(health=False))
    server.register_service(service)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            call = channel.unary_unary(
                path,
                request_serializer=type(request).SerializeToString,
                response_deserializer=reply_type.FromString,
            )
            return await call(request), server
    finally:
        await server.stop(0)


async def main(case: str, out: Path) -> dict[str, Any]:
    if case == "health":
        from grpc_health.v1 import health_pb2

        reply, _ = await _serve_and_call(
            Health(),
            "/grpc.health.v1.Health/Check",
            health_pb2.HealthCheckRequest(service="x"),
            health_pb2.HealthCheckResponse,
        )
        return {"status": health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}
    official = _official_testing(out)
    from tests.codegen.cases.grpc_testing.service import TestService

    reply, server = await _serve_and_call(
        TestService(),
        "/grpc.testing.TestService/UnaryCall",
        official.SimpleRequest(response_size=3, response_type=official.UNCOMPRESSABLE),
        official.SimpleResponse,
    )
    binding = server.bindings["grpc.testing.TestService"].methods[0]
    pb2 = sys.modules[binding.encode_request.__module__]._pb2  # what `_cello.py` imported
    return {
        "body": reply.payload.body.hex(),
        "type": official.PayloadType.Name(reply.payload.type),
        "official_class": binding.request_type is official.Empty,
        # names of protoc's module the stand-in lacks: only the message Cello's file lacks
        "missing": sorted(_names(official) - _names(pb2)),
        "same_enum": pb2.PayloadType.values() == official.PayloadType.values(),
        "descriptor": pb2.DESCRIPTOR.name.startswith("test/grpc_testing/test"),
    }


def _names(module: ModuleType) -> set[str]:
    """A `_pb2` module's names, without those of its own machinery."""
    machinery = {"_builder", "_descriptor", "_descriptor_pool", "_globals", "_runtime_version"}
    machinery |= {"_sym_db", "_symbol_database"}
    return {n for n in vars(module) if not n.startswith("__") and n not in machinery}


def run() -> None:
    """Run the case named by the first argument; print what the official stubs received."""
    print(json.dumps(asyncio.run(main(sys.argv[1], Path(sys.argv[2])))))
