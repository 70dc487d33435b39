"""``shards.sheet``: the contact sheet PNG, its grid and what is drawn on each sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import build_samples
from PIL import Image

from core.errors import UserError
from shards import Sample, write_shard
from shards.sample_meta import SampleMeta
from shards.sheet import HEADER_HEIGHT, LABEL_HEIGHT, LANDMARK_COLOURS, MAIN_FACE, OTHER_FACE, PAD, contact_sheet


def test_grid_size_and_count(make_shard_dir, tmp_path):
    directory = make_shard_dir(n_shards=3, per_shard=4)
    result = contact_sheet(directory, tmp_path / "sheet.png", n=6, cols=4, cell=64)
    assert (result.shown, result.available) == (6, 12)
    with Image.open(result.path) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (4 * (64 + PAD) + PAD, HEADER_HEIGHT + 2 * (64 + LABEL_HEIGHT + PAD) + PAD)


def test_boxes_and_landmarks_are_drawn_in_crop_coordinates(tmp_path):
    sample = build_samples(0, 4)[3]  # crop 64 px with 3 faces
    write_shard(tmp_path / "s", 0, [sample])
    out = contact_sheet(tmp_path / "s", tmp_path / "one.png", n=1, cell=128).path
    meta = SampleMeta.from_json(sample.members["json"])
    scale = 128 / meta.crop_size
    with Image.open(out) as sheet:
        pixels = sheet.convert("RGB")

    def at(x: float, y: float) -> tuple[int, int, int]:
        return pixels.getpixel((round(PAD + x * scale), round(HEADER_HEIGHT + y * scale)))

    x0, y0, x1, y1 = meta.faces[0].box
    assert at(x0, (y0 + y1) / 2) == MAIN_FACE  # left edge of the main face box
    assert at((x0 + x1) / 2, y1 - 0.5) == MAIN_FACE  # bottom edge
    for (x, y), colour in zip(meta.faces[0].landmarks, LANDMARK_COLOURS):
        assert at(x, y) == colour
    ox0, oy0, ox1, oy1 = meta.faces[1].box
    assert at(ox0, (oy0 + oy1) / 2) == OTHER_FACE
    assert at(meta.crop_size - 2, meta.crop_size - 2) not in (MAIN_FACE, OTHER_FACE, *LANDMARK_COLOURS)


def test_same_seed_same_sheet_other_seed_other_samples(make_shard_dir, tmp_path):
    directory = make_shard_dir(n_shards=4, per_shard=5)
    a = contact_sheet(directory, tmp_path / "a.png", n=4, seed=0, cell=32).path.read_bytes()
    b = contact_sheet(directory, tmp_path / "b.png", n=4, seed=0, cell=32).path.read_bytes()
    c = contact_sheet(directory, tmp_path / "c.png", n=4, seed=1, cell=32).path.read_bytes()
    assert a == b and a != c


def test_more_requested_than_available_shows_all(make_shard_dir, tmp_path):
    result = contact_sheet(make_shard_dir(n_shards=1, per_shard=3), tmp_path / "s.png", n=64, cols=8, cell=32)
    assert (result.shown, result.available) == (3, 3)
    with Image.open(result.path) as sheet:
        assert sheet.width == 3 * (32 + PAD) + PAD


def test_unreadable_samples_are_drawn_not_fatal(tmp_path):
    samples = build_samples(0, 3)
    samples[0] = Sample(samples[0].key, {"jpg": b"broken", "json": b"{}"})
    odd = json.loads(samples[1].members["json"])
    odd["faces"][0]["landmarks"] = [[1, 2, 3]] * 5  # points with three coordinates
    samples[1] = Sample(samples[1].key, {**samples[1].members, "json": json.dumps(odd).encode()})
    write_shard(tmp_path / "s", 0, samples)
    assert contact_sheet(tmp_path / "s", tmp_path / "s.png", n=3, cell=32).shown == 3


def test_bad_inputs_name_the_fix(make_shard_dir, tmp_path: Path):
    directory = make_shard_dir(n_shards=1, per_shard=2)
    with pytest.raises(UserError, match="must end in .png"):
        contact_sheet(directory, tmp_path / "sheet.jpg")
    with pytest.raises(UserError, match="at least 1"):
        contact_sheet(directory, tmp_path / "sheet.png", n=0)
    (directory / "00000.done").unlink()
    with pytest.raises(UserError, match="no committed sample; run `pros shards verify"):
        contact_sheet(directory, tmp_path / "sheet.png")
