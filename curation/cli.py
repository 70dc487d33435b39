"""Command-line adapter of this package; imports only light modules at import time."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer

from core.errors import UserError, friendly_errors

CURATE_HELP = """Curate face-dominant shards from raw image dumps: decode, detect faces, retrieve more faces near the found ones and remove near-duplicates, cut face-centric crops.

Retrieval (embedding every image, 1.3-1.6x the time of the first pass alone) is on by default; retrieval.enabled=false runs the first pass alone.

INPUT: folders (recursive), tar / WebDataset shards (img2dataset output too), parquet files, image and video files (video.fps frames per second are sampled), brace lists (dir/{00000..00009}.tar) and '::' joins.

KEY=VALUE words override config keys, e.g. detect.input_size=320 crops.size=256 sources.files_per_unit=500 (default auto: from the folder's size).

Writes OUT/shards, OUT/manifest (a row for every input), OUT/report and the resolved config. An interrupted or changed run resumes: run the same command again.
"""


def curate_command(
    inputs: list[str] = typer.Argument(..., metavar="INPUT... [KEY=VALUE...]", help="Inputs, then config overrides."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (created; reused to resume)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML preset with config differences."),
    workers: str | None = typer.Option(
        None, "--workers", "-w", metavar="N|auto",
        help="Worker processes; auto (default) = one per idle usable core, at most the units to run and one per "
        "100 images."),
    executor: str | None = typer.Option(
        None, "--executor", "-e", help="local (worker processes, default) or ray (Ray actors; see --ray-address)."),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Ray cluster to join: auto, HOST:6379 or ray://HOST:10001 (default: start a "
        "local Ray on this machine). Implies --executor ray."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what is done and what is left per stage, then exit."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 after the run if any input could not be decoded."),
    prune_cache: bool = typer.Option(
        False, "--prune-cache", help="After a complete run, delete the decode cache OUT/work/decode (about 0.85 MB "
        "per image); shards, manifests and report stay, and a later run decodes again."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    # The command's imports happen when it runs, not when `pros --help` loads this adapter (0.5 s of numpy/pyarrow).
    from rich.console import Console

    from core.config import split_overrides
    from core.logs import setup_logging
    from curation.config import load_curate_config
    from curation.pipeline.run import curate

    setup_logging(verbose)
    paths, overrides = split_overrides(inputs)
    if workers is not None:
        overrides.append(f"workers={workers}")
    overrides += executor_overrides(executor, ray_address)
    resolved = load_curate_config(config, overrides)
    console = Console(stderr=True)
    command = " ".join(shlex.quote(a) for a in ["pros", *sys.argv[1:]])
    try:
        result = curate(paths, out, resolved, dry_run=dry_run, command=command, console=console,
                        prune_cache=prune_cache)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: committed units are kept; run the same command again to finish {out}")
        raise typer.Exit(code=130) from None
    if dry_run:
        return
    print_summary(console, result, out)
    print_cache(console, result, out, command)
    if strict and result.decode_rejections:
        console.print(f"[red]--strict: {result.decode_rejections} input(s) could not be decoded; see {out}/manifest")
        raise typer.Exit(code=1)


def executor_overrides(executor: str | None, ray_address: str | None) -> list[str]:
    """``--executor`` and ``--ray-address`` as config overrides (checked, with the other keys, by the config)."""
    if executor == "local" and ray_address is not None:
        raise UserError(f"--ray-address {ray_address} is for --executor ray; drop one of the two options")
    overrides = []
    if executor is not None:
        overrides.append(f"executor={executor}")
    if ray_address is not None:
        if executor is None:
            overrides.append("executor=ray")
        overrides.append(f"ray.address={json.dumps(ray_address)}")  # quoted: YAML must not read HOST:PORT as a number
    return overrides


def print_summary(console: object, result: object, out: Path) -> None:
    from rich.table import Table  # as in curate(): loaded when the command runs, not for --help

    from curation.types import DECODE_REASONS, VIDEO_REASONS

    table = Table(title="inputs by outcome", show_header=True, header_style="bold")
    table.add_column("status")
    table.add_column("reason")
    table.add_column("inputs", justify="right")
    table.add_row("kept", "", str(result.kept))
    for reason, count in result.reasons.items():
        kind = "decode" if reason in DECODE_REASONS + VIDEO_REASONS else "selection"
        table.add_row(f"rejected ({kind})", reason or "", str(count))
    table.add_row("[bold]total", "", f"[bold]{result.inputs}")
    console.print(table)
    if getattr(result, "videos", 0):
        console.print(f"{result.videos} video(s) read; each sampled frame is one input above (report: Videos)")
    console.print(
        f"{result.samples} face samples in {out / 'shards'}; manifest: {out / 'manifest'}; "
        f"report: {out / 'report' / 'index.html'}"
    )


def print_cache(console: object, result: object, out: Path, command: str) -> None:
    """The decode cache's size and how to free it, or what --prune-cache freed."""
    from curation.pipeline.disk import size_text  # as in curate(): loaded when the command runs, not for --help
    from curation.pipeline.layout import RunLayout

    cache = RunLayout(out).decode_dir
    if result.pruned_bytes:
        console.print(f"decode cache {cache} deleted ({size_text(result.pruned_bytes)} freed); a later run of this "
                      "command decodes again and writes the same shards", markup=False, highlight=False)
    elif result.cache_bytes:
        prune = command if "--prune-cache" in command else f"{command} --prune-cache"
        console.print(f"decode cache {cache}: {size_text(result.cache_bytes)}, kept so that changed settings re-run "
                      f"without decoding again; to free it: {prune}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root ``pros`` app."""
    app.command(name="curate", help=CURATE_HELP)(friendly_errors(curate_command))
