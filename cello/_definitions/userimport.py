"""Importing the user's module for the command lines (`cello serve`, `cello-gen`): a failure
becomes one line naming the user's file and line, the exception type and its message."""

from __future__ import annotations

import inspect
import os
import sysconfig
import traceback
from pathlib import Path
from typing import TypeGuard

# Files that are not the user's code: the standard library, installed packages and Cello.
# A failure is reported at the deepest frame outside them, the line the user can change
# (`db = connect(...)`, not the driver's socket call).
_NOT_USER_CODE = tuple(
    str(path) + os.sep
    for path in {
        *(Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "purelib", "platlib")),
        Path(__file__).resolve().parents[1],  # the `cello` package
        (Path(__file__).parents[1] / "codegen").resolve(),  # a symlink in a checkout
    }
)


def is_missing(exc: BaseException, name: str) -> TypeGuard[ModuleNotFoundError]:
    """True if `exc` says that module `name` (or a package holding it) does not exist,
    rather than that something the module imports is missing."""
    if not isinstance(exc, ModuleNotFoundError) or exc.name is None:
        return False
    return name == exc.name or name.startswith(exc.name + ".")


def import_failure(name: str, exc: BaseException) -> str:
    """`file:line: cannot import 'name': ExcType: message`, one line, without the fix.

    The location is the error's own for a SyntaxError, else the deepest frame of the user's
    code in the traceback (the deepest frame at all if none is the user's).
    """
    return error_line(exc, doing=f"cannot import {name!r}")


def error_line(exc: BaseException, *, doing: str = "", near: str = "") -> str:
    """`file:line: doing: ExcType: message`, located as for an import (see `import_failure`).

    Args:
        doing: what failed, e.g. "cannot create Shop()"; omitted when empty.
        near: the `file:line` to show when no frame of the traceback is the user's code
            (a bad call of the user's function fails in the caller, Cello).
    """
    where = _where(exc, user_only=bool(near)) or (f"{near}: " if near else "")
    return f"{where}{doing + ': ' if doing else ''}{describe(exc)}"


def describe(exc: BaseException) -> str:
    """`ExcType: message` on one line (`ExcType` alone when the message is empty)."""
    if isinstance(exc, SyntaxError):
        message = exc.msg or ""
    else:
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _where(exc: BaseException, *, user_only: bool = False) -> str:
    if isinstance(exc, SyntaxError):
        return f"{_relative(exc.filename)}:{exc.lineno}: " if exc.filename else ""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if "importlib" not in Path(f.filename).parts and not f.filename.startswith("<frozen")
    ]
    users = [f for f in frames if not _resolved(f.filename).startswith(_NOT_USER_CODE)]
    if not (users or frames) or (user_only and not users):
        return ""
    frame = (users or frames)[-1]
    return f"{_relative(frame.filename)}:{frame.lineno}: "


def _resolved(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return path


def definition(thing: type) -> str:
    """`file:line` where the class `thing` is defined, or "" if that is unknown."""
    try:
        path, line = inspect.getsourcefile(thing), inspect.getsourcelines(thing)[1]
    except (OSError, TypeError):  # defined in a REPL, or built in
        return ""
    return f"{_relative(path)}:{line}" if path else ""


def _relative(path: str) -> str:
    """`path` relative to the working directory when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path
