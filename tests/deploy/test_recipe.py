"""The deployment recipe under deploy/: schemas validated offline, and timings that agree."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import kubernetes_validate
import pytest
import yaml
from google.protobuf import json_format

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


def test_the_envoy_config_parses_as_an_envoy_v3_bootstrap() -> None:
    # Envoy is not packaged here; its API's protobuf schema is (xds-protos)
    from envoy.config.bootstrap.v3 import bootstrap_pb2
    from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
    from envoy.extensions.filters.network.http_connection_manager.v3 import (  # noqa: F401
        http_connection_manager_pb2,
    )
    from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401

    data = yaml.safe_load((DEPLOY / "envoy" / "envoy.yaml").read_text())
    bootstrap = json_format.ParseDict(data, bootstrap_pb2.Bootstrap())
    (cluster,) = bootstrap.static_resources.clusters
    assert cluster.health_checks[0].HasField("grpc_health_check")
    assert "http2_protocol_options" in json.dumps(data)
    data["static_resources"]["clusters"][0]["health_check"] = []  # misspelled: refused
    with pytest.raises(json_format.ParseError):
        json_format.ParseDict(data, bootstrap_pb2.Bootstrap())


def test_the_nginx_recipe_proxies_grpc_over_http2() -> None:
    text = (DEPLOY / "nginx" / "nginx.conf").read_text()
    assert re.search(r"grpc_pass grpc://cello;", text)
    assert re.search(r"listen \d+ http2;", text)
    assert "keepalive" in text  # nginx runs this file for real in test_nginx.py
