"""``pros eval`` as a library call: load a benchmark and a backbone, run the protocol per shot setting and seed,
score every evaluation split, and write results.json, table.md / table.csv and the pictures."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.errors import UserError
from core.run_info import write_run_info
from downstream.backbones import Backbone, load_backbone
from downstream.config import EvalConfig
from downstream.datasets import BenchmarkSplit, benchmark_spec, load_benchmark
from downstream.floors import FLOOR_NAMES, floor_outputs
from downstream.metrics import attribute_accuracy, classification_metrics, landmark_metrics
from downstream.protocols.fewshot import Shots, parse_shots, select_subset
from downstream.results import HEADLINE_METRICS, LOWER_IS_BETTER, build_results, write_results
from downstream.tables import write_tables
from downstream.transforms import from_window, split_windows, to_window

log = logging.getLogger(__name__)

# predict(split) -> (outputs, windows); one per trained model
Predictor = Callable[[BenchmarkSplit], tuple[np.ndarray, np.ndarray]]
# trainer(rows, seed, desc) -> (predictor, training report: steps, losses, convergence; empty when there is none)
Trainer = Callable[[np.ndarray, int, str], tuple[Predictor, dict[str, Any]]]
# results.json names the task for what it is: a labeled folder of your own is a classification, not expressions
REPORTED_TASK = {"imagefolder": "classification"}


@dataclass(frozen=True)
class Setting:
    """One training-set setting: the full set (``shots`` None) or a few-shot subset, trained once per seed."""

    label: str
    shots: Shots | None
    seeds: tuple[int, ...]


def settings_of(config: EvalConfig) -> list[Setting]:
    if not config.fewshot.shots:
        return [Setting("full", None, (config.seed,))]
    if not config.fewshot.seeds:
        raise UserError("fewshot.seeds is empty; give at least one seed, e.g. fewshot.seeds=[0,1,2]")
    parsed = [parse_shots(text) for text in config.fewshot.shots]
    return [Setting(shots.label, shots, tuple(config.fewshot.seeds)) for shots in parsed]


def load_splits(config: EvalConfig, data_root: Path) -> tuple[BenchmarkSplit, list[BenchmarkSplit]]:
    spec = benchmark_spec(config.benchmark)
    options = dict(config.dataset_options or {})
    train = load_benchmark(spec.name, data_root, config.train_split or spec.train_split, **options)
    names = config.eval_splits or spec.eval_splits
    evals = [load_benchmark(spec.name, data_root, name, **options) for name in names]
    for split in [train, *evals]:
        if len(split) == 0:
            raise UserError(f"{spec.name}: split {split.split!r} under {data_root} has no samples; check the "
                            f"annotation files are complete")
    return train, evals


def num_outputs(split: BenchmarkSplit) -> int:
    return split.num_points if split.task == "landmarks" else split.num_classes


def score(split: BenchmarkSplit, outputs: np.ndarray, windows: np.ndarray) -> dict[str, Any]:
    """Metrics of ``outputs`` (logits, or [0, 1] window coordinates for landmarks) against ``split``'s targets."""
    targets = split.targets()
    if split.task == "attributes":
        return attribute_accuracy(outputs, targets)
    if split.task == "expression":
        return classification_metrics(outputs, targets, split.num_classes)
    norm = split.nme_norm or ("inter_ocular" if split.eye_corner_indices else "box_diagonal")
    boxes = None
    if all(sample.box is not None for sample in split.samples):
        boxes = np.asarray([sample.box for sample in split.samples], dtype=np.float64)
    predicted = from_window(outputs, windows)
    return landmark_metrics(predicted, targets, norm, split.eye_corner_indices, boxes)


def headline(task: str, splits: dict[str, dict[str, Any]]) -> str:
    """One log line: the headline metric of each split, in percent."""
    metric = {"attributes": "mean_accuracy", "expression": "accuracy", "landmarks": "nme"}[task]
    return ", ".join(f"{split} {metric} {100 * metrics[metric]:.2f}%" for split, metrics in splits.items())


def train_targets(split: BenchmarkSplit, windows: np.ndarray) -> np.ndarray:
    targets = split.targets()
    return to_window(targets.astype(np.float64), windows) if split.task == "landmarks" else targets


