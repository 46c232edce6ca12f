"""End-to-end: a real gRPC-Web client (connect-web) in headless Chromium against GrpcWebApp.

The page (tests/web/browser) is served from one port and GrpcWebApp from
another, so the browser really exercises CORS (preflight for the custom
``x-echo`` header, exposed response headers).  Needs node/npm (the bundle is
built with esbuild from the committed package-lock.json) and Debian's chromium.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest
import web_sample_service as sample

from cello._web import GrpcWebApp, serve_web

pytestmark = pytest.mark.browser

BROWSER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser")
CHROMIUM = os.environ.get("CELLO_CHROMIUM", "/usr/bin/chromium")
_MIME = {".html": b"text/html; charset=utf-8", ".js": b"text/javascript; charset=utf-8"}


def _build_bundle() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is required for the browser test (install nodejs/npm)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "@connectrpc")):
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, check=True, timeout=300
        )
    subprocess.run([npm, "run", "--silent", "build"], cwd=BROWSER_DIR, check=True, timeout=120)


class _PageServer:
    """ASGI app serving index.html and dist/app.js, plus /report and /hold.

    The page POSTs its results to /report; /hold (an image the page loads)
    is answered only after that, which keeps the document's load event, and
    so chromium's --dump-dom, waiting until the results are on the page.
    """

    def __init__(self) -> None:
        self.report = None
        self._reported = None

    async def __call__(self, scope, receive, send):
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
            return
        if path == "/hold":
            try:
                await asyncio.wait_for(self._reported.wait(), 60)
            except TimeoutError:
                pass
            await _respond(send, 404, b"", b"text/plain")
            return
        await _static_file(path, send)


async def _respond(send, status, body, ctype):
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _static_file(path, send):
    rel = {"/": "index.html", "/index.html": "index.html", "/dist/app.js": "dist/app.js"}.get(path)
    if rel is None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    with open(os.path.join(BROWSER_DIR, rel), "rb") as f:
        body = f.read()
    await _respond(send, 200, body, _MIME[os.path.splitext(rel)[1]])


@pytest.fixture(scope="module")
def page_results(loop_thread):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found (apt-get install chromium)")
    _build_bundle()
    page_app = _PageServer()
    page = loop_thread.run(serve_web(page_app, "127.0.0.1", 0))
    page_origin = page.url
    api = loop_thread.run(
        serve_web(GrpcWebApp(sample.handlers(), allowed_origins=(page_origin,)), "127.0.0.1", 0)
    )
    try:
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
                f"{page_origin}/index.html?server={api.url}",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        loop_thread.run(api.stop())
        loop_thread.run(page.stop())
    dom = proc.stdout
    match = re.search(r'<pre id="results">(.*?)</pre>', dom, re.S)
    assert match and 'data-done="1"' in dom, (
        f"page did not finish; rc={proc.returncode}\n"
        f"DOM:\n{dom[:2000]}\nstderr:\n{proc.stderr[-2000:]}"
    )
    results = json.loads(html.unescape(match.group(1)))
    assert results == page_app.report
    return results


def test_page_ran_against_other_origin(page_results):
    assert "fatal" not in page_results, page_results
    assert page_results["baseUrl"].startswith("http://127.0.0.1:")


def test_unary_typed_result_and_metadata(page_results):
    unary = page_results["unary"]
    assert unary == {
        "value": "echo: from the browser",
        "type": "google.protobuf.StringValue",
        "initial": "browser-md",  # response header, exposed via CORS
        "trailing": "browser-md",  # from the trailer frame
    }


def test_unary_struct_result_with_deadline(page_results):
    info = page_results["describe"]
    assert info["request"] == "describe"
    assert 0 < info["time_remaining"] <= 5
    assert info["metadata"]["x-grpc-web"] == "1"


def test_server_streaming_items(page_results):
    assert page_results["stream"] == {"items": ["item-0", "item-1", "item-2", "item-3"]}


def test_error_status_shown(page_results):
    err = page_results["error"]
    assert err["codeName"] == "NotFound" and err["code"] == 5
    assert err["message"] == "no such thing: caf\u00e9 100%\nnext line"


def test_error_mid_stream(page_results):
    err = page_results["streamError"]
    assert err["items"] == ["item-0", "item-1"]
    assert err["codeName"] == "OutOfRange"
    assert err["message"] == "stopped after 2"


def test_internal_error_is_generic(page_results):
    err = page_results["internal"]
    assert err["codeName"] == "Internal"
    assert "hunter2" not in err["message"]
