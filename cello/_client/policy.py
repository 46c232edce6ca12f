"""`RetryPolicy`, `HedgingPolicy`, load balancing: compiled once into grpc's service config.

grpc C-core carries most of it out itself (gRFC A6 retries, with buffering and throttling;
the `round_robin` policy; client-side health checking): a client only hands it the JSON in
the `grpc.service_config` channel argument. C-core does not hedge (it ignores a
`hedgingPolicy`), so hedging is Cello's own, for unary calls of async clients
(`calls.py`). What Cello decides is *which* rpcs get a policy:

- an rpc declared `@grpc_method(idempotent=True)` (`idempotency_level` in the `.proto`)
  may be retried on `RetryPolicy.codes` (UNAVAILABLE, ABORTED, CANCELLED by default) and
  hedged;
- any other rpc gets no configured retry, since the server may have run it before
  failing; grpc still retries it *transparently* when the request never reached the
  server (a refused stream, a connection lost before sending), which is always safe.
  Naming a non-idempotent rpc in a per-method policy is an error.

Retry throttling is on whenever a policy is set: after repeated failures grpc stops
retrying (a token bucket per server, `RetryThrottling`) so retries cannot multiply load on
a server that is already failing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from .._errors import GrpcError, status_name

_NO_SIDE_EFFECTS, _IDEMPOTENT = 1, 2  # MethodOptions.IdempotencyLevel


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry an idempotent rpc that failed with one of `codes`, backing off between tries.

    Args:
        max_attempts: tries in all, the first included (grpc allows at most 5).
        initial_backoff: seconds before the first retry (randomized by grpc, up to it).
        max_backoff: the longest wait between tries.
        backoff_multiplier: growth of the wait after each try.
        codes: status codes worth a retry.
    """

    max_attempts: int = 3
    initial_backoff: float = 0.1
    max_backoff: float = 1.0
    backoff_multiplier: float = 2.0
    # CANCELLED: a server shutting down cancels the calls it holds; a call its caller
    # cancelled is over, so grpc never retries that one
    codes: tuple[int, ...] = (GrpcError.UNAVAILABLE, GrpcError.ABORTED, GrpcError.CANCELLED)

    def __post_init__(self) -> None:
        _check_attempts("RetryPolicy", self.max_attempts)
        if not 0 < self.initial_backoff <= self.max_backoff:
            raise ValueError(
                f"RetryPolicy: initial_backoff={self.initial_backoff} and max_backoff="
                f"{self.max_backoff} must be positive, initial <= max"
            )
        if self.backoff_multiplier <= 0:
            raise ValueError(f"RetryPolicy.backoff_multiplier={self.backoff_multiplier} <= 0")
        _check_codes("RetryPolicy", self.codes)

    def _config(self) -> dict[str, Any]:
        return {
            "retryPolicy": {
                "maxAttempts": self.max_attempts,
                "initialBackoff": _seconds(self.initial_backoff),
                "maxBackoff": _seconds(self.max_backoff),
                "backoffMultiplier": self.backoff_multiplier,
                "retryableStatusCodes": [status_name(c) for c in self.codes],
            }
        }


@dataclass(frozen=True, slots=True)
class HedgingPolicy:
    """Send an idempotent rpc again after `delay` if no answer came, keeping the first one.

    Args:
        max_attempts: copies sent in all, the first included (at most 5).
        delay: seconds between copies.
        non_fatal_codes: a copy failing with one of these lets the others go on; any
            other status ends the call at once.
    """

    max_attempts: int = 2
    delay: float = 0.05
    non_fatal_codes: tuple[int, ...] = (GrpcError.UNAVAILABLE,)

    def __post_init__(self) -> None:
        _check_attempts("HedgingPolicy", self.max_attempts)
        if self.delay < 0:
            raise ValueError(f"HedgingPolicy.delay={self.delay} is negative")
        _check_codes("HedgingPolicy", self.non_fatal_codes)

    def _config(self) -> dict[str, Any]:
        return {
            "hedgingPolicy": {
                "maxAttempts": self.max_attempts,
                "hedgingDelay": _seconds(self.delay),
                "nonFatalStatusCodes": [status_name(c) for c in self.non_fatal_codes],
            }
        }


@dataclass(frozen=True, slots=True)
class RetryThrottling:
    """grpc's retry token bucket: retries stop while tokens are below half of `max_tokens`.

    Each failed call takes a token, each success gives back `token_ratio`.
    """

    max_tokens: int = 10
    token_ratio: float = 0.1


Policy: TypeAlias = RetryPolicy | HedgingPolicy
RetryOption: TypeAlias = Policy | Mapping[str, Policy | None] | None
"""`retry=` of a client: one policy for every idempotent rpc, or per method name (`"*"`
for the rest; None for none)."""


@dataclass(frozen=True, slots=True)
class RpcInfo:
    """What the service config needs of one rpc."""

    service: str
    name: str
    python_name: str
    idempotent: bool


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    """A client's retry and load-balancing choices, as given to `connect`."""

    retry: RetryOption = None
    load_balancing: str | None = None
    health_check: bool = False
    throttling: RetryThrottling | None = field(default_factory=RetryThrottling)


