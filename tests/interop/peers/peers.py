"""Peer clients in other languages, as reusable test infrastructure.

Import it as ``peers`` after putting this directory on ``sys.path``::

    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).parents[N] / "tests/interop/peers"))
    import peers

(``test_peers_selfcheck.py`` next to this file does exactly that, and works
whether pytest uses rootdir-relative or ``importlib`` import mode.)

Every helper talks to a *real* toolchain installed from a registry
(``.ci/install-peers.sh`` sets them all up):

* Node ``@grpc/grpc-js`` + ``@grpc/proto-loader`` -> :func:`node_call`
* Go ``protoc-gen-go`` (APIv2) + ``protoc-gen-go-grpc`` + ``google.golang.org/grpc``
  from Debian, built offline in GOPATH mode -> :func:`build_go_client`
* ``buf`` (npm ``@bufbuild/buf``) -> :func:`buf_curl`, :func:`buf_curl_stream`,
  :func:`buf_curl_list`, :func:`buf_lint`, :func:`buf_breaking`
* betterproto's ``protoc-gen-python_betterproto`` -> :func:`betterproto_generate`

A missing toolchain raises :class:`PeerToolMissing` (never a skip).  A peer that
ran but got a gRPC error raises :class:`PeerCallError` carrying the status code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
NODE_CLIENT = HERE / "node_client.js"
# Debian's APIv2 Go protobuf stack, unpacked here by ``.ci/install-peers.sh`` (never
# installed system-wide, so the conflicting, older golang-goprotobuf-dev /
# protoc-gen-go-1-3 packages stay installed if the machine has them).
DEBROOT = Path(os.environ.get("CELLO_PEERS_DEBROOT", HERE / ".debroot"))
SYSTEM_GOCODE = Path("/usr/share/gocode")

# gRPC status code numbers, for readable assertions.
GRPC_CODE_NAMES = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
_CODE_BY_LOWER_NAME = {v.lower(): k for k, v in GRPC_CODE_NAMES.items()}

INSTALL_HINT = "run `.ci/install-peers.sh` (as root) or see its header for a no-root variant"


class PeerToolMissing(RuntimeError):
    """A peer toolchain (node, go, protoc plugin, buf, ...) is not installed."""


class PeerCallError(RuntimeError):
    """The peer client ran and the RPC failed with a gRPC status."""

    def __init__(
        self,
        code: int | None,
        details: str,
        *,
        responses: list[dict[str, Any]] | None = None,
        stderr: str = "",
        peer: str = "",
    ) -> None:
        self.code = code
        self.code_name = GRPC_CODE_NAMES.get(code, str(code)) if code is not None else None
        self.details = details
        self.responses = responses or []
        self.stderr = stderr
        self.peer = peer
        super().__init__(f"{peer}: gRPC {self.code_name} ({code}): {details}")


class PeerToolError(RuntimeError):
    """A toolchain step (protoc, go build, ...) failed for a non-RPC reason."""


# --------------------------------------------------------------------------- utils


def _run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    what: str,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            [str(c) for c in cmd],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as e:
        raise PeerToolMissing(f"{what}: {e.filename} not found; {INSTALL_HINT}") from e
    if check and proc.returncode != 0:
        raise PeerToolError(
            f"{what} failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


def _which(name: str, *extra_dirs: Path) -> str | None:
    for d in extra_dirs:
        cand = d / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which(name)


def _require(name: str, *extra_dirs: Path, purpose: str) -> str:
    found = _which(name, *extra_dirs)
    if not found:
        raise PeerToolMissing(f"{name} not found (needed for {purpose}); {INSTALL_HINT}")
    return found


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _json_stream(text: str) -> list[Any]:
    """Parse concatenated (possibly pretty-printed) JSON values."""
    dec = json.JSONDecoder()
    out: list[Any] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return out
        value, i = dec.raw_decode(text, i)
        out.append(value)


# ---------------------------------------------------------------------------- Node


def node_call(
    proto_root: str | os.PathLike[str],
    proto_file: str,
    service: str,
    method: str,
    request: Any,
    address: str,
    mode: str = "unary",
    *,
    include_dirs: Iterable[str | os.PathLike[str]] = (),
    metadata: Mapping[str, str] | None = None,
    deadline_s: float = 30.0,
    ca: str | os.PathLike[str] | None = None,
    cert: str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Call ``service/method`` with Node's @grpc/grpc-js; return the response messages.

    With ``ca`` (a PEM file) the call goes over TLS trusting that CA; ``cert`` and
    ``key`` add a client certificate (mTLS).

    ``mode``: ``unary`` | ``server_stream`` (``request`` is a dict) or
    ``client_stream`` | ``bidi_stream`` (``request`` is a list of dicts).
    Always returns a list (one element for unary / client_stream).

    Value conventions (see node_client.js): field names as in the .proto
    (snake_case), int64 as decimal strings, enums as names, bytes as base64,
    defaults filled in, WKTs as plain messages (Timestamp ->
    ``{"seconds": "1700000000", "nanos": 0}``; Struct/Value inner fields are
    lowerCamelCase -- ``{"fields": {"k": {"stringValue": "v", "kind": "stringValue"}}}`` --
    because protobufjs always uses its bundled WKT JSON definitions).  Raises :class:`PeerCallError`
    on a gRPC error (``.code``, ``.details``, ``.responses`` received so far).
    """
    node = _require("node", purpose="node_call")
    if not (NODE_MODULES / "@grpc" / "grpc-js").is_dir():
        raise PeerToolMissing(
            f"{NODE_MODULES}/@grpc/grpc-js missing: run `npm ci` in {HERE}; {INSTALL_HINT}"
        )
    cmd: list[str] = [
        node,
        str(NODE_CLIENT),
        str(proto_root),
        proto_file,
        service,
        method,
        json.dumps(request),
        mode,
        address,
        "--deadline-ms",
        str(int(deadline_s * 1000)),
    ]
    for d in include_dirs:
        cmd += ["--include", str(d)]
    for k, v in (metadata or {}).items():
        cmd += ["--metadata", f"{k}={v}"]
    for flag, path in (("--ca", ca), ("--cert", cert), ("--key", key)):
        if path is not None:
            cmd += [flag, str(path)]
    proc = _run(cmd, what="node_client.js", timeout=deadline_s + 30, check=False)
    responses = _json_lines(proc.stdout)
    if proc.returncode == 1:
        err = json.loads(proc.stderr.strip().splitlines()[-1])
        raise PeerCallError(
            err.get("code"),
            err.get("details", ""),
            responses=responses,
            stderr=proc.stderr,
            peer="node",
        )
    if proc.returncode != 0:
        raise PeerToolError(f"node_client.js exit {proc.returncode}: {proc.stderr}")
    return responses


