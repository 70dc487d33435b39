"""Shard lists as users write them: brace ranges and choices, ``::`` joins, directories."""

from __future__ import annotations

import pytest

from shards.urls import expand_braces, expand_urls


def test_brace_range_keeps_zero_padding():
    assert expand_urls("data/{00008..00011}.tar") == [
        "data/00008.tar", "data/00009.tar", "data/00010.tar", "data/00011.tar"]


def test_brace_choices_and_several_groups():
    assert expand_braces("{a,b}/{0..1}.tar") == ["a/0.tar", "a/1.tar", "b/0.tar", "b/1.tar"]


def test_double_colon_joins_sources_in_order():
    assert expand_urls("x/{0..1}.tar::y/{5..6}.tar :: z.tar") == ["x/0.tar", "x/1.tar", "y/5.tar", "y/6.tar", "z.tar"]
    assert expand_urls(["a.tar::b.tar", "c.tar"]) == ["a.tar", "b.tar", "c.tar"]
    assert expand_urls("a.tar::::b.tar") == ["a.tar", "b.tar"]


def test_directory_expands_to_its_tars_sorted(make_shard_dir):
    directory = make_shard_dir(n_shards=3, per_shard=1)
    assert expand_urls(str(directory)) == [str(directory / f"0000{i}.tar") for i in range(3)]
    assert expand_urls(f"{directory}::{directory}/00001.tar")[-1] == str(directory / "00001.tar")


def test_descending_range_names_the_fix():
    with pytest.raises(ValueError, match=r"counts down; write it as \{3..9\}"):
        expand_urls("d/{9..3}.tar")


def test_plain_path_without_braces_is_kept():
    assert expand_urls("s3-mounted/shard.tar") == ["s3-mounted/shard.tar"]