def floor_score(split: BenchmarkSplit, train_rows_targets: np.ndarray, windows: np.ndarray, outputs: int) \
        -> dict[str, float]:
    """The headline metrics of the image-blind floor (``downstream.floors``) on ``split``."""
    metrics = score(split, floor_outputs(split.task, train_rows_targets, len(split), outputs), windows)
    return {name: float(metrics[name]) for name in HEADLINE_METRICS[split.task] if name in metrics}


def check_against_floor(task: str, label: str, splits: dict[str, dict[str, Any]],
                        floors: dict[str, dict[str, float]], training: dict[str, Any]) -> None:
    """Warn, with the fix, when a probe did not converge or a result does not beat its floor."""
    if training and not training.get("converged", True):
        why = ("its training loss ended above the floor's" if training["above_floor"]
               else "its loss was still falling when the schedule ended")
        log.warning("%s: the probe did not converge in %d steps (%s); raise linear.min_steps or linear.lr",
                    label, training["steps"], why)
    metric = {"attributes": "mean_accuracy", "expression": "accuracy", "landmarks": "nme"}[task]
    for name, metrics in splits.items():
        ours, floor = float(metrics[metric]), floors[name][metric]
        beaten = ours < floor if metric in LOWER_IS_BETTER else ours > floor
        if not beaten:
            log.warning("%s, %s: %s %.2f%% does not beat the %s floor %.2f%%", label, name, metric, 100 * ours,
                        FLOOR_NAMES[task], 100 * floor)


def linear_predictors(
    backbone: Backbone, train: BenchmarkSplit, evals: list[BenchmarkSplit], config: EvalConfig, device: Any,
    cache_entries: list[str],
) -> Trainer:
    """Extract (or load cached) features once; return a trainer ``(rows, seed, desc) -> (predictor, report)``.

    The feature cache folders used are appended to ``cache_entries``."""
    from downstream.features import extract_features
    from downstream.protocols.linear import train_linear_probe

    tokens = train.task == "landmarks"
    train_features = extract_features(backbone, train, config.features, device, with_tokens=tokens)
    eval_features = {split.split: extract_features(backbone, split, config.features, device, with_tokens=tokens)
                     for split in evals}
    train_inputs = train_features.tokens if tokens else train_features.pooled
    targets = train_targets(train, train_features.windows)
    cache_entries.extend(str(f.cache_entry) for f in (train_features, *eval_features.values()) if f.cache_entry)

    def trainer(rows: np.ndarray, seed: int, desc: str) -> tuple[Predictor, dict[str, Any]]:
        inputs = train_inputs if len(rows) == len(train) else np.asarray(train_inputs[rows])
        probe = train_linear_probe(train.task, inputs, targets[rows], num_outputs(train), config.linear, device,
                                   seed, desc)

        def predict(split: BenchmarkSplit) -> tuple[np.ndarray, np.ndarray]:
            features = eval_features[split.split]
            return probe.predict(features.tokens if tokens else features.pooled), features.windows

        return predict, probe.training

    return trainer


def finetune_predictors(
    backbone: Backbone, train: BenchmarkSplit, config: EvalConfig, device: Any,
) -> Trainer:
    from downstream.protocols.finetune import finetune, predict_images

    precision = config.features.precision
    box_scale = config.features.box_scale

    def trainer(rows: np.ndarray, seed: int, desc: str) -> tuple[Predictor, dict[str, Any]]:
        model = finetune(backbone, train, rows, num_outputs(train), config.finetune, box_scale, precision, device,
                         seed, desc)

        def predict(split: BenchmarkSplit) -> tuple[np.ndarray, np.ndarray]:
            return predict_images(model, split, box_scale, precision, device, config.features.batch_size,
                                  config.features.num_workers)

        return predict, {}

    return trainer