# ------------------------------------------------------------------------------ Go


def go_import_path(proto_file: str) -> str:
    """Go import path that :func:`build_go_client` assigns to ``proto_file``.

    ``demo/users/v1/users.proto`` -> ``gen.local/demo/users/v1`` (package name
    ``usersv1``: the last two directory components joined, like buf's default).
    A file at the root (``foo.proto``) maps to ``gen.local/root`` (package ``root``).
    """
    d = os.path.dirname(proto_file) or "root"
    return f"gen.local/{d}"


def go_package_name(proto_file: str) -> str:
    parts = [p for p in (os.path.dirname(proto_file) or "root").split("/") if p]
    name = "".join(parts[-2:]) if len(parts) >= 2 else parts[-1]
    return "".join(c if c.isalnum() else "_" for c in name).lower()


def _go_toolchain() -> dict[str, Any]:
    debbin = DEBROOT / "usr" / "bin"
    tools: dict[str, Any] = {
        "protoc": _require("protoc", purpose="Go codegen (apt: protobuf-compiler)"),
        "go": _require("go", purpose="Go build (apt: golang-go)"),
        "protoc-gen-go": _require(
            "protoc-gen-go", debbin, purpose="Go codegen (apt: protoc-gen-go, APIv2)"
        ),
        "protoc-gen-go-grpc": _require(
            "protoc-gen-go-grpc", debbin, purpose="Go gRPC codegen (apt: protoc-gen-go-grpc)"
        ),
    }
    # protoc-gen-go-1-3 (golang-goprotobuf-dev) also installs /usr/bin/protoc-gen-go but
    # is the old APIv1 generator (no --version, needs plugins=grpc); refuse it.
    ver = _run([tools["protoc-gen-go"], "--version"], what="protoc-gen-go --version", check=False)
    if ver.returncode != 0 or "protoc-gen-go v1." not in ver.stdout:
        raise PeerToolMissing(
            f"{tools['protoc-gen-go']} is not the APIv2 protoc-gen-go (>= v1.20); install the "
            f"Debian package protoc-gen-go (not protoc-gen-go-1-3); {INSTALL_HINT}"
        )
    gopath = [p for p in (DEBROOT / "usr/share/gocode", SYSTEM_GOCODE) if p.is_dir()]
    need = [
        "google.golang.org/grpc",
        "google.golang.org/protobuf/types/known/timestamppb",
        "github.com/golang/protobuf/proto",
    ]
    for pkg in need:
        if not any((g / "src" / pkg).is_dir() for g in gopath):
            raise PeerToolMissing(
                f"Go package {pkg} not found under {[str(g) for g in gopath]} (apt: "
                f"golang-google-grpc-dev golang-google-protobuf-dev "
                f"golang-github-golang-protobuf-1-5-dev); {INSTALL_HINT}"
            )
    tools["gopath"] = gopath
    return tools


