"""Workers, threads and unit sizes chosen from the input and the cores: the choices, and that shards do not depend
on them."""

from __future__ import annotations

import pytest

from core.config import ConfigError
from curation.config import load_curate_config
from curation.pipeline.resources import choose_resources, choose_workers, session_threads
from curation.sources import list_units
from curation.sources.config import SourceConfig


def test_auto_unit_size_comes_from_the_file_count_alone():
    auto = SourceConfig()
    assert auto.files_per_unit == "auto"
    sizes = {n: auto.unit_size(n) for n in (1, 16, 17, 60, 129, 500, 1000, 5000, 100_000)}
    assert sizes == {1: 16, 16: 16, 17: 16, 60: 16, 129: 32, 500: 64, 1000: 128, 5000: 1000, 100_000: 1000}
    assert auto.unit_size(500) == auto.unit_size(510)  # a few more files seldom move the boundaries
    assert SourceConfig(files_per_unit=7).unit_size(500) == 7
    with pytest.raises(ValueError):
        SourceConfig(files_per_unit=0)


def test_a_small_folder_splits_into_units_that_workers_can_share(tmp_path):
    for n in range(60):
        (tmp_path / f"{n:03d}.jpg").write_bytes(b"x")
    units = list_units([str(tmp_path)], SourceConfig())
    assert [len(u.members) for u in units] == [16, 16, 16, 12]
    assert [u.members for u in units] == [u.members for u in list_units([str(tmp_path)], SourceConfig())]


def test_workers_auto_is_one_per_core_at_most_the_units():
    assert choose_workers("auto", load=0.0, units=4, cores=2).value == 2
    assert choose_workers("auto", load=0.0, units=1, cores=8).value == 1
    assert choose_workers("auto", load=0.0, units=100, cores=8).value == 8
    assert choose_workers(3, units=1, cores=8).value == 3
    assert "auto" in choose_workers("auto", load=0.0, units=4, cores=2).reason
    # a worker's start-up is worth it only with enough images for it
    assert choose_workers("auto", load=0.0, units=4, cores=2, images=116).value == 1
    assert choose_workers("auto", load=0.0, units=8, cores=2, images=228).value == 2
    assert choose_workers("auto", load=0.0, units=8, cores=16, images=300).value == 3
    assert choose_workers(2, units=4, cores=2, images=10).value == 2
    # cores that other work keeps busy are left to it
    busy = choose_workers("auto", load=11.8, units=8, cores=2, images=1000)
    assert busy.value == 1 and busy.reason == "auto: load average 11.8 on 2 cores"
    assert choose_workers("auto", load=5.4, units=64, cores=16, images=10_000).value == 11


def test_session_threads_leave_a_core_to_the_reader_and_an_explicit_count_wins():
    assert session_threads(0, workers=1, cores=2).value == 1
    assert session_threads(0, workers=2, cores=2).value == 1
    assert session_threads(0, workers=2, cores=16).value == 7
    assert session_threads(0, workers=1, reader_thread=False, cores=16).value == 16
    assert session_threads(5, workers=2, cores=16).value == 5
    assert session_threads(5, workers=2, cores=16).reason == "set"


def test_resources_line_names_every_choice():
    config = load_curate_config(None, ["retrieval.embed.threads=3"])
    line = choose_resources(config, units=4, cores=16, load=0.0).describe()
    assert line.startswith("workers 4 (auto: 4 unit(s) to run)")
    assert "detector 3 (16 cores / 4 worker(s) - 1 reader thread)" in line and "embedder 3 (set)" in line
    off = choose_resources(load_curate_config(None, ["retrieval.enabled=false", "workers=1"]), units=4, cores=2)
    assert off.embedder_threads is None and off.describe().startswith("workers 1 (set)")


def test_workers_accepts_auto_or_a_positive_count():
    assert load_curate_config(None, []).workers == "auto"
    assert load_curate_config(None, ["workers=2"]).workers == 2
    for bad in ("workers=0", "workers=many"):
        with pytest.raises(ConfigError):
            load_curate_config(None, [bad])
