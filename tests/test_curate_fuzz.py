"""Fuzz: many randomly damaged images, tars and parquet files go through ``pros curate`` end to end. Whatever the
damage, the run ends, every input and every tar member has exactly one manifest row, and inputs = kept + rejected.
The damage is drawn from a fixed seed, so a failure reproduces."""

from __future__ import annotations

import io
import os
import random
import tarfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from curate_corpus import encode
from test_curate_pipeline import config, green_factory, photo

from curation.pipeline.manifest import read_manifests
from curation.pipeline.run import curate
from curation.sources import SourceConfig, iter_items, list_units

SEED = 20261201
IMAGES, TARS, PARQUETS = 40, 16, 8


def image_bytes(rng: random.Random) -> bytes:
    squares = [(rng.randrange(0, 40), rng.randrange(0, 20), rng.randrange(44, 60))] if rng.random() < 0.6 else []
    image = photo(128, 96, squares, seed=rng.randrange(1000))
    return encode(image, rng.choice(["JPEG", "PNG"]))


def damage(data: bytes, rng: random.Random) -> bytes:
    """One random kind of damage: none, a cut, flipped bytes, inserted garbage, a zeroed run, or an empty file."""
    kind = rng.choice(["none", "cut", "flip", "insert", "zero", "empty"])
    buffer = bytearray(data)
    if kind == "cut":
        return bytes(buffer[: rng.randrange(len(buffer))])
    if kind == "flip":
        for _ in range(rng.randrange(1, 16)):
            buffer[rng.randrange(len(buffer))] ^= rng.randrange(1, 256)
    elif kind == "insert":
        at = rng.randrange(len(buffer))
        buffer[at:at] = rng.randbytes(rng.randrange(1, 600))
    elif kind == "zero":
        at = rng.randrange(len(buffer))
        buffer[at:at + 512] = bytes(len(buffer[at:at + 512]))  # in a tar, a zeroed header reads as its end
    elif kind == "empty":
        return b""
    return bytes(buffer)


def damage_file_maybe(path: Path, rng: random.Random, probability: float) -> bool:
    """Damage the file in place with this probability; whether its bytes changed."""
    original = path.read_bytes()
    damaged = damage(original, rng) if rng.random() < probability else original
    path.write_bytes(damaged)
    return damaged != original


def write_tar(path: Path, rng: random.Random) -> int:
    """A tar of 1-6 samples (image, maybe json / txt, now and then a FIFO or device member); returns how many
    members should get a row (image-named or special)."""
    with tarfile.open(path, "w") as tar:
        expected = 0
        for index in range(rng.randrange(1, 7)):
            key = f"s{index:03d}"
            data = damage(image_bytes(rng), rng) if rng.random() < 0.3 else image_bytes(rng)
            members = [(f"{key}.jpg", data)]
            if rng.random() < 0.5:
                members.append((f"{key}.json", b'{"url": "https://example.com/x.jpg"}'))
            if rng.random() < 0.3:
                members.append((f"{key}.txt", b"a caption"))
            for name, payload in members:
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            expected += 1
            if rng.random() < 0.15:
                info = tarfile.TarInfo(f"{key}x.jpg")
                info.type = rng.choice([tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
                tar.addfile(info)
                expected += 1
    return expected


def write_parquet(path: Path, rng: random.Random) -> int:
    rows = rng.randrange(1, 6)
    cells = [None if rng.random() < 0.15 else damage(image_bytes(rng), rng) for _ in range(rows)]
    pq.write_table(pa.table({"jpg": pa.array(cells, pa.binary())}), path, row_group_size=2)
    return rows


def write_fuzz_dump(root: Path, rng: random.Random) -> dict[str, tuple[int, bool]]:
    """Writes the inputs; returns, per tar and parquet file, (members or rows it holds, whether it is damaged)."""
    (root / "images").mkdir(parents=True)
    (root / "tars").mkdir()
    (root / "parquet").mkdir()
    for index in range(IMAGES):
        (root / "images" / f"{index:03d}.{rng.choice(['jpg', 'png'])}").write_bytes(damage(image_bytes(rng), rng))
    expected: dict[str, tuple[int, bool]] = {}
    for index in range(TARS):
        path = root / "tars" / f"{index:03d}.tar"
        expected[str(path)] = (write_tar(path, rng), damage_file_maybe(path, rng, 0.6))
    hostile = [str(root / "images" / "pipe.jpg"), "/dev/zero", str(root / "images"), "missing.jpg", ""]
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "images" / "pipe.jpg")  # also an input of the folder: a row of its own there
    else:
        hostile.pop(0)
    images = sorted(str(p) for p in (root / "images").glob("0*"))
    for index in range(2):
        path = root / "parquet" / f"paths{index}.parquet"
        cells = [rng.choice(hostile + images) for _ in range(rng.randrange(3, 9))]
        pq.write_table(pa.table({"path": cells}), path)
        expected[str(path)] = (len(cells), False)
    for index in range(PARQUETS):
        path = root / "parquet" / f"{index:03d}.parquet"
        expected[str(path)] = (write_parquet(path, rng), damage_file_maybe(path, rng, 0.5))
    return expected


@pytest.mark.timeout(120)
def test_randomly_damaged_inputs_each_get_exactly_one_row(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    expected = write_fuzz_dump(tmp_path / "dump", rng)
    parquets = sorted(str(p) for p in (tmp_path / "dump" / "parquet").glob("*.parquet"))
    inputs = [str(tmp_path / "dump" / "images"), str(tmp_path / "dump" / "tars"), *parquets]
    sources = SourceConfig()
    units = list_units(inputs, sources)
    listed = [(item.unit, item.item, item.source_id) for u in units for item in iter_items(u, sources)]

    result = curate(inputs, tmp_path / "out", config(), detector_factory=green_factory)
    rows = read_manifests(tmp_path / "out" / "manifest").to_pylist()

    assert result.inputs == len(rows) == result.kept + result.rejected
    assert sorted((r["unit"], r["item"], r["source_id"]) for r in rows) == sorted(listed)
    assert not [s for s, n in Counter(r["source_id"] for r in rows).items() if n > 1]
    assert all(r["status"] == "kept" or r["reason"] for r in rows)
    per_unit = Counter(r["unit"] for r in rows)
    for unit in units:
        if unit.kind == "directory":
            assert per_unit[unit.index] == len(unit.members)
            continue
        if unit.path.endswith(("paths0.parquet", "paths1.parquet")):
            assert {r["reason"] for r in rows if r["unit"] == unit.index} - {None} <= {
                "not_a_file", "unreadable", "no_face", "faces_below_threshold", "not_an_image", "truncated",
                "corrupt", "too_small"}
        count, damaged = expected[unit.path]
        if damaged:
            assert 1 <= per_unit[unit.index] <= count + 1, unit.path
        else:
            assert per_unit[unit.index] == count, unit.path
    assert result.kept > 0 and result.rejected > 0  # the dump really mixes good and broken inputs
