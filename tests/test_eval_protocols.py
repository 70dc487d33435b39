"""Protocols, heads, backbones and the feature cache of `pros eval`, on generated data and tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import UserError
from downstream.backbones import load_backbone
from downstream.config import FeatureConfig, FinetuneConfig, LinearConfig
from downstream.datasets import BenchmarkSplit, FaceSample
from downstream.metrics import attribute_accuracy, classification_metrics
from downstream.protocols.fewshot import parse_shots, select_subset
from downstream.protocols.finetune import FinetunedModel, finetune, layer_decay_groups
from downstream.protocols.linear import train_linear_probe

CPU = torch.device("cpu")


def export_tiny_vit(folder: Path, seed: int = 0) -> Path:
    """A 2-block ViT-Tiny at 32 px saved the way `pros export` saves it."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = timm.create_model("vit_tiny_patch16_224", img_size=32, depth=2, num_classes=0)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), folder / "model.safetensors")
    config = {
        "architecture": "vit_tiny_patch16_224", "model_args": {"img_size": 32, "depth": 2}, "num_features": 192,
        "pretrained_cfg": {"input_size": [3, 32, 32], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


# --- linear probe ---------------------------------------------------------------------------------------------

def test_linear_probe_separates_separable_classes_perfectly() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 5, size=(4, 24))
    labels = np.repeat(np.arange(4), 30)
    features = (centers[labels] + rng.normal(0, 0.5, size=(120, 24))).astype(np.float32)
    train, test = np.arange(0, 120, 2), np.arange(1, 120, 2)
    probe = train_linear_probe("expression", features[train], labels[train], 4, LinearConfig(epochs=30, lr=1e-2),
                               CPU)
    result = classification_metrics(probe.predict(features[test]), labels[test], 4)
    assert result["accuracy"] == 1.0 and result["mean_class_accuracy"] == 1.0


def test_linear_probe_learns_separable_attributes_perfectly() -> None:
    rng = np.random.default_rng(1)
    targets = rng.integers(0, 2, size=(160, 5)).astype(np.int8)
    mixing = rng.normal(size=(5, 16))  # attributes spread over all 16 dimensions, plus noise
    features = ((2.0 * targets - 1) @ mixing + rng.normal(0, 0.1, size=(160, 16))).astype(np.float32)
    probe = train_linear_probe("attributes", features[:80], targets[:80], 5, LinearConfig(epochs=60, lr=3e-2), CPU)
    assert attribute_accuracy(probe.predict(features[80:]), targets[80:])["mean_accuracy"] == 1.0


def test_heatmap_probe_finds_a_marked_patch() -> None:
    """Tokens carry a marker vector at one grid cell; the head must point at that cell's centre."""
    rng = np.random.default_rng(2)
    count, side, channels = 160, 4, 8
    tokens = rng.normal(0, 0.1, size=(count, side, side, channels)).astype(np.float32)
    cells = rng.integers(0, side, size=(count, 2))
    tokens[np.arange(count), cells[:, 1], cells[:, 0], 0] += 4.0
    targets = ((cells + 0.5) / side).astype(np.float32)[:, None, :]  # one point (x, y) per image
    probe = train_linear_probe("landmarks", tokens[:120], targets[:120], 1, LinearConfig(epochs=150, lr=3e-2), CPU)
    error = np.abs(probe.predict(tokens[120:]) - targets[120:]).max()
    assert error < 0.5 / side  # inside the right cell



def test_heatmap_probe_places_the_mean_shape_when_the_tokens_say_nothing() -> None:
    """Tokens identical for every image: the head's positional prior alone must reach the mean shape (the floor).
    Without it the softmax ignores the projection's bias and every point sits at the grid's centre."""
    rng = np.random.default_rng(3)
    count, side, channels, points = 60, 4, 8, 5
    tokens = np.repeat(rng.normal(size=(1, side, side, channels)).astype(np.float32), count, axis=0)
    shape = rng.uniform(0.2, 0.8, size=(1, points, 2)).astype(np.float32)
    targets = shape + rng.normal(0, 0.01, size=(count, points, 2)).astype(np.float32)
    probe = train_linear_probe("landmarks", tokens, targets, points, LinearConfig(), CPU)
    error = np.abs(probe.predict(tokens[:1]) - targets.mean(axis=0, keepdims=True)).max()
    assert error < 0.03 and probe.training["converged"]

# --- few-shot subsets -----------------------------------------------------------------------------------------

def test_few_shot_subsets_are_fixed_by_seed() -> None:
    labels = np.repeat(np.arange(7), [50, 20, 9, 3, 40, 30, 12])
    shots = parse_shots("5")
    first, again = select_subset("expression", labels, shots, seed=0), select_subset("expression", labels, shots, 0)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, select_subset("expression", labels, shots, seed=1))
    counts = np.bincount(labels[first], minlength=7)
    assert counts.tolist() == [5, 5, 5, 3, 5, 5, 5]  # k per class, all of a class smaller than k


def test_fraction_subsets_are_stratified_for_classes_and_plain_otherwise() -> None:
    labels = np.repeat(np.arange(3), [200, 100, 7])
    subset = select_subset("expression", labels, parse_shots("10%"), seed=3)
    assert np.bincount(labels[subset]).tolist() == [20, 10, 1]  # no class vanishes
    attributes = np.zeros((1000, 40), dtype=np.int8)
    assert len(select_subset("attributes", attributes, parse_shots("1%"), seed=0)) == 10
    assert len(select_subset("landmarks", np.zeros((50, 68, 2)), parse_shots("8"), seed=0)) == 8


