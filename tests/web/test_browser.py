"""End to end: a real gRPC-Web client (connect-web) in headless Chromium.

Three pages (tests/web/browser), each served from one port while the API is on another, so
the browser really exercises CORS:

- library.html calls `examples.library` on a real `GrpcServer(enable_web=True)`, through
  TypeScript messages that protoc-gen-es generates, at test time, from the `.proto` that
  `cello-gen build examples.library` emits.
- connect.html calls the same server with connect-web's Connect transport
  (`createConnectTransport`), in JSON and in binary.
- index.html calls the hand-written sample handlers on a bare `GrpcWebApp` (metadata,
  deadlines, errors mid-stream).

Needs node/npm (the bundles are built with esbuild from the committed package-lock.json)
and Debian's chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc_tools
import pytest
import web_sample_service as sample

from cello import GrpcConfig, GrpcServer, GrpcWebApp
from cello._transports.uvicorn import serve_web
from cello.codegen.cli import main as cello_gen
from examples.library import LibraryService

pytestmark = pytest.mark.browser

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
GEN_DIR = BROWSER_DIR / "src" / "gen"
LIBRARY_PROTO = "demo/library/v1/library.proto"
CHROMIUM = os.environ.get("CELLO_CHROMIUM", "/usr/bin/chromium")
_STATIC = {
    "/": "index.html",
    "/index.html": "index.html",
    "/dist/app.js": "dist/app.js",
    "/library.html": "library.html",
    "/dist/library.js": "dist/library.js",
    "/connect.html": "connect.html",
    "/dist/connect.js": "dist/connect.js",
}
_MIME = {".html": b"text/html; charset=utf-8", ".js": b"text/javascript; charset=utf-8"}


def _npm(*args: str, timeout: float = 120) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is required for the browser tests (apt-get install nodejs npm)")
    subprocess.run([npm, *args], cwd=BROWSER_DIR, check=True, timeout=timeout)


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """tests/web/browser/node_modules, installed from package-lock.json when missing."""
    modules = BROWSER_DIR / "node_modules"
    if not (modules / ".bin" / "tsc").exists() or not (modules / "@connectrpc").is_dir():
        _npm("ci", "--no-audit", "--no-fund", timeout=300)
    return modules


@pytest.fixture(scope="module")
def library_ts(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TypeScript for `examples.library`, from the `.proto` that `cello-gen build` emits."""
    stubs = tmp_path_factory.mktemp("library-stubs")
    assert cello_gen(["build", "examples.library", "--out", str(stubs)]) == 0
    shutil.rmtree(GEN_DIR / "demo", ignore_errors=True)
    wkt = Path(grpc_tools.__file__).parent / "_proto"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={stubs}",
            f"--proto_path={wkt}",
            f"--plugin=protoc-gen-es={node_modules / '.bin' / 'protoc-gen-es'}",
            f"--es_out={GEN_DIR}",
            "--es_opt=target=ts",
            LIBRARY_PROTO,
        ],
        check=True,
        timeout=60,
    )
    generated = GEN_DIR / LIBRARY_PROTO.replace(".proto", "_pb.ts")
    assert generated.exists()
    return generated


class _PageServer:
    """ASGI app serving the pages and bundles, plus /report and /hold.

    A page POSTs its results to /report; /hold (an image the page loads) is answered only
    after that, which keeps the document's load event, and so chromium's --dump-dom,
    waiting until the results are on the page.
    """

    def __init__(self) -> None:
        self.report: Any = None
        self._reported: asyncio.Event | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if self._reported is None:
            self._reported = asyncio.Event()
        path = scope["path"]
        if path == "/report":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.report = json.loads(body)
            self._reported.set()
            await _respond(send, 204, b"", b"text/plain")
        elif path == "/hold":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reported.wait(), 60)
            await _respond(send, 404, b"", b"text/plain")
        elif path in _STATIC:
            rel = _STATIC[path]
            body = (BROWSER_DIR / rel).read_bytes()
            await _respond(send, 200, body, _MIME[os.path.splitext(rel)[1]])
        else:
            await _respond(send, 404, b"", b"text/plain")


