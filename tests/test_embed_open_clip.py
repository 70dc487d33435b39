"""The open_clip backend, offline: a tiny random-init CLIP registered from a JSON config and saved as a checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data

from core.config import ConfigError
from core.errors import UserError
from curation.embed.base import has_text_tower
from curation.embed.config import EmbedderConfig
from curation.embed.registry import build_embedder

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("tiny_clip")
    config = folder / "pros-test-tiny-clip.json"
    config.write_text(json.dumps(TINY))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model("pros-test-tiny-clip")
    checkpoint = folder / "tiny.pt"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    return config, checkpoint, model.eval()


def test_checkpoint_weights_are_used_and_output_is_normalized(tiny_checkpoint):
    import torch

    config, checkpoint, reference = tiny_checkpoint
    embedder = build_embedder(EmbedderConfig(
        backend="open_clip", model="pros-test-tiny-clip", pretrained=str(checkpoint), model_config=str(config), batch_size=2,
    ))
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    vectors = embedder.embed_images(photos)
    assert vectors.shape == (3, 32) and embedder.dim == 32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    from curation.embed.base import preprocess_batch

    with torch.inference_mode():
        expected = reference.encode_image(preprocess_batch(photos, 32, embedder.mean, embedder.std)).numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-4)
    assert "file" in embedder.version  # a local checkpoint is identified by its hash


def test_text_prompts_go_through_the_text_tower(tiny_checkpoint):
    config, checkpoint, _ = tiny_checkpoint
    embedder = build_embedder(EmbedderConfig(
        backend="open_clip", model="pros-test-tiny-clip", pretrained=str(checkpoint), model_config=str(config),
    ))
    assert has_text_tower(embedder)
    texts = embedder.embed_texts(["a photo of a face", "a photo of a face", "a bowl of soup"])
    assert texts.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(texts[0], texts[1], atol=1e-6)
    assert not np.allclose(texts[0], texts[2])


def test_bf16_autocast_runs_and_agrees(tiny_checkpoint):
    config, checkpoint, _ = tiny_checkpoint
    common = dict(backend="open_clip", model="pros-test-tiny-clip", pretrained=str(checkpoint), model_config=str(config))
    photo = [skimage.data.coffee()]
    fp32 = build_embedder(EmbedderConfig(**common)).embed_images(photo)
    bf16 = build_embedder(EmbedderConfig(precision="bf16", **common)).embed_images(photo)
    assert float(fp32[0] @ bf16[0]) > 0.97


def test_bad_settings_name_the_fix(tiny_checkpoint, tmp_path):
    config, _, _ = tiny_checkpoint
    with pytest.raises(ConfigError, match="embed.model"):
        build_embedder(EmbedderConfig(backend="open_clip"))
    with pytest.raises(ConfigError, match="not an open_clip architecture"):
        build_embedder(EmbedderConfig(backend="open_clip", model="no-such-arch"))
    with pytest.raises(UserError, match="no such checkpoint"):
        build_embedder(EmbedderConfig(
            backend="open_clip", model="pros-test-tiny-clip", model_config=str(config), pretrained=str(tmp_path / "x.pt"),
        ))
