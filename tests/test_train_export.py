"""Export: the teacher backbone reloads through timm with equal outputs, and through onnxruntime with close ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import shard_urls, tiny_config

from core.errors import UserError
from training.export import export_run, load_run_backbone
from training.loop import train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    urls = shard_urls(root / "shards", n_shards=1, per_shard=16)
    train(urls, root / "run", tiny_config("run.max_steps=3"))
    return root / "run"


def test_safetensors_export_loads_in_timm_with_equal_outputs(trained_run: Path, tmp_path: Path) -> None:
    import timm

    out = tmp_path / "release"
    result = export_run(trained_run, out, "safetensors")
    assert result.step == 3 and result.max_abs_diff == 0.0
    meta = json.loads((out / "config.json").read_text())
    assert meta["num_features"] == 192 and meta["pretrained_cfg"]["input_size"] == [3, 32, 32]
    model = timm.create_model(  # exactly as the docs and the eval engineer load it
        meta["architecture"], pretrained=True, num_classes=0, **meta["model_args"],
        pretrained_cfg_overlay=dict(file=str(out / "model.safetensors")),
    ).eval()
    ours, _, _ = load_run_backbone(trained_run)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), ours(x))
        assert not torch.equal(model(x), timm.create_model(meta["architecture"], num_classes=0,
                                                           **meta["model_args"]).eval()(x))  # not a fresh init


def test_onnx_export_matches_onnxruntime(trained_run: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    out = tmp_path / "onnx"
    result = export_run(trained_run, out, "onnx")
    assert result.max_abs_diff < 1e-4
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    ours, _, _ = load_run_backbone(trained_run)
    x = torch.randn(5, 3, 32, 32)
    theirs = session.run(None, {"pixel_values": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(theirs, ours(x).numpy(), atol=1e-4)


def test_export_cli_and_its_errors(trained_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pros.cli import app

    done = CliRunner().invoke(app, ["export", str(trained_run), "--out", str(tmp_path / "cli")])
    assert done.exit_code == 0, done.output
    assert "exported the teacher at step 3" in done.output and (tmp_path / "cli" / "model.safetensors").exists()
    refused = CliRunner().invoke(app, ["export", str(tmp_path), "--out", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "no config.yaml" in refused.output
    with pytest.raises(UserError, match="no config.yaml"):
        export_run(tmp_path, tmp_path / "x")
    with pytest.raises(UserError, match="--format"):
        export_run(trained_run, tmp_path / "x", "pickle")
    with pytest.raises(UserError, match="--network 'ema'.*student"):
        export_run(trained_run, tmp_path / "x", network="ema")


def test_the_student_exports_on_request_and_differs_from_the_teacher(trained_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pros.cli import app
    from training.export import load_exported

    done = CliRunner().invoke(app, ["export", str(trained_run), "--out", str(tmp_path / "s"), "--network", "student"])
    assert done.exit_code == 0 and "exported the student at step 3" in done.output, done.output
    assert json.loads((tmp_path / "s" / "config.json").read_text())["source"]["network"] == "student"
    student, _, _ = load_run_backbone(trained_run, network="student")
    teacher, _, _ = load_run_backbone(trained_run)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(load_exported(tmp_path / "s")(x), student(x))
        assert not torch.equal(student(x), teacher(x))


def test_exported_files_and_checkpoints_follow_the_umask(trained_run: Path, tmp_path: Path) -> None:
    import os
    import stat

    from training.checkpoint import atomic_save

    previous = os.umask(0o027)
    try:
        result = export_run(trained_run, tmp_path / "release", "safetensors")
        atomic_save({"step": 1}, tmp_path / "ckpt" / "step.pt")
    finally:
        os.umask(previous)
    for path in (*result.files, tmp_path / "ckpt" / "step.pt"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path  # safetensors alone would write 0600


def test_an_export_folder_with_weights_random_is_its_architecture_untrained(trained_run: Path, tmp_path: Path) -> None:
    from downstream.backbones import load_backbone

    out = tmp_path / "release"
    export_run(trained_run, out, "safetensors")
    trained, untrained = load_backbone(str(out)), load_backbone(str(out), "random")
    assert untrained.spec == f"{out} --weights random" and untrained.fingerprint != trained.fingerprint
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert trained(x)[0].shape == untrained(x)[0].shape
        assert not torch.equal(trained(x)[0], untrained(x)[0])
        assert torch.equal(untrained(x)[0], load_backbone(str(out), "random")(x)[0])  # seeded: the same baseline
    with pytest.raises(UserError, match="brings its own weights"):
        load_backbone(str(out), "weights.pth")
