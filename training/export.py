"""``pros export``: the teacher backbone of a run (or, on request, the student's) as released weights.

safetensors: ``DIR/model.safetensors`` + ``DIR/config.json`` = {"architecture", "model_args", "num_features",
"pretrained_cfg"} so that::

    timm.create_model(cfg["architecture"], pretrained=True, num_classes=0, **cfg["model_args"],
                      pretrained_cfg_overlay=dict(file=str(DIR / "model.safetensors")))

rebuilds the backbone; the export checks that this model's outputs equal ours before it returns.
onnx: ``DIR/model.onnx`` (input ``pixel_values`` [batch, 3, H, W] -> ``features`` [batch, D]) + ``config.json``,
checked against onnxruntime on the same inputs.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.config import build_config
from core.errors import UserError, check_output_dir
from shards.writer import atomic_write
from training.checkpoint import join_state, latest_checkpoint, load_checkpoint
from training.config import TrainConfig
from training.model.config import timm_kwargs, timm_name

log = logging.getLogger(__name__)

ONNX_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    files: tuple[Path, ...]
    step: int
    max_abs_diff: float  # ours vs the reloaded model (timm or onnxruntime) on the same random batch


def load_run_config(run_dir: Path) -> TrainConfig:
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir} has no config.yaml; pass the --out directory of a `pros train` run")
    return build_config(TrainConfig, path)


NETWORKS = ("teacher", "student")


def load_run_backbone(
    run_dir: Path, checkpoint: Path | None = None, network: str = "teacher"
) -> tuple[nn.Module, TrainConfig, int]:
    """The teacher (or student) ViT of ``run_dir``'s newest checkpoint (or ``checkpoint``), in eval mode, float32,
    on CPU."""
    if network not in NETWORKS:
        raise UserError(f"--network {network!r} is not a network of a run; use teacher (the default) or student")
    from training.task import ProSTask

    config = load_run_config(run_dir)
    state = load_checkpoint_file(checkpoint) if checkpoint is not None else latest_checkpoint(run_dir)
    if state is None:
        raise UserError(f"{run_dir}/checkpoints holds no checkpoint; train first (pros train ... --out {run_dir})")
    task = ProSTask(config.model, config.loss)
    task.load_state_dict(join_state(state["model"]))
    backbone = task.teacher_backbone() if network == "teacher" else task.student_backbone()
    return backbone.float().eval(), config, int(state["step"])


def load_checkpoint_file(path: Path) -> dict[str, Any]:
    """``--checkpoint FILE`` loaded the safe way (``weights_only=True``); a file that is missing, damaged or holds
    pickled objects is refused with a message instead of a traceback."""
    if not path.is_file():
        raise UserError(f"--checkpoint {path} is not a file; pass a checkpoint of the run (RUN/checkpoints/step_*.pt)")
    try:
        return load_checkpoint(path)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError... on files it refuses
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(
            f"--checkpoint {path} does not load with torch.load(weights_only=True) ({type(err).__name__}: "
            f"{first_line}); pass a checkpoint written by pros train (RUN/checkpoints/step_*.pt). Files holding "
            "pickled objects are refused on purpose, since loading them could run code"
        ) from None


def release_config(config: TrainConfig, backbone: nn.Module) -> dict[str, Any]:
    """config.json: what ``timm.create_model`` needs (``num_classes=0`` is passed by the caller, not stored)."""
    model_args = {k: v for k, v in timm_kwargs(config.model).items() if k != "num_classes"}
    size = config.data.global_size
    return {
        "architecture": timm_name(config.model),
        "model_args": model_args,
        "num_features": int(backbone.num_features),
        "pretrained_cfg": {
            "input_size": [3, size, size],
            "mean": list(config.data.mean),
            "std": list(config.data.std),
            "interpolation": "bicubic",
            "crop_pct": 1.0,
        },
    }


def load_exported(out_dir: Path) -> nn.Module:
    """The export loaded the documented way, through timm."""
    import timm

    meta = json.loads((out_dir / "config.json").read_text())
    return timm.create_model(
        meta["architecture"], pretrained=True, num_classes=0,
        pretrained_cfg_overlay=dict(file=str(out_dir / "model.safetensors")), **meta["model_args"],
    ).eval()


def sample_batch(config: TrainConfig, batch: int = 2) -> torch.Tensor:
    size = config.data.global_size
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


def export_safetensors(backbone: nn.Module, config: TrainConfig, out_dir: Path) -> tuple[list[Path], float]:
    from safetensors.torch import save

    weights = out_dir / "model.safetensors"
    state = {k: v.detach().contiguous() for k, v in backbone.state_dict().items()}
    # through our atomic writer: safetensors' save_file creates the file with mode 0600, whatever the umask
    atomic_write(weights, save(state, metadata={"format": "pt"}))
    x = sample_batch(config)
    with torch.no_grad():
        diff = float((load_exported(out_dir)(x) - backbone(x)).abs().max())
    if diff != 0.0:
        raise RuntimeError(
            f"the export reloaded through timm differs from the exported network by {diff:.3g}; please report it"
        )
    return [weights], diff


def export_onnx(backbone: nn.Module, config: TrainConfig, out_dir: Path) -> tuple[list[Path], float]:
    import onnxruntime as ort

    path = out_dir / "model.onnx"
    x = sample_batch(config)
    # The TorchScript exporter: it needs no extra package and takes well under a second here, where the
    # torch.export-based one (dynamo=True) needs onnxscript and took about 20 s on the same model.
    with warnings.catch_warnings():  # the tracer notes timm's shape checks, which are constant for a fixed H, W
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            backbone, (x,), str(path), dynamo=False, input_names=["pixel_values"], output_names=["features"],
            dynamic_axes={"pixel_values": {0: "batch"}, "features": {0: "batch"}}, opset_version=17,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    check = sample_batch(config, batch=3)  # another batch size than the traced one: the batch axis is dynamic
    ours = backbone(check).detach().numpy()
    theirs = session.run(None, {"pixel_values": check.numpy()})[0]
    diff = float(abs(ours - theirs).max())
    if diff > ONNX_TOLERANCE:
        raise RuntimeError(
            f"onnxruntime output differs from PyTorch by {diff:.3g} (> {ONNX_TOLERANCE}); please report it"
        )
    return [path], diff


def export_run(
    run_dir: Path, out_dir: Path, fmt: str = "safetensors", checkpoint: Path | None = None, network: str = "teacher"
) -> ExportResult:
    """Export the teacher (or student) backbone of ``run_dir`` into ``out_dir`` as ``fmt`` (safetensors or onnx)."""
    if fmt not in ("safetensors", "onnx"):
        raise UserError(f"--format {fmt!r} is not supported; use safetensors or onnx")
    check_output_dir(out_dir)
    backbone, config, step = load_run_backbone(run_dir, checkpoint, network)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = release_config(config, backbone)
    meta["source"] = {"run": str(run_dir.resolve()), "step": step, "network": network}
    atomic_write(out_dir / "config.json", (json.dumps(meta, indent=2) + "\n").encode())
    exporter = export_safetensors if fmt == "safetensors" else export_onnx
    with torch.no_grad():
        files, diff = exporter(backbone, config, out_dir)
    log.debug("exported the %s of %s (step %d) to %s; max |difference| on reload %.2g",  # the CLI reports it
              network, run_dir, step, out_dir, diff)
    return ExportResult(out_dir=out_dir, files=(out_dir / "config.json", *files), step=step, max_abs_diff=diff)
