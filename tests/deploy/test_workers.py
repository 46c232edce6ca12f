"""`cello serve --workers`: shared ports, restarts, drains and rolling restarts, for real."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import grpc
import grpc.aio
import httpx
import pytest
from google.protobuf.wrappers_pb2 import Int64Value

from .conftest import (
    APP,
    OWN_CONNECTION,
    RETRY_ON_DRAIN,
    SINGLE_LINE,
    Served,
    pid_of,
    sleep,
    whoami,
)

Serve = Callable[..., Awaitable[Served]]


async def _pids_seen(address: str, want: set[int], tries: int = 200) -> set[int]:
    """Pids answering new connections, until all of `want` answered (or `tries` ran out)."""
    seen: set[int] = set()
    for _ in range(tries):
        seen.add(await pid_of(address))
        if want <= seen:
            break
    return seen


async def test_two_workers_answer_on_both_ports(serve: Serve) -> None:
    served = await (await serve(APP, "--workers", "2", "--log-format", "json")).started()
    assert len(set(served.pids)) == 2
    assert await _pids_seen(served.address, set(served.pids)) == set(served.pids)
    web_pids: set[int] = set()
    url = f"http://127.0.0.1:{served.web_port}/deploy.v1.WhoService/Whoami"
    for _ in range(200):
        async with httpx.AsyncClient() as client:  # a new connection each time
            response = await client.post(
                url,
                content=b"\0\0\0\0\0",
                headers={"content-type": "application/grpc-web+proto"},
            )
        assert response.status_code == 200
        assert b"grpc-status: 0" in response.content
        (length,) = struct.unpack(">I", response.content[1:5])
        web_pids.add(Int64Value.FromString(response.content[5 : 5 + length]).value)
        if web_pids == set(served.pids):
            break
    assert web_pids == set(served.pids)
    assert await served.stop() == 0
    for pid in served.pids:  # each worker logs as JSON (its startup lines the supervisor prints)
        line = await served.wait_for(rf'"pid": {pid}, "message": "draining in-flight calls"')
        entry = json.loads(line.string)
        assert (entry["logger"], entry["level"]) == ("cello", "info")


async def _pinned_channels(address: str, count: int) -> list[tuple[grpc.aio.Channel, int]]:
    """`count` channels, each with its own connection, and the worker pid each reached."""
    pinned = []
    for _ in range(count):
        channel = grpc.aio.insecure_channel(address, options=OWN_CONNECTION)
        pinned.append((channel, int((await whoami(channel)(None, timeout=10)).value)))
    return pinned


@pytest.mark.peer  # slow: real processes killed and replaced
async def test_sigkill_loses_only_that_workers_calls_and_it_comes_back(serve: Serve) -> None:
    served = await (await serve(APP, "--workers", "2")).started()
    pinned = await _pinned_channels(served.address, 16)
    by_pid = Counter(pid for _, pid in pinned)
    assert set(by_pid) == set(served.pids), "both workers should have connections"
    victim, survivor = served.pids
    calls = [asyncio.ensure_future(sleep(ch)(3000, timeout=30)) for ch, _ in pinned]
    await asyncio.sleep(1)
    os.kill(victim, signal.SIGKILL)
    results = await asyncio.gather(*calls, return_exceptions=True)
    for (_, pid), result in zip(pinned, results, strict=True):
        if pid == victim:
            assert isinstance(result, grpc.aio.AioRpcError), result
            assert result.code() == grpc.StatusCode.UNAVAILABLE
        else:
            assert not isinstance(result, BaseException), result
            assert result.value == survivor
    for channel, _ in pinned:
        await channel.close()
    line = await served.wait_for(rf"worker \d restarted \(pid (\d+) replaces {victim}\)")
    newcomer = int(line.group(1))
    await served.wait_for(r"died with signal SIGKILL")
    assert newcomer not in (victim, survivor)
    assert await _pids_seen(served.address, {newcomer, survivor}) == {newcomer, survivor}
    assert await served.stop() == 0


async def test_sigterm_drains_every_in_flight_call(serve: Serve) -> None:
    served = await (await serve(APP, "--workers", "2")).started()
    pinned = await _pinned_channels(served.address, 12)
    assert {pid for _, pid in pinned} == set(served.pids)
    calls = [asyncio.ensure_future(sleep(ch)(2000, timeout=30)) for ch, _ in pinned]
    await asyncio.sleep(0.5)
    served.signal(signal.SIGTERM)
    results = await asyncio.gather(*calls, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, failed
    assert await served.stop() == 0
    for channel, _ in pinned:
        await channel.close()


@pytest.mark.peer  # slow: real processes killed and replaced
async def test_sighup_rolls_the_workers_without_a_failed_call(serve: Serve) -> None:
    served = await (await serve(APP, "--workers", "2")).started()
    old = set(served.pids)
    results: Counter[str] = Counter()
    pids: Counter[int] = Counter()
    done = asyncio.Event()

    options = [*OWN_CONNECTION, *RETRY_ON_DRAIN]

    async def loop(fresh: bool) -> None:
        channel = grpc.aio.insecure_channel(served.address, options=options)
        try:
            while not done.is_set():
                if fresh:  # a new connection per call, to meet the listening sockets
                    await channel.close()
                    channel = grpc.aio.insecure_channel(served.address, options=options)
                try:
                    reply = await sleep(channel)(20, timeout=10)
                except grpc.aio.AioRpcError as exc:
                    results[exc.code().name] += 1
                else:
                    results["OK"] += 1
                    pids[reply.value] += 1
        finally:
            await channel.close()

    clients = [asyncio.ensure_future(loop(fresh=i % 2 == 0)) for i in range(6)]
    await asyncio.sleep(0.5)
    served.signal(signal.SIGHUP)
    await served.wait_for(r"worker 2 replaced", timeout=120)
    started = time.monotonic()
    while len(set(pids) - old) < 2 and time.monotonic() - started < 10:
        await asyncio.sleep(0.2)
    done.set()
    await asyncio.gather(*clients)
    assert set(results) == {"OK"}, results
    new = set(pids) - old
    assert len(new) == 2, pids  # both replacements answered
    assert old & set(pids) == old  # and so did the old ones, before they drained
    assert await _pids_seen(served.address, new, tries=40) == new
    assert await served.stop() == 0


@pytest.mark.parametrize("first", [["--port", "0"], ["--workers", "2"]], ids=["plain", "workers"])
async def test_a_double_bind_without_workers_is_an_error(serve: Serve, first: list[str]) -> None:
    running = await serve(APP, *first)
    if "--workers" in first:
        port = str((await running.started()).port)
    else:
        port = (await running.wait_for(SINGLE_LINE)).group(1)
    second = await serve(APP, "--port", port, "--web-port", "0")
    assert await second.exited() == 2
    errors = [line for line in second.lines if line.startswith("cello serve:")]
    assert len(errors) == 1 and port in errors[0] and "in use" in errors[0], second.lines
    assert not any("Traceback" in line for line in second.lines)
    assert await pid_of(f"127.0.0.1:{port}") in {running.process.pid, *running.pids}
    assert await running.stop() == 0


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tests.deploy.nowhere:app", "cannot import 'tests.deploy.nowhere'"),
        ("tests.deploy.whoami:nothing", "has no 'nothing'"),
        ("tests.deploy.whoami:os", "name an App, a GrpcService or a module"),
    ],
    ids=["module", "attribute", "kind"],
)
async def test_a_bad_target_is_one_line_naming_it(serve: Serve, target: str, message: str) -> None:
    served = await serve(target, "--workers", "2")
    assert await served.exited() == 2
    assert [line for line in served.lines if line.startswith("cello serve:")] == [
        line for line in served.lines if line.strip()
    ]
    assert message in served.lines[0]