def _proto_closure(
    protoc: str, proto_root: Path, proto_files: Sequence[str], include_dirs: Sequence[Path]
) -> list[str]:
    """All .proto files (transitively imported) except google/protobuf/* WKTs."""
    from google.protobuf import descriptor_pb2

    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "set.binpb"
        _run(
            [
                protoc,
                f"-I{proto_root}",
                *[f"-I{d}" for d in include_dirs],
                "--include_imports",
                f"--descriptor_set_out={out}",
                *proto_files,
            ],
            what="protoc (descriptor set)",
        )
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return [f.name for f in fds.file if not f.name.startswith("google/protobuf/")]


def build_go_client(
    proto_root: str | os.PathLike[str],
    proto_files: list[str],
    main_go: str | os.PathLike[str],
    workdir: str | os.PathLike[str],
    *,
    include_dirs: Sequence[str | os.PathLike[str]] = (),
    timeout: float = 300,
) -> Path:
    """Generate Go code for ``proto_files`` and build ``main_go`` into a binary.

    * ``main_go``: Go source text of ``package main`` (a ``str``), or a path
      (``os.PathLike``) to such a file.  Import the generated code as
      :func:`go_import_path` (``gen.local/demo/users/v1``); the Go package name
      is :func:`go_package_name` (``usersv1``).  Use ``google.golang.org/grpc``
      (v1.33: ``grpc.Dial(addr, grpc.WithInsecure())``) and
      ``google.golang.org/protobuf/types/known/{timestamppb,structpb,emptypb,durationpb}``.
    * The .proto files need no ``go_package`` option: every non-WKT file in the
      import closure is mapped with ``M<file>=gen.local/<dir>;<pkg>`` for both
      protoc-gen-go and protoc-gen-go-grpc.
    * Build is offline: ``GO111MODULE=off GOPROXY=off`` and
      ``GOPATH=<workdir>/gopath:[.debroot/usr/share/gocode:]/usr/share/gocode``.

    Returns the path of the built executable (``<workdir>/peer-client``).
    """
    tools = _go_toolchain()
    root = Path(proto_root).resolve()
    incs = [Path(d).resolve() for d in include_dirs]
    work = Path(workdir).resolve()
    gopath = work / "gopath"
    src = gopath / "src"
    src.mkdir(parents=True, exist_ok=True)

    files = _proto_closure(tools["protoc"], root, proto_files, incs)
    mapping = [f"M{f}={go_import_path(f)};{go_package_name(f)}" for f in files]
    env = dict(os.environ)
    plugin_dirs = {str(Path(tools[t]).parent) for t in ("protoc-gen-go", "protoc-gen-go-grpc")}
    env["PATH"] = os.pathsep.join([*sorted(plugin_dirs), env.get("PATH", "")])
    cmd = [
        tools["protoc"],
        f"-I{root}",
        *[f"-I{d}" for d in incs],
        f"--plugin=protoc-gen-go={tools['protoc-gen-go']}",
        f"--plugin=protoc-gen-go-grpc={tools['protoc-gen-go-grpc']}",
        f"--go_out={src}",
        f"--go-grpc_out={src}",
        *[f"--go_opt={m}" for m in mapping],
        *[f"--go-grpc_opt={m}" for m in mapping],
        *files,
    ]
    _run(cmd, what="protoc (Go codegen)", env=env)

    main_dir = src / "cellopeer" / "main"
    main_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(main_go, os.PathLike):
        shutil.copyfile(main_go, main_dir / "main.go")
    else:
        (main_dir / "main.go").write_text(main_go)

    out = work / "peer-client"
    env.update(
        GOPATH=os.pathsep.join([str(gopath), *map(str, tools["gopath"])]),
        GO111MODULE="off",
        GOPROXY="off",
        GOFLAGS="",
        CGO_ENABLED="0",
    )
    env.setdefault("GOCACHE", str(Path(tempfile.gettempdir()) / "cello-peers-gocache"))
    _run(
        [tools["go"], "build", "-o", str(out), "."],
        what="go build",
        cwd=main_dir,
        env=env,
        timeout=timeout,
    )
    return out


