"""`cello serve module:app`: the command line, and what one server process runs.

Without `--workers` or `--reload` the app is served in this process. With them, this
process supervises (`supervisor.py`) and each worker is `cello serve ... --worker`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import inspect
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._definitions.config import GrpcConfig
from .._definitions.service import GrpcService
from .._definitions.userimport import definition, error_line, import_failure, is_missing
from .._server.app import App
from .._server.server import GrpcServer
from .logs import LOG_FORMATS, configure_logging
from .options import ServeError, ServeOptions, report

logger = logging.getLogger("cello.serve")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cello", description="Serve a Cello app.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve module:app (an App, a GrpcService, or a module)")
    serve.add_argument("target", metavar="MODULE[:ATTR]")
    serve.add_argument("--host", help="address to bind (overrides the config)")
    serve.add_argument("--port", type=int, help="gRPC port (overrides the config; 0: any)")
    serve.add_argument(
        "--web-port", type=int, metavar="PORT", help="gRPC-Web port (overrides the config)"
    )
    serve.add_argument(
        "--drain-delay",
        type=float,
        metavar="SECS",
        help="on SIGTERM, report NOT_SERVING and keep serving this long (drain_delay_secs)",
    )
    serve.add_argument(
        "--grace",
        type=float,
        metavar="SECS",
        help="then let in-flight calls finish this long (shutdown_grace_secs)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="N processes sharing the ports (SO_REUSEPORT); SIGHUP restarts them one by one",
    )
    serve.add_argument(
        "--reload", action="store_true", help="development: restart when a .py file changes"
    )
    serve.add_argument("--access-log", action="store_true", help="log one line per call")
    serve.add_argument(
        "--tracing",
        action="store_true",
        help="an OpenTelemetry span per call (GrpcConfig.tracing; docs/observability.md)",
    )
    serve.add_argument(
        "--metrics",
        action="store_true",
        help="OpenTelemetry metrics per method and status (GrpcConfig.metrics)",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on http://127.0.0.1:PORT/metrics (summed over --workers)",
    )
    serve.add_argument("--log-format", choices=LOG_FORMATS, default="text")
    serve.add_argument(
        "--traceback",
        action="store_true",
        help="on an error, print the whole traceback before the one-line message",
    )
    # the supervisor's side of the worker protocol; not for people
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `cello` and `python -m cello`; returns the exit code."""
    args = _parser().parse_args(argv)
    options = ServeOptions(
        target=args.target,
        host=args.host,
        port=args.port,
        web_port=args.web_port,
        drain_delay=args.drain_delay,
        grace=args.grace,
        workers=args.workers,
        reload=args.reload,
        access_log=args.access_log,
        tracing=args.tracing,
        metrics=args.metrics,
        metrics_port=args.metrics_port,
        log_format=args.log_format,
        traceback=args.traceback,
    )
    configure_logging(options.log_format, access_log=options.access_log)
    try:
        if options.workers < 0 or (args.port is not None and not 0 <= args.port <= 65535):
            raise ServeError("--workers must be >= 0 and --port between 0 and 65535")
        if args.prepare:
            return prepare(options)
        if args.worker:
            asyncio.run(serve_worker(options, ready_fd=int(os.environ["CELLO_READY_FD"])))
            return 0
        if options.workers or options.reload:
            from .supervisor import supervise

            return supervise(options)
        asyncio.run(serve_app(options))
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the command line's one boundary: one line, exit 2
        report(exc, traceback=options.traceback)
        return 2


def load_app(target: str) -> App:
    """The `App` named by `module:attr`, or one serving the GrpcService classes named.

    `module:attr` may name an `App`, a `GrpcService` class or instance; `module` alone
    uses its `app` if that is an `App`, else every GrpcService class defined in it.
    The working directory is importable, as for `python -m`.

    Raises:
        ServeError: the target cannot be imported or serves nothing.
    """
    module_name, _, attr = target.partition(":")
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        raise _not_a_module(module_name, attr)
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # whatever the user's module raised at import time
        if is_missing(exc, module_name):
            raise ServeError(
                f"cannot import {module_name!r} (from {target!r}): no module named "
                f"{exc.name!r}; run cello serve from the directory holding it, or install it"
            ) from exc
        raise ServeError(
            f"{import_failure(module_name, exc)}; fix the module", in_user_code=True
        ) from exc
    if attr:
        try:
            found = [getattr(module, attr)]
        except AttributeError:
            raise ServeError(
                f"{module_name} has no {attr!r}; name an App, a GrpcService or the module"
            ) from None
    elif isinstance(getattr(module, "app", None), App):
        found = [module.app]
    else:
        found = [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, GrpcService)
            and value.__module__ == module.__name__
        ]
    if len(found) == 1 and isinstance(found[0], App):
        return found[0]
    app = App()
    app.enable_grpc()
    for value in found:
        if inspect.isclass(value) and issubclass(value, GrpcService):
            value = _instance(value)
        if not isinstance(value, GrpcService):
            raise ServeError(
                f"{target} is {type(value).__name__}; name an App, a GrpcService or a module"
            )
        app.register_service(value)
    if not found:
        raise ServeError(f"{module_name} defines no App named `app` and no GrpcService classes")
    return app


