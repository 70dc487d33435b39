"""Command-line adapter of this package; imports only light modules at import time."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer

from core.errors import friendly_errors

TRAIN_HELP = (
    "Pre-train a face ViT with ProS self-distillation on shards written by `pros curate`.\n\n"
    "SHARDS are shard tars, brace lists (dir/{00000..00009}.tar), `::`-joined lists or shard directories. "
    "Words of the form key=value override config keys (e.g. data.batch_size=32 run.precision=fp32). "
    "A run resumes from RUN/checkpoints when it has any.\n\n"
    "Several processes: torchrun --nproc_per_node N -m pros train ..."
)


@friendly_errors
def train_command(
    args: List[str] = typer.Argument(..., metavar="SHARDS... [KEY=VALUE]...", help="Shards, then config overrides."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory (checkpoints, metrics.jsonl, curves.png)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config file (only the keys that differ)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="tiny-cpu, vit-s16, vit-b16 or dino."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after N steps (also the schedule length)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    from core.config import split_overrides
    from core.errors import UserError

    shards, overrides = split_overrides(args)
    if not shards:
        raise UserError("no SHARDS given; pass shard tars or a shard directory before the key=value overrides")
    if max_steps is not None:
        overrides.append(f"run.max_steps={max_steps}")
    _setup_logging(verbose)
    from training.config import load_train_config
    from training.loop import train

    train_config = load_train_config(config, preset, overrides)
    result = train(shards, out, train_config, command=shlex.join(["pros", *sys.argv[1:]]))
    if int(os.environ.get("RANK", "0")) != 0:
        return
    if result.stopped_by:
        typer.echo(f"stopped by {result.stopped_by} at step {result.step}/{result.total_steps}; checkpoint "
                   f"{result.checkpoint}. Run the same command again to resume.")
    else:
        typer.echo(f"trained {out} to step {result.step}/{result.total_steps} "
                   f"({result.skipped_steps} steps skipped); checkpoint {result.checkpoint}")


@friendly_errors
def export_command(
    run: Path = typer.Argument(..., help="A `pros train` run directory."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for model.safetensors / model.onnx + config.json."),
    fmt: str = typer.Option("safetensors", "--format", help="safetensors (timm-loadable) or onnx."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="A checkpoint file (default: the newest)."),
    network: str = typer.Option("teacher", "--network", help="teacher (the EMA model, what DINO releases) or student "
                                "(the network trained by gradient; docs/quality.md compares the two)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Export the teacher (or student) backbone of a run for timm (safetensors + config.json) or ONNX."""
    _setup_logging(verbose)
    from training.export import export_run

    result = export_run(run, out, fmt, checkpoint, network)
    typer.echo(f"exported the {network} at step {result.step} to {out}: {', '.join(p.name for p in result.files)} "
               f"(reload max |diff| {result.max_abs_diff:.2g})")


def _setup_logging(verbose: bool) -> None:
    from core.logs import setup_logging

    setup_logging(verbose, quiet=int(os.environ.get("RANK", "0")) != 0)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root ``pros`` app."""
    app.command("train", help=TRAIN_HELP, context_settings={"allow_interspersed_args": True})(train_command)
    app.command("export")(export_command)
