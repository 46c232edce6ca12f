"""Every command the docs tell a reader to type names something real.

- `pip install` in README.md and docs/*.md, and in Cello's own messages, names this
  project's distribution (`cello-grpc`, or `.` from a clone, or its wheel) with extras
  that pyproject.toml defines, or a distribution known without the network: one of the
  project's own requirements, or one installed here.
- `cello` and `cello-gen` command lines name a subcommand and options that the command's
  own `--help` lists.

Commands are read from code blocks (Python blocks excepted: a shell command never starts
a Python line) and from inline code in the prose.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from .blocks import ROOT, blocks, pages

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PROJECT = canonicalize_name(PYPROJECT["name"])
EXTRAS = set(PYPROJECT["optional-dependencies"])
# the distributions the project itself requires: they exist, or nothing would install
REQUIRED = {
    canonicalize_name(Requirement(r).name)
    for r in [*PYPROJECT["dependencies"], *sum(PYPROJECT["optional-dependencies"].values(), [])]
}
# how the docs run the two commands: the console scripts, or `python -m` their modules
PROGRAMS = {"cello": "cello", "cello-gen": "cello-gen", "cello.codegen.cli": "cello-gen"}
MODULES = {"cello": "cello", "cello-gen": "cello.codegen.cli"}
OPERATORS = {"&&", "||", ";", "|", "&", "(", ")"}
_INLINE = re.compile(r"(`+)((?:[^`\n]|\n(?!\s*\n))+?)\1")


@dataclass(frozen=True, slots=True)
class Snippet:
    """A piece of text that may hold a command: a code block's line or an inline code span."""

    where: str
    text: str


def _snippets() -> list[Snippet]:
    found: list[Snippet] = []
    for page in pages():
        lines = page.read_text(encoding="utf-8").splitlines()
        in_blocks: set[int] = set()
        for block in blocks(page):
            body = block.text.count("\n")
            in_blocks |= set(range(block.line, block.line + body + 2))  # fences included
            if block.language in ("python", "py"):
                continue
            joined = block.text.replace("\\\n", " ")  # shell line continuations
            for offset, line in enumerate(joined.splitlines(), start=1):
                found.append(
                    Snippet(f"{block.where.rsplit(':', 1)[0]}:{block.line + offset}", line)
                )
        prose = "\n".join("" if i + 1 in in_blocks else line for i, line in enumerate(lines))
        rel = page.relative_to(ROOT)
        for match in _INLINE.finditer(prose):
            line = prose.count("\n", 0, match.start()) + 1
            found.append(Snippet(f"{rel}:{line}", " ".join(match.group(2).split())))
    return found


