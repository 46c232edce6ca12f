"""What `cello serve` was asked for, and how it reports that it cannot start.

Read by both the serving process and the supervisor: its own module so that `serve.py`
(which starts the supervisor) and `supervisor.py` (which starts `serve.py` workers) share
it without importing each other.
"""

from __future__ import annotations

import dataclasses
import sys
from traceback import print_exception

from .._definitions.userimport import error_line
from .._errors import CelloError


class ServeError(CelloError):
    """`cello serve` cannot start: a bad target or flag.

    Args:
        in_user_code: the user's code raised it (its traceback is worth offering).
    """

    def __init__(self, message: str, *, in_user_code: bool = False) -> None:
        super().__init__(message)
        self.in_user_code = in_user_code


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """What `cello serve` was asked for (the flags)."""

    target: str
    host: str | None = None
    port: int | None = None
    web_port: int | None = None
    drain_delay: float | None = None
    grace: float | None = None
    workers: int = 0
    reload: bool = False
    access_log: bool = False
    tracing: bool = False
    metrics: bool = False
    metrics_port: int | None = None
    log_format: str = "text"
    traceback: bool = False

    def worker_args(self) -> list[str]:
        """The flags a worker is started with (ports resolved by the supervisor)."""
        args = [self.target, "--log-format", self.log_format]
        if self.traceback:
            args.append("--traceback")
        if self.drain_delay is not None:
            args.append(f"--drain-delay={self.drain_delay}")
        if self.grace is not None:
            args.append(f"--grace={self.grace}")
        if self.access_log:
            args.append("--access-log")
        if self.tracing:
            args.append("--tracing")
        if self.metrics:
            args.append("--metrics")
        if self.metrics_port is not None:
            args.append(f"--metrics-port={self.metrics_port}")
        return args


def report(exc: BaseException, *, traceback: bool) -> None:
    """Print `exc` as one `cello serve:` line on stderr (after its traceback if asked).

    Cello's own errors already say what to fix; anything else is shown with its type and
    the line of the user's code that raised it.
    """
    if traceback:
        print_exception(exc)
    line = str(exc) if isinstance(exc, CelloError) else error_line(exc)
    if not traceback and (getattr(exc, "in_user_code", False) or not isinstance(exc, CelloError)):
        line += " (--traceback shows the whole traceback)"
    print(f"cello serve: {line}", file=sys.stderr, flush=True)
