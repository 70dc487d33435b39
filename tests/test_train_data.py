"""Training data: multi-crop views, face-aware crops, the streaming dataset over generated shards."""

from __future__ import annotations

import dataclasses
import itertools
import random
from pathlib import Path

import pytest
import torch
from conftest import build_samples, write_shard_dir

from shards import Sample, write_shard, write_sizes
from training.config import DataConfig
from training.data.dataset import MultiCropStream, samples_in
from training.data.transforms import MultiCrop, random_crop_box

SMALL = DataConfig(batch_size=4, num_workers=0, shuffle_buffer=8, global_size=32, local_size=16, num_local=3)


def test_face_aware_crops_keep_the_landmarks_and_respect_the_scale() -> None:
    rng = random.Random(0)
    landmarks = [(8.0, 10.0), (22.0, 10.0), (15.0, 17.0), (10.0, 24.0), (20.0, 24.0)]  # a face in a corner
    for _ in range(500):
        left, top, w, h = random_crop_box(rng, 100, 100, (0.4, 1.0), keep=landmarks)
        assert 0 <= left and left + w <= 100 and 0 <= top and top + h <= 100
        assert all(left <= x <= left + w and top <= y <= top + h for x, y in landmarks)
    plain = [random_crop_box(rng, 100, 100, (0.4, 1.0)) for _ in range(500)]
    missed = sum(not all(x0 <= x <= x0 + w and y0 <= y <= y0 + h for x, y in landmarks) for x0, y0, w, h in plain)
    assert missed > 100  # without face-awareness many global crops cut the face


def test_multicrop_gives_two_global_and_n_local_normalized_views() -> None:
    from PIL import Image

    image = Image.new("RGB", (64, 64), (200, 120, 90))
    views = MultiCrop(SMALL)(random.Random(1), image)
    assert [tuple(v.shape) for v in views] == [(3, 32, 32)] * 2 + [(3, 16, 16)] * 3
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in views)


def keys_of(stream: MultiCropStream, n: int) -> list[str]:
    return [key for _, key, _ in itertools.islice(iter(stream), n)]


def test_stream_is_deterministic_per_segment_and_moves_on_after_resume(tmp_path: Path) -> None:
    urls = [str(p) for p in sorted(write_shard_dir(tmp_path / "s", 3, 6).glob("*.tar"))]
    first = keys_of(MultiCropStream(urls, SMALL, seed=0, start_step=0), 12)
    again = keys_of(MultiCropStream(urls, SMALL, seed=0, start_step=0), 12)
    resumed = keys_of(MultiCropStream(urls, SMALL, seed=0, start_step=7), 12)
    assert first == again
    assert resumed != first
    assert len(set(first)) > 6  # shuffled across shards, not one shard replayed


def test_ranks_draw_different_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    urls = [str(p) for p in sorted(write_shard_dir(tmp_path / "s", 4, 6).glob("*.tar"))]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    rank0 = keys_of(MultiCropStream(urls, SMALL, seed=0, start_step=0), 12)
    monkeypatch.setenv("RANK", "1")
    rank1 = keys_of(MultiCropStream(urls, SMALL, seed=0, start_step=0), 12)
    assert rank0 != rank1


def test_corrupt_samples_are_skipped_and_counted(tmp_path: Path) -> None:
    good = build_samples(0, 6)
    bad = [Sample(key=f"bad_{i}", members={"jpg": b"not a jpeg at all", "json": good[0].members["json"]})
           for i in range(3)]
    write_shard(tmp_path / "s", 0, good + bad)
    in_order = dataclasses.replace(SMALL, shuffle_buffer=0)
    stream = MultiCropStream([str(tmp_path / "s" / "00000.tar")], in_order, seed=0, start_step=0)
    items = list(itertools.islice(iter(stream), 24))  # resampled: the one shard is read again and again
    assert [key for _, key, _ in items] == [s.key for s in good] * 4
    assert sum(s for _, _, s in items) == 3 * 3  # the bad ones sort last: 3 passes over them so far


def test_samples_per_epoch_come_from_sizes_json_or_markers(tmp_path: Path) -> None:
    directory = write_shard_dir(tmp_path / "s", 2, 5, sizes=True)
    urls = [str(p) for p in sorted(directory.glob("*.tar"))]
    assert samples_in(urls) == 10
    (directory / "sizes.json").unlink()
    assert samples_in(urls) == 10  # from the commit markers
    (directory / "00001.done").unlink()
    with pytest.raises(ValueError, match="00001.tar"):
        samples_in(urls)
    write_sizes(directory)
