"""Code blocks of Markdown pages, and what each one claims to be.

The convention (README "Docs that run"): a fenced block's info string names its language;
```` ```python ```` is a complete runnable file, ```` ```python fragment ```` is not run; the
same holds for every language. Runnable blocks are run (Python) or checked (shell syntax,
TOML, JSON); a language this test cannot run must be marked `fragment`; ```` ```text ````
is plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = {"python": "python", "py": "python"}
CHECK = {"bash": "shell", "sh": "shell", "shell": "shell", "toml": "toml", "json": "json"}
TEXT = {"text", "txt", "output"}
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block: where it starts, its info string and its text."""

    path: Path
    line: int
    info: str
    text: str

    @property
    def where(self) -> str:
        """`docs/page.md:12`, relative to the repository when inside it."""
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"

    @property
    def language(self) -> str:
        words = self.info.split()
        return words[0].lower() if words else ""

    @property
    def fragment(self) -> bool:
        return "fragment" in self.info.split()[1:]

    @property
    def kind(self) -> str:
        """`python` (run), `shell`/`toml`/`json` (checked), `fragment`/`text` (not run),
        or `unmarked` (a block this test cannot run that does not say it is a fragment)."""
        if self.fragment:
            return "fragment"
        if self.language in TEXT:
            return "text"
        return RUN.get(self.language) or CHECK.get(self.language) or "unmarked"


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, in order.

    Raises:
        ValueError: a fence is never closed (the rest of the page would be code).
    """
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, start = opening["fence"], index
        body: list[str] = []
        index += 1
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            if closing and closing["fence"].startswith(fence) and not closing["info"].strip():
                break
            body.append(lines[index])
            index += 1
        else:
            raise ValueError(f"{path}:{start + 1}: the code fence {fence} is never closed")
        found.append(Block(path, start + 1, opening["info"].strip(), "\n".join(body) + "\n"))
        index += 1
    return found


def pages() -> list[Path]:
    """README.md and every docs/*.md, as they are when the tests are collected."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
