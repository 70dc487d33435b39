"""Floors of `pros eval` and the step-scheduled linear probe: every task's probe beats its image-blind floor on a
learnable fixture, a probe cut short is reported as not converged, and tables show the floor beside each result."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from downstream.backbones import Backbone, load_backbone
from downstream.config import FeatureConfig, LinearConfig
from downstream.datasets import BenchmarkSplit, FaceSample, load_benchmark, write_fixture
from downstream.evaluate import floor_score, score, train_targets
from downstream.features import extract_features
from downstream.floors import floor_outputs, floor_training_loss
from downstream.protocols.linear import probe_steps, train_linear_probe
from downstream.results import build_results
from downstream.tables import build_table, to_markdown

CPU = torch.device("cpu")


def export_vit_64(folder: Path) -> Path:
    """A 2-block ViT-Tiny at 64 px with 8 px patches (an 8x8 token grid, fine enough for a heatmap head)."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", img_size=64, patch_size=8, depth=2, num_classes=0)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), folder / "model.safetensors")
    config = {"architecture": "vit_tiny_patch16_224", "model_args": {"img_size": 64, "patch_size": 8, "depth": 2},
              "pretrained_cfg": {"input_size": [3, 64, 64], "mean": [0.5] * 3, "std": [0.5] * 3}}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def cell_features(split: BenchmarkSplit) -> np.ndarray:
    """(N, 8 * 8 * 3) mean colour of each 8x8 cell of the fixture's 64 px images: features a linear probe can read
    the fixtures' labels from (cell brightness = attribute, ellipse colour = class). A random ViT's pooled token
    does not carry them linearly (mean accuracy 0.52 vs the prior's 0.51 on the attribute fixture)."""
    from PIL import Image

    rows = []
    for sample in split.samples:
        with Image.open(sample.image_path) as image:
            pixels = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.float32) / 255.0
        rows.append(pixels.reshape(8, 8, 8, 8, 3).mean(axis=(1, 3)).ravel())
    return np.stack(rows)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Backbone:
    return load_backbone(str(export_vit_64(tmp_path_factory.mktemp("floors") / "export")))


def features_of(backbone: Backbone, split: BenchmarkSplit, cache: Path, tokens: bool = False):
    return extract_features(backbone, split, FeatureConfig(num_workers=0, cache_dir=cache), CPU, with_tokens=tokens)


def detector_boxes(split: BenchmarkSplit) -> BenchmarkSplit:
    """The same images and points with a fixed whole-image box, as a face detector's loose box would be: the crop
    window then says nothing about where the points are (300W's own tight box around the points would)."""
    return replace(split, samples=tuple(FaceSample(s.image_path, s.target, (0.0, 0.0, 64.0, 64.0))
                                        for s in split.samples))


# --- the floors themselves ------------------------------------------------------------------------------------

def test_floor_predictors_are_majority_class_attribute_prior_and_mean_shape() -> None:
    labels = np.array([2, 2, 1, 2, 0])
    logits = floor_outputs("expression", labels, 3, 3)
    assert logits.shape == (3, 3) and (logits.argmax(axis=1) == 2).all()
    attributes = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 1]])
    assert (floor_outputs("attributes", attributes, 2, 3) > 0).tolist() == [[True, False, True]] * 2
    shapes = np.array([[[0.2, 0.4]], [[0.4, 0.6]]])
    assert floor_outputs("landmarks", shapes, 4, 1) == pytest.approx(np.full((4, 1, 2), [0.3, 0.5]))
    assert floor_training_loss("expression", np.array([0, 1]), 2) == pytest.approx(np.log(2))
    assert floor_training_loss("attributes", np.array([[1], [0]]), 1) == pytest.approx(np.log(2))
    assert floor_training_loss("landmarks", shapes, 1) == pytest.approx(0.1)


def test_probe_schedule_has_a_floor_on_its_steps() -> None:
    assert probe_steps(30, LinearConfig()) == 1000  # 50 epochs of one batch would be 50 steps
    assert probe_steps(30_000, LinearConfig()) == 50 * 118  # large sets: the epochs decide
    assert probe_steps(30, LinearConfig(min_steps=0)) == 50