def run_eval(backbone_spec: str, data_root: Path, out_dir: Path, config: EvalConfig, command: str = "pros eval") \
        -> dict[str, Any]:
    """Evaluate ``backbone_spec`` on ``config.benchmark`` under ``data_root``; write everything into ``out_dir``."""
    from downstream.runtime import resolve_device, use_cores

    settings = settings_of(config)
    train, evals = load_splits(config, Path(data_root))
    device = resolve_device(config.device)
    workers = config.features.num_workers if config.protocol == "linear" else config.finetune.num_workers
    use_cores(device, config.features.precision, workers)
    log.info("%s: %d training images (%s), evaluation splits %s", train.benchmark, len(train), train.split,
             ", ".join(f"{split.split} ({len(split)})" for split in evals))
    backbone = load_backbone(backbone_spec, config.weights)
    log.info("backbone %s: %s, input %s, fingerprint %s", backbone_spec, backbone.kind, backbone.inputs.size,
             backbone.fingerprint)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_run_info(out_dir, config, command)
    cache_entries: list[str] = []
    if config.protocol == "linear":
        trainer = linear_predictors(backbone, train, evals, config, device, cache_entries)
    else:
        trainer = finetune_predictors(backbone, train, config, device)
    floor_targets = train_targets(train, split_windows(train, config.features.box_scale))
    runs = []
    for setting in settings:
        for seed in setting.seeds:
            rows = (np.arange(len(train)) if setting.shots is None
                    else select_subset(train.task, train.targets(), setting.shots, seed))
            label = f"{config.protocol} {setting.label} seed {seed}"
            predict, training = trainer(rows, seed, label)
            splits, floors = {}, {}
            for split in evals:
                outputs, windows = predict(split)
                splits[split.split] = score(split, outputs, windows)
                floors[split.split] = floor_score(split, floor_targets[rows], windows, num_outputs(train))
            run = {"setting": setting.label, "seed": seed, "train_size": int(len(rows)), "splits": splits,
                   "floor": floors}
            if training:
                run["probe"] = training
            runs.append(run)
            log.info("%s seed %d (%d training images): %s; %s floor: %s", setting.label, seed, len(rows),
                     headline(train.task, splits), FLOOR_NAMES[train.task], headline(train.task, floors))
            check_against_floor(train.task, label, splits, floors, training)
    backbone_info = {"spec": backbone_spec, "kind": backbone.kind, "fingerprint": backbone.fingerprint,
                     "input_size": list(backbone.inputs.size), "num_features": backbone.num_features}
    if config.weights and not Path(backbone_spec).is_dir():
        backbone_info["weights"] = config.weights  # "random" or a file: the table names the model with it
    results = build_results(backbone_info, train.benchmark, REPORTED_TASK.get(train.benchmark, train.task),
                            config.protocol, list(train.label_names),
                            evals[0].nme_norm if train.task == "landmarks" else "", runs, FLOOR_NAMES[train.task])
    if cache_entries:  # outside --out by default: results.json and the command's last line say where
        results["feature_cache"] = cache_entries
    write_results(out_dir, results)
    write_tables([(results, "this run")], out_dir)
    if config.plots:
        write_plots(results, out_dir / "plots")
    return results


def write_plots(results: dict[str, Any], folder: Path) -> list[Path]:
    """Pictures of the first seed of each setting: attribute bars / confusion matrices per split, one CED each."""
    from downstream.plots import attribute_bars, ced_plot, confusion_plot

    written: list[Path] = []
    done: set[str] = set()
    title = f"{Path(str(results['backbone']['spec'])).name} · {results['benchmark']} · {results['protocol']}"
    for run in results["runs"]:
        if run["setting"] in done:
            continue
        done.add(run["setting"])
        tag = re.sub(r"[^A-Za-z0-9_-]+", "pct", run["setting"])
        curves = {}
        for split, metrics in run["splits"].items():
            label = f"{title} · {split} · {run['setting']}"
            if results["task"] == "attributes":
                written.append(attribute_bars(metrics["per_attribute"], results["label_names"], label,
                                              folder / f"{tag}_{split}_attributes.png"))
            elif results["task"] in ("expression", "classification"):
                written.append(confusion_plot(metrics["confusion"], results["label_names"], label,
                                              folder / f"{tag}_{split}_confusion.png"))
            else:
                curves[f"{split} (NME {100 * metrics['nme']:.2f}%)"] = (metrics["ced"]["threshold"],
                                                                       metrics["ced"]["fraction"])
        if curves:
            written.append(ced_plot(curves, f"{title} · {run['setting']}", folder / f"{tag}_ced.png"))
    return written