def _commands(text: str) -> list[list[str]]:
    """The simple commands of a shell line, as words (comments and operators removed)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError:  # unbalanced quotes: prose, not a command
        return []
    commands: list[list[str]] = [[]]
    for word in words:
        if word in OPERATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    result = []
    for command in commands:
        while command and (command[0] == "$" or re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", command[0])):
            command = command[1:]  # a prompt, or environment settings
        if command:
            result.append(command)
    return result


SNIPPETS = _snippets()


# -- pip install -------------------------------------------------------------------------


def _pip_lines() -> list[tuple[str, list[str]]]:
    """(where, requirements) for each `pip install` in the docs."""
    found = []
    for snippet in SNIPPETS:
        for words in _commands(snippet.text):
            found += [(snippet.where, args) for args in _pip_args(words)]
    return found


def _pip_args(words: list[str]) -> list[list[str]]:
    for start in range(len(words) - 1):
        if words[start : start + 2] == ["pip", "install"]:
            args = [a for a in words[start + 2 :] if not a.startswith("-")]
            return [args] if args else []  # a bare `pip install` is the command's name
    return []


def problem(requirement: str) -> str | None:
    """Why `requirement` (as given to pip install) names nothing real, or None."""
    if requirement.endswith(".whl"):
        name, version, *_ = parse_wheel_filename(Path(requirement).name)
        if name != PROJECT or str(version) != PYPROJECT["version"]:
            return f"the wheel is {PROJECT}-{PYPROJECT['version']}, not {name}-{version}"
        return None
    if requirement.startswith((".", "/")):  # this checkout, `.[extra]`
        path, _, extras = requirement.partition("[")
        if Path(path) != Path("."):
            return f"{path!r} is not the repository root"
        wanted = {e.strip() for e in extras.rstrip("]").split(",") if e.strip()}
        return _unknown_extras(wanted)
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement as exc:
        return f"not a requirement: {exc}"
    name = canonicalize_name(parsed.name)
    if name == PROJECT:
        return _unknown_extras(set(parsed.extras))
    if name in REQUIRED:
        return None
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return (
            f"no distribution {parsed.name!r} is known: this project is {PROJECT!r} "
            f"(extras {sorted(EXTRAS)}), and {parsed.name!r} is neither one of its "
            "requirements nor installed here"
        )
    return None


def _unknown_extras(extras: set[str]) -> str | None:
    unknown = extras - EXTRAS
    return f"{PROJECT} has no extra {sorted(unknown)}; it has {sorted(EXTRAS)}" if unknown else None


PIP_LINES = _pip_lines()


def test_the_docs_have_pip_install_lines_to_check() -> None:
    assert len(PIP_LINES) >= 5, PIP_LINES
    assert any("'cello-grpc[h2]'" in s.text for s in SNIPPETS if "pip install" in s.text)


@pytest.mark.parametrize(("where", "args"), PIP_LINES, ids=[w for w, _ in PIP_LINES])
def test_pip_install_in_the_docs_names_a_real_distribution(where: str, args: list[str]) -> None:
    problems = [f"{a}: {p}" for a in args if (p := problem(a)) is not None]
    assert not problems, f"{where}: {problems}"


@pytest.mark.parametrize(
    "requirement",
    ["cello[h2]", "cello-grpc[http2]", ".[h3]", "dist/cello-0.1.0-py3-none-any.whl"],
)
def test_the_check_refuses_what_is_not_real(requirement: str) -> None:
    assert problem(requirement) is not None


def _messages() -> list[tuple[str, str]]:
    """(file:line, text) of every string literal in Cello's code that says `pip install`."""
    found = []
    for folder in (ROOT / "cello", ROOT / "codegen"):
        for path in sorted(folder.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if "pip install" in node.value:
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        found.append((where, " ".join(node.value.split())))
    return found


MESSAGES = _messages()


@pytest.mark.parametrize(("where", "text"), MESSAGES, ids=[w for w, _ in MESSAGES])
def test_pip_install_in_cellos_messages_names_a_real_distribution(where: str, text: str) -> None:
    # in a docstring the command is inline code; in a message it ends the sentence
    spans = [m.group(2) for m in _INLINE.finditer(text)] or [text[text.index("pip install") :]]
    args = [a for s in spans for words in _commands(s) for a in _pip_args(words)]
    assert args, f"{where}: no `pip install` command found in {text!r}"
    problems = [f"{r}: {p}" for group in args for r in group if (p := problem(r)) is not None]
    assert not problems, f"{where}: {problems}"


def test_the_h2_message_names_the_extra_that_installs_h2() -> None:
    """Without the h2 library, `transport="h2"` says how to get it, and that works."""
    code = """
import asyncio, sys
sys.modules["h2"] = None  # as if it were not installed
from cello.grpc import GrpcServer
from cello import GrpcConfig
from tests.runtime.services import EchoService

async def main():
    server = GrpcServer(config=GrpcConfig(host="127.0.0.1", port=0, transport="h2"))
    server.register_service(EchoService())
    try:
        await server.start()
    except RuntimeError as exc:
        print(exc)
    else:
        await server.stop(0)

asyncio.run(main())
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("pip install 'cello-grpc[h2]'"), out.stdout
    h2 = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["optional-dependencies"]["h2"]}
    assert h2 == {"h2"}


# -- cello and cello-gen -------------------------------------------------------------------


@cache
def _help(program: str, *subcommand: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", MODULES[program], *subcommand, "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def subcommands(program: str) -> set[str]:
    """The subcommands `program --help` lists (`{build,check,proto}`)."""
    match = re.search(r"\{([\w,-]+)\}", _help(program))
    assert match is not None, _help(program)
    return set(match.group(1).split(","))


def options(program: str, *subcommand: str) -> set[str]:
    """The options the usage line of `program [subcommand] --help` shows."""
    usage = _help(program, *subcommand).split("\n\n")[0]
    return set(re.findall(r"\[(-{1,2}[\w-]+)", usage))


def _command_lines() -> list[tuple[str, str, list[str]]]:
    """(where, program, arguments) of every cello / cello-gen command in the docs."""
    found = []
    for snippet in SNIPPETS:
        for words in _commands(snippet.text):
            if words[0] in ("python", "python3") and words[1:2] == ["-m"]:
                words = words[2:]
            if not words or words[0] not in PROGRAMS:
                continue
            if len(words) > 1 and words[1].endswith(":"):
                continue  # its output, `cello serve: cannot import ...`, not a command
            found.append((snippet.where, PROGRAMS[words[0]], words[1:]))
    return found


COMMAND_LINES = [c for c in _command_lines() if c[2]]  # a bare `cello-gen` is a name


def test_the_docs_have_command_lines_to_check() -> None:
    programs = {program for _, program, _ in COMMAND_LINES}
    assert programs == {"cello", "cello-gen"}, COMMAND_LINES
    assert len(COMMAND_LINES) >= 20


@pytest.mark.parametrize(
    ("where", "program", "args"),
    COMMAND_LINES,
    ids=[f"{w} {p} {' '.join(a)}" for w, p, a in COMMAND_LINES],
)
def test_a_command_in_the_docs_names_a_real_subcommand_and_options(
    where: str, program: str, args: list[str]
) -> None:
    assert problems(program, args) == [], f"{where}: {program} {' '.join(args)}"


def problems(program: str, args: list[str]) -> list[str]:
    """What in `program args` its --help does not know."""
    args = [a.strip("[]") for a in args]  # a synopsis: `[--strict]`
    if args[0].startswith("-"):
        unknown = {a.split("=")[0] for a in args if a.startswith("-")} - options(program)
        return [f"{program} has no option {sorted(unknown)}"] if unknown else []
    if args[0] not in subcommands(program):
        return [f"{program} has no subcommand {args[0]!r}; it has {sorted(subcommands(program))}"]
    known = options(program, args[0])
    unknown = {a.split("=")[0] for a in args[1:] if a.startswith("-")} - known
    return [f"{program} {args[0]} has no option {sorted(unknown)}"] if unknown else []


def test_the_command_check_refuses_what_is_not_real() -> None:
    assert problems("cello-gen", ["client", "myapp"]) != []
    assert problems("cello-gen", ["build", "--betterprotos"]) != []
    assert problems("cello", ["serve", "app:app", "--workers", "2", "--threads", "4"]) != []
    assert problems("cello", ["serve", "app:app", "--workers=2", "--traceback"]) == []
