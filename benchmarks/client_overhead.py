"""Per-call cost of a Cello typed client, its middleware and a retry policy, against a
plain grpcio stub, in one run against one Cello server.

    python benchmarks/client_overhead.py            # 5 rounds of 2000 sequential unary calls
    python benchmarks/client_overhead.py --calls 500 --rounds 3

Each variant makes the same sequential unary calls over the same loopback connection kind;
the figure is the median microseconds per call, and the overhead is against the plain
grpcio stub (a `grpc.aio` multicallable with the `_pb2` serializers, nothing else).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc.aio  # noqa: E402

from cello import ClientCall, RetryPolicy, bearer_token, client_access_log  # noqa: E402
from cello.grpc import GrpcService, grpc_method  # noqa: E402
from cello.testing import serve  # noqa: E402


class Echo(GrpcService):
    package = "overhead.v1"

    @grpc_method(idempotent=True)
    async def Say(self, request: dict[str, Any]) -> dict[str, Any]:
        return request


async def _noop(call: ClientCall, call_next: Callable[[], Awaitable[Any]]) -> Any:
    return await call_next()


async def _time(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - start) / calls * 1e6


async def main(calls: int, rounds: int) -> None:
    async with serve(Echo()) as srv:
        address = srv.server.address
        client_class = type(srv.client(Echo))
        binding = client_class.service.methods[0]
        request_message = binding.encode_request({"text": "hi"})
        plain_channel = grpc.aio.insecure_channel(address)
        plain = plain_channel.unary_unary(
            binding.path,
            request_serializer=binding.request_type.SerializeToString,  # type: ignore[attr-defined]
            response_deserializer=binding.response_type.FromString,  # type: ignore[attr-defined]
        )
        variants: dict[str, Any] = {
            "typed client": await client_class.connect(address),
            "+ 1 no-op middleware": await client_class.connect(address, middleware=[_noop]),
            "+ log, token, no-op": await client_class.connect(
                address, middleware=[client_access_log(), bearer_token(lambda: "t"), _noop]
            ),
            "+ RetryPolicy": await client_class.connect(address, retry=RetryPolicy()),
        }
        results: dict[str, list[float]] = {"plain grpcio stub": []}
        results.update({name: [] for name in variants})
        try:
            for _ in range(rounds):  # interleaved, so drift hits every variant alike
                results["plain grpcio stub"].append(
                    await _time(lambda: plain(request_message), calls)
                )
                for name, client in variants.items():
                    results[name].append(await _time(lambda c=client: c.Say({"text": "hi"}), calls))
        finally:
            await plain_channel.close()
            for client in variants.values():
                await client.close()
    base = statistics.median(results["plain grpcio stub"])
    print(f"{'variant':<24} {'us/call':>9} {'overhead':>10}")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"{name:<24} {median:>9.1f} {median - base:>+9.1f}us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