def _instance(service: type[GrpcService]) -> GrpcService:
    """`service()`, or a one-line error naming the class and what its `__init__` raised."""
    try:
        return service()
    except Exception as exc:  # the user's __init__, or its signature
        name = f"{service.__module__}.{service.__qualname__}"
        raise ServeError(
            f"{error_line(exc, doing=f'cannot create {name}()', near=definition(service))}; "
            "cello serve creates a GrpcService class without arguments: fix its __init__, or "
            "name an App or an instance",
            in_user_code=True,
        ) from exc


def _not_a_module(path: str, attr: str) -> ServeError:
    """The error for `cello serve app.py`: a file path where a module name belongs."""
    file = (Path.cwd() / path).resolve()
    stem = file.with_suffix("") if file.suffix == ".py" else file
    start = ""
    try:
        module = ".".join(stem.relative_to(Path.cwd().resolve()).parts)
    except ValueError:
        module, start = stem.name, f"from {stem.parent}, "
    fix = "drop the .py" if path.endswith(".py") else "write the module with dots"
    return ServeError(
        f"{path!r} is a file path, but cello serve takes a module: {fix}; "
        f"{start}run `cello serve {module}:{attr or 'app'}`"
    )


def effective_config(app: App, options: ServeOptions, *, worker: bool = False) -> GrpcConfig:
    """The app's config with the command line's overrides (and port sharing for workers)."""
    config = app.grpc_config or GrpcConfig()
    changes: dict[str, Any] = {}
    if options.host is not None:
        changes["host"] = options.host
    if options.port is not None:
        changes["port"] = options.port
    if options.web_port is not None:
        changes["web_port"] = options.web_port
    if options.drain_delay is not None:
        changes["drain_delay_secs"] = options.drain_delay
    if options.grace is not None:
        changes["shutdown_grace_secs"] = options.grace
    if options.access_log:
        changes["access_log"] = True
    if options.tracing:
        changes["tracing"] = True
    if options.metrics:
        changes["metrics"] = True
    if options.metrics_port is not None:
        changes["metrics_port"] = options.metrics_port
    if worker:
        changes["reuse_port"] = True
    return dataclasses.replace(config, **changes)


def _server(app: App, config: GrpcConfig) -> GrpcServer:
    server = GrpcServer(config=config, stubs_dir=getattr(app, "stubs_dir", None))
    server._log_serving = False  # it serves nothing; the supervisor prints the schema
    for service in app._services:
        server.register_service(service)
    return server


def prepare(options: ServeOptions) -> int:
    """Supervisor's first step, in a process of its own: import the app, build or check
    its stubs once (so workers find them built), and print the config as one JSON line."""
    app = load_app(options.target)
    config = effective_config(app, options)
    server = _server(app, config)
    server.endpoints()  # generates into the cache, or checks the build
    fields = (
        "host",
        "port",
        "web_port",
        "enable_web",
        "shutdown_grace_secs",
        "drain_delay_secs",
        "transport",
        "metrics_port",
        "metrics_host",
    )
    settings = {name: getattr(config, name) for name in fields}
    settings["tls"] = getattr(config, "tls", None) is not None
    if config.transport == "envoy":  # for the supervisor's startup line
        from .._server.ports import envoy_version

        settings["envoy_version"] = envoy_version()
    settings["schema"] = server.schema_source.describe() if server.schema_source else None
    print(json.dumps(settings), flush=True)
    return 0


async def serve_app(options: ServeOptions) -> None:
    """Serve in this process until SIGINT or SIGTERM (no workers)."""
    app = load_app(options.target)
    app.grpc_config = effective_config(app, options)
    await app.serve()


async def serve_worker(options: ServeOptions, *, ready_fd: int) -> None:
    """One worker: serve with the ports shared, report "ready" on `ready_fd`, and stop on
    SIGTERM (draining) or when the supervisor is gone."""
    app = load_app(options.target)
    app.grpc_config = effective_config(app, options, worker=True)
    stop = asyncio.Event()
    supervisor = os.getppid()

    def ready(server: GrpcServer) -> None:
        os.write(ready_fd, f"ready {os.getpid()} {server.port} {server.web_port or 0}\n".encode())
        os.close(ready_fd)

    async def watch_supervisor() -> None:
        while os.getppid() == supervisor:  # orphaned workers must not serve on
            await asyncio.sleep(1)
        logger.warning("the supervisor (pid %d) is gone; stopping", supervisor)
        stop.set()

    watcher = asyncio.create_task(watch_supervisor())
    try:
        await app.serve(stop=stop, ready=ready, announce=False)  # the supervisor announces
    finally:
        watcher.cancel()
