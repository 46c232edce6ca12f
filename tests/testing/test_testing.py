"""`cello.testing`: in-process servers, typed clients and status assertions, over the wire."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import grpc
import grpc.aio
import pytest

import cello.testing
from cello import DefinitionError, GrpcConfig
from cello.grpc import GrpcChannel, GrpcError
from cello.testing import assert_status, raises_status, serve
from examples.library import GetBookRequest, LibraryService
from examples.seed_services import UserService

ROOT = Path(__file__).resolve().parents[2]


def test_public_names_are_sorted() -> None:
    assert cello.testing.__all__ == sorted(cello.testing.__all__)
    for name in cello.testing.__all__:
        assert getattr(cello.testing, name) is not None


async def test_serve_binds_a_free_local_port_and_stops_after_the_block() -> None:
    async with serve(LibraryService(), UserService()) as srv:
        host, port = srv.address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        assert sorted(srv.server.get_services()) == ["LibraryService", "UserService"]
        response = await srv.channel.call("UserService", "GetUser", {"id": 1})
        assert response.data == {"id": 1, "name": "Alice"}
    with pytest.raises(GrpcError) as caught:
        await GrpcChannel.connect(srv.address, timeout=0.5)
    assert caught.value.code == GrpcError.UNAVAILABLE


async def test_config_keeps_settings_but_not_host_and_ports() -> None:
    config = GrpcConfig(port=50051, reflection=True, max_message_size=1024)
    async with serve(UserService(), config=config) as srv:
        assert not srv.address.endswith(":50051")
        assert srv.server.config.reflection and srv.server.config.max_message_size == 1024
        big = await srv.channel.call("UserService", "GetUser", {"pad": "x" * 4096})
        assert_status(big, GrpcError.RESOURCE_EXHAUSTED)


async def test_typed_client_from_the_service_or_the_generated_class() -> None:
    async with serve(LibraryService()) as srv:
        client = srv.client(LibraryService())
        book = await client.GetBook(GetBookRequest(isbn="978-0"))
        assert book.title == "Dune"
        same = srv.client(type(client))
        assert type(same) is type(client) and same.channel is srv.grpc_channel
        with pytest.raises(DefinitionError, match="UserService is not served"):
            srv.client(UserService)


@pytest.mark.parametrize(
    "code",
    [GrpcError.NOT_FOUND, 5, "NOT_FOUND", "not_found", grpc.StatusCode.NOT_FOUND],
    ids=["constant", "int", "name", "lower", "grpc-enum"],
)
async def test_raises_status_accepts_every_spelling_of_a_code(code: object) -> None:
    async with serve(LibraryService()) as srv:
        with raises_status(code, match=r"no book \d+") as status:  # type: ignore[arg-type]
            await srv.client(LibraryService).GetBook(GetBookRequest(isbn="404"))
    assert (status.code, status.message) == (5, "no book 404")


async def test_raises_status_on_raw_grpc_stubs() -> None:
    async with serve(LibraryService()) as srv:
        call = srv.grpc_channel.unary_unary("/demo.library.v1.LibraryService/Nope")
        with raises_status(grpc.StatusCode.UNIMPLEMENTED):
            await call(b"")


async def test_raises_status_fails_on_success_other_code_or_message() -> None:
    async with serve(LibraryService()) as srv:
        client = srv.client(LibraryService)
        with pytest.raises(AssertionError, match="expected status NOT_FOUND, but the block"):
            with raises_status(GrpcError.NOT_FOUND):
                await client.GetBook(GetBookRequest(isbn="978-0"))
        with pytest.raises(AssertionError, match="expected status INTERNAL, got NOT_FOUND"):
            with raises_status(GrpcError.INTERNAL):
                await client.GetBook(GetBookRequest(isbn="404"))
        with pytest.raises(AssertionError, match="matching 'shelf', got NOT_FOUND: 'no book 4"):
            with raises_status("NOT_FOUND", match="shelf"):
                await client.GetBook(GetBookRequest(isbn="404"))
        ok = await srv.channel.call("LibraryService", "GetBook", {"isbn": "978-0"})
        with pytest.raises(AssertionError, match="expected status NOT_FOUND, got OK"):
            assert_status(ok, GrpcError.NOT_FOUND)
    with pytest.raises(ValueError, match="unknown status 'NOPE'"):
        with raises_status("NOPE"):
            pass


USER_TESTS = """
import pytest
from cello.grpc import GrpcError, GrpcService, grpc_method
from cello.testing import raises_status

class Greeter(GrpcService):
    @grpc_method
    async def Hello(self, name: str) -> str:
        if not name:
            raise GrpcError(GrpcError.INVALID_ARGUMENT, "name is empty")
        return f"hello {name}"

async def test_hello(cello_serve):
    srv = await cello_serve(Greeter())
    assert await srv.client(Greeter).Hello(name="ada") == "hello ada"

async def test_empty_name(cello_serve):
    srv = await cello_serve(Greeter())
    with raises_status(GrpcError.INVALID_ARGUMENT, match="empty"):
        await srv.client(Greeter).Hello(name="")

async def test_wrong_expectation_fails(cello_serve):
    srv = await cello_serve(Greeter())
    with raises_status(GrpcError.NOT_FOUND):
        await srv.client(Greeter).Hello(name="")
"""


def test_plugin_in_a_users_own_suite(tmp_path: Path) -> None:
    """A project outside this repository uses the fixture and the helpers with plain pytest."""
    (tmp_path / "test_greeter.py").write_text(textwrap.dedent(USER_TESTS))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n'
        'asyncio_default_fixture_loop_scope = "function"\nfilterwarnings = ["error"]\n'
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CELLO_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "cello.testing", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "1 failed, 2 passed" in result.stdout, result.stdout + result.stderr
    assert "FAILED test_greeter.py::test_wrong_expectation_fails" in result.stdout
    expected = "E       AssertionError: expected status NOT_FOUND, got INVALID_ARGUMENT: 'name is"
    assert expected in result.stdout
    assert (
        "cello/_client/typed.py" not in result.stdout
    )  # the expectation, not the call's traceback


async def test_web_url_only_when_grpc_web_is_served() -> None:
    async with serve(UserService()) as srv:
        with pytest.raises(RuntimeError, match="enable_web=True"):
            srv.web_url  # noqa: B018
    async with serve(UserService(), config=GrpcConfig(enable_web=True)) as srv:
        host, port = srv.web_url.removeprefix("http://").rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) not in (0, 8080)
