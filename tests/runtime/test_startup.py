"""Start-up: what `import cello` loads, and warm starts that skip the generator.

Each case runs in a fresh interpreter, since what a process has imported is the point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cello.codegen.fingerprint import fingerprint
from cello.grpc import GrpcService, grpc_method

ROOT = Path(__file__).resolve().parents[2]

MODELS = """
from dataclasses import dataclass


@dataclass
class Note:
    id: str
    text: str = ""
"""

SERVICE = """
from cello.grpc import GrpcService, grpc_method
from models import Note


class Notes(GrpcService):
    package = "notes.v1"

    @grpc_method
    async def Get(self, id: str) -> Note:
        return Note(id=id, text="hello")
"""

# serve `Notes`, call it over the wire, report the reply and whether the generator ran (or
# was so much as loaded: a warm start needs none of its modelling, rendering, lock or CLI)
SERVE_AND_CALL = """
import asyncio, json, sys
from cello.grpc import GrpcChannel, GrpcServer
from svc import Notes

GENERATOR = ["jinja2", "cello.codegen.build", "cello.codegen.schema.introspect",
             "cello.codegen.evolution.lock", "cello.codegen.cli", "cello.codegen.emit.render"]

async def main():
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(Notes())
    await server.start()
    generator_ran = any(m in sys.modules for m in GENERATOR)
    async with await GrpcChannel.connect(f"127.0.0.1:{server.port}") as channel:
        reply = await channel.call("notes.v1.Notes", "Get", {"id": "n1"}, raise_on_error=True)
    await server.stop(0)
    print(json.dumps({"reply": reply.data, "generator_ran": generator_ran}))

asyncio.run(main())
"""


def python(code: str, cwd: Path, cache: Path) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(cwd), str(ROOT)]),
        "CELLO_CACHE_DIR": str(cache),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "svc.py").write_text(SERVICE)
    return tmp_path


def test_import_cello_leaves_client_web_tls_reflection_and_json_unloaded(tmp_path: Path) -> None:
    heavy = [
        "cello._wire.binding",
        "cello._security.certwatch",
        "cello._client.channel",
        "cello._security.identity",
        "cello._security.tls",
        "cello._protocols",
        "cello._definitions.markers",
        "cello._client.sync_channel",
        "cello._server.reflection",
        "cello._wire.stubs",
        "google.protobuf.json_format",
        "grpc_reflection.v1alpha.reflection",  # (`import grpc` loads the bare packages)
        "grpc_health.v1.health_pb2",
        "grpc_status",
        "google.rpc.status_pb2",
        "jinja2",
        "uvicorn",
        "cryptography",
        "concurrent.futures.thread",
    ]
    code = f"""
import sys
import cello, cello.grpc
print(sorted(m for m in {heavy!r} if m in sys.modules))
from cello import GrpcChannel, GrpcWebApp, Int32, PeerIdentity, TlsConfig
from cello._client.channel import GrpcChannel as Channel
from cello._security.identity import PeerIdentity as Identity
from cello._security.tls import TlsConfig as Tls
from cello._protocols import GrpcWebApp as WebApp
from cello._definitions.markers import Int32 as Marker
print(
    GrpcChannel is Channel and cello.grpc.GrpcWebApp is GrpcWebApp is WebApp
    and cello.grpc.TlsConfig is TlsConfig is Tls and Int32 is Marker
    and cello.grpc.PeerIdentity is PeerIdentity is Identity
)
"""
    loaded, same = python(code, tmp_path, tmp_path / "cache").splitlines()
    assert loaded == "[]"
    assert same == "True"


def test_lazy_names_are_listed_before_they_load() -> None:
    import cello
    import cello.grpc

    for module in (cello, cello.grpc):
        assert set(module.__all__) <= set(dir(module)), module.__name__


def test_unknown_attribute_is_still_an_attribute_error() -> None:
    import cello

    with pytest.raises(AttributeError, match="GrpcChanel"):
        cello.GrpcChanel  # type: ignore[attr-defined]  # noqa: B018


def test_warm_start_skips_the_generator(project: Path) -> None:
    cache = project / "cache"
    cold = json.loads(python(SERVE_AND_CALL, project, cache))
    warm = json.loads(python(SERVE_AND_CALL, project, cache))
    assert cold == {"reply": {"id": "n1", "text": "hello"}, "generator_ran": True}
    assert warm == {"reply": {"id": "n1", "text": "hello"}, "generator_ran": False}


def test_editing_an_imported_model_regenerates_the_stubs(project: Path) -> None:
    cache = project / "cache"
    python(SERVE_AND_CALL, project, cache)
    # the service module is unchanged; only the module it imports its message from changes
    (project / "models.py").write_text(MODELS + "    pages: int = 7\n")
    after = json.loads(python(SERVE_AND_CALL, project, cache))
    assert after == {"reply": {"id": "n1", "text": "hello", "pages": 7}, "generator_ran": True}


def test_built_stubs_checked_once_then_trusted_until_something_changes(project: Path) -> None:
    cache, out = project / "cache", project / "built"
    build = f"""
from cello.codegen.cli import main
raise SystemExit(main(["build", "svc", "--out", {str(out)!r}]))
"""
    python(build, project, cache)
    serve = SERVE_AND_CALL.replace("port=0)", f"port=0, stubs_dir={str(out)!r})")
    first = json.loads(python(serve, project, cache))
    second = json.loads(python(serve, project, cache))
    assert first["generator_ran"] is True  # the staleness check re-renders once
    assert second["generator_ran"] is False
    (project / "models.py").write_text(MODELS + "    pages: int = 7\n")
    code = serve.replace(
        "asyncio.run(main())",
        textwrap.dedent("""
        from cello import StaleStubsError
        try:
            asyncio.run(main())
        except StaleStubsError as exc:
            print("stale:", exc)
        """),
    )
    assert python(code, project, cache).startswith("stale: ")


class ModuleLevel(GrpcService):
    package = "fp.v1"

    @grpc_method
    async def Ping(self, text: str) -> str:
        return text


def test_fingerprint_is_stable_and_refuses_classes_made_in_functions() -> None:
    def make() -> type[GrpcService]:
        class Local(GrpcService):
            package = "fp.v1"

            @grpc_method
            async def Ping(self, text: str) -> str:
                return text

        return Local

    key = fingerprint([ModuleLevel], None)
    assert key is not None and key == fingerprint([ModuleLevel], None)
    assert fingerprint([ModuleLevel], "other.v1") != key
    assert fingerprint([make()], None) is None


@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "disabled"])
def test_the_collector_pause_restores_the_collector_as_it_was(enabled: bool) -> None:
    import gc

    from cello._server.collector import paused

    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with pytest.raises(RuntimeError), paused():
            assert not gc.isenabled()
            raise RuntimeError("start failed")
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
