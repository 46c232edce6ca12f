"""Stub loading (on the fly, built, stale) and the App's run-until-signal lifecycle."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from cello import StaleStubsError
from cello.grpc import GrpcChannel, GrpcServer

from .services import DictService, EchoService

ROOT = Path(__file__).resolve().parents[2]


def _served_from() -> set[Path]:
    """Folders of the stub modules the runtime has imported."""
    return {
        Path(m.__file__).parent
        for name, m in list(sys.modules.items())
        if name.startswith("_cello_stubs_") and name.endswith("_cello") and m.__file__
    }


async def test_on_the_fly_stubs_serve_without_a_build_step() -> None:
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(EchoService())
    async with server:
        assert server.port > 0
        async with await GrpcChannel.connect(server.address) as channel:
            response = await channel.call("EchoService", "Echo", {"text": "fly", "count": 1})
        cache = Path(os.environ["CELLO_CACHE_DIR"])
        assert list(cache.glob("stubs/*/rt/v1/rt_pb2.py"))
    assert response.data["count"] == 2


async def test_built_stubs_are_used_when_current(stubs_dir: Path) -> None:
    server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=stubs_dir)
    server.register_service(EchoService())
    await server.start()
    try:
        assert "rt.v1.EchoService" in server.bindings
        assert (stubs_dir / "rt" / "v1").resolve() in _served_from()
    finally:
        await server.stop(0)


async def test_stale_stubs_are_refused(stubs_dir: Path, tmp_path: Path) -> None:
    import shutil

    stale = tmp_path / "stale"
    shutil.copytree(stubs_dir, stale)
    proto = stale / "rt" / "v1" / "rt.proto"
    proto.write_text(proto.read_text().replace("string text = 1;", "string text = 7;"))
    server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=stale)
    server.register_service(DictService())
    with pytest.raises(StaleStubsError, match="cello-gen build"):
        await server.start()


APP_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from cello import App, GrpcConfig
from tests.runtime.services import EchoService
app = App()
app.enable_grpc(GrpcConfig(port=0, host="127.0.0.1", shutdown_grace_secs=5))
app.register_service(EchoService())
app.run()
print("stopped cleanly", flush=True)
"""


async def test_app_run_serves_until_sigterm_and_drains_in_flight_calls(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        APP_SCRIPT.format(root=str(ROOT)),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    address = line.rsplit(" ", 1)[-1].strip()
    async with await GrpcChannel.connect(address) as channel:
        slow = asyncio.ensure_future(channel.call("EchoService", "Slow", {"count": 700}))
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        response = await slow
    assert response.status_code == 0 and response.data["text"] == "slow"
    rest = (await asyncio.wait_for(proc.stdout.read(), 30)).decode()
    assert await proc.wait() == 0
    assert "stopped cleanly" in rest


async def test_a_build_named_by_cello_stubs_dir_is_served_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cello.codegen.cli import main as cello_gen

    (tmp_path / "pyproject.toml").write_text(
        '[tool.cello]\ntargets = ["tests.runtime.services"]\nout = "stubs"\n'
    )
    monkeypatch.chdir(tmp_path)
    assert cello_gen(["build"]) == 0
    # the services' own files are not in this project, so only the variable points here
    monkeypatch.setenv("CELLO_STUBS_DIR", str(tmp_path / "stubs"))
    server = GrpcServer(host="127.0.0.1", port=0)
    server.register_service(EchoService())
    async with server:
        assert (tmp_path / "stubs" / "rt" / "v1").resolve() in _served_from()
    proto = tmp_path / "stubs" / "rt" / "v1" / "rt.proto"
    proto.write_text(proto.read_text().replace("string text = 1;", "string text = 9;"))
    stale = GrpcServer(host="127.0.0.1", port=0)
    stale.register_service(EchoService())
    with pytest.raises(StaleStubsError):
        await stale.start()
