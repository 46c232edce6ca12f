"""What the benchmark scripts share: gRPC framing, the h2load check, the machine's load, the end."""

from __future__ import annotations

import os
import shutil
import struct
import time


def frame(payload: bytes) -> bytes:
    """A gRPC length-prefixed message (uncompressed)."""
    return b"\0" + struct.pack(">I", len(payload)) + payload


def require_h2load() -> None:
    """Stop the script with the fix when h2load (nghttp2-client) is missing."""
    if shutil.which("h2load") is None:
        raise SystemExit("h2load not found; install nghttp2-client (.ci/install-peers.sh)")


def load() -> str:
    """The 1/5/15-minute load averages, for the lines that frame a run's figures."""
    return "/".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def finish(started: float, *, profiled: bool) -> int:
    """Print the closing lines of a run begun at `started` (`perf_counter`); exit status 0."""
    if profiled:
        print("note: cProfile slows the profiled server; this run's ratios are not figures")
    print(f"total {time.perf_counter() - started:.1f} s, load {load()}")
    return 0
