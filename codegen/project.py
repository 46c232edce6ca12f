"""Projects: the pyproject.toml with a `[tool.cello]` table that a module belongs to.

Apart from the CLI so the stub loader can find a project without loading the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cello._errors import GenerationError


@dataclass(frozen=True, slots=True)
class Project:
    """A Cello project: the folder of its pyproject.toml and that file's `[tool.cello]`."""

    root: Path
    config: dict[str, Any]

    @property
    def out(self) -> Path:
        """The build directory, `[tool.cello] out` (default `generated`) under the root."""
        return self.root / str(self.config.get("out", "generated"))


def find_project(start: Path) -> Project | None:
    """The nearest pyproject.toml with a `[tool.cello]` table at or above `start`.

    Raises:
        GenerationError: a pyproject.toml on the way is not valid TOML.
    """
    for folder in (start, *start.parents):
        path = folder / "pyproject.toml"
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if "cello" not in text:
            continue  # cannot hold `[tool.cello]`; the TOML parser costs more than this read
        import tomllib  # loaded only for a file worth parsing: a server's start waits for it

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise GenerationError(f"{path}: not valid TOML ({exc})") from exc
        section = data.get("tool", {}).get("cello")
        if isinstance(section, dict):
            return Project(folder, section)
    return None


def project_config(start: Path) -> dict[str, Any]:
    """`[tool.cello]` of the project at or above `start` (see `find_project`), else {}."""
    project = find_project(start)
    return project.config if project is not None else {}
