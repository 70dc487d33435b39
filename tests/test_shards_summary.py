"""``shards.summary``: the numbers ``pros shards inspect`` shows."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import build_samples

from core.errors import UserError
from shards import write_shard
from shards.summary import counter_median, summarize_directory


def test_per_shard_and_total_numbers(tmp_path):
    write_shard(tmp_path, 0, build_samples(0, 3))  # crops 64, 48, 80; faces 1, 2, 1
    write_shard(tmp_path, 1, build_samples(1, 2))  # crops 64, 48; faces 1, 2
    summary = summarize_directory(tmp_path)
    first, second = summary.shards
    assert (first.name, first.samples, first.crop_min_median_max) == ("00000.tar", 3, (48, 64.0, 80))
    assert first.faces == Counter({1: 2, 2: 1})
    assert second.crop_min_median_max == (48, 56.0, 64)
    assert first.bytes == (tmp_path / "00000.tar").stat().st_size
    total = summary.total
    assert (total.samples, total.crop_min_median_max, total.faces_mean) == (5, (48, 64.0, 80), pytest.approx(1.4))
    assert total.bytes == first.bytes + second.bytes


def test_json_output_has_shards_and_total(make_shard_dir):
    data = summarize_directory(make_shard_dir(n_shards=2, per_shard=4)).to_dict()
    assert [s["name"] for s in data["shards"]] == ["00000.tar", "00001.tar"]
    assert data["total"]["shards"] == 2 and data["total"]["samples"] == 8
    assert data["total"]["faces_per_sample"] == {"mean": 1.75, "max": 3, "histogram": {"1": 4, "2": 2, "3": 2}}
    assert data["total"]["crop_size"] == {"min": 48, "median": 64.0, "max": 80}


def test_damaged_and_uncommitted_shards_are_flagged_not_fatal(make_shard_dir):
    directory = make_shard_dir(n_shards=3, per_shard=4)
    (directory / "00001.done").unlink()
    tar = directory / "00002.tar"
    tar.write_bytes(tar.read_bytes()[:1500])
    summary = summarize_directory(directory)
    assert [s.committed for s in summary.shards] == [True, False, True]
    assert summary.shards[2].error is not None and "damaged tar" in summary.shards[2].error
    assert summary.shards[0].error is None and summary.shards[0].samples == 4


def test_median_of_counts():
    assert counter_median(Counter({5: 1})) == 5
    assert counter_median(Counter({1: 1, 3: 1})) == 2
    assert counter_median(Counter({1: 3, 100: 2})) == 1
    assert counter_median(Counter({1: 2, 100: 2})) == 50.5


def test_no_directory_or_no_shards_names_the_input(tmp_path):
    with pytest.raises(UserError, match="holds no shard"):
        summarize_directory(tmp_path)
    with pytest.raises(UserError, match="is not a directory"):
        summarize_directory(tmp_path / "nowhere")


def test_tar_cut_at_a_member_boundary_is_flagged(shard_dir):
    tar = shard_dir / "00000.tar"
    data = tar.read_bytes().rstrip(b"\0")
    tar.write_bytes(data + b"\0" * (-len(data) % 512))
    summary = summarize_directory(shard_dir)
    assert summary.shards[0].samples == 4
    assert "lacks its end-of-archive blocks" in (summary.shards[0].error or "")
    assert summary.shards[1].error is None


def test_crop_sizes_of_the_fixture_can_be_chosen(make_shard_dir):
    summary = summarize_directory(make_shard_dir(n_shards=1, per_shard=3, crop_sizes=(32,)))
    assert summary.total.crop_min_median_max == (32, 32.0, 32)
