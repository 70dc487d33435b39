"""The shard writer: deterministic bytes, keys, markers, and no visible half shard when the writer is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
from conftest import build_samples

from shards import Sample, committed_shards, make_key, write_shard, write_sizes
from shards.keys import check_key
from shards.verify import verify_directory
from shards.writer import FIXED_MTIME

TESTS = Path(__file__).resolve().parent


def shard_bytes(directory: Path, stem: str = "00000") -> dict[str, bytes]:
    return {ext: (directory / f"{stem}.{ext}").read_bytes() for ext in ("tar", "parquet", "done")}


def test_two_writes_of_the_same_samples_are_byte_identical(tmp_path):
    write_shard(tmp_path / "a", 0, build_samples(0, 6))
    write_shard(tmp_path / "b", 0, list(reversed(build_samples(0, 6))))  # input order must not matter
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b")
    write_shard(tmp_path / "a", 0, build_samples(0, 6))  # rewriting in place changes nothing either
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b")


def test_different_samples_give_different_bytes(tmp_path):
    write_shard(tmp_path / "a", 0, build_samples(0, 6))
    write_shard(tmp_path / "b", 0, build_samples(0, 5))
    assert shard_bytes(tmp_path / "a")["tar"] != shard_bytes(tmp_path / "b")["tar"]


def test_tar_members_are_sorted_with_fixed_metadata(tmp_path):
    paths = write_shard(tmp_path, 3, build_samples(3, 3))
    assert paths.tar.name == "00003.tar" and paths.marker.exists()
    with tarfile.open(paths.tar) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names[:2] == ["00003_0000000.jpg", "00003_0000000.json"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(FIXED_MTIME, 0, 0, "", "", 0o644)}


def test_marker_and_sizes_record_counts(tmp_path):
    write_shard(tmp_path, 0, build_samples(0, 3))
    write_shard(tmp_path, 1, build_samples(1, 5))
    marker = json.loads((tmp_path / "00001.done").read_text())
    assert marker["count"] == 5 and len(marker["tar_sha256"]) == 64
    assert write_sizes(tmp_path) == {"00000.tar": 3, "00001.tar": 5}
    assert json.loads((tmp_path / "sizes.json").read_text()) == {"00000.tar": 3, "00001.tar": 5}


def test_duplicate_and_dotted_keys_are_refused(tmp_path):
    sample = build_samples(0, 1)[0]
    with pytest.raises(ValueError, match="duplicate sample keys"):
        write_shard(tmp_path, 0, [sample, sample])
    with pytest.raises(ValueError, match="contains a dot"):
        write_shard(tmp_path, 0, [Sample("a.b", sample.members)])
    assert not list(tmp_path.glob("*.tar"))


def test_keys_are_stable_and_dot_free():
    assert make_key(3, 17) == "00003_0000017"
    assert make_key(3, 17, 1) == "00003_0000017_f1"
    assert check_key(make_key(12345, 1234567, 2)) == "12345_1234567_f2"
    for bad, message in (("", "empty"), ("a.b", "dot"), ("a b", "only letters")):
        with pytest.raises(ValueError, match=message):
            check_key(bad)
    with pytest.raises(ValueError, match="non-negative"):
        make_key(-1, 0)


# The child writes shard 0 completely, then shard 1 and stops (prints "ready" and sleeps) right before the rename that
# publishes STOP_AT, so the parent can SIGKILL it at that exact point.
CHILD = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {tests!r})
    from conftest import build_samples
    import shards.writer as writer

    stop_at = {stop_at!r}
    real_replace = os.replace

    def replace(src, dst):
        if os.path.basename(dst) == stop_at:
            print("ready", flush=True)
            time.sleep(120)
        real_replace(src, dst)

    writer.os.replace = replace
    writer.write_shard({directory!r}, 0, build_samples(0, 4))
    writer.write_shard({directory!r}, 1, build_samples(1, 4))
""")


def kill_writer_before(directory: Path, stop_at: str) -> None:
    script = CHILD.format(tests=str(TESTS), stop_at=stop_at, directory=str(directory))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", "the writer ended before reaching the kill point"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_writer_killed_while_writing_the_tar_leaves_no_visible_shard(tmp_path):
    directory = tmp_path / "shards"
    kill_writer_before(directory, "00001.tar")
    assert (directory / "00001.tar.tmp").exists()  # the bytes were written, just never published
    assert not (directory / "00001.tar").exists() and not (directory / "00001.done").exists()
    assert [p.tar.name for p in committed_shards(directory)] == ["00000.tar"]
    # a rerun of the unit completes it, and gives the bytes an uninterrupted writer gives
    write_shard(directory, 1, build_samples(1, 4))
    write_sizes(directory)
    assert not list(directory.glob("*.tmp"))
    assert verify_directory(directory).ok
    write_shard(tmp_path / "clean", 1, build_samples(1, 4))
    assert shard_bytes(directory, "00001") == shard_bytes(tmp_path / "clean", "00001")


def test_writer_killed_before_its_commit_marker_leaves_an_uncommitted_shard(tmp_path):
    directory = tmp_path / "shards"
    kill_writer_before(directory, "00001.done")
    assert (directory / "00001.tar").exists() and not (directory / "00001.done").exists()
    assert [p.tar.name for p in committed_shards(directory)] == ["00000.tar"]
    write_sizes(directory)
    found = [str(p) for p in verify_directory(directory).problems]
    assert any(p.startswith("00001.done: missing: the shard is not committed") for p in found), found
    write_shard(directory, 1, build_samples(1, 4))
    write_sizes(directory)
    assert verify_directory(directory).ok


def test_rewriting_a_committed_shard_uncommits_it_first(tmp_path, monkeypatch):
    write_shard(tmp_path, 0, build_samples(0, 2))
    import shards.writer as writer

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "tar_bytes", fail)
    with pytest.raises(OSError):
        write_shard(tmp_path, 0, build_samples(0, 3))
    assert not (tmp_path / "00000.done").exists()
    assert committed_shards(tmp_path) == []