# ----------------------------------------------------------------------------- buf


def _buf() -> str:
    return _require(
        "buf", NODE_MODULES / ".bin", purpose=f"buf (npm @bufbuild/buf; `npm ci` in {HERE})"
    )


def _buf_curl_raw(
    address: str,
    full_method: str,
    request: Any,
    *,
    reflect: bool,
    schema: str | os.PathLike[str] | None,
    reflect_protocol: str | None,
    emit_defaults: bool,
    headers: Mapping[str, str] | None,
    timeout: float,
    tls: BufTls | None = None,
) -> list[Any]:
    method = full_method.lstrip("/")
    cmd = [
        _buf(),
        "curl",
        "--protocol",
        "grpc",
        *_buf_transport(tls),
        "--data",
        json.dumps(request),
    ]
    if reflect:
        cmd.append("--reflect")
        if reflect_protocol:
            cmd += ["--reflect-protocol", reflect_protocol]
    else:
        if schema is None:
            raise ValueError("buf_curl(reflect=False) needs schema= (a proto dir/module/image)")
        cmd += ["--reflect=false", "--schema", str(schema)]
    if emit_defaults:
        cmd.append("--emit-defaults")
    for k, v in (headers or {}).items():
        cmd += ["--header", f"{k}: {v}"]
    cmd.append(f"{'https' if tls else 'http'}://{address}/{method}")
    proc = _run(cmd, what="buf curl", timeout=timeout, check=False)
    responses = _json_stream(proc.stdout)
    if proc.returncode != 0:
        try:
            err = json.loads(proc.stderr)
        except ValueError:
            raise PeerToolError(f"buf curl exit {proc.returncode}: {proc.stderr}") from None
        code = _CODE_BY_LOWER_NAME.get(str(err.get("code", "")).lower())
        raise PeerCallError(
            code, err.get("message", ""), responses=responses, stderr=proc.stderr, peer="buf curl"
        )
    return responses


@dataclass(frozen=True)
class BufTls:
    """TLS options of ``buf curl``: ``--cacert`` and, for mTLS, ``--cert``/``--key``."""

    cacert: str | os.PathLike[str]
    cert: str | os.PathLike[str] | None = None
    key: str | os.PathLike[str] | None = None
    servername: str | None = None


def _buf_transport(tls: BufTls | None) -> list[str]:
    """Plaintext HTTP/2 without TLS; with it, HTTPS (ALPN h2) trusting ``tls.cacert``."""
    if tls is None:
        return ["--http2-prior-knowledge"]
    args = ["--cacert", str(tls.cacert)]
    if tls.cert is not None:
        args += ["--cert", str(tls.cert), "--key", str(tls.key)]
    if tls.servername is not None:
        args += ["--servername", tls.servername]
    return args


