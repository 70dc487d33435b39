"""``pros demo``: curate -> train -> export -> eval on real images from installed packages, and one report page.

Each step prints the equivalent command, so a user can run the same step on their own data.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pros.demo.dump import build_dump
from pros.demo.lfw_proxy import write_lfw_proxy
from pros.demo.page import write_page


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo; the defaults finish in a few minutes on a 2-core CPU."""

    copies_per_photo: int = 4  # each real photo plus altered copies (mirror, crop, rescale) in the raw dump
    train_steps: int = 300  # ProS steps of the tiny-cpu preset
    eval_epochs: int = 100  # linear-probe epochs on the lfw_subset face/non-face proxy
    seed: int = 0


Say = Callable[[str], None]


def _step(say: Say, title: str, argv: list[str]) -> None:
    say(f"\n== {title}\n   $ {shlex.join(argv)}")


def curate_step(dump: Path, out: Path, say: Say) -> dict[str, Any]:
    from curation.config import load_curate_config
    from curation.pipeline.run import curate

    _step(say, "1/4 curate: decode, detect faces, embed, retrieve and re-check, remove near-duplicates, cut "
               "face-centric crops, write shards", ["pros", "curate", str(dump), "--out", str(out)])
    result = curate([str(dump)], out, load_curate_config(None, []), command=f"pros curate {dump} --out {out}")
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
    return counts


def train_step(shards: Path, run: Path, steps: int, say: Say) -> None:
    from training.config import load_train_config
    from training.loop import train

    argv = ["pros", "train", str(shards), "--out", str(run), "--preset", "tiny-cpu", "--max-steps", str(steps)]
    _step(say, "2/4 train: ProS self-distillation, preset tiny-cpu", argv)
    result = train([str(shards)], run, load_train_config(None, "tiny-cpu", [f"run.max_steps={steps}"]),
                   command=shlex.join(argv))
    say(f"   trained to step {result.step}; metrics {run / 'metrics.jsonl'}, curves {run / 'curves.png'}")


def export_step(run: Path, out: Path, say: Say) -> None:
    from training.export import export_run

    _step(say, "3/4 export: the teacher backbone as timm-loadable safetensors", ["pros", "export", str(run), "--out", str(out)])
    result = export_run(run, out)
    say(f"   exported step {result.step} to {out}")


def random_init_copy(export: Path, out: Path) -> Path:
    """The same architecture as ``export`` with random weights: the baseline beside ours."""
    import shutil

    import timm
    import torch
    from safetensors.torch import save_file

    config = json.loads((export / "config.json").read_text())
    torch.manual_seed(0)
    model = timm.create_model(config["architecture"], pretrained=False, num_classes=0, **config["model_args"])
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
    shutil.copy(export / "config.json", out / "config.json")
    return out


def eval_step(export: Path, data: Path, out: Path, epochs: int, say: Say) -> Path:
    from downstream.config import EvalConfig
    from downstream.evaluate import run_eval
    from downstream.results import read_results
    from downstream.tables import write_tables
    from pros.config import build_config

    baseline = random_init_copy(export, out / "random_init")
    config = build_config(EvalConfig, {"benchmark": "imagefolder", "linear": {"epochs": epochs},
                                       "features": {"cache_dir": str(out / "feature_cache")}})
    documents = []
    for name, backbone in (("pros", export), ("random_init", baseline)):
        argv = ["pros", "eval", str(backbone), "--benchmark", "imagefolder", "--data-root", str(data),
                "--out", str(out / name), f"linear.epochs={epochs}", f"features.cache_dir={out / 'feature_cache'}"]
        _step(say, f"4/4 eval ({name}): linear probe, faces vs non-faces on lfw_subset", argv)
        run_eval(str(backbone), data, out / name, config, command=shlex.join(argv))
        documents.append((read_results(out / name / "results.json"), name))
    markdown, _ = write_tables(documents, out, with_references=False)
    say(f"   table {markdown}")
    return markdown


def run_demo(out: Path, config: DemoConfig = DemoConfig(), say: Say = print) -> Path:
    """Run the whole demo into ``out`` and return the report page."""
    out.mkdir(parents=True, exist_ok=True)
    dump = build_dump(out / "dump", config.copies_per_photo, config.seed)
    say(f"raw dump {dump.directory}: {dump.faces} photos with faces, {dump.non_faces} without, {dump.broken} broken files")
    curation = curate_step(dump.directory, out / "curated", say)
    train_step(out / "curated" / "shards", out / "train", config.train_steps, say)
    export_step(out / "train", out / "export", say)
    lfw = write_lfw_proxy(out / "lfw_subset", config.seed)
    table = eval_step(out / "export", lfw, out / "eval", config.eval_epochs, say)
    page = write_page(out, curation, table)
    say(f"\nreport: {page}")
    return page
