"""Errors a user can act on, and the CLI adapter that prints them without a traceback."""

from __future__ import annotations

import functools
from typing import Callable, ParamSpec, TypeVar

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
