"""The peer venvs: pydantic-rpc and connectrpc, pinned, kept out of the project's environment.

pydantic-rpc pins `annotated-types` and pulls connect-python, mcp and starlette, so each
peer lives in its own venv under `benchmarks/.peers/` (gitignored), made on first use from
PyPI with the project's own grpcio and protobuf versions, and made anew when the pins
change. One venv each, because connect-python 0.9 (pydantic-rpc's dependency) installs an
older `connectrpc` package over connectrpc 0.13's files. `python benchmarks/peer_env.py`
makes them (or says why it cannot).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE / ".peers"
# each peer and its server; grpcio and protobuf follow the project's (requirements())
PINS = {
    # mcp 2 dropped `mcp.types.Content`, which pydantic-rpc 0.15 imports on `import pydantic_rpc`;
    # pydantic is what does the work per call, so its version is part of the figures
    "pydantic-rpc": ("pydantic-rpc==0.15.2", "mcp==1.30.0", "pydantic==2.14.4"),
    "connectrpc": ("connectrpc==0.13.0", "protoc-gen-connectrpc==0.13.0", "hypercorn==0.18.0"),
}
SHOWN = ("pydantic-rpc", "pydantic", "mcp", "connectrpc", "hypercorn", "grpcio", "protobuf")


def requirements(peer: str) -> list[str]:
    """The peer's pins, plus grpcio and protobuf at the versions installed here."""
    own = (f"{name}=={metadata.version(name)}" for name in ("grpcio", "protobuf"))
    return [*PINS[peer], *own]


def python(peer: str) -> Path:
    """The interpreter of `peer`'s venv, made or remade when the pins changed.

    Raises:
        RuntimeError: the venv could not be made (pip's last lines say why).
    """
    reqs = requirements(peer)
    stamp = hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:12]
    env = ROOT / f"{peer}-{stamp}"  # a new pin set gets a fresh venv, never a half-upgraded one
    exe = env / "bin" / "python"
    if (env / "ready").exists():
        return exe
    for old in ROOT.glob(f"{peer}-*"):  # venvs of older pins
        shutil.rmtree(old)
    print(f"making the {peer} venv {env.relative_to(HERE.parent)} (once): {' '.join(reqs)}")
    venv.EnvBuilder(clear=True, with_pip=True).create(env)
    pip = subprocess.run(
        [str(exe), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *reqs],
        capture_output=True,
        text=True,
    )
    if pip.returncode != 0:
        tail = "; ".join(pip.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"pip install into {env} failed: {tail}")
    (env / "ready").write_text("\n".join(reqs) + "\n")
    return exe


def versions(exe: Path) -> str:
    """`name version, ...` of the packages in a peer venv that matter here, for README.md."""
    code = (
        "from importlib import metadata\n"
        "have = {d.metadata['Name'].lower(): d.version for d in metadata.distributions()}\n"
        f"print(', '.join(n + ' ' + have[n] for n in {SHOWN!r} if n in have))"
    )
    return subprocess.run([str(exe), "-c", code], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    for peer in PINS:
        try:
            exe = python(peer)
        except RuntimeError as exc:
            sys.exit(f"error: {exc}")
        print(f"{peer}: {exe.relative_to(HERE.parent)}: {versions(exe)}")
