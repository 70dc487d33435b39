"""The ``results.json`` document of one ``pros eval`` run: every run's metrics and their mean ± std per setting.

Layout::

    {"format": "pros-eval-results/1", "backbone": {...}, "benchmark", "task", "protocol", "label_names",
     "num_classes", "nme_norm", "floor_name", "feature_cache": [folder, ...] (linear protocol),
     "runs": [{"setting": "full" | "1%" | "5-shot", "seed", "train_size", "splits": {split: {metric: value, ...}},
               "floor": {split: {metric: value}}, "probe": {"steps", "loss_final", "converged", ...}}],
     "summary": [{"setting", "split", "metric", "mean", "std", "n", "floor"}]}

``task`` is what the benchmark measures: ``attributes``, ``expression``, ``landmarks``, or ``classification`` for
an ``imagefolder`` set of your own (scored like expression: accuracy, mean class accuracy, confusion). ``floor`` is
the image-blind predictor's score (``downstream.floors``; ``floor_name`` says which), fitted on the same training
rows; ``probe`` is the linear probe's training report. Results files written before floors existed have neither.
Scalar metrics are fractions (accuracy 0.91, NME 0.035); tables print them in percent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError

FORMAT = "pros-eval-results/1"
HEADLINE_METRICS = {
    "attributes": ("mean_accuracy",),
    "expression": ("accuracy", "mean_class_accuracy"),
    "landmarks": ("nme", "fr_10", "auc_10", "nme_box"),
}
HEADLINE_METRICS["classification"] = HEADLINE_METRICS["expression"]
LOWER_IS_BETTER = frozenset({"nme", "nme_box", "fr_10"})


def summarize(runs: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """Mean and (population) std over seeds of each headline metric, per setting and split, in run order."""
    groups: dict[tuple[str, str, str], list[float]] = {}
    floors: dict[tuple[str, str, str], list[float]] = {}
    for run in runs:
        for split, metrics in run["splits"].items():
            floor = run.get("floor", {}).get(split, {})
            for metric in HEADLINE_METRICS[task]:
                if metric in metrics:
                    groups.setdefault((run["setting"], split, metric), []).append(float(metrics[metric]))
                if metric in floor:
                    floors.setdefault((run["setting"], split, metric), []).append(float(floor[metric]))
    summary = []
    for key, values in groups.items():
        setting, split, metric = key
        entry = {"setting": setting, "split": split, "metric": metric,
                 "mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}
        if key in floors:
            entry["floor"] = float(np.mean(floors[key]))  # mean over seeds: few-shot subsets differ per seed
        summary.append(entry)
    return summary


def build_results(
    backbone: dict[str, Any], benchmark: str, task: str, protocol: str, label_names: list[str], nme_norm: str,
    runs: list[dict[str, Any]], floor_name: str = "",
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "backbone": backbone,
        "benchmark": benchmark,
        "task": task,
        "protocol": protocol,
        "label_names": label_names,
        "num_classes": len(label_names) if task in ("expression", "classification") else None,
        "nme_norm": nme_norm,
        "floor_name": floor_name,
        "runs": runs,
        "summary": summarize(runs, task),
    }


def write_results(out_dir: Path, results: dict[str, Any]) -> Path:
    path = out_dir / "results.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(results, indent=1) + "\n")
    temporary.replace(path)
    return path


def read_results(path: Path) -> dict[str, Any]:
    """Load a results.json; a UserError names the file when it is missing or not ours."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise UserError(f"--table {path}: no such file; pass results.json files (or run folders) of `pros eval`")
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"--table {path}: not valid JSON ({err}); pass a results.json written by `pros eval`") from err
    if not isinstance(results, dict) or results.get("format") != FORMAT:
        raise UserError(f"--table {path}: not a `pros eval` results file (expected format {FORMAT})")
    return results
