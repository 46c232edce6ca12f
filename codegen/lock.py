"""`cello.lock.json`: what a `cello-gen build` was made from, kept beside its output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LOCK_FILE = "cello.lock.json"


def read_lock(directory: Path) -> dict[str, Any]:
    """The lock in `directory`, or an empty one."""
    path = directory / LOCK_FILE
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def write_lock(directory: Path, data: dict[str, Any]) -> Path:
    """Write the lock deterministically (sorted keys, two-space indent, final newline)."""
    path = directory / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8", newline="\n")
    return path
