"""The HTTP/2 attack table: `python benchmarks/attacks.py [--transports aio,h2] [--attacks ...]`.

Each attack (tests/hardening/attacks.py) runs against a fresh server of each transport
while a well-behaved client calls; one row per attack: the good client's success during
the attack and two seconds after, the first good call after it, the server's RSS growth.
A transport this machine cannot serve (an extra not installed) is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the attacks live with their tests, in tests/hardening

from tests.hardening.attacks import ATTACKS, available, score  # noqa: E402

TRANSPORTS = ("aio", "threads", "h2", "envoy")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    parser.add_argument("--attacks", default=",".join(ATTACKS))
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each attack")
    args = parser.parse_args()
    for transport in args.transports.split(","):
        if not available(transport):
            print(f"\n{transport}: not available here, skipped")
            continue
        print(f"\n{transport}")
        print(f"{'attack':<18} {'during':>7} {'after':>7} {'first ok':>9} {'RSS +MB':>8}  bar")
        for attack in args.attacks.split(","):
            s = await score(transport, attack, during=args.seconds)
            first = "never" if s.first_after is None else f"{s.first_after:.2f}s"
            verdict = "pass" if s.passed else "FAIL" + ("" if s.alive else " (server died)")
            print(
                f"{attack:<18} {s.during:>7.0%} {s.after:>7.0%} {first:>9} "
                f"{s.rss_delta_mb:>8.0f}  {verdict}",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
