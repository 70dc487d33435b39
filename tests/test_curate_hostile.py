"""Hostile inputs never hang, flood memory or lose rows: FIFOs, devices, damaged tar headers, cut tars, parquet path
columns naming devices, and output paths that cannot be used. Every test is bounded by a timeout, so a regression
fails instead of hanging CI."""

from __future__ import annotations

import errno
import io
import os
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from curate_corpus import encode, noise_rgb
from test_curate_pipeline import config as pipeline_config
from test_curate_pipeline import green_factory, photo

from core.errors import UserError, check_output_dir
from curation.pipeline import run as run_module
from curation.pipeline.executor import UnitFailure
from curation.pipeline.manifest import read_manifests
from curation.pipeline.run import curate, failures_message
from curation.sources import SourceConfig, iter_items, list_units
from curation.sources.safe_read import read_bounded, read_regular
from curation.types import DECODE_REASONS, InputItem

CONFIG = SourceConfig()
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="this platform has no FIFOs")
needs_dev_zero = pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")


def jpeg(seed: int = 0) -> bytes:
    return encode(noise_rgb(48, 40, seed), "JPEG")


def items_of(*inputs: Path, config: SourceConfig = CONFIG) -> list[InputItem]:
    return [i for u in list_units([str(p) for p in inputs], config) for i in iter_items(u, config)]


def reasons(items: list[InputItem]) -> dict[str, str | None]:
    return {Path(i.source_id).name: i.error for i in items}


