"""The streaming reader: damaged data is counted and skipped, node/worker splitting covers each shard once,
shuffling is deterministic per epoch, resampled mode never ends."""

from __future__ import annotations

import io
import itertools
import logging
import tarfile
from pathlib import Path

import pytest
from conftest import build_samples
from PIL import Image

import shards.reader as reader_module
from shards import Sample, write_shard
from shards.reader import ShardReader


def decode_jpg(raw: dict) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(raw["jpg"])) as image:
        image.load()
        return raw["__key__"], image.size


def keys_of(reader: ShardReader) -> list[str]:
    return [sample["__key__"] for sample in reader]


def all_keys(n_shards: int, per_shard: int) -> list[str]:
    return [s.key for unit in range(n_shards) for s in build_samples(unit, per_shard)]


def test_reads_every_sample_in_order(make_shard_dir):
    directory = make_shard_dir(n_shards=3, per_shard=4)
    reader = ShardReader(str(directory), decode=decode_jpg, required=("jpg", "json"))
    decoded = list(reader)
    assert [key for key, _ in decoded] == all_keys(3, 4)
    assert decoded[1][1] == (48, 48)
    assert reader.counts.samples == 12 and reader.counts.corrupt_samples == 0


def test_corrupt_member_and_truncated_tar_are_counted_not_fatal(tmp_path, caplog):
    directory = tmp_path / "shards"
    write_shard(directory, 0, build_samples(0, 4))
    damaged = build_samples(1, 4)
    damaged[2] = Sample(damaged[2].key, {**damaged[2].members, "jpg": b"not a jpeg"})
    write_shard(directory, 1, damaged)
    write_shard(directory, 2, build_samples(2, 4))
    tar = directory / "00002.tar"
    with tarfile.open(tar) as archive:
        cut = archive.getmember("00002_0000002.jpg").offset_data + 10  # inside the third sample's jpg
    tar.write_bytes(tar.read_bytes()[:cut])

    reader = ShardReader(str(directory), decode=decode_jpg)
    with caplog.at_level(logging.WARNING, logger="shards.reader"):
        keys = [key for key, _ in reader]
    assert keys == all_keys(1, 4) + ["00001_0000000", "00001_0000001", "00001_0000003", "00002_0000000",
                                     "00002_0000001"]
    counts = reader.counts
    assert (counts.samples, counts.corrupt_samples, counts.corrupt_shards) == (9, 1, 1)
    assert "corrupt sample 00001_0000002" in caplog.text
    assert "skipping the rest of corrupt shard" in caplog.text and "00002.tar" in caplog.text


def test_samples_lacking_a_required_member_are_counted(tmp_path):
    samples = build_samples(0, 3)
    samples[0] = Sample(samples[0].key, {"jpg": samples[0].members["jpg"]})
    write_shard(tmp_path, 0, samples)
    reader = ShardReader(str(tmp_path / "00000.tar"), required=("jpg", "json"))
    assert keys_of(reader) == ["00000_0000001", "00000_0000002"]
    assert reader.counts.incomplete_samples == 1


def test_missing_shard_file_is_counted(make_shard_dir):
    directory = make_shard_dir(n_shards=2, per_shard=2)
    reader = ShardReader(f"{directory}/{{00000..00002}}.tar")
    assert len(keys_of(reader)) == 4
    assert reader.counts.corrupt_shards == 1


@pytest.mark.parametrize("shuffle", [0, 3])
@pytest.mark.parametrize("world_size,workers", [(1, 1), (2, 1), (1, 3), (2, 2), (3, 2)])
def test_nodes_and_workers_split_shards_exactly_once(make_shard_dir, monkeypatch, world_size, workers, shuffle):
    directory = make_shard_dir(n_shards=6, per_shard=2)
    seen: list[str] = []
    for rank in range(world_size):
        for worker in range(workers):
            monkeypatch.setattr(reader_module, "worker_id_and_count", lambda w=worker: (w, workers))
            reader = ShardReader(str(directory), rank=rank, world_size=world_size, shuffle_buffer=shuffle, epoch=1)
            seen += keys_of(reader)
    assert sorted(seen) == all_keys(6, 2)  # every sample once: no shard read twice, none skipped


def test_rank_and_world_size_come_from_torchrun_variables(make_shard_dir, monkeypatch):
    directory = make_shard_dir(n_shards=4, per_shard=1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert keys_of(ShardReader(str(directory))) == ["00001_0000000", "00003_0000000"]


def test_dataloader_workers_split_shards(make_shard_dir):
    torch_data = pytest.importorskip("torch.utils.data")
    directory = make_shard_dir(n_shards=4, per_shard=2)

    class Keys(torch_data.IterableDataset):
        def __iter__(self):
            return (sample["__key__"] for sample in ShardReader(str(directory)))

    loader = torch_data.DataLoader(Keys(), batch_size=None, num_workers=2)
    assert sorted(loader) == all_keys(4, 2)


def test_shuffle_is_deterministic_per_epoch(make_shard_dir):
    directory = make_shard_dir(n_shards=4, per_shard=4)
    first = keys_of(ShardReader(str(directory), shuffle_buffer=5, seed=1, epoch=0))
    again = keys_of(ShardReader(str(directory), shuffle_buffer=5, seed=1, epoch=0))
    other = keys_of(ShardReader(str(directory), shuffle_buffer=5, seed=1, epoch=1))
    assert first == again
    assert first != other
    assert sorted(first) == sorted(other) == all_keys(4, 4)
    assert first != all_keys(4, 4)


def test_resampled_mode_never_ends(make_shard_dir):
    directory = make_shard_dir(n_shards=2, per_shard=3)
    reader = ShardReader(str(directory), resampled=True, seed=3)
    drawn = [s["__key__"] for s in itertools.islice(reader, 60)]  # ten times the data set
    assert len(drawn) == 60
    assert set(drawn) == set(all_keys(2, 3))


def test_no_shards_is_an_error(tmp_path: Path):
    with pytest.raises(ValueError, match="no shards found"):
        ShardReader(str(tmp_path))


@pytest.mark.parametrize("where", ["member boundary", "inside a header"])
def test_tar_cut_between_members_is_reported(tmp_path, where):
    write_shard(tmp_path, 0, build_samples(0, 4))
    tar = tmp_path / "00000.tar"
    with tarfile.open(tar) as archive:
        header = archive.getmember("00000_0000002.jpg").offset  # first header of the third sample
    cut = header if where == "member boundary" else header + 200
    tar.write_bytes(tar.read_bytes()[:cut])
    reader = ShardReader(str(tar), required=("jpg", "json"))
    assert keys_of(reader) == ["00000_0000000"]  # the second sample is complete, but its shard ends uncleanly
    assert (reader.counts.corrupt_shards, reader.counts.incomplete_samples) == (1, 0)
