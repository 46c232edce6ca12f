"""The deployment recipe under deploy/: schemas validated offline, and timings that agree."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import ROOT

DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
# preStop sleep is a Kubernetes 1.30 feature: validate against it and the newest schema
VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]


def _documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kind(kind: str, name: str | None = None) -> dict[str, Any]:
    return next(
        d for d in _documents() if d["kind"] == kind and name in (None, d["metadata"]["name"])
    )


def _flags(args: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in args if a.startswith("--"))


@pytest.mark.parametrize("version", VERSIONS)
def test_the_manifests_pass_the_kubernetes_schemas_offline(version: str) -> None:
    assert [p.name for p in MANIFESTS] == ["deployment.yaml", "service.yaml"]
    for doc in _documents():
        kubernetes_validate.validate(doc, version, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    deployment = _kind("Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["grpc"]["port"] = "grpc"  # grpc probes take a number
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)
    container["readinessProbe"]["grpc"]["port"] = 50051
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_probes_prestop_and_grace_agree_with_the_drain() -> None:
    pod = _kind("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    flags = _flags(container["args"])
    port = int(flags["port"])
    assert container["ports"][0]["containerPort"] == port
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["grpc"]["port"] == port, probe
    drain, grace = float(flags["drain-delay"]), float(flags["grace"])
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    # kubelet's SIGKILL comes only after preStop + drain + grace + cello's own margin
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain + grace + 5
    # readiness sees NOT_SERVING while the pod still serves everything
    ready = container["readinessProbe"]
    assert ready["periodSeconds"] * ready["failureThreshold"] <= drain
    # liveness must not kill a pod for draining
    live = container["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] > drain + grace
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_services_select_the_pods_and_one_is_headless() -> None:
    labels = _kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    for name in ("cello", "cello-headless"):
        spec = _kind("Service", name)["spec"]
        assert spec["selector"].items() <= labels.items()
        assert spec["ports"][0]["targetPort"] == "grpc"
    assert _kind("Service", "cello-headless")["spec"]["clusterIP"] == "None"
    assert "clusterIP" not in _kind("Service", "cello")["spec"]


def test_the_dockerfile_builds_stubs_and_runs_unprivileged_with_the_same_drain() -> None:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("#")]
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(stages) == 2, "multi-stage"
    build, final = lines[stages[0] : stages[1]], lines[stages[1] :]
    assert any(re.match(r"RUN .*cello-gen build", line) for line in build)
    assert not any("cello-gen" in line or "pip install" in line for line in final)
    (user,) = [line.split()[1] for line in final if line.startswith("USER ")]
    assert user.split(":")[0] not in ("0", "root")
    entrypoint = next(line for line in final if line.startswith("ENTRYPOINT "))
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT ")) == ["cello", "serve"]
    cmd = json.loads(next(line for line in final if line.startswith("CMD ")).removeprefix("CMD "))
    image = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    pod = _flags(_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]["args"])
    for flag in ("drain-delay", "grace", "port"):
        assert image[f"--{flag}"] == pod[flag], shlex.join(cmd)


# Envoy's API protos (xds-protos) ship their own copies of other projects' _pb2 modules
# (opentelemetry/proto among them) and overwrite those packages in the venv they land in, so
# they live in a venv of their own, never in an extra of ours (tests/test_dependencies.py)
ENVOY_REQUIREMENTS = Path(__file__).with_name("envoy-requirements.txt")
# run in that venv: the config as JSON on stdin, the parsed Bootstrap or the parse error out
PARSE_BOOTSTRAP = """
import json, sys
from google.protobuf import json_format
from envoy.config.bootstrap.v3 import bootstrap_pb2
# the messages named by the config's typed_config entries, so that their Any fields resolve
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2,
)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

try:
    bootstrap = json_format.ParseDict(json.load(sys.stdin), bootstrap_pb2.Bootstrap())
except json_format.ParseError as exc:
    print(json.dumps({"parse_error": str(exc)}))
else:
    print(json_format.MessageToJson(bootstrap, preserving_proto_field_name=True))
"""


@pytest.fixture(scope="module")
def envoy_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv holding only Envoy's API protos and what they need."""
    venv = tmp_path_factory.mktemp("envoy") / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for args in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        + ["--disable-pip-version-check", "-r", str(ENVOY_REQUIREMENTS)],
    ):
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return venv / "bin" / "python"


def _parse_bootstrap(python: Path, config: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", PARSE_BOOTSTRAP],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


@pytest.mark.peer  # slow: installs xds-protos into a fresh venv
def test_the_envoy_config_parses_as_an_envoy_v3_bootstrap(envoy_python: Path) -> None:
    data = yaml.safe_load((DEPLOY / "envoy" / "envoy.yaml").read_text())
    bootstrap = _parse_bootstrap(envoy_python, data)
    assert "parse_error" not in bootstrap, bootstrap
    (cluster,) = bootstrap["static_resources"]["clusters"]
    assert "grpc_health_check" in cluster["health_checks"][0]
    assert "http2_protocol_options" in json.dumps(data)
    data["static_resources"]["clusters"][0]["health_check"] = []  # misspelled: refused
    refused = _parse_bootstrap(envoy_python, data)
    assert "health_check" in refused.get("parse_error", ""), refused


def test_the_nginx_recipe_proxies_grpc_over_http2() -> None:
    text = (DEPLOY / "nginx" / "nginx.conf").read_text()
    assert re.search(r"grpc_pass grpc://cello;", text)
    assert re.search(r"listen \d+ http2;", text)
    assert "keepalive" in text  # nginx runs this file for real in test_nginx.py
