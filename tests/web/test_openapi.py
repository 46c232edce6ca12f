"""The OpenAPI 3.1 document of the REST routes: valid (openapi-spec-validator), served at
`/openapi.json` with `GrpcConfig(openapi=True)`, and written by `cello-gen openapi`."""

from __future__ import annotations

import asyncio
import html
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import rest_service
import yaml

from cello import GrpcConfig, GrpcServer

ROOT = Path(__file__).resolve().parents[2]


def validate(doc: dict[str, Any]) -> None:
    from openapi_spec_validator import validate as spec_validate
    from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

    spec_validate(doc, cls=OpenAPIV31SpecValidator)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("openapi") / "openapi.yaml"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests' / 'web'}"}
    proc = subprocess.run(
        [sys.executable, "-m", "cello.codegen.cli", "openapi", "rest_service", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=out.parent,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = yaml.safe_load(out.read_text())
    return doc


def test_cello_gen_openapi_writes_a_valid_3_1_document(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/v1/shelves/{shelf}/books/{isbn}",
        "/v1/books",
        "/v1/books/{isbn}",
        "/v1/{name}:cancel",
        "/v1/shelves/{name}",
        "/v1/shelves/{shelf}/books:stream",
    }
    assert set(document["paths"]["/v1/books/{isbn}"]) == {"put", "patch", "delete"}


def test_schemas_are_proto3_json(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    book = schemas["bookshop.v1.Book"]
    assert book["description"] == "A book on a shelf."
    assert set(book["properties"]) >= {"isbn", "inPrint", "pages", "author", "genre"}
    assert book["properties"]["pages"]["type"] == "string"  # int64 as a string
    assert book["properties"]["inPrint"] == {"type": "boolean"}
    assert schemas["bookshop.v1.Genre"] == {
        "type": "string",
        "enum": ["GENRE_UNSPECIFIED", "GENRE_NOVEL", "GENRE_POETRY"],  # by name
    }
    assert "required" not in book  # every field is Optional or defaulted
    get = document["paths"]["/v1/shelves/{shelf}/books/{isbn}"]["get"]
    names = [p["name"] for p in get["parameters"]]
    assert names == ["shelf", "isbn", "tags", "author.fullName", "author.born", "genre", "inPrint"]
    assert get["responses"]["default"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Status"
    }


async def test_served_at_openapi_json() -> None:
    config = GrpcConfig(enable_web=True, web_port=0, openapi=True)
    server = GrpcServer("127.0.0.1", 0, config)
    server.register_service(rest_service.Bookshop())
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.web_port}") as client:
            reply = await client.get("/openapi.json")
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/json"
        doc = reply.json()
        validate(doc)
        assert "/v1/books" in doc["paths"]
    finally:
        await server.stop(0)
    json.dumps(doc)


CHROMIUM = os.environ.get("CELLO_CHROMIUM", "/usr/bin/chromium")


@pytest.mark.browser
async def test_docs_page_shows_every_route_in_chromium(tmp_path: Path) -> None:
    """`/docs` renders the document with Swagger UI from installed assets (no network)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found (apt-get install chromium)")
    config = GrpcConfig(enable_web=True, web_port=0, openapi=True)
    server = GrpcServer("127.0.0.1", 0, config)
    server.register_service(rest_service.Bookshop())
    await server.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"http://127.0.0.1:{server.web_port}/docs",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        await server.stop(0)
    dom = html.unescape(out.decode())
    for route in [
        "/v1/shelves/{shelf}/books/{isbn}",
        "/v1/books",
        "/v1/books/{isbn}",
        "/v1/{name}:cancel",
        "/v1/shelves/{name}",
        "/v1/shelves/{shelf}/books:stream",
    ]:
        assert route in dom.replace("\u200b", ""), (route, dom[:3000], err.decode()[-2000:])
