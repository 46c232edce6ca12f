"""Every code block of README.md and docs/*.md runs as written or says it is a fragment.

Runnable Python blocks run as files in a subprocess, from a scratch directory with the
repository on PYTHONPATH; shell blocks get a syntax check, TOML and JSON are parsed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.codegen.cases import health

from .blocks import ROOT, Block, blocks, pages

ALL = [b for page in pages() for b in blocks(page)]
CHECKED = [b for b in ALL if b.kind not in ("fragment", "text")]
# a block defining this file writes grpc.health.v1 code-first, as tests/codegen/cases/health
HEALTH_FILE = '__cello_file__ = "grpc_health/v1/health.proto"'


def _fix(block: Block) -> str:
    return (
        f"{block.where}: the ```{block.info} block {{}}; fix it, or mark it "
        f"```{block.language or 'text'} fragment if it is not meant to run as written"
    )


@pytest.mark.parametrize("block", CHECKED, ids=[b.where for b in CHECKED])
def test_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    if block.kind == "unmarked":
        pytest.fail(
            _fix(block).format(
                "is in a language this test cannot run"
                if block.language
                else "has no language (```text for plain text)"
            ),
            pytrace=False,
        )
    elif block.kind == "toml":
        try:
            tomllib.loads(block.text)
        except tomllib.TOMLDecodeError as exc:
            pytest.fail(_fix(block).format(f"is not valid TOML ({exc})"), pytrace=False)
    elif block.kind == "json":
        try:
            json.loads(block.text)
        except json.JSONDecodeError as exc:
            pytest.fail(_fix(block).format(f"is not valid JSON ({exc})"), pytrace=False)
    elif block.kind == "shell":
        result = subprocess.run(
            ["bash", "-n"], input=block.text, capture_output=True, text=True, check=False
        )
        if result.returncode:
            pytest.fail(_fix(block).format(f"is not valid bash: {result.stderr}"), pytrace=False)
    else:
        if HEALTH_FILE in block.text and not health.MIRRORED:
            pytest.skip(f"{block.where} mirrors grpcio-health-checking >= 1.85's health.proto")
        _run_python(block, tmp_path)


def _run_python(block: Block, tmp_path: Path) -> None:
    script = tmp_path / f"block_{block.line}.py"
    script.write_text(block.text, encoding="utf-8")
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    try:
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "error"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(_fix(block).format("did not end within 60s"), pytrace=False)
    if result.returncode:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        pytest.fail(
            _fix(block).format(f"exited with {result.returncode}") + "\n" + tail, pytrace=False
        )


def test_every_page_has_blocks_and_they_are_found() -> None:
    assert {b.path.name for b in ALL} >= {"README.md"}
    assert any(b.kind == "python" for b in ALL if b.path.name == "README.md")


def test_quick_start_is_the_seed_verbatim_next_to_a_runnable_version() -> None:
    readme = [b for b in ALL if b.path.name == "README.md"]
    seed = (ROOT / "examples" / "seed" / "01_quick_start.py").read_text(encoding="utf-8")
    (quick_start,) = [b for b in readme if b.text == seed]
    assert quick_start.fragment, "the seed's Quick Start uses top-level await: a fragment"
    following = readme[readme.index(quick_start) + 1]
    assert following.kind == "python" and "asyncio.run(main())" in following.text
