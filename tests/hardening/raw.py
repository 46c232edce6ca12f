"""A raw HTTP/1.1 client on asyncio streams, to behave as slow or hostile clients do."""

from __future__ import annotations

import asyncio
import re
import struct

SERVICE = "/calltest.v1.CallService"


def frame_header(length: int, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, length)


def head(path: str, *extra: str, length: int | None = None, chunked: bool = False) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "content-type: application/grpc-web+proto",
        *extra,
    ]
    if length is not None:
        lines.append(f"content-length: {length}")
    if chunked:
        lines.append("transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def read_response_head(reader: asyncio.StreamReader, timeout: float) -> str:
    """The response's status line and headers, as text."""
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    return raw.decode("latin-1")


def grpc_status(head_text: str) -> int:
    match = re.search(r"(?im)^grpc-status:\s*(\d+)", head_text)
    assert match, head_text
    return int(match.group(1))


async def closed_by_server(reader: asyncio.StreamReader, timeout: float) -> bool:
    """True once the server closes the connection (EOF or reset) within `timeout`."""
    try:
        while await asyncio.wait_for(reader.read(65536), timeout):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True
