"""Every transport against the HTTP/2 attacks of issue 24: the bar, or a documented limit.

Each case starts a fresh server in its own process, attacks it from raw sockets for
about two seconds while a well-behaved grpc.aio client calls, and checks the bar: at
least half the good calls succeed during the attack, all of them two seconds after, the
server lives and its RSS grows by at most 300 MB. A transport this machine cannot serve
is skipped, so a new one joins by name in `TRANSPORTS`. What C-core cannot hold is
`KNOWN_LIMITS`, documented in docs/security.md: there only the server's life and memory
are asserted.
"""

from __future__ import annotations

import pytest

from .attacks import ATTACKS, available, score

TRANSPORTS = ("aio", "threads", "h2", "envoy")
KNOWN_LIMITS = {
    # grpc C-core (docs/security.md, "Known limits"): held CONTINUATION blocks stall it,
    # and on threads a few connections' stalled streams take every worker thread; a PING
    # flood is at the bar's edge there, on a loaded machine under it
    ("aio", "continuation"),
    ("aio", "ping_flood"),
    ("threads", "continuation"),
    ("threads", "never_read"),
    ("threads", "ping_flood"),
    # Envoy multiplexes every client onto a few upstream connections to the app: streams it
    # opens and resets, or cannot deliver, hold the shared upstream window (docs/security.md)
    ("envoy", "rapid_reset"),
    ("envoy", "rapid_reset_open"),
    ("envoy", "never_read"),
}

pytestmark = pytest.mark.hardening


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_good_client_gets_through(transport: str, attack: str) -> None:
    if not available(transport):
        pytest.skip(f"transport {transport!r} is not available here")
    result = await score(transport, attack, during=1.5)
    summary = (
        f"{transport}/{attack}: {result.during:.0%} during, {result.after:.0%} after, "
        f"first good call after {result.first_after}s, RSS +{result.rss_delta_mb:.0f} MB"
    )
    assert result.alive, summary
    if (transport, attack) in KNOWN_LIMITS:
        assert result.rss_delta_mb <= 300, summary  # it lives and holds its memory, at least
        return
    assert result.passed, summary
