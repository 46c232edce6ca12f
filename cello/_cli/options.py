"""What `cello serve` was asked for, read by both the serving process and the supervisor.

Its own module so that `serve.py` (which starts the supervisor) and `supervisor.py` (which
starts `serve.py` workers) share it without importing each other.
"""

from __future__ import annotations

import dataclasses

from .._errors import CelloError


class ServeError(CelloError):
    """`cello serve` cannot start: a bad target or flag."""


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
    log_format: str = "text"

    def worker_args(self) -> list[str]:
        """The flags a worker is started with (ports resolved by the supervisor)."""
        args = [self.target, "--log-format", self.log_format]
        if self.drain_delay is not None:
            args.append(f"--drain-delay={self.drain_delay}")
        if self.grace is not None:
            args.append(f"--grace={self.grace}")
        if self.access_log:
            args.append("--access-log")
        return args