@pytest.mark.parametrize("text", ["0", "-3", "abc", "150%", "0%"])
def test_bad_shot_settings_are_user_errors(text: str) -> None:
    with pytest.raises(UserError, match="--shots"):
        parse_shots(text)


# --- backbones ------------------------------------------------------------------------------------------------

def test_export_folder_round_trips_a_timm_vit(tmp_path: Path) -> None:
    import timm
    from safetensors.torch import load_file

    folder = export_tiny_vit(tmp_path / "export")
    backbone = load_backbone(str(folder))
    reference = timm.create_model("vit_tiny_patch16_224", img_size=32, depth=2, num_classes=0).eval()
    reference.load_state_dict(load_file(folder / "model.safetensors"))
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        pooled, tokens = backbone(images)
        expected = reference(images)
    assert torch.allclose(pooled, expected, atol=1e-5)
    assert tokens.shape == (3, 2, 2, 192)
    assert backbone.inputs.size == (32, 32) and backbone.inputs.mean == (0.5, 0.5, 0.5)
    other = load_backbone(str(export_tiny_vit(tmp_path / "other", seed=1)))
    assert other.fingerprint != backbone.fingerprint


def test_backbone_errors_name_the_input_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(UserError, match="model.safetensors"):
        load_backbone(str(tmp_path / "half"))
    with pytest.raises(UserError, match="timm model name"):
        load_backbone("not_a_model_xyz")
    with pytest.raises(UserError, match="--weights"):
        load_backbone("vit_tiny_patch16_224", weights=str(tmp_path / "missing.safetensors"))


def test_timm_random_baseline_and_open_clip_tower(tmp_path: Path) -> None:
    import open_clip

    random_vit = load_backbone("vit_tiny_patch16_224", weights="random")
    assert random_vit.inputs.size == (224, 224)
    config = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
              "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1}}
    (tmp_path / "pros-test-tiny-clip.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / "pros-test-tiny-clip.json")
    tower = load_backbone("open_clip:pros-test-tiny-clip")
    pooled, tokens = tower(torch.randn(2, 3, 32, 32))
    assert pooled.shape == (2, 16) and tokens.shape == (2, 4, 4, 32)


# --- fine-tuning ----------------------------------------------------------------------------------------------

def test_layer_decay_gives_earlier_blocks_smaller_learning_rates(tmp_path: Path) -> None:
    from downstream.heads import make_head

    backbone = load_backbone(str(export_tiny_vit(tmp_path / "export")))
    model = FinetunedModel(backbone, make_head("expression", 192, 7), "expression")
    groups = layer_decay_groups(model, lr=1e-3, layer_decay=0.5, weight_decay=0.05)
    rate = {g["layer"]: g["lr"] for g in groups}
    assert rate == pytest.approx({0: 1e-3 / 8, 1: 1e-3 / 4, 2: 1e-3 / 2, 3: 1e-3})
    covered = sum(p.numel() for g in groups for p in g["params"])
    assert covered == sum(p.numel() for p in model.parameters())
    assert all(g["weight_decay"] == 0 for g in groups if all(p.ndim <= 1 for p in g["params"]))


def test_finetune_updates_a_copy_and_leaves_the_backbone_alone(tmp_path: Path) -> None:
    from PIL import Image

    backbone = load_backbone(str(export_tiny_vit(tmp_path / "export")))
    samples = []
    for index in range(8):
        path = tmp_path / f"{index}.png"
        Image.new("RGB", (40, 40), (255 * (index % 2), 0, 0)).save(path)
        samples.append(FaceSample(path, np.array(index % 2, dtype=np.int64)))
    split = BenchmarkSplit("toy", "train", "expression", tuple(samples), ("a", "b"))
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    model = finetune(backbone, split, np.arange(8), 2, FinetuneConfig(epochs=2, batch_size=4, num_workers=0,
                                                                      warmup_epochs=1), 1.2, "fp32", CPU)
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
    assert any(not torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())


# --- feature cache --------------------------------------------------------------------------------------------

def test_features_are_cached_and_re_extracted_when_the_transform_changes(tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    import downstream.features as features_module

    backbone = load_backbone(str(export_tiny_vit(tmp_path / "export")))
    samples = []
    for index in range(5):
        path = tmp_path / f"{index}.png"
        Image.new("RGB", (48, 40), (40 * index, 90, 200)).save(path)
        samples.append(FaceSample(path, np.zeros((2, 2), np.float32), box=(4.0, 4.0, 36.0, 30.0)))
    split = BenchmarkSplit("toy", "test", "landmarks", tuple(samples), (), num_points=2)
    config = FeatureConfig(batch_size=2, num_workers=0, cache_dir=tmp_path / "cache")
    first = features_module.extract_features(backbone, split, config, CPU, with_tokens=True)
    assert first.pooled.shape == (5, 192) and first.tokens.shape == (5, 2, 2, 192)
    assert first.windows[0].tolist() == pytest.approx([20 - 19.2, 17 - 19.2, 20 + 19.2, 17 + 19.2])  # side 1.2 * 32

    def no_extraction(*args, **kwargs):
        raise AssertionError("features should have come from the cache")

    monkeypatch.setattr(features_module, "run_extraction", no_extraction)
    cached = features_module.extract_features(backbone, split, config, CPU, with_tokens=True)
    assert np.array_equal(cached.pooled, first.pooled)
    with pytest.raises(AssertionError, match="cache"):
        features_module.extract_features(backbone, split, FeatureConfig(box_scale=1.5, cache_dir=config.cache_dir),
                                         CPU, with_tokens=True)
