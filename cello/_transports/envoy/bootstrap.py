"""The hardened Envoy bootstrap Cello generates for `GrpcConfig(transport="envoy")`.

A pure function of the config and a few paths: nothing here starts a process, so the
generated document can be read (each server keeps it as `envoy.json`), diffed and tested.
Every limit is chosen against Envoy's "configuring Envoy as an edge proxy" guidance, and
docs/envoy.md explains each line. The user's `GrpcConfig.envoy_overrides` is merged on top
last: the escape hatch wins over every default here.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..._definitions.config import GrpcConfig

HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    "HttpConnectionManager"
)
TLS_CONTEXT = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
UPSTREAM_HTTP = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
FIXED_HEAP = "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig"
MAX_CONNECTIONS = (
    "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3."
    "DownstreamConnectionsConfig"
)

# Headers Envoy sets for the app (and strips when a client sends them): the real peer
# address and, on mTLS, the verified client certificate. `cello._transports.envoy.app`
# turns them back into the ASGI scope's `client` and `tls`.
PEER_HEADER = "x-cello-peer"
PROTOCOL_HEADER = "x-cello-http"  # the client's HTTP version: "HTTP/1.1", "HTTP/2"
CERT_HEADER = "x-forwarded-client-cert"

# Envoy's own memory ceiling: past 95% it returns freed memory to the system, past 98% it
# refuses new requests. The heap a Cello server's Envoy needs is small; attacks that make
# Envoy buffer are what this bounds.
HEAP_BYTES = 1 << 30
MAX_DOWNSTREAM_CONNECTIONS = 10_000
# per connection, the bytes Envoy buffers in each direction before it stops reading (the
# edge guidance's 32 KiB); bodies stream through it with flow control, so it bounds
# memory per connection, never the message size
CONNECTION_BUFFER = 32 * 1024
# HTTP/2 windows: a stream may have 64 KiB in flight, a connection 1 MiB (the edge
# guidance), so a client that sends and never reads holds at most that much of ours
STREAM_WINDOW = 64 * 1024
CONNECTION_WINDOW = 1024 * 1024
MAX_CONCURRENT_STREAMS = 100
HEADERS_KB = 16  # the request headers' total size (gRPC metadata included)
MAX_HEADERS = 100
# premature resets: a connection whose streams are mostly reset before they lived this
# long is closed once it has opened this many (rapid reset, CVE-2023-44487)
PREMATURE_RESET_STREAMS = 100
PREMATURE_RESET_SECONDS = 1


def bootstrap(
    config: GrpcConfig,
    *,
    host: str,
    port: int,
    upstream: str,
    admin: str,
    secrets: Path | None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Envoy bootstrap for `config`, listening on `host:port`.

    Args:
        upstream: the Unix socket path of the in-process app (HTTP/2 cleartext).
        admin: the Unix socket path of Envoy's admin API (never a TCP port).
        secrets: with TLS, the directory holding the SDS files `sds_files` writes; Envoy
            watches them, so a rotated certificate is served without a restart.
        overrides: deep-merged on top (dicts merge key by key, anything else replaces).
    """
    idle = f"{config.web_body_timeout:g}s"
    http2: dict[str, Any] = {
        "max_concurrent_streams": MAX_CONCURRENT_STREAMS,
        "initial_stream_window_size": STREAM_WINDOW,
        "initial_connection_window_size": CONNECTION_WINDOW,
        # Envoy's flood limits, written out so the document shows them: outbound frames
        # queued for a client that does not read, control frames among them (PING and
        # SETTINGS floods), DATA/HEADERS with empty payloads, PRIORITY and WINDOW_UPDATE
        # floods; past any of them the connection is closed
        "max_outbound_frames": 10000,
        "max_outbound_control_frames": 1000,
        "max_consecutive_inbound_frames_with_empty_payload": 1,
        "max_inbound_priority_frames_per_stream": 100,
        "max_inbound_window_update_frames_per_data_frame_sent": 10,
        # keepalive: PING every keepalive_secs, close a connection that does not answer
        "connection_keepalive": {
            "interval": f"{config.keepalive_secs}s",
            "timeout": f"{min(20, config.keepalive_secs)}s",
        },
    }
    hcm: dict[str, Any] = {
        "@type": HCM,
        "stat_prefix": "cello",
        "codec_type": "AUTO",  # HTTP/2 (gRPC, Connect, gRPC-Web) and HTTP/1.1 (web)
        "use_remote_address": True,  # the socket's peer, not a client-sent X-Forwarded-For
        "xff_num_trusted_hops": 0,
        "skip_xff_append": True,
        "forward_client_cert_details": "SANITIZE_SET",  # a client-sent XFCC is dropped
        "set_current_client_cert_details": {"cert": True},
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "server_header_transformation": "PASS_THROUGH",  # Envoy adds no `server: envoy`
        "generate_request_id": False,
        "max_request_headers_kb": HEADERS_KB,
        "common_http_protocol_options": {
            "idle_timeout": "3600s",  # a connection without streams (the edge guidance)
            "headers_with_underscores_action": "REJECT_REQUEST",
            "max_headers_count": MAX_HEADERS,
        },
        "http2_protocol_options": http2,
        # a stream with no bytes either way for this long is reset: a stalled stream
        # cannot hold a slot of the concurrency limit for ever
        "stream_idle_timeout": "300s",
        # the request head must arrive within web_body_timeout (slowloris)
        "request_headers_timeout": idle,
        # no whole-request timeout: a client stream may legitimately last hours; the
        # call's own grpc-timeout and the stream idle timeout bound it instead
        "request_timeout": "0s",
        "drain_timeout": "5s",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "cello",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {"prefix": "/"},
                            "route": {
                                "cluster": "cello_app",
                                "timeout": "0s",  # deadlines are the app's (grpc-timeout)
                                "idle_timeout": "0s",  # stream_idle_timeout applies
                            },
                        }
                    ],
                    "request_headers_to_remove": [PEER_HEADER, PROTOCOL_HEADER],
                    "request_headers_to_add": [
                        {
                            "header": {"key": key, "value": value},
                            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                        }
                        for key, value in (
                            (PEER_HEADER, "%DOWNSTREAM_REMOTE_ADDRESS%"),
                            (PROTOCOL_HEADER, "%PROTOCOL%"),
                        )
                    ],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": ROUTER, "suppress_envoy_headers": True},
            }
        ],
    }
    chain: dict[str, Any] = {
        "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]
    }
    if config.tls is not None and secrets is not None:
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": _tls_context(config, secrets),
        }
    bare = host.removeprefix("[").removesuffix("]") or "::"
    listener: dict[str, Any] = {
        "name": "cello",
        "address": {"socket_address": {"address": bare, "port_value": port}},
        "per_connection_buffer_limit_bytes": CONNECTION_BUFFER,
        "enable_reuse_port": config.reuse_port,
        "filter_chains": [chain],
    }
    if bare in ("::", "0.0.0.0"):
        listener["address"]["socket_address"]["ipv4_compat"] = bare == "::"
    document: dict[str, Any] = {
        "node": {"id": "cello", "cluster": "cello"},  # file-based SDS wants both named
        "admin": {"address": {"pipe": {"path": admin}}},
        "static_resources": {
            "listeners": [listener],
            "clusters": [_app_cluster(config, upstream)],
        },
        "overload_manager": _overload_manager(),
        "layered_runtime": {
            "layers": [
                {
                    "name": "cello",
                    "static_layer": {
                        "overload.premature_reset_total_stream_count": PREMATURE_RESET_STREAMS,
                        "overload.premature_reset_min_stream_lifetime_seconds": (
                            PREMATURE_RESET_SECONDS
                        ),
                    },
                }
            ]
        },
    }
    return merge(document, overrides) if overrides else document


