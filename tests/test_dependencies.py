"""The dependency policy (README, Dependencies): the oldest-versions job pins exactly our lower
bounds, and nothing our extras install overwrites another project's modules."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CONSTRAINTS = ROOT / "scripts" / "oldest-constraints.txt"
# the extras whose oldest releases the job pins, besides the runtime dependencies; test and
# betterproto are tools of ours or pinned exactly, and resolve to what the pins allow
PINNED_EXTRAS = ("pydantic", "h2")
# packages of projects a Cello user may well have beside it, and the prefix of the names of
# the distributions that own them: xds-protos ships its own opentelemetry/proto _pb2 modules,
# and a venv with both loses opentelemetry-proto's InstrumentationScope
OWNED_PACKAGES = {"opentelemetry/": "opentelemetry-"}


def _pins() -> dict[NormalizedName, Version]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    lines = list(PROJECT["dependencies"])
    for extra in extras:
        lines += PROJECT["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def _lower_bound(requirement: Requirement) -> Version:
    (bound,) = [s.version for s in requirement.specifier if s.operator == ">="] or [None]
    assert bound is not None, f"pyproject.toml: {requirement} has no `>=` lower bound; add one"
    return Version(bound)


def test_the_oldest_constraints_pin_every_lower_bound_and_nothing_else() -> None:
    bounds: dict[NormalizedName, set[Version]] = {}
    for requirement in _requirements(*PINNED_EXTRAS):
        bounds.setdefault(canonicalize_name(requirement.name), set()).add(_lower_bound(requirement))
    pins = _pins()
    assert sorted(pins) == sorted(bounds), (
        f"{CONSTRAINTS.name} pins {sorted(pins)}, pyproject.toml bounds {sorted(bounds)}: "
        "pin each runtime and pydantic/h2 dependency at its lower bound"
    )
    for name, pin in pins.items():
        assert bounds[name] == {pin}, (
            f"{CONSTRAINTS.name}: {name}=={pin}, but pyproject.toml says >= "
            f"{', '.join(map(str, sorted(bounds[name])))}; raise both together"
        )


def test_a_test_requirement_never_widens_a_pinned_lower_bound() -> None:
    # pydantic is in [test] too: a lower bound there older than the pin would go untested
    pins = _pins()
    for requirement in _requirements("test", "betterproto"):
        name = canonicalize_name(requirement.name)
        if name in pins and any(s.operator == ">=" for s in requirement.specifier):
            assert _lower_bound(requirement) == pins[name], str(requirement)


def _installed_closure() -> dict[NormalizedName, metadata.Distribution]:
    """The installed distributions that our dependencies and every extra pull in."""
    found: dict[NormalizedName, metadata.Distribution] = {}
    todo = [(r, "") for r in _requirements(*PROJECT["optional-dependencies"])]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an extra this venv was not given (scripts/deps-check.sh: no betterproto)
        found[name] = dist
        for line in dist.requires or []:
            todo += [(Requirement(line), e) for e in ("", *requirement.extras)]
    return found


def test_no_extra_installs_xds_protos() -> None:
    closure = _installed_closure()
    assert {"grpcio", "protobuf", "pytest", "kubernetes-validate"} <= closure.keys()
    assert "xds-protos" not in closure, (
        "an extra of cello-grpc pulls in xds-protos, which overwrites opentelemetry-proto; "
        "install it only in the venv of tests/deploy/envoy-requirements.txt"
    )


def test_no_extra_installs_modules_into_another_projects_packages() -> None:
    owners: dict[str, str] = {}
    for name, dist in _installed_closure().items():
        for file in dist.files or []:
            path = file.as_posix()
            if ".dist-info/" in path or "__pycache__" in path or path.startswith(".."):
                continue
            for package, owner in OWNED_PACKAGES.items():
                assert not path.startswith(package) or name.startswith(owner), (
                    f"{name} installs {path} into the package of the {owner}* distributions"
                )
            assert owners.setdefault(path, name) == name, (
                f"{path} is installed by both {owners[path]} and {name}: the one installed "
                "last overwrites the other's"
            )
