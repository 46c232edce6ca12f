"""The load clients of throughput.py: h2load, or the Go client in `loadgen/` (`--client go`).

Both send pre-serialized requests and report (calls/s, reply bytes) where the reply bytes
are the gRPC-framed reply messages (5 + length each), so one byte check fits both. h2load
counts an HTTP 200 as success whatever the grpc-status, hence that check; the Go client also
counts non-OK statuses itself. h2load sends a bidi call's messages as one request body; the
Go client interleaves them, each message sent once the previous echo has arrived.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICE = "bench.v1.BenchService"
GO_DEBROOT = HERE.parent / "tests" / "interop" / "peers" / ".debroot" / "usr" / "share" / "gocode"


@dataclass(frozen=True, slots=True)
class Call:
    """One measured call: the method, what the clients send, the reply bytes expected."""

    name: str
    method: str
    kind: str  # unary, server or bidi
    message: bytes  # the request message (bidi: each of `count` messages)
    count: int  # bidi: messages per stream
    body: bytes  # h2load's request body: the message framed (`count` times for bidi)
    reply_bytes: int  # DATA payload per call: gRPC frames of every reply message
    unit: str


@dataclass(frozen=True, slots=True)
class Load:
    """How hard to drive: connections, streams in flight on each, the client's core."""

    clients: int
    streams: int
    pin: bool


def build_loadgen(out: Path) -> Path:
    """`go build` loadgen/ offline in GOPATH mode (Debian's grpc-go); the binary's path.

    Raises:
        SystemExit: go or Debian's golang-google-grpc-dev is missing (the fix is named).
    """
    gopath = [p for p in (GO_DEBROOT, Path("/usr/share/gocode")) if p.is_dir()]
    if shutil.which("go") is None or not any(
        (p / "src/google.golang.org/grpc").is_dir() for p in gopath
    ):
        raise SystemExit(
            "--client go needs go and golang-google-grpc-dev; run .ci/install-peers.sh"
        )
    exe = out / "loadgen"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOPATH": os.pathsep.join(map(str, gopath)),
    }
    cmd = ["go", "build", "-o", str(exe), str(HERE / "loadgen" / "main.go")]
    build = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if build.returncode != 0:
        raise SystemExit(f"go build loadgen/main.go failed: {build.stderr.strip()}")
    return exe


def h2load(call: Call, port: int, requests: int, load: Load, files: Path) -> tuple[float, int]:
    """Run h2load; (calls/s, DATA bytes received), after checking every call got a reply."""
    cmd = [
        "h2load",
        f"--requests={requests}",
        f"--clients={min(load.clients, requests)}",
        f"--max-concurrent-streams={load.streams}",
        "--threads=1",
        f"--data={files / (call.name + '.bin')}",
        "--header=content-type: application/grpc",
        "--header=te: trailers",
        f"http://127.0.0.1:{port}/{SERVICE}/{call.method}",
    ]
    if load.pin:
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out)
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    data = re.search(r"traffic: .*?, .*? headers .*?, \S+ \((\d+)\) data", out)
    if not (done and rate and data):
        raise RuntimeError(f"cannot read h2load's output:\n{out}")
    if int(done.group(1)) != requests:
        raise RuntimeError(f"{call.name}: {done.group(1)} of {requests} calls succeeded:\n{out}")
    return float(rate.group(1)), int(data.group(1))


def loadgen(
    exe: Path, call: Call, port: int, requests: int, load: Load, files: Path
) -> tuple[float, int]:
    """Run the Go client; (calls/s, reply bytes), after checking every call returned OK."""
    cmd = [str(exe), f"-addr=127.0.0.1:{port}", f"-method=/{SERVICE}/{call.method}"]
    cmd += [f"-kind={call.kind}", f"-request={files / (call.name + '.msg')}", f"-n={requests}"]
    cmd += [f"-c={min(load.clients, requests)}", f"-m={load.streams}", f"-count={call.count}"]
    if load.pin:
        cmd = ["taskset", "-c", "0", *cmd]
    # one OS thread for Go code, like h2load's --threads=1
    env = {**os.environ, "GOMAXPROCS": "1"}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    try:
        result = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"cannot read loadgen's output: {run.stdout}{run.stderr}") from None
    if run.returncode != 0 or result["failed"]:
        failed, error = result.get("failed", "?"), result.get("error")
        raise RuntimeError(f"{call.name}: {failed} of {requests} calls failed: {error}")
    return float(result["rate"]), int(result["data"])


def write_files(call: Call, files: Path) -> None:
    """The request files both clients read: `NAME.bin` (h2load's body), `NAME.msg`."""
    (files / f"{call.name}.bin").write_bytes(call.body)
    (files / f"{call.name}.msg").write_bytes(call.message)