def buf_curl_stream(
    address: str,
    full_method: str,
    request: Any,
    *,
    reflect: bool = True,
    schema: str | os.PathLike[str] | None = None,
    reflect_protocol: str | None = None,
    emit_defaults: bool = True,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60,
    tls: BufTls | None = None,
) -> list[dict[str, Any]]:
    """Like :func:`buf_curl` but returns every response (server / bidi streaming)."""
    return _buf_curl_raw(
        address,
        full_method,
        request,
        reflect=reflect,
        schema=schema,
        reflect_protocol=reflect_protocol,
        emit_defaults=emit_defaults,
        headers=headers,
        timeout=timeout,
        tls=tls,
    )


def buf_curl(
    address: str,
    full_method: str,
    request: dict[str, Any],
    *,
    reflect: bool = True,
    schema: str | os.PathLike[str] | None = None,
    reflect_protocol: str | None = None,
    emit_defaults: bool = True,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60,
    tls: BufTls | None = None,
) -> dict[str, Any]:
    """Unary call with ``buf curl --protocol grpc --http2-prior-knowledge``.

    With ``tls`` the call goes over HTTPS instead (``--cacert``, and ``--cert``/``--key``
    for mTLS).

    ``full_method`` is ``pkg.Service/Method`` (leading ``/`` optional).  With
    ``reflect=True`` the schema comes from server reflection (buf tries
    ``grpc.reflection.v1`` then falls back to ``v1alpha``; force one with
    ``reflect_protocol="grpc-v1"`` / ``"grpc-v1alpha"``); otherwise pass
    ``schema=`` (a directory of .proto files, a buf image, ...).

    The response is proto3 **JSON mapping** (protojson): lowerCamelCase field
    names, int64 as strings, enums as names, Timestamp as RFC 3339 string,
    Struct as a plain JSON object.  ``emit_defaults`` (default on) includes
    zero-valued fields.  Raises :class:`PeerCallError` on a gRPC error.
    """
    out = buf_curl_stream(
        address,
        full_method,
        request,
        reflect=reflect,
        schema=schema,
        reflect_protocol=reflect_protocol,
        emit_defaults=emit_defaults,
        headers=headers,
        timeout=timeout,
        tls=tls,
    )
    if len(out) != 1:
        raise PeerToolError(f"buf curl: expected exactly one response, got {len(out)}: {out}")
    return out[0]


def buf_curl_list(
    address: str,
    *,
    what: str = "methods",
    reflect_protocol: str | None = None,
    timeout: float = 60,
) -> list[str]:
    """``buf curl --list-services`` / ``--list-methods`` through server reflection.

    ``what``: ``"services"`` (only needs the reflection service list) or ``"methods"``
    (buf also fetches each listed service's file descriptor, so every advertised
    service must be describable).  Returns the lines buf printed (``pkg.Service`` or
    ``pkg.Service/Method``).  Raises :class:`PeerToolError` if buf fails.
    """
    if what not in ("services", "methods"):
        raise ValueError(f"what must be 'services' or 'methods', got {what!r}")
    cmd = [_buf(), "curl", "--protocol", "grpc", "--http2-prior-knowledge", f"--list-{what}"]
    if reflect_protocol:
        cmd += ["--reflect-protocol", reflect_protocol]
    cmd.append(f"http://{address}")
    proc = _run(cmd, what=f"buf curl --list-{what}", timeout=timeout)
    return [line for line in proc.stdout.splitlines() if line.strip()]


def _buf_config(proto_root: Path, section: str, rules: Sequence[str]) -> list[str]:
    """--config args unless the root already carries a buf.yaml."""
    if (proto_root / "buf.yaml").exists():
        return []
    cfg = {"version": "v2", section: {"use": list(rules)}}
    return ["--config", json.dumps(cfg)]


