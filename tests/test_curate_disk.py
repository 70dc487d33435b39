"""Before decoding, pros curate says how much disk the decode cache will take, and warns when it will not fit."""

from __future__ import annotations

from collections import namedtuple

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console

from curation.pipeline import disk
from curation.pipeline.run import curate
from tests.test_curate_pipeline import config, green_factory, write_dump

Usage = namedtuple("Usage", "total used free")


def run(inputs, out, console, **kwargs):
    return curate([str(p) for p in inputs], out, config(), console=console, detector_factory=green_factory, **kwargs)


def test_dry_run_tells_the_cache_size_of_folders_and_parquet_files(tmp_path):
    folder = tmp_path / "dump"
    write_dump(folder)  # 7 files
    table = pa.table({"image": [b"x", b"y", b"z"]})
    pq.write_table(table, tmp_path / "rows.parquet")
    console = Console(record=True, width=200)
    run([folder, tmp_path / "rows.parquet"], tmp_path / "out", console, dry_run=True)

    per_image = 320 * 320 * 3 * 0.75  # config() sets detect.input_size=320
    assert f"decode cache still to write: {10 * per_image / 1e6:.1f} MB (" in console.export_text()  # 7 + 3 images


def test_a_cache_larger_than_the_free_space_is_announced_and_the_run_goes_on(tmp_path, monkeypatch):
    folder = tmp_path / "dump"
    write_dump(folder)
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(10**12, 10**12, 1000))
    console = Console(record=True, width=400)
    result = run([folder], tmp_path / "out", console)

    text = console.export_text()
    assert "warning: the decode cache will need" in text and "only 0.0 MB are free" in text
    assert result.inputs == 7  # a warning, not a refusal: the estimate can be pessimistic


def test_no_warning_when_it_fits(tmp_path):
    folder = tmp_path / "dump"
    write_dump(folder)
    console = Console(record=True, width=400)
    run([folder], tmp_path / "out", console)
    assert "warning: the decode cache" not in console.export_text()