def is_idempotent(request_type: Any, service: str, method: str) -> bool:
    """Whether the `.proto` declares the rpc idempotent (`idempotency_level`), read from the
    descriptor pool its `_pb2` module was loaded into."""
    try:
        pool = request_type.DESCRIPTOR.file.pool
        descriptor = pool.FindServiceByName(service).methods_by_name[method]
    except (AttributeError, KeyError):
        return False
    level = descriptor.GetOptions().idempotency_level
    return level in (_NO_SIDE_EFFECTS, _IDEMPOTENT)


def service_config(where: str, rpcs: Sequence[RpcInfo], policy: ChannelPolicy) -> str | None:
    """The `grpc.service_config` JSON for `policy` over `rpcs`, or None when nothing is set.

    Raises:
        ValueError: a per-method policy names an rpc the client lacks, or one that is not
            idempotent.
    """
    config: dict[str, Any] = {}
    method_config = _method_config(where, rpcs, policy.retry)
    if method_config:
        config["methodConfig"] = method_config
        if policy.throttling is not None:
            config["retryThrottling"] = {
                "maxTokens": policy.throttling.max_tokens,
                "tokenRatio": policy.throttling.token_ratio,
            }
    if policy.load_balancing is not None:
        if policy.load_balancing not in ("round_robin", "pick_first"):
            raise ValueError(
                f"{where}: load_balancing={policy.load_balancing!r}; use 'round_robin' "
                "(spread calls over every address) or 'pick_first'"
            )
        config["loadBalancingConfig"] = [{policy.load_balancing: {}}]
    if policy.health_check:
        config["healthCheckConfig"] = {"serviceName": ""}
    return json.dumps(config, sort_keys=True) if config else None


def with_service_config(options: Iterable[tuple[str, Any]], config: str | None) -> list[Any]:
    """Channel options with `config` added, unless the caller gave a service config."""
    given = list(options)
    if config is None or any(k == "grpc.service_config" for k, _ in given):
        return given
    return [("grpc.service_config", config), *given]


def _method_config(where: str, rpcs: Sequence[RpcInfo], retry: RetryOption) -> list[Any]:
    if retry is None:
        return []
    if isinstance(retry, RetryPolicy | HedgingPolicy):
        per_method: Mapping[str, Policy | None] = {"*": retry}
    elif isinstance(retry, Mapping):
        per_method = retry
    else:
        raise TypeError(
            f"{where}: retry={retry!r}; pass a RetryPolicy, a HedgingPolicy, or a dict of "
            "them by method name"
        )
    by_name = {n: r for r in rpcs for n in (r.name, r.python_name)}
    for name, chosen in per_method.items():
        if name == "*":
            continue
        rpc = by_name.get(name)
        if rpc is None:
            raise ValueError(
                f"{where}: retry names {name!r}, which is not an rpc of this client; "
                f"it has {sorted({r.name for r in rpcs})}"
            )
        if chosen is not None and not rpc.idempotent:
            raise ValueError(
                f"{where}: retry names {rpc.service}.{rpc.name}, which is not idempotent: a "
                "retry could run it twice. Declare it @grpc_method(idempotent=True) if "
                "running it twice is harmless"
            )
    entries: list[Any] = []
    for rpc, chosen in _chosen(rpcs, per_method):
        if isinstance(chosen, RetryPolicy):  # hedging is Cello's: grpc C-core ignores it
            names = [{"service": rpc.service, "method": rpc.name}]
            entries.append({"name": names, **chosen._config()})
    return entries


def _chosen(
    rpcs: Sequence[RpcInfo], per_method: Mapping[str, Policy | None]
) -> Iterable[tuple[RpcInfo, Policy]]:
    default = per_method.get("*")
    for rpc in rpcs:
        chosen = per_method.get(rpc.name, per_method.get(rpc.python_name, default))
        if chosen is not None and rpc.idempotent:
            yield rpc, chosen


def hedging_paths(rpcs: Sequence[RpcInfo], retry: RetryOption) -> dict[str, HedgingPolicy]:
    """`/service/method` → its `HedgingPolicy`, for the idempotent rpcs `retry` hedges
    (checked by `service_config` first)."""
    if retry is None:
        return {}
    per_method = retry if isinstance(retry, Mapping) else {"*": retry}
    return {
        f"/{rpc.service}/{rpc.name}": chosen
        for rpc, chosen in _chosen(rpcs, per_method)
        if isinstance(chosen, HedgingPolicy)
    }


def _check_attempts(where: str, attempts: int) -> None:
    if not 2 <= attempts <= 5:
        raise ValueError(f"{where}.max_attempts={attempts}: grpc allows 2 to 5 attempts")


def _check_codes(where: str, codes: Iterable[int]) -> None:
    for code in codes:
        if not 0 < int(code) <= GrpcError.UNAUTHENTICATED:
            raise ValueError(f"{where}: {code!r} is not a status code; use GrpcError.UNAVAILABLE")


def _seconds(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".") + "s"


def policy_options(
    where: str,
    rpcs: Sequence[RpcInfo],
    options: Iterable[tuple[str, Any]],
    *,
    retry: RetryOption,
    load_balancing: str | None,
) -> list[Any]:
    """`options` plus the service config for `retry=` and `load_balancing=` of `connect`;
    balancing over several addresses checks each one's health (`grpc.health.v1`)."""
    policy = ChannelPolicy(
        retry=retry, load_balancing=load_balancing, health_check=load_balancing == "round_robin"
    )
    return with_service_config(options, service_config(where, rpcs, policy))