# --- each task's probe beats its floor on a learnable fixture --------------------------------------------------

@pytest.mark.timeout(600)
def test_landmark_probe_beats_the_mean_shape_and_a_short_schedule_is_flagged(backbone: Backbone,
                                                                             tmp_path: Path) -> None:
    data = write_fixture("300w", tmp_path / "300w", per_split=30)
    train = detector_boxes(load_benchmark("300w", data, "train"))
    test = detector_boxes(load_benchmark("300w", data, "full"))
    train_features = features_of(backbone, train, tmp_path / "cache", tokens=True)
    test_features = features_of(backbone, test, tmp_path / "cache", tokens=True)
    targets = train_targets(train, train_features.windows)
    floor = floor_score(test, targets, test_features.windows, 68)["nme"]
    assert floor > 0.2  # faces move and scale inside the window: the mean shape is far off

    probe = train_linear_probe("landmarks", train_features.tokens, targets, 68, LinearConfig(), CPU)
    nme = score(test, probe.predict(test_features.tokens), test_features.windows)["nme"]
    assert probe.training["steps"] == 1000 and probe.training["converged"]
    assert nme < 0.75 * floor

    short = train_linear_probe("landmarks", train_features.tokens, targets, 68, LinearConfig(min_steps=0), CPU)
    assert short.training["steps"] == 50 and not short.training["converged"]


@pytest.mark.timeout(300)
def test_expression_probe_beats_the_majority_class(tmp_path: Path) -> None:
    data = write_fixture("rafdb", tmp_path / "rafdb", per_split=42)
    train, test = load_benchmark("rafdb", data, "train"), load_benchmark("rafdb", data, "test")
    probe = train_linear_probe("expression", cell_features(train), train.targets(), 7, LinearConfig(), CPU)
    windows = np.zeros((len(test), 4))
    accuracy = score(test, probe.predict(cell_features(test)), windows)["accuracy"]
    floor = floor_score(test, train.targets(), windows, 7)["accuracy"]
    assert floor < 0.25 and probe.training["converged"]
    assert accuracy > floor + 0.5


@pytest.mark.timeout(300)
def test_attribute_probe_beats_the_per_attribute_prior(tmp_path: Path) -> None:
    data = write_fixture("celeba", tmp_path / "celeba", per_split=80)
    train, test = load_benchmark("celeba", data, "train"), load_benchmark("celeba", data, "test")
    probe = train_linear_probe("attributes", cell_features(train), train.targets(), 40, LinearConfig(), CPU)
    windows = np.zeros((len(test), 4))
    accuracy = score(test, probe.predict(cell_features(test)), windows)["mean_accuracy"]
    floor = floor_score(test, train.targets(), windows, 40)["mean_accuracy"]
    assert 0.4 < floor < 0.65 and probe.training["converged"]  # random attribute bits: the prior is a coin flip
    assert accuracy > floor + 0.3  # AdamW reached 0.60 here, SGD 0.97


# --- tables ---------------------------------------------------------------------------------------------------

def test_tables_show_the_floor_beside_each_result_and_name_random_init() -> None:
    runs = [{"setting": "full", "seed": 0, "train_size": 10,
             "splits": {"test": {"accuracy": 0.9, "mean_class_accuracy": 0.85}},
             "floor": {"test": {"accuracy": 0.5, "mean_class_accuracy": 0.5}}}]
    backbone_info = {"spec": "vit_tiny_patch16_224", "weights": "random"}
    results = build_results(backbone_info, "imagefolder", "classification", "linear", ["face", "non_face"], "", runs,
                            "majority class")
    assert results["summary"][0]["floor"] == pytest.approx(0.5) and results["num_classes"] == 2
    markdown = to_markdown(build_table([(results, "this run")]), {}, ("majority class",))
    assert "| model | benchmark | split | protocol | setting | metric | value | floor |" in markdown
    assert "| vit_tiny_patch16_224 (random init) | imagefolder | test | linear | full | accuracy (%) ↑ | 90.00 | " \
           "50.00 |" in markdown
    assert "majority class" in markdown
