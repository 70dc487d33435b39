"""Shards written by pros are read by plain webdataset and by the tar command, with no pros code involved."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import build_samples


def test_plain_webdataset_reads_every_sample(make_shard_dir):
    import webdataset as wds

    directory = make_shard_dir(n_shards=2, per_shard=3)
    urls = f"{directory}/{{00000..00001}}.tar"
    dataset = wds.WebDataset(urls, shardshuffle=False, empty_check=False)
    samples = list(dataset)
    expected = build_samples(0, 3) + build_samples(1, 3)
    assert [s["__key__"] for s in samples] == [e.key for e in expected]
    for got, want in zip(samples, expected):
        assert got["jpg"] == want.members["jpg"] and got["json"] == want.members["json"]
    decoded = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode("pil").to_tuple("jpg", "json"))
    image, meta = decoded[2]
    assert image.size == (80, 80) and meta["crop_size"] == 80 and len(meta["faces"]) == 1


def test_sizes_json_matches_what_webdataset_counts(make_shard_dir):
    import webdataset as wds

    directory = make_shard_dir(n_shards=3, per_shard=2)
    sizes = json.loads((directory / "sizes.json").read_text())
    for name, count in sizes.items():
        assert sum(1 for _ in wds.WebDataset(str(directory / name), shardshuffle=False, empty_check=False)) == count


def test_tar_command_lists_and_extracts_the_members(make_shard_dir, tmp_path: Path):
    directory = make_shard_dir(n_shards=1, per_shard=3)
    listing = subprocess.run(["tar", "tf", str(directory / "00000.tar")], capture_output=True, text=True, check=True)
    assert listing.stderr == ""  # GNU tar warns here about a missing end-of-archive or bad headers
    expected = build_samples(0, 3)
    assert listing.stdout.split() == [f"{s.key}.{ext}" for s in expected for ext in ("jpg", "json")]
    out = tmp_path / "extracted"
    out.mkdir()
    subprocess.run(["tar", "xf", str(directory / "00000.tar"), "-C", str(out)], check=True, capture_output=True)
    for sample in expected:
        assert (out / f"{sample.key}.jpg").read_bytes() == sample.members["jpg"]
        assert (out / f"{sample.key}.json").read_bytes() == sample.members["json"]
    verbose = subprocess.run(["tar", "tvf", str(directory / "00000.tar")], capture_output=True, text=True, check=True,
                             env={**os.environ, "TZ": "UTC"})
    assert all("2000-01-01" in line for line in verbose.stdout.splitlines())
