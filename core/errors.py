"""Errors a user can act on, and the CLI adapter that prints them without a traceback."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Callable, Iterator, ParamSpec, TypeVar

import typer

P = ParamSpec("P")
R = TypeVar("R")


class UserError(Exception):
    """A problem with the user's input or environment; the message names the input and the fix."""


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a CLI command so a UserError prints as one red line and exits with status 2."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except UserError as err:
            typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def check_output_dir(path: Path | str, option: str = "--out") -> None:
    """Raise UserError (naming ``path`` and the fix) unless ``path`` is a folder or can be created as one; called
    before any work starts, so a bad ``--out`` costs nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is an existing file, not a folder; pass a folder path (a new one, or the "
                        f"{option} of an earlier run to resume it)")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != path and not existing.is_dir():
        raise UserError(f"{option} {path} cannot be created: {existing} is a file, not a folder; pass another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: {existing} is not writable by this user; pass a folder you can write to "
                        "or fix its permissions")


@contextlib.contextmanager
def resumable_writes(what: str) -> Iterator[None]:
    """Turn an OSError (disk full, permissions, a vanished folder) while writing ``what`` into a UserError that says
    a rerun resumes: the work committed before it is kept."""
    try:
        yield
    except OSError as err:
        target = err.filename or what
        reason = err.strerror or str(err) or type(err).__name__
        raise UserError(f"could not write {target} ({reason}); the work committed so far is kept: free disk space or "
                        "fix the cause, then run the same command again, it resumes") from err
