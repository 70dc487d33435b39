"""``pros shards ...``: verify, inspect and look at shard directories.

Thin adapters over ``shards.verify``, ``shards.summary`` and ``shards.sheet``; those are imported inside the commands
so ``pros --help`` stays fast.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import typer

from core.errors import friendly_errors

if TYPE_CHECKING:
    from rich.table import Table

    from shards.summary import DirectorySummary, ShardSummary

app = typer.Typer(no_args_is_help=True)

DIRECTORY = typer.Argument(..., help="Shard directory (holding 00000.tar, 00000.parquet, ...).", show_default=False)


@contextmanager
def shard_progress(label: str) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar over shards on standard error; yields the ``on_shard(name, done, total)`` callback."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("", total=None)

        def on_shard(name: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, description=name)

        yield on_shard


@app.command("verify")
@friendly_errors
def verify_command(
    directory: Path = DIRECTORY,
    decode: bool = typer.Option(True, "--decode/--no-decode", help="Decode every jpg (slower, finds corrupt images)."),
) -> None:
    """Check every shard against the contract; exit 0 when all holds, else 1 and list each problem."""
    from shards.verify import verify_directory

    with shard_progress("verifying") as on_shard:
        report = verify_directory(directory, decode_images=decode, on_shard=on_shard)
    shards, samples = len(report.shards), report.samples
    if report.ok:
        typer.secho(f"ok: {shards} shard(s), {samples:,} sample(s) in {directory} hold the shards contract",
                    fg=typer.colors.GREEN)
        return
    for problem in report.problems:
        typer.echo(f"{directory / problem.file}: {problem.what}")
    bad = sum(1 for s in report.shards if s.problems)
    typer.secho(f"{len(report.problems)} problem(s) in {bad} of {shards} shard(s) of {directory}"
                f"{' and its dataset files' if report.directory_problems else ''}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@app.command("inspect")
@friendly_errors
def inspect_command(
    directory: Path = DIRECTORY,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of the table."),
) -> None:
    """Table of shards: samples, bytes, faces per sample, crop sizes (min/median/max), with a total."""
    from shards.summary import summarize_directory

    with shard_progress("reading") as on_shard:
        summary = summarize_directory(directory, on_shard=on_shard)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    from rich.console import Console

    Console().print(summary_table(summary))
    for shard in summary.shards:
        if shard.error:
            typer.secho(f"{shard.name}: {shard.error}", fg=typer.colors.RED, err=True)


def summary_table(summary: DirectorySummary) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"shards in {escape(str(summary.directory))}")
    table.add_column("shard", no_wrap=True)
    for column in ("samples", "bytes", "faces/sample", "crop px min/med/max"):
        table.add_column(column, justify="right", no_wrap=True)
    for shard in summary.shards:
        style = "red" if shard.error else ("yellow" if not shard.committed else None)
        note = " damaged" if shard.error else ("" if shard.committed else " uncommitted")
        table.add_row(shard.name + note, *_cells(shard), style=style)
    table.add_section()
    table.add_row(f"total ({len(summary.shards)})", *_cells(summary.total), style="bold")
    return table


def _cells(shard: ShardSummary) -> list[str]:
    crops = shard.crop_min_median_max
    mean = shard.faces_mean
    return [
        f"{shard.samples:,}",
        human_bytes(shard.bytes),
        "-" if mean is None else f"{mean:.2f} (max {max(shard.faces)})",
        "-" if crops is None else f"{crops[0]} / {crops[1]:g} / {crops[2]}",
    ]


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


@app.command("sheet")
@friendly_errors
def sheet_command(
    directory: Path = DIRECTORY,
    out: Path = typer.Option(Path("sheet.png"), "-o", "--out", help="PNG file to write."),
    n: int = typer.Option(64, "--n", help="Number of samples on the sheet."),
    cols: int = typer.Option(8, "--cols", help="Samples per row."),
    seed: int = typer.Option(0, "--seed", help="Which random samples: the same seed draws the same samples."),
    cell: int = typer.Option(160, "--cell", help="Side of each sample's tile in pixels."),
) -> None:
    """Contact sheet PNG: random samples with their face boxes, 5 landmarks and keys drawn."""
    from shards.sheet import contact_sheet

    result = contact_sheet(directory, out, n=n, cols=cols, seed=seed, cell=cell)
    typer.echo(f"wrote {result.path}: {result.shown} of {result.available:,} samples")