async def _respond(send: Any, status: int, body: bytes, ctype: bytes) -> None:
    headers = [(b"content-type", ctype), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def _page_server(loop_thread: Any) -> Iterator[tuple[_PageServer, str]]:
    app = _PageServer()
    handle = loop_thread.run(serve_web(app, "127.0.0.1", 0))
    try:
        yield app, handle.url
    finally:
        loop_thread.run(handle.stop())


def _open(url: str, page: _PageServer) -> tuple[dict[str, Any], str]:
    """Load `url` in headless chromium; the page's results and its final DOM."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="cello-chromium-") as profile:
        cmd = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    match = re.search(r'<pre id="results">(.*?)</pre>', dom, re.S)
    assert match and 'data-done="1"' in dom, (
        f"page did not finish; rc={proc.returncode}\n"
        f"DOM:\n{dom[:2000]}\nstderr:\n{proc.stderr[-2000:]}"
    )
    results = json.loads(html.unescape(match.group(1)))
    assert results == page.report
    return results, dom


# -- examples.library on GrpcServer(enable_web=True) ------------------------------


@pytest.fixture(scope="module")
def library_page(loop_thread: Any, library_ts: Path) -> tuple[dict[str, Any], str]:
    _npm("run", "--silent", "build:library")
    with _page_server(loop_thread) as (page, origin):
        config = GrpcConfig(enable_web=True, web_port=0, web_origins=(origin,), health=False)
        server = GrpcServer("127.0.0.1", 0, config)
        server.register_service(LibraryService())
        loop_thread.run(server.start())
        try:
            api = f"http://127.0.0.1:{server.web_port}"
            return _open(f"{origin}/library.html?server={api}", page)
        finally:
            loop_thread.run(server.stop(0))


def test_generated_typescript_type_checks_with_the_page(
    node_modules: Path, library_ts: Path
) -> None:
    """The page's use of the generated messages (field names and types) compiles (tsc)."""
    assert 'export type Book = Message<"demo.library.v1.Book">' in library_ts.read_text()
    _npm("run", "--silent", "typecheck:library")


def test_library_page_called_the_server_from_another_origin(
    library_page: tuple[dict[str, Any], str],
) -> None:
    results, _ = library_page
    assert "fatal" not in results, results
    assert results["baseUrl"].startswith("http://127.0.0.1:")


def test_unary_call_returns_a_typed_book(library_page: tuple[dict[str, Any], str]) -> None:
    assert library_page[0]["getBook"] == {
        "type": "demo.library.v1.Book",
        "isbn": "978-0",
        "title": "Dune",
        "pages": 412,
        "genre": "FICTION",
        "rating": 0,
        "tags": {"series": "Dune"},
        "subtitle": None,
        "author": "Frank Herbert",
        "born": "1920-10-08T00:00:00.000Z",
        "loanSeconds": 14 * 86400,
    }


def test_server_streaming_call_lists_books_by_genre(
    library_page: tuple[dict[str, Any], str],
) -> None:
    assert library_page[0]["listBooks"] == {
        "FICTION": ["Dune"],
        "SCIENCE": ["Cosmos"],
        "HISTORY": [],
    }


def test_not_found_status_is_shown_by_the_page(library_page: tuple[dict[str, Any], str]) -> None:
    results, dom = library_page
    assert results["notFound"] == {"code": 5, "codeName": "NotFound", "message": "no book nope"}
    shown = re.findall(r"<li>(.*?)</li>", dom)
    assert "GetBook nope: error NotFound: no book nope" in shown
    assert "GetBook: Dune (412 pages, FICTION)" in shown


def test_untyped_method_round_trips_a_struct(library_page: tuple[dict[str, Any], str]) -> None:
    assert library_page[0]["describe"] == {"books": 2, "name": "demo"}


# -- the hand-written sample handlers on a bare GrpcWebApp ------------------------


@pytest.fixture(scope="module")
def page_results(loop_thread: Any, node_modules: Path) -> dict[str, Any]:
    _npm("run", "--silent", "build")
    with _page_server(loop_thread) as (page, origin):
        # the page sends the custom `x-echo` header cross-origin: it must be allowed
        app = GrpcWebApp(sample.endpoints(), allowed_origins=(origin,), allowed_headers=("x-echo",))
        api = loop_thread.run(serve_web(app, "127.0.0.1", 0))
        try:
            return _open(f"{origin}/index.html?server={api.url}", page)[0]
        finally:
            loop_thread.run(api.stop())


def test_page_ran_against_other_origin(page_results: dict[str, Any]) -> None:
    assert "fatal" not in page_results, page_results
    assert page_results["baseUrl"].startswith("http://127.0.0.1:")


def test_unary_typed_result_and_metadata(page_results: dict[str, Any]) -> None:
    assert page_results["unary"] == {
        "value": "echo: from the browser",
        "type": "google.protobuf.StringValue",
        "initial": "browser-md",  # response header, exposed via CORS
        "trailing": "browser-md",  # from the trailer frame
    }


def test_unary_struct_result_with_deadline(page_results: dict[str, Any]) -> None:
    info = page_results["describe"]
    assert info["request"] == "describe"
    assert 0 < info["time_remaining"] <= 5
    assert info["metadata"]["x-grpc-web"] == "1"


def test_server_streaming_items(page_results: dict[str, Any]) -> None:
    assert page_results["stream"] == {"items": ["item-0", "item-1", "item-2", "item-3"]}


def test_error_status_shown(page_results: dict[str, Any]) -> None:
    err = page_results["error"]
    assert err["codeName"] == "NotFound" and err["code"] == 5
    assert err["message"] == "no such thing: caf\u00e9 100%\nnext line"


def test_error_mid_stream(page_results: dict[str, Any]) -> None:
    err = page_results["streamError"]
    assert err["items"] == ["item-0", "item-1"]
    assert err["codeName"] == "OutOfRange"
    assert err["message"] == "stopped after 2"


def test_internal_error_is_generic(page_results: dict[str, Any]) -> None:
    err = page_results["internal"]
    assert err["codeName"] == "Internal"
    assert "hunter2" not in err["message"]


# -- examples.library over the Connect protocol ------------------------------------


@pytest.fixture(scope="module")
def connect_page(loop_thread: Any, library_ts: Path) -> dict[str, Any]:
    _npm("run", "--silent", "build:connect")
    with _page_server(loop_thread) as (page, origin):
        config = GrpcConfig(enable_web=True, web_port=0, web_origins=(origin,), health=False)
        server = GrpcServer("127.0.0.1", 0, config)
        server.register_service(LibraryService())
        loop_thread.run(server.start())
        try:
            api = f"http://127.0.0.1:{server.web_port}"
            return _open(f"{origin}/connect.html?server={api}", page)[0]
        finally:
            loop_thread.run(server.stop(0))


@pytest.mark.parametrize("encoding", ["json", "binary"])
def test_connect_transport_unary_stream_and_error(
    connect_page: dict[str, Any], encoding: str
) -> None:
    results = connect_page[encoding]
    assert results["getBook"] == {
        "title": "Dune",
        "pages": 412,
        "genre": "FICTION",
        "tags": {"series": "Dune"},
        "born": "1920-10-08T00:00:00.000Z",
    }
    assert results["listBooks"] == ["Cosmos"]
    assert results["notFound"] == {"codeName": "NotFound", "message": "no book nope"}
