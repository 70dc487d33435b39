"""The offline default embedder: the shipped ImageNet weights load into timm's Lite0 and see real photos right."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from core.config import ConfigError
from curation.embed.base import ImageEmbedder, l2_normalize, preprocess_batch
from curation.embed.config import EmbedderConfig
from curation.embed.efficientnet_lite0 import IMAGENET_MEAN, IMAGENET_STD
from curation.embed.registry import build_embedder

ESPRESSO, CUP, COFFEE_MUG = 967, 968, 504
CAT_CLASSES = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def embedder():
    return build_embedder(EmbedderConfig(batch_size=2, device="cpu"))


def test_imagenet_top1_of_real_photos_is_sensible(embedder):
    logits = embedder.imagenet_logits([skimage.data.coffee(), skimage.data.chelsea()])
    assert int(logits[0].argmax()) in {ESPRESSO, CUP, COFFEE_MUG}
    assert int(logits[1].argmax()) in CAT_CLASSES


def test_embeddings_are_unit_1280d_and_tell_photos_apart(embedder):
    assert isinstance(embedder, ImageEmbedder)
    photos = [skimage.data.coffee(), skimage.data.chelsea(), skimage.data.coffee()[::2, ::2].copy()]
    vectors = embedder.embed_images(photos)
    assert vectors.shape == (3, 1280) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # a half-size copy of the coffee photo is much closer to it than the cat is
    assert vectors[0] @ vectors[2] > 0.85 > 0.5 > vectors[0] @ vectors[1]
    assert embedder.embed_images([]).shape == (0, 1280)


def test_cpu_fp32_runs_in_onnxruntime_and_matches_the_torch_network(embedder):
    import torch

    assert embedder.runtime == "onnxruntime"
    photos = [skimage.data.astronaut(), skimage.data.rocket(), skimage.data.coffee()]  # 3 images, batches of 2
    with torch.inference_mode():
        batch = preprocess_batch(photos, 224, IMAGENET_MEAN, IMAGENET_STD)
        reference = l2_normalize(embedder.network.forward_head(embedder.network.forward_features(batch),
                                                               pre_logits=True).numpy())
    np.testing.assert_allclose(embedder.embed_images(photos), reference, atol=1e-4)


def test_bf16_autocast_matches_fp32(embedder):
    bf16 = build_embedder(EmbedderConfig(precision="bf16"))
    assert bf16.runtime == "torch"  # autocast needs torch
    photos = [skimage.data.astronaut()[::2, ::2].copy()]
    assert float(embedder.embed_images(photos)[0] @ bf16.embed_images(photos)[0]) > 0.98
    assert embedder.version != bf16.version


def test_wrong_inputs_name_the_problem(embedder, tmp_path):
    with pytest.raises(ValueError, match="RGB"):
        embedder.embed_images([np.zeros((8, 8), np.uint8)])
    with pytest.raises(ConfigError, match="precision"):
        EmbedderConfig(precision="int8")
    with pytest.raises(ConfigError, match="unknown"):
        build_embedder(EmbedderConfig(backend="nope"))
    bad = tmp_path / "bad.pth"
    import torch

    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(Exception, match="not an EfficientNet-Lite0"):
        build_embedder(EmbedderConfig(model=str(bad)))