def _tls_context(config: GrpcConfig, secrets: Path) -> dict[str, Any]:
    """TLS from SDS files Envoy watches: `sds_files` rewrites them on every reload."""
    tls = config.tls
    assert tls is not None

    def sds(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "sds_config": {
                "path_config_source": {"path": str(secrets / f"{name}.json")},
                "resource_api_version": "V3",
            },
        }

    common: dict[str, Any] = {
        "alpn_protocols": ["h2", "http/1.1"],
        "tls_params": {"tls_minimum_protocol_version": "TLSv1_2"},
        "tls_certificate_sds_secret_configs": [sds("cello_cert")],
    }
    if tls.client_ca is not None:
        common["validation_context_sds_secret_config"] = sds("cello_client_ca")
    return {
        "@type": TLS_CONTEXT,
        "common_tls_context": common,
        "require_client_certificate": tls.require_client_cert,
    }


def sds_files(cert_chain: bytes, private_key: bytes, client_ca: bytes | None) -> dict[str, Any]:
    """The SDS documents (file name → JSON-able) for the served certificate material."""

    def inline(data: bytes) -> dict[str, str]:
        return {"inline_bytes": base64.b64encode(data).decode("ascii")}

    files = {
        "cello_cert.json": {
            "resources": [
                {
                    "@type": SECRET,
                    "name": "cello_cert",
                    "tls_certificate": {
                        "certificate_chain": inline(cert_chain),
                        "private_key": inline(private_key),
                    },
                }
            ]
        }
    }
    if client_ca is not None:
        files["cello_client_ca.json"] = {
            "resources": [
                {
                    "@type": SECRET,
                    "name": "cello_client_ca",
                    "validation_context": {"trusted_ca": inline(client_ca)},
                }
            ]
        }
    return files


