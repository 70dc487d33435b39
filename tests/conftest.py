"""Generic fixtures: small generated face-like samples and shard directories written through ``shards``.

``build_samples`` is importable (``from conftest import build_samples``) by helper subprocesses of the tests, which
cannot use fixtures.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw

from shards import Sample, make_key, write_shard, write_sizes
from shards.sample_meta import Face, SampleMeta

CROP_SIZES = (64, 48, 80)  # cycled over samples so summaries have a real min / median / max


def face_for(box: tuple[float, float, float, float], score: float) -> Face:
    """A face with its 5 landmarks placed where they sit on a frontal face inside ``box``."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    relative = ((0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.75), (0.65, 0.75))
    landmarks = tuple((round(x0 + fx * w, 2), round(y0 + fy * h, 2)) for fx, fy in relative)
    return Face(box=box, landmarks=landmarks, score=score)


def make_meta(key: str, crop_size: int, n_faces: int = 1) -> SampleMeta:
    """Metadata of a crop of side ``crop_size`` centred on one face, with ``n_faces - 1`` small extra faces."""
    s = crop_size
    faces = [face_for((0.25 * s, 0.2 * s, 0.75 * s, 0.8 * s), 0.99)]
    for extra in range(1, n_faces):
        x = 0.02 * s + (extra - 1) * 0.2 * s
        faces.append(face_for((x, 0.02 * s, x + 0.18 * s, 0.2 * s), 0.6))
    return SampleMeta(
        key=key,
        source_id=f"src-{key}",
        source_path=f"/data/raw/{key}.jpg",
        source_url=None,
        original_size=(4 * s, 3 * s),
        crop_box=(10.0, 20.0, 10.0 + 2 * s, 20.0 + 2 * s),
        crop_size=s,
        faces=tuple(faces),
        face_area_ratio=0.3,
        embedding_row=None,
        curation={"reason": "seed"},
    )


def make_jpg(meta: SampleMeta) -> bytes:
    """A small deterministic image: a noisy coloured background with a skin-toned ellipse on the main face box."""
    seed = zlib.crc32(meta.key.encode())
    rng = np.random.default_rng(seed)
    s = meta.crop_size
    base = rng.integers(40, 200, size=3)
    pixels = np.clip(base + rng.normal(0, 12, size=(s, s, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    ImageDraw.Draw(image).ellipse(meta.faces[0].box, fill=(224, 172, 138))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def build_samples(unit: int, count: int, crop_sizes: tuple[int, ...] = CROP_SIZES) -> list[Sample]:
    """``count`` samples of input unit ``unit``; crop sizes cycle over ``crop_sizes``, face counts over 1, 2, 1, 3."""
    samples = []
    for item in range(count):
        key = make_key(unit, item)
        meta = make_meta(key, crop_sizes[item % len(crop_sizes)], n_faces=(1, 2, 1, 3)[item % 4])
        row = {"source_id": meta.source_id, "crop_size": meta.crop_size, "n_faces": len(meta.faces)}
        samples.append(Sample(key=key, members={"jpg": make_jpg(meta), "json": meta.to_json()}, row=row))
    return samples


def write_shard_dir(
    directory: Path, n_shards: int, per_shard: int, sizes: bool = True, crop_sizes: tuple[int, ...] = CROP_SIZES
) -> Path:
    for index in range(n_shards):
        write_shard(directory, index, build_samples(index, per_shard, crop_sizes))
    if sizes:
        write_sizes(directory)
    return directory


@pytest.fixture
def make_shard_dir(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_shard_dir(n_shards=2, per_shard=4, name="shards", sizes=True, crop_sizes=(64, 48, 80))`` writes
    committed shards (``NNNNN.tar`` + parquet + stats + marker, and ``sizes.json`` unless ``sizes=False``) of
    generated face-like samples (keys ``make_key(shard, item)``) and returns the directory."""

    def make(
        n_shards: int = 2, per_shard: int = 4, name: str = "shards", sizes: bool = True,
        crop_sizes: tuple[int, ...] = CROP_SIZES,
    ) -> Path:
        return write_shard_dir(tmp_path / name, n_shards, per_shard, sizes, crop_sizes)

    return make


@pytest.fixture
def shard_dir(make_shard_dir: Callable[..., Path]) -> Path:
    """Two committed shards of four samples each."""
    return make_shard_dir()
