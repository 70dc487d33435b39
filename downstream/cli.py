"""Command-line adapter of this package; imports only light modules at import time."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from core.config import build_config, split_overrides
from core.errors import UserError, check_output_dir, friendly_errors

EVAL_HELP = """Evaluate a backbone on a face benchmark, or merge results into one table.

BACKBONE is a `pros export` folder (model.safetensors + config.json), a timm model name (with --weights FILE, or --weights random for an untrained baseline), or open_clip:MODEL[:PRETRAINED or /path/to/ckpt].

Extra words KEY=VALUE override config keys (e.g. linear.epochs=100 features.batch_size=128); see docs/eval.md.

  pros eval runs/export --benchmark celeba --data-root ~/data/celeba --out eval/celeba

  pros eval runs/export --benchmark rafdb --data-root ~/data/RAF-DB/basic --out eval/raf --shots 1% --shots 10%

  pros eval vit_tiny_patch16_224 --weights random --benchmark imagefolder --data-root my_classes --out eval/random

  pros eval --table eval/celeba/results.json eval/raf/results.json --out eval/summary
"""


def _split_list(values: Optional[list[str]]) -> tuple[str, ...]:
    """``--shots 1% --shots 10%`` and ``--shots 1%,10%`` both give ('1%', '10%')."""
    return tuple(part.strip() for value in values or [] for part in value.split(",") if part.strip())


@friendly_errors
def eval_command(
    args: list[str] = typer.Argument(None, metavar="BACKBONE [KEY=VALUE ...] | RESULTS.json ...",
                                     help="The backbone and config overrides; with --table, results files."),
    benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help="celeba, lfwa, rafdb, affectnet, 300w, "
                                            "aflw19, wflw, or imagefolder (ROOT/{train,test}/<class>/*.jpg, a "
                                            "labeled folder of your own; the one that runs offline)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="The dataset folder, as downloaded."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (results.json, table.md, plots/)."),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="linear (frozen features) or finetune."),
    shots: Optional[list[str]] = typer.Option(None, "--shots", help="Few-shot settings: 1%, 10%, or k per class; "
                                              "repeat or comma-separate."),
    split: Optional[list[str]] = typer.Option(None, "--split", help="Evaluation splits (default: the benchmark's "
                                              "test splits); repeat or comma-separate."),
    weights: Optional[str] = typer.Option(None, "--weights", help="For a timm model name: local weights file, or "
                                          "'random'."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML preset of config keys."),
    table: bool = typer.Option(False, "--table", help="Merge the given results.json files into one table with "
                               "published references."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging, third-party libraries' too."),
) -> None:
    words = list(args or [])
    if table:
        if out is not None:
            check_output_dir(out)
        merge_tables([Path(word) for word in words], out)
        return
    plain, overrides = split_overrides(words)
    if len(plain) != 1:
        raise UserError(f"expected exactly one BACKBONE before the KEY=VALUE overrides, got {plain or 'none'}; "
                        f"e.g. pros eval runs/export --benchmark celeba --data-root DIR --out DIR")
    if data_root is None or out is None:
        raise UserError("--data-root and --out are required: pass the dataset folder and where to write results")
    check_output_dir(out)
    cli_values = {
        "benchmark": benchmark, "protocol": protocol, "weights": weights,
        "eval_splits": list(_split_list(split)) or None,
    }
    layer: dict = {key: value for key, value in cli_values.items() if value is not None}
    if shots:
        layer["fewshot"] = {"shots": list(_split_list(shots))}
    from core.config import deep_merge, load_yaml
    from core.logs import setup_logging

    setup_logging(verbose)

    preset = deep_merge(load_yaml(config) if config else {}, layer)
    from downstream.config import EvalConfig

    resolved = build_config(EvalConfig, preset, overrides)
    from downstream.evaluate import run_eval

    results = run_eval(plain[0], data_root, out, resolved, command=shlex.join(["pros", *sys.argv[1:]]))
    typer.echo((out / "table.md").read_text(), nl=False)
    typer.echo(f"wrote {out / 'results.json'} ({len(results['runs'])} run(s)), table.md, table.csv"
               + (", plots/" if resolved.plots else ""))
    if results.get("feature_cache"):
        typer.echo(cache_note(results["feature_cache"]))


def cache_note(entries: list[str]) -> str:
    """Where the cached features are (outside --out unless features.cache_dir says otherwise) and their size."""
    folders = sorted({Path(entry).parent for entry in entries})
    size = sum(f.stat().st_size for entry in set(entries) for f in Path(entry).glob("*") if f.is_file())
    return (f"features cached in {', '.join(map(str, folders))} ({size / 2**20:.1f} MiB; reused by later runs of "
            f"this backbone on these images; features.cache_dir=DIR puts them elsewhere, deleting them is safe)")


def merge_tables(files: list[Path], out: Optional[Path]) -> None:
    """``--table`` mode: one table over several results files, with references; printed, and written to --out."""
    if not files:
        raise UserError("--table needs results files: pros eval --table A/results.json B/results.json [--out DIR]")
    from downstream.results import read_results
    from downstream.tables import build_table, floor_names_of, to_markdown, write_tables

    documents = [(read_results(path), str(path)) for path in files]
    norms = {results["benchmark"]: results.get("nme_norm", "") for results, _ in documents}
    typer.echo(to_markdown(build_table(documents), norms, floor_names_of(documents)), nl=False)
    if out is not None:
        markdown, table_csv = write_tables(documents, out)
        typer.echo(f"wrote {markdown} and {table_csv}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root ``pros`` app."""
    app.command(name="eval", help=EVAL_HELP)(eval_command)
