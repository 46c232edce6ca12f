"""A client generated from the served `/openapi.json` by a real OpenAPI generator calls the
running server and gets typed objects back (openapi-python-client, in a venv of its own:
it pins an httpx older than the one the suite uses)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import rest_service

from cello import GrpcConfig, GrpcServer

pytestmark = pytest.mark.peer

GENERATOR = "openapi-python-client==0.29.1"

# run in the generator's venv, next to the generated package `bookshop_client`
CALLS = """
import json, sys
from bookshop_client.client import Client
from bookshop_client.api.bookshop_v_1_bookshop import (
    bookshop_v_1_bookshop_create_book as create_book,
    bookshop_v_1_bookshop_get_book as get_book,
)
from bookshop_client.models import BookshopV1Book, Status

client = Client(base_url=sys.argv[1])
book = get_book.sync(shelf="7", isbn="42", client=client, tags=["a", "b"], in_print=True)
if isinstance(book, Status):
    sys.exit(f"GetBook: {book.code} {book.message}")
missing = get_book.sync(shelf="7", isbn="missing", client=client)
made = create_book.sync(client=client, body=BookshopV1Book(isbn="9", title="Dune"))
print(json.dumps({
    "book": [type(book).__name__, book.isbn, book.shelf, book.tags, book.in_print, book.pages],
    "missing": [type(missing).__name__, missing.code, missing.message],
    "made": [isinstance(made, BookshopV1Book), made.isbn, made.title],
    "status_type": isinstance(missing, Status),
}))
"""


def _run(*args: str | Path, cwd: Path) -> str:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def generator_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("openapi-client") / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=venv.parent)
    python = venv / "bin" / "python"
    _run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        GENERATOR,
        cwd=venv.parent,
    )
    return venv


async def test_a_generated_client_calls_the_rest_routes(generator_venv: Path) -> None:
    config = GrpcConfig(enable_web=True, web_port=0, openapi=True)
    server = GrpcServer("127.0.0.1", 0, config)
    server.register_service(rest_service.Bookshop())
    await server.start()
    try:
        base = f"http://127.0.0.1:{server.web_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            document = (await http.get("/openapi.json")).json()
        work = generator_venv.parent
        (work / "openapi.json").write_text(json.dumps(document))
        generate = generator_venv / "bin" / "openapi-python-client"
        await asyncio.to_thread(
            _run,
            generate,
            "generate",
            "--path",
            "openapi.json",
            "--output-path",
            "bookshop_client",
            "--meta",
            "none",
            "--overwrite",
            cwd=work,
        )
        out = await asyncio.to_thread(
            _run, generator_venv / "bin" / "python", "-c", CALLS, base, cwd=work
        )
    finally:
        await server.stop(0)
    result = json.loads(out)
    # int64 travels as a string, as proto3 JSON (and the document's schema) say
    assert result["book"] == ["BookshopV1Book", "42", "7", ["a", "b"], True, str(2**53 + 1)]
    assert result["missing"] == ["Status", 5, "no book missing"]
    assert result["status_type"] is True
    assert result["made"] == [True, "9", "Dune"]
