"""Every golden `_cello.py` and `_client.py` passes the repo's ruff config and `mypy --strict`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cello.codegen.emit.protoc import compile_protos

from .test_golden import CASE_MODULES, CASES

ROOT = Path(__file__).resolve().parents[2]


def _stubs(case: str) -> list[Path]:
    return sorted((CASES / case / "expected").rglob("*_cello.py")) + sorted(
        (CASES / case / "expected_client").rglob("*_client.py")
    )


@pytest.mark.parametrize("case", sorted(CASE_MODULES), ids=str)
def test_golden_stubs_pass_ruff(case: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *map(str, _stubs(case))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", sorted(CASE_MODULES), ids=str)
def test_golden_stubs_pass_mypy_strict(case: str, tmp_path: Path) -> None:
    tree = tmp_path / "stubs"
    shutil.copytree(CASES / case / "expected", tree)
    if (CASES / case / "expected_client").is_dir():  # beside the same `_pb2` modules
        shutil.copytree(CASES / case / "expected_client", tree, dirs_exist_ok=True)
    protos = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.proto"))
    compile_protos(tree, protos, tree, grpc=False)
    # protoc's own .pyi files use bare `Mapping`; they are not what this test checks
    pb2 = sorted(
        p.relative_to(tree).with_suffix("").as_posix().replace("/", ".")
        for p in tree.rglob("*_pb2.pyi")
    )
    config = tmp_path / "mypy.ini"
    config.write_text(
        "[mypy]\nstrict = True\nexplicit_package_bases = True\n"
        + "".join(f"\n[mypy-{module}]\nignore_errors = True\n" for module in pb2)
    )
    stubs = [str(p.relative_to(tree)) for p in tree.rglob("*_cello.py")]
    stubs += [str(p.relative_to(tree)) for p in tree.rglob("*_client.py")]
    env = {**os.environ, "MYPYPATH": f"{tree}{os.pathsep}{ROOT}"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(config),
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            *stubs,
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
