"""``shards.verify``: a clean directory passes; each kind of damage is reported with its file and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import build_samples, make_jpg, make_meta

from core.errors import UserError
from shards import Sample, write_shard, write_sizes
from shards.verify import verify_directory


def problems(directory: Path) -> list[str]:
    return [str(p) for p in verify_directory(directory).problems]


def only_problem(directory: Path) -> str:
    found = problems(directory)
    assert len(found) == 1, found
    return found[0]


def test_clean_directory_passes(make_shard_dir):
    directory = make_shard_dir(n_shards=3, per_shard=5)
    report = verify_directory(directory)
    assert report.ok, report.problems
    assert report.samples == 15
    assert [s.name for s in report.shards] == ["00000.tar", "00001.tar", "00002.tar"]


def test_progress_callback_sees_every_shard(make_shard_dir):
    directory = make_shard_dir(n_shards=3, per_shard=2)
    seen = []
    verify_directory(directory, on_shard=lambda name, done, total: seen.append((name, done, total)))
    assert seen == [("", 0, 3), ("00000.tar", 1, 3), ("00001.tar", 2, 3), ("00002.tar", 3, 3)]


def test_missing_marker_is_reported(shard_dir):
    (shard_dir / "00001.done").unlink()
    found = problems(shard_dir)
    assert any(p.startswith("00001.done: missing: the shard is not committed") for p in found), found
    assert any(p.startswith("sizes.json: lists 00001.tar, which is not a committed shard") for p in found), found


def test_changed_tar_fails_its_checksum(shard_dir):
    tar = shard_dir / "00000.tar"
    data = bytearray(tar.read_bytes())
    position = data.index(b'"source_id"')  # inside a json member: the archive stays readable
    data[position + 1] = ord("S")
    tar.write_bytes(bytes(data))
    found = problems(shard_dir)
    assert "00000.done: tar_sha256 does not match 00000.tar: the file changed after it was committed" in found
    assert any(p.startswith("00000.tar: sample 00000_0000000: 00000_0000000.json is not valid sample metadata")
               for p in found), found


def test_tar_truncated_inside_a_member(shard_dir):
    tar = shard_dir / "00000.tar"
    data = tar.read_bytes()
    tar.write_bytes(data[: len(data) // 2])
    found = problems(shard_dir)
    assert any(p.startswith("00000.tar: archive is corrupt after") for p in found), found
    assert "00000.done: tar_sha256 does not match 00000.tar: the file changed after it was committed" in found


def test_tar_without_end_of_archive_blocks(shard_dir):
    tar = shard_dir / "00000.tar"
    data = tar.read_bytes().rstrip(b"\0")
    tar.write_bytes(data + b"\0" * (-len(data) % 512))  # complete members, no end-of-archive
    found = problems(shard_dir)
    assert any(p.startswith("00000.tar: truncated: the archive lacks its end-of-archive blocks") for p in found), found


def test_garbage_after_members(shard_dir):
    tar = shard_dir / "00000.tar"
    data = tar.read_bytes().rstrip(b"\0")
    data += b"\0" * (-len(data) % 512)
    tar.write_bytes(data + b"x" * 700)
    found = problems(shard_dir)
    assert any(p.startswith("00000.tar: unreadable data after the last good member") for p in found), found


def test_file_that_is_not_a_tar(shard_dir):
    (shard_dir / "00000.tar").write_bytes(b"not a tar archive at all")
    found = problems(shard_dir)
    assert any(p.startswith("00000.tar: cannot be opened as a tar archive") for p in found), found


def _write_one(directory: Path, samples: list[Sample]) -> Path:
    write_shard(directory, 0, samples)
    write_sizes(directory)
    return directory


def test_sample_without_json_member(tmp_path):
    samples = build_samples(0, 3)
    samples[1] = Sample(samples[1].key, {"jpg": samples[1].members["jpg"]}, samples[1].row)
    directory = _write_one(tmp_path / "s", samples)
    assert only_problem(directory) == "00000.tar: sample 00000_0000001 lacks member(s) .json"


def test_json_that_is_not_sample_meta(tmp_path):
    samples = build_samples(0, 2)
    samples[0] = Sample(samples[0].key, {**samples[0].members, "json": b'{"caption": "a face"}'})
    directory = _write_one(tmp_path / "s", samples)
    assert only_problem(directory).startswith(
        "00000.tar: sample 00000_0000000: 00000_0000000.json is not valid sample metadata (KeyError")


def test_json_naming_another_key(tmp_path):
    samples = build_samples(0, 2)
    other = make_meta("00009_0000009", 64)
    samples[0] = Sample(samples[0].key, {"jpg": make_jpg(other), "json": other.to_json()})
    directory = _write_one(tmp_path / "s", samples)
    assert only_problem(directory) == "00000.tar: sample 00000_0000000: 00000_0000000.json names key '00009_0000009'"


def test_jpg_that_does_not_decode(tmp_path):
    samples = build_samples(0, 2)
    samples[1] = Sample(samples[1].key, {**samples[1].members, "jpg": b"\xff\xd8 definitely not a jpeg"})
    directory = _write_one(tmp_path / "s", samples)
    assert only_problem(directory).startswith("00000.tar: sample 00000_0000001: 00000_0000001.jpg does not decode")
    assert verify_directory(directory, decode_images=False).ok


def test_jpg_size_differs_from_crop_size(tmp_path):
    samples = build_samples(0, 2)
    small = make_jpg(make_meta(samples[0].key, 32))
    samples[0] = Sample(samples[0].key, {**samples[0].members, "jpg": small})
    directory = _write_one(tmp_path / "s", samples)
    assert only_problem(directory) == (
        "00000.tar: sample 00000_0000000: 00000_0000000.jpg is 32x32 but its json says crop_size 64")


def test_parquet_rows_differ_from_tar_samples(shard_dir):
    parquet = shard_dir / "00001.parquet"
    pq.write_table(pa.table({"key": ["00001_0000000", "00001_0000001", "00001_0000002", "99999_0000000"]}), parquet)
    found = problems(shard_dir)
    assert "00001.parquet: 1 row(s) with no sample in 00001.tar: 99999_0000000" in found
    assert "00001.parquet: no row for 1 sample(s) of 00001.tar: 00001_0000003" in found
    assert "00001.done: parquet_sha256 does not match 00001.parquet: the file changed after it was committed" in found


def test_missing_parquet_and_stats(shard_dir):
    (shard_dir / "00000.parquet").unlink()
    (shard_dir / "00001_stats.json").write_text(json.dumps({"count": 7}))
    found = problems(shard_dir)
    assert "00000.parquet: missing (the shard's manifest)" in found
    assert "00001_stats.json: count is 7 but 00001.tar holds 4 samples" in found


def test_sizes_json_wrong_or_missing(shard_dir):
    (shard_dir / "sizes.json").write_text(json.dumps({"00000.tar": 4, "00001.tar": 5, "00007.tar": 1}))
    found = problems(shard_dir)
    assert set(found) == {"sizes.json: says 00001.tar holds 5 samples; it holds 4",
                          "sizes.json: lists 00007.tar, which is not a committed shard"}
    (shard_dir / "sizes.json").unlink()
    assert only_problem(shard_dir).startswith("sizes.json: missing")


def test_leftover_tmp_marker_without_tar_and_odd_names(shard_dir):
    (shard_dir / "00002.tar.tmp").write_bytes(b"half")
    (shard_dir / "00000.tar").rename(shard_dir / "extra.tar")
    found = problems(shard_dir)
    assert "00002.tar.tmp: left by an interrupted write; rerun the writer or delete it" in found
    assert "extra.tar: is not named like a shard (NNNNN.tar, digits only)" in found
    assert "00000.tar: missing, but its marker 00000.done exists" in found


def test_empty_and_missing_directory(tmp_path):
    assert problems(tmp_path) == [".: holds no shard (no NNNNN.tar file)"]
    with pytest.raises(UserError, match="is not a directory"):
        verify_directory(tmp_path / "nowhere")


def _write_foreign_tar(path: Path, names_and_data: list[tuple[str, bytes]], directory_member: bool = False) -> None:
    """A tar written by some other tool, in the given member order."""
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        if directory_member:
            info = tarfile.TarInfo("subdir")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in names_and_data:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_unsorted_split_and_odd_members(tmp_path):
    a, b = build_samples(0, 2)
    members = [(f"{b.key}.jpg", b.members["jpg"]), (f"{b.key}.json", b.members["json"]),
               (f"{a.key}.jpg", a.members["jpg"]), (f"{a.key}.json", a.members["json"]),
               (f"{b.key}.txt", b"late member"), ("README", b"hello")]
    _write_foreign_tar(tmp_path / "00000.tar", members, directory_member=True)
    found = [p for p in problems(tmp_path) if p.startswith("00000.tar")]
    assert found == [
        "00000.tar: member 'subdir' is not a regular file",
        "00000.tar: members are not sorted by key: '00000_0000000.jpg' comes after '00000_0000001.json'",
        "00000.tar: members of sample 00000_0000001 are not consecutive; readers would see two samples",
        "00000.tar: member 'README' is not named KEY.EXT",
        "00000.tar: sample 00000_0000001 lacks member(s) .jpg, .json",
    ]


def test_tar_cut_inside_a_header(shard_dir):
    import tarfile

    tar = shard_dir / "00000.tar"
    with tarfile.open(tar) as archive:
        header = archive.getmember("00000_0000002.jpg").offset
    tar.write_bytes(tar.read_bytes()[: header + 200])
    found = problems(shard_dir)
    assert any(p.startswith("00000.tar: unreadable data after the last good member") for p in found), found
    assert "00000.done: count is 4 but 00000.tar holds 2 samples" in found