def five_member_tar(path: Path) -> list[tarfile.TarInfo]:
    """``k0.jpg`` .. ``k4.jpg`` (distinct sizes), and the members as read back (with their header offsets)."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for i in range(5):
            data = jpeg(i) + b"\0" * (100 * i)
            info = tarfile.TarInfo(f"k{i}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with tarfile.open(path) as tar:
        return tar.getmembers()


@needs_fifo
@pytest.mark.timeout(20)
def test_fifo_in_a_folder_is_not_a_file_and_does_not_block(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg())
    os.mkfifo(tmp_path / "y.jpg")
    os.mkfifo(tmp_path / "z.tar")  # found by the walk as a tar shard
    items = items_of(tmp_path)
    assert reasons(items) == {"a.jpg": None, "y.jpg": "not_a_file", "z.tar": "not_a_file"}
    assert "FIFO" in next(i for i in items if i.source_id.endswith("y.jpg")).error_detail


@needs_dev_zero
@pytest.mark.timeout(20)
def test_link_to_a_character_device_is_never_read(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg())
    os.symlink("/dev/zero", tmp_path / "zero.jpg")
    os.symlink("/dev/zero", tmp_path / "zero.tar")
    os.symlink("/dev/zero", tmp_path / "zero.parquet")
    items = items_of(tmp_path, tmp_path / "zero.parquet")
    assert reasons(items) == {"a.jpg": None, "zero.jpg": "not_a_file", "zero.tar": "not_a_file",
                              "zero.parquet": "not_a_file"}
    assert "character device" in next(i for i in items if i.source_id.endswith("zero.jpg")).error_detail


@needs_fifo
@needs_dev_zero
@pytest.mark.timeout(20)
def test_parquet_path_column_naming_a_fifo_or_a_device_fails_that_row_only(tmp_path: Path) -> None:
    (tmp_path / "ok.jpg").write_bytes(jpeg(1))
    os.mkfifo(tmp_path / "pipe.jpg")
    paths = ["ok.jpg", "pipe.jpg", "/dev/zero", "ok.jpg", str(tmp_path)]
    pq.write_table(pa.table({"path": paths}), tmp_path / "list.parquet")
    items = items_of(tmp_path / "list.parquet")
    assert [i.source_id.rpartition("#")[2] for i in items] == ["0", "1", "2", "3", "4"]
    assert [i.error for i in items] == [None, "not_a_file", "not_a_file", None, "not_a_file"]
    assert items[3].data == jpeg(1)


@pytest.mark.timeout(20)
def test_reads_are_bounded_whatever_the_size_says(tmp_path: Path) -> None:
    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            buffer[:] = b"\0" * len(buffer)
            return len(buffer)

    assert read_bounded(io.BufferedReader(Endless()), 3 << 20) is None  # stops after max_bytes + 1, not at MemoryError
    assert read_bounded(io.BytesIO(b"abc"), 3) == b"abc"
    (tmp_path / "big.jpg").write_bytes(b"x" * 5000)
    assert read_regular(str(tmp_path / "big.jpg"), 4000).error == "too_large"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("raised, reason", [(MemoryError(), "too_large"), (RuntimeError("boom"), "unreadable")])
def test_any_exception_reading_one_file_is_that_files_row(tmp_path: Path, monkeypatch, raised, reason) -> None:
    from curation.sources import safe_read

    (tmp_path / "a.jpg").write_bytes(jpeg())
    (tmp_path / "b.jpg").write_bytes(jpeg(1))
    real = safe_read.read_bounded
    calls = []

    def flaky(handle, max_bytes):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:  # a.jpg, the first file in byte order
            raise raised
        return real(handle, max_bytes)

    monkeypatch.setattr(safe_read, "read_bounded", flaky)
    assert reasons(items_of(tmp_path)) == {"a.jpg": reason, "b.jpg": None}


@pytest.mark.timeout(20)
def test_tar_with_a_bad_header_checksum_ends_in_a_rest_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.tar"
    members = five_member_tar(path)
    data = bytearray(path.read_bytes())
    start = members[2].offset + 148  # the checksum field of the 3rd header
    data[start:start + 8] = b"0000000\0"
    path.write_bytes(bytes(data))
    items = items_of(path)
    assert [(Path(i.source_id).name, i.error) for i in items] == [
        ("k0.jpg", None), ("k1.jpg", None), ("bad.tar#rest", "corrupt"),
    ]
    assert "after 2 members" in items[-1].error_detail


@pytest.mark.timeout(20)
def test_tar_with_a_zeroed_header_is_not_taken_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "zeroed.tar"
    members = five_member_tar(path)
    data = bytearray(path.read_bytes())
    data[members[3].offset:members[3].offset + 512] = bytes(512)
    path.write_bytes(bytes(data))
    items = items_of(path)
    assert [i.error for i in items] == [None, None, None, "corrupt"]
    assert "data after the end-of-archive zero block" in items[-1].error_detail


@pytest.mark.timeout(30)
def test_tar_cut_anywhere_gives_every_whole_member_a_row_and_one_reason(tmp_path: Path) -> None:
    full = tmp_path / "full.tar"
    members = five_member_tar(full)
    data = full.read_bytes()
    ends = [m.offset_data + m.size for m in members]
    padded_end = members[-1].offset_data + -(-members[-1].size // 512) * 512
    cuts = sorted({0, 100, 511, 512, members[4].offset + 100, members[4].offset, members[2].offset_data + 7,
                   ends[-1], padded_end, padded_end + 100, padded_end + 512, len(data)} |
                  set(range(0, len(data), 997)))
    for cut in cuts:
        path = tmp_path / f"cut{cut}.tar"
        path.write_bytes(data[:cut])
        items = items_of(path)
        assert [i.item for i in items] == list(range(len(items))), cut
        if cut < 512:
            assert [i.error for i in items] == ["unreadable"], cut
            continue
        whole = [i for i in items if i.data is not None]
        assert len(whole) == sum(end <= cut for end in ends), cut
        failed = [i for i in items if i.data is None]
        if cut >= padded_end + 512:
            assert failed == [], cut
        else:
            assert len(failed) == 1 and failed[0] is items[-1] and failed[0].error in ("truncated", "corrupt"), cut
    cut_in_header = tmp_path / f"cut{members[4].offset + 100}.tar"
    assert [i.error for i in items_of(cut_in_header)] == [None] * 4 + ["truncated"]


@pytest.mark.timeout(20)
def test_special_tar_members_get_a_row_each(tmp_path: Path) -> None:
    path = tmp_path / "specials.tar"
    with tarfile.open(path, "w") as tar:
        for name, kind in (("fifo.jpg", tarfile.FIFOTYPE), ("zero.jpg", tarfile.CHRTYPE), ("disk.jpg", tarfile.BLKTYPE),
                           ("node", tarfile.CHRTYPE), ("folder", tarfile.DIRTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            tar.addfile(info)
        info = tarfile.TarInfo("ok.jpg")
        info.size = len(jpeg())
        tar.addfile(info, io.BytesIO(jpeg()))
    assert reasons(items_of(path)) == {
        "fifo.jpg": "not_a_file", "zero.jpg": "not_a_file", "disk.jpg": "not_a_file", "node": "not_a_file",
        "ok.jpg": None,
    }


@needs_fifo
@needs_dev_zero
@pytest.mark.timeout(60)
def test_curate_run_over_hostile_folder_gives_every_input_one_row(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    photo(320, 240, [(40, 30, 80)], seed=0).save(dump / "face.png")
    os.mkfifo(dump / "y.jpg")
    os.symlink("/dev/zero", dump / "zero.jpg")
    result = curate([str(dump)], tmp_path / "out", pipeline_config(), detector_factory=green_factory)
    rows = {Path(r["source_id"]).name: r for r in read_manifests(tmp_path / "out" / "manifest").to_pylist()}
    assert {n: r["reason"] for n, r in rows.items()} == {"face.png": None, "y.jpg": "not_a_file",
                                                         "zero.jpg": "not_a_file"}
    assert result.inputs == 3 == result.kept + result.rejected and "not_a_file" in DECODE_REASONS


@pytest.mark.timeout(20)
def test_output_path_that_is_a_file_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg())
    (tmp_path / "taken").write_text("x")
    with pytest.raises(UserError, match=r"--out .*taken is an existing file"):
        curate([str(tmp_path / "a.jpg")], tmp_path / "taken", pipeline_config(), detector_factory=green_factory)
    with pytest.raises(UserError, match=r"taken is a file, not a folder"):
        check_output_dir(tmp_path / "taken" / "sub")
    check_output_dir(tmp_path / "new" / "deeper")  # creatable: fine, and nothing is created by the check
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the full-disk test covers writes")
@pytest.mark.timeout(20)
def test_read_only_output_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "locked").mkdir(mode=0o500)
    with pytest.raises(UserError, match="not writable"):
        check_output_dir(tmp_path / "locked" / "out")


@pytest.mark.timeout(60)
def test_disk_full_while_writing_sizes_or_report_says_a_rerun_resumes(tmp_path: Path, monkeypatch) -> None:
    photo(320, 240, [(40, 30, 80)], seed=0).save(tmp_path / "face.png")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "out" / "shards" / "sizes.json"))

    monkeypatch.setattr(run_module, "write_sizes", full)
    with pytest.raises(UserError, match=r"sizes\.json \(No space left on device\).*run the same command again"):
        curate([str(tmp_path / "face.png")], tmp_path / "out", pipeline_config(), detector_factory=green_factory)
    monkeypatch.undo()
    import curation.report

    monkeypatch.setattr(curation.report, "write_report", lambda *a: full())
    with pytest.raises(UserError, match="it resumes"):
        curate([str(tmp_path / "face.png")], tmp_path / "out", pipeline_config(), detector_factory=green_factory)
    monkeypatch.undo()
    result = curate([str(tmp_path / "face.png")], tmp_path / "out", pipeline_config(), detector_factory=green_factory)
    assert result.inputs == 1 and result.units_run["decode"] == 0  # the rerun resumed: nothing decoded again


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.timeout(60)
def test_a_full_disk_under_sizes_json_gives_the_message(tmp_path: Path, monkeypatch) -> None:
    import errno

    import shards.writer

    photo(320, 240, [(40, 30, 80)], seed=0).save(tmp_path / "face.png")
    out = tmp_path / "out"
    curate([str(tmp_path / "face.png")], out, pipeline_config(), detector_factory=green_factory)
    (out / "report" / "report.json").unlink()  # so the rerun gets as far as writing sizes.json again
    real_write = shards.writer.atomic_write

    def full_disk(path: Path, data: bytes) -> None:
        if path.name == "sizes.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path) + ".tmp")
        real_write(path, data)

    # The atomic writer removes a leftover .tmp before writing, so a /dev/full link in its place no longer works.
    monkeypatch.setattr(shards.writer, "atomic_write", full_disk)
    with pytest.raises(UserError, match=r"sizes\.json(\.tmp)? \(No space left on device\).*it resumes"):
        curate([str(tmp_path / "face.png")], out, pipeline_config(), detector_factory=green_factory)
    monkeypatch.setattr(shards.writer, "atomic_write", real_write)
    result = curate([str(tmp_path / "face.png")], out, pipeline_config(), detector_factory=green_factory)
    assert result.inputs == 1 and (out / "shards" / "sizes.json").is_file()


def test_unit_failure_message_says_what_is_committed() -> None:
    failures = [UnitFailure(0, "dump[0:2]", "boom")]
    assert failures_message(failures, 1).startswith("1 input unit(s) failed (all of them); none is committed.")
    assert failures_message(failures, 3).startswith("1 input unit(s) failed (of 3); the other 2 are committed.")
    assert "unit 0 (dump[0:2]): boom" in failures_message(failures, 3)
