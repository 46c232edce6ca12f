"""Every .proto that `cello-gen build` emits for the examples passes `buf lint` (MINIMAL)
and compiles with Debian's own protoc, independent of the grpcio-tools copy Cello uses."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import peers
import pytest

pytestmark = pytest.mark.peer

EXPECTED_PROTOS = ["demo/library/v1/library.proto", "examples/seed_services/seed_services.proto"]
SYSTEM_PROTOC = Path("/usr/bin/protoc")
SYSTEM_WKT_INCLUDE = Path("/usr/include")  # libprotobuf-dev: /usr/include/google/protobuf/*.proto


def emitted_protos(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*.proto"))


def test_emits_the_expected_protos(stubs_out: Path) -> None:
    assert emitted_protos(stubs_out) == EXPECTED_PROTOS


def test_buf_lint_minimal(stubs_out: Path) -> None:
    ok, output = peers.buf_lint(stubs_out, rules=("MINIMAL",))
    assert ok, output


@pytest.mark.parametrize("proto", EXPECTED_PROTOS, ids=["library", "seed_services"])
def test_debian_protoc_compiles(stubs_out: Path, proto: str, tmp_path: Path) -> None:
    if not SYSTEM_PROTOC.is_file():
        raise peers.PeerToolMissing(
            f"{SYSTEM_PROTOC} not found (apt: protobuf-compiler); {peers.INSTALL_HINT}"
        )
    if not (SYSTEM_WKT_INCLUDE / "google/protobuf/struct.proto").is_file():
        raise peers.PeerToolMissing(
            f"{SYSTEM_WKT_INCLUDE}/google/protobuf/*.proto not found (apt: libprotobuf-dev); "
            f"{peers.INSTALL_HINT}"
        )
    descriptors = tmp_path / "set.binpb"
    proc = subprocess.run(
        [
            str(SYSTEM_PROTOC),
            f"-I{stubs_out}",
            f"-I{SYSTEM_WKT_INCLUDE}",
            "--fatal_warnings",
            f"--descriptor_set_out={descriptors}",
            proto,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert descriptors.stat().st_size > 0


GOLDEN = Path(__file__).resolve().parents[1] / "codegen" / "cases"


def with_googleapis(root: Path, tmp_path: Path) -> Path:
    """A copy of `root` beside googleapis' `google/api/{annotations,http}.proto` (from
    googleapis-common-protos), so buf resolves `(google.api.http)` as protoc does."""
    from cello.codegen.emit.protoc import googleapis_include

    copy = tmp_path / "protos"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("*.py"))
    (copy / "google" / "api").mkdir(parents=True)
    for name in ("annotations.proto", "http.proto"):
        shutil.copy(Path(googleapis_include()) / "google" / "api" / name, copy / "google" / "api")
    return copy


@pytest.mark.parametrize(
    "case", sorted(p.name for p in GOLDEN.iterdir() if (p / "expected").is_dir())
)
def test_golden_protos_pass_buf_lint_minimal(case: str, tmp_path: Path) -> None:
    root = GOLDEN / case / "expected"
    if any('import "google/api/' in p.read_text() for p in root.rglob("*.proto")):
        root = with_googleapis(root, tmp_path)
    ok, output = peers.buf_lint(root, rules=("MINIMAL",))
    if case in PUBLISHED_PATHS:
        # an exact copy keeps the original's file name, which buf's layout rule rejects too
        problems = [line for line in output.splitlines() if line.strip()]
        assert problems and all("PACKAGE_DIRECTORY_MATCH" in line for line in problems), output
        return
    assert ok, output


# Contract copies named as published (grpcio-health-checking compiles grpc.health.v1 as
# grpc_health/v1/health.proto; grpc-go keeps grpc.testing in test/grpc_testing/test.proto).
PUBLISHED_PATHS = {"grpc_testing", "health"}
