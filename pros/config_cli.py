"""``pros config show curate|train|eval [--preset P] [--config FILE] [KEY=VALUE...]``: the resolved config as YAML.

It prints exactly what a command would run with (the defaults, then the preset or file, then the overrides), so
a user can copy the keys they want to change into their own ``--config`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import typer

from core.config import ConfigError, dump_yaml, split_overrides
from core.errors import friendly_errors

COMMANDS = ("curate", "train", "eval")

app = typer.Typer(no_args_is_help=True, help="Print the resolved configuration of a command.")


def resolved_config(command: str, preset: str | None = None, config_file: Path | None = None,
                    overrides: Sequence[str] = ()) -> Any:
    """The config ``pros COMMAND`` would run with, given the same ``--preset`` / ``--config`` / overrides."""
    if command not in COMMANDS:
        raise ConfigError(f"unknown command {command!r} for pros config show; choose one of {', '.join(COMMANDS)}")
    if preset is not None and command != "train":
        raise ConfigError(f"--preset is for train (pros {command} has no presets); pass --config FILE instead")
    if command == "curate":
        from curation.config import load_curate_config

        return load_curate_config(config_file, overrides)
    if command == "train":
        from training.config import load_train_config

        return load_train_config(config_file, preset, overrides)
    from core.config import build_config
    from downstream.config import EvalConfig

    return build_config(EvalConfig, config_file, overrides)


@app.command("show")
@friendly_errors
def show_command(
    args: list[str] = typer.Argument(..., metavar="curate|train|eval [KEY=VALUE...]",
                                     help="The command, then optional config overrides."),
    preset: Optional[str] = typer.Option(None, "--preset", help="pros train only: tiny-cpu, vit-s16, vit-b16 or dino."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of config differences."),
) -> None:
    """Print a command's resolved configuration (defaults, then --preset or --config, then KEY=VALUE) as YAML."""
    words, overrides = split_overrides(args)
    if len(words) != 1:
        raise ConfigError(f"expected one command ({'|'.join(COMMANDS)}) before the KEY=VALUE overrides, got "
                          f"{' '.join(words) or 'none'}; e.g. pros config show train --preset tiny-cpu")
    typer.echo(dump_yaml(resolved_config(words[0], preset, config, overrides)), nl=False)