def buf_lint(
    proto_root: str | os.PathLike[str], *, rules: Sequence[str] = ("MINIMAL",)
) -> tuple[bool, str]:
    """``buf lint`` on a directory of .protos; returns ``(ok, output)``.

    Uses the root's own buf.yaml if present, else an inline v2 config with
    ``lint: {use: [MINIMAL]}`` (``rules=("STANDARD",)`` for the stricter set).
    Nothing is written into ``proto_root``.  ``output`` is in buf's ``msvs``
    format, one finding per line, carrying the rule id::

        wrong/dir/x.proto(2,1) : error PACKAGE_DIRECTORY_MATCH : Files with package ...
    """
    root = Path(proto_root).resolve()
    # cwd=root + input "." : an absolute input path would be rejected as "contained
    # by module at path ." when combined with an inline --config.
    cmd = [_buf(), "lint", ".", *_buf_config(root, "lint", rules), "--error-format", "msvs"]
    proc = _run(cmd, what="buf lint", check=False, cwd=root)
    if proc.returncode not in (0, 100):  # 100 = findings; anything else = buf failed
        raise PeerToolError(f"buf lint exit {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def buf_breaking(
    new_root: str | os.PathLike[str],
    against_root: str | os.PathLike[str],
    *,
    rules: Sequence[str] = ("WIRE",),
) -> tuple[bool, str]:
    """``buf breaking new_root --against against_root``; returns ``(ok, output)``.

    Default rule set ``WIRE`` (binary wire compatibility only: renames of fields
    / messages are allowed).  Pass ``rules=("WIRE_JSON",)`` to also forbid
    changes that break the proto3 JSON mapping (e.g. field renames), which
    matters for grpc-gateway / Connect JSON clients; ``("FILE",)`` / ``("PACKAGE",)``
    are the strict source-level sets.  ``output`` is msvs format, e.g.
    ``demo/x/v1/x.proto(22,3) : error FIELD_WIRE_COMPATIBLE_TYPE : Field "2" ...``.
    """
    new = Path(new_root).resolve()
    old = Path(against_root).resolve()
    cmd = [
        _buf(),
        "breaking",
        ".",
        "--against",
        str(old),
        *_buf_config(new, "breaking", rules),
        "--error-format",
        "msvs",
    ]
    if not (old / "buf.yaml").exists():
        cmd += ["--against-config", json.dumps({"version": "v2"})]
    proc = _run(cmd, what="buf breaking", check=False, cwd=new)
    if proc.returncode not in (0, 100):
        raise PeerToolError(f"buf breaking exit {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


# ---------------------------------------------------------------------- betterproto


def betterproto_plugin() -> str:
    """Path of ``protoc-gen-python_betterproto`` (pip ``betterproto[compiler]``)."""
    scripts = Path(sysconfig.get_path("scripts"))
    found = _which("protoc-gen-python_betterproto", scripts, Path(sys.executable).parent)
    if not found:
        raise PeerToolMissing(
            "protoc-gen-python_betterproto not found: pip install 'betterproto[compiler]==2.0.0b7'"
        )
    return found


def betterproto_generate(
    proto_root: str | os.PathLike[str],
    proto_files: Sequence[str],
    out_dir: str | os.PathLike[str],
) -> Path:
    """Generate betterproto (2.0.0b7) Python code into ``out_dir``; returns ``out_dir``.

    Runs ``python -m grpc_tools.protoc -I<root> --plugin=protoc-gen-python_betterproto=<path>
    --python_betterproto_out=<out> files...`` (grpc_tools adds its bundled
    google/protobuf include dir).  Output is a package tree named after the proto
    package (``demo.sample.v1`` -> ``<out>/demo/sample/v1/__init__.py``); WKT
    fields become ``datetime`` / ``timedelta`` / ``betterproto.lib.google.protobuf.Struct``.

    Calling it (grpclib, a separate HTTP/2 client, works against grpc.aio)::

        from grpclib.client import Channel
        from demo.sample.v1 import SampleServiceStub, GetItemRequest
        async with Channel("127.0.0.1", port) as ch:
            item = await SampleServiceStub(ch).get_item(GetItemRequest(id=1))
            async for it in SampleServiceStub(ch).list_items(ListItemsRequest(count=3)):
                ...

    Tip: import the generated package in a subprocess (see the selfcheck) so its
    top-level package (``demo``) cannot clash with grpcio-generated modules.
    """
    try:
        import grpc_tools  # noqa: F401
    except ImportError as e:  # pragma: no cover
        raise PeerToolMissing("grpcio-tools is not installed") from e
    plugin = betterproto_plugin()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{Path(proto_root).resolve()}",
            f"--plugin=protoc-gen-python_betterproto={plugin}",
            f"--python_betterproto_out={out}",
            *proto_files,
        ],
        what="grpc_tools.protoc (betterproto)",
    )
    return out
