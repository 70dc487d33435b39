"""Readable ``--help`` for every command: no ``<bool>`` after flags that take no value, and usage lines that read
``INPUT... [KEY=VALUE...]`` rather than typer's ``{INPUT... [KEY=VALUE...]}...``.

``use_readable_help(app)`` gives every command and group of a Typer app these classes, so the packages' ``cli``
modules need not know about it.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import DefaultPlaceholder


def _hide_flag_types(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""  # typer prints the metavar in place of the type; a flag has no value to describe
    return params


def usage_name(param: TyperArgument) -> str:
    """``SHARDS...`` for a required list, ``[DIR]`` for an optional one; an explicit metavar is printed as given."""
    if param.metavar:
        name = param.metavar
    else:
        name = (param.name or "").upper() + ("..." if param.nargs != 1 else "")
    return name if param.required else f"[{name}]"


def _usage_pieces(command: Any, ctx: Any) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            pieces.append(usage_name(param))
        else:
            pieces.extend(param.get_usage_pieces(ctx))
    return pieces


class ReadableCommand(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _hide_flag_types(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage_pieces(self, ctx)


class ReadableGroup(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _hide_flag_types(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*_usage_pieces(self, ctx), self.subcommand_metavar]


def use_readable_help(app: typer.Typer) -> typer.Typer:
    """Set the readable classes on ``app``, its commands and its sub-apps (where no class was chosen)."""
    chosen = app.info.cls.value if isinstance(app.info.cls, DefaultPlaceholder) else app.info.cls
    if chosen in (None, TyperGroup):
        app.info.cls = ReadableGroup
    command_info: Any
    for command_info in app.registered_commands:
        if command_info.cls in (None, TyperCommand):
            command_info.cls = ReadableCommand
    for group_info in app.registered_groups:
        if group_info.typer_instance is not None:
            use_readable_help(group_info.typer_instance)
    return app