def _app_cluster(config: GrpcConfig, upstream: str) -> dict[str, Any]:
    """The in-process app, over HTTP/2 on a private Unix socket."""
    return {
        "name": "cello_app",
        "type": "STATIC",
        "connect_timeout": "5s",
        "per_connection_buffer_limit_bytes": CONNECTION_BUFFER,
        "load_assignment": {
            "cluster_name": "cello_app",
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": upstream}}}}]}
            ],
        },
        # the app's limit is concurrency_limit; Envoy queues nothing past it on its own
        "circuit_breakers": {
            "thresholds": [
                {
                    "max_requests": config.concurrency_limit + 100,  # health/reflection
                    "max_pending_requests": config.concurrency_limit + 100,
                    "max_connections": 1024,
                }
            ]
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": UPSTREAM_HTTP,
                "explicit_http_config": {
                    "http2_protocol_options": {
                        "max_concurrent_streams": MAX_CONCURRENT_STREAMS,
                        "initial_stream_window_size": STREAM_WINDOW,
                        "initial_connection_window_size": CONNECTION_WINDOW,
                    }
                },
            }
        },
    }


def _overload_manager() -> dict[str, Any]:
    return {
        "refresh_interval": "0.25s",
        "resource_monitors": [
            {
                "name": "envoy.resource_monitors.fixed_heap",
                "typed_config": {"@type": FIXED_HEAP, "max_heap_size_bytes": HEAP_BYTES},
            },
            {
                "name": "envoy.resource_monitors.global_downstream_max_connections",
                "typed_config": {
                    "@type": MAX_CONNECTIONS,
                    "max_active_downstream_connections": MAX_DOWNSTREAM_CONNECTIONS,
                },
            },
        ],
        "actions": [
            {
                "name": "envoy.overload_actions.shrink_heap",
                "triggers": [
                    {"name": "envoy.resource_monitors.fixed_heap", "threshold": {"value": 0.95}}
                ],
            },
            {
                "name": "envoy.overload_actions.stop_accepting_requests",
                "triggers": [
                    {"name": "envoy.resource_monitors.fixed_heap", "threshold": {"value": 0.98}}
                ],
            },
        ],
    }


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`extra` on top of `base`: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
