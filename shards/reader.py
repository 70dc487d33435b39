"""Streaming shard reader for training: split by node and worker, shuffle buffer, resampled (infinite) mode,
and a decode step whose failures are counted and logged instead of ending the stream.

Torch is optional here: when the reader runs inside a ``torch.utils.data.DataLoader`` worker it splits shards
between workers; without torch it is a plain iterable.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import tarfile
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from shards.stall import StallGuard
from shards.urls import expand_urls

log = logging.getLogger(__name__)

RawSample = dict[str, Any]
_END_OF_ARCHIVE = 1024  # two zero blocks of 512 bytes close a tar archive
MAX_MEMBER_BYTES = 256 * 1024 * 1024  # shard members are crops and json, kilobytes each


@dataclass
class ReadCounts:
    """What one reader (one process or worker) saw; ``corrupt_*`` are skipped, never fatal."""

    samples: int = 0
    corrupt_samples: int = 0
    incomplete_samples: int = 0
    corrupt_shards: int = 0  # damaged shard draws (a resampled reader may draw the same shard many times)
    lost_samples: int = 0  # samples lost to damaged shards, counted once per shard and epoch


def _split_name(name: str) -> tuple[str, str]:
    directory, _, base = name.rpartition("/")
    key, _, ext = base.partition(".")
    return (f"{directory}/{key}" if directory else key), ext


def iter_tar_samples(url: str) -> Iterator[RawSample]:
    """Group consecutive tar members by key into ``{"__key__", "__url__", ext: bytes, ...}`` dicts.

    Raises tarfile.ReadError / EOFError / OSError when the archive is corrupt or truncated (also when it is cut at a
    member boundary or inside a header, which tarfile alone does not report).
    """
    current: RawSample | None = None
    with tarfile.open(url, mode="r|") as stream:
        for member in stream:
            if not member.isfile():
                continue
            key, ext = _split_name(member.name)
            # Hand out the previous sample before reading on: it is complete even if this member turns out truncated.
            if current is not None and current["__key__"] != key:
                yield current
                current = None
            if member.size > MAX_MEMBER_BYTES:  # a hostile header must not make us allocate without bound
                raise tarfile.ReadError(f"{url}: member {member.name} claims {member.size} bytes, above "
                                        f"{MAX_MEMBER_BYTES} (not a shard written by pros curate)")
            handle = stream.extractfile(member)
            data = handle.read() if handle is not None else b""
            if len(data) != member.size:
                raise EOFError(f"{url}: member {member.name} is truncated")
            if current is None:
                current = {"__key__": key, "__url__": url}
            current[ext] = data
        unclean = _unclean_end(url, stream.offset)
    if unclean:  # the last sample may be partial: drop it with the rest of the shard
        raise EOFError(f"{url}: {unclean}")
    if current is not None:
        yield current


def _unclean_end(path: str, offset: int) -> str | None:
    """Why the archive does not end with its two zero blocks at ``offset``, or None when it does.

    tarfile stops silently at a header cut short or damaged after the first member; this catches that case.
    """
    with open(path, "rb") as handle:
        handle.seek(offset)
        tail = handle.read(_END_OF_ARCHIVE)
    if len(tail) < _END_OF_ARCHIVE or tail.strip(b"\0"):
        return f"no clean end of archive after byte {offset}: the file is truncated or corrupt"
    return None


def node_rank_and_size() -> tuple[int, int]:
    """This process's (rank, world size) from torch.distributed when initialized, else torchrun's variables."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def worker_id_and_count() -> tuple[int, int]:
    """(worker id, worker count) inside a DataLoader worker, else (0, 1)."""
    data = sys.modules.get("torch.utils.data")
    info = data.get_worker_info() if data is not None else None
    return (info.id, info.num_workers) if info is not None else (0, 1)


class ShardReader:
    """Iterate decoded samples from shards.

    urls: anything ``expand_urls`` takes (brace lists, ``::`` joins, directories).
    decode: maps a raw sample to what the consumer wants; an exception marks the sample corrupt (counted, logged).
    required: member extensions a sample must have; samples missing one are counted as incomplete and skipped.
    shuffle_buffer: 0 streams in order; otherwise samples are shuffled through a buffer of that size.
    resampled: draw shards at random with replacement forever (each consumer independently).
    epoch: changes the shard order and shuffling deterministically; set it per epoch.
    expected_counts: samples per shard url (from sizes.json) for counting what a damaged shard loses.
    guard: told of every failure, so a stream that stopped producing ends with ``DataStalled``; the consumer
        calls ``guard.progress()`` for each sample it could use.

    A damaged shard is warned about (and its lost samples counted) once per shard and epoch; a resampled
    consumer's epoch is ``len(urls) / consumers`` draws. Its other failures go to the debug log.
    """

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        decode: Callable[[RawSample], Any] | None = None,
        required: Sequence[str] = (),
        shuffle_buffer: int = 0,
        resampled: bool = False,
        seed: int = 0,
        epoch: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        expected_counts: Mapping[str, int] | None = None,
        guard: StallGuard | None = None,
    ) -> None:
        self.urls = expand_urls(urls if isinstance(urls, str) else list(urls))
        if not self.urls:
            raise ValueError(f"no shards found for {urls!r}; pass tar paths, a brace list or a shard directory")
        self.decode = decode
        self.required = tuple(required)
        self.shuffle_buffer = shuffle_buffer
        self.resampled = resampled
        self.seed = seed
        self.epoch = epoch
        self.rank = rank
        self.world_size = world_size
        self.counts = ReadCounts()
        self.expected_counts = dict(expected_counts or {})
        self.guard = guard
        self._reported: set[tuple[str, int]] = set()
        self._warned_samples: set[tuple[str, str]] = set()

    def consumer(self) -> tuple[int, int]:
        """(index, count) of this consumer among all nodes x workers."""
        rank, world = node_rank_and_size()
        rank = self.rank if self.rank is not None else rank
        world = self.world_size if self.world_size is not None else world
        worker, workers = worker_id_and_count()
        return rank * workers + worker, world * workers

    def shard_stream(self, rng: random.Random) -> Iterator[str]:
        index, count = self.consumer()
        if self.resampled:
            while True:
                yield rng.choice(self.urls)
        order = list(self.urls)
        if self.shuffle_buffer:
            random.Random(f"{self.seed}-{self.epoch}").shuffle(order)
        mine = order[index::count]
        if not mine:
            log.warning("consumer %d of %d has no shard: %d shards for %d consumers", index, count, len(order), count)
        yield from mine

    def raw_samples(self, rng: random.Random) -> Iterator[RawSample]:
        for draw, url in enumerate(self.shard_stream(rng)):
            given = 0
            try:
                for sample in iter_tar_samples(url):
                    given += 1
                    yield sample
            except Exception as err:  # tarfile.ReadError, EOFError, OSError and anything else a damaged tar raises
                self.counts.corrupt_shards += 1
                self._report_damaged(url, draw, given, err)
                if self.guard is not None:
                    self.guard.shard_failed(url, given > 0)

    def _report_damaged(self, url: str, draw: int, given: int, err: BaseException) -> None:
        """Warn and count the lost samples once per shard and epoch; repeats go to the debug log."""
        _, consumers = self.consumer()
        epoch = draw * consumers // len(self.urls) if self.resampled else 0
        if (url, epoch) in self._reported:
            log.debug("corrupt shard %s again (draw %d): %s", url, draw, err)
            return
        self._reported.add((url, epoch))
        lost = max(1, self.expected_counts.get(url, given + 1) - given)
        self.counts.lost_samples += lost
        again = "; it is skipped without a warning until the next epoch" if self.resampled else ""
        log.warning("skipping the rest of corrupt shard %s (%d sample(s) lost): %s%s", url, lost, err, again)

    def warn_sample(self, raw: RawSample, message: str, why: object) -> None:
        """Log a skipped sample, at WARNING the first time only (a resampled reader meets it again and again),
        and let the guard see the failure."""
        seen = (raw["__url__"], raw["__key__"])
        level = logging.DEBUG if seen in self._warned_samples else logging.WARNING
        self._warned_samples.add(seen)
        log.log(level, message, raw["__key__"], raw["__url__"], why)
        if self.guard is not None:
            self.guard.check()

    def decoded_samples(self, rng: random.Random) -> Iterator[Any]:
        for raw in self.raw_samples(rng):
            missing = [ext for ext in self.required if ext not in raw]
            if missing:
                self.counts.incomplete_samples += 1
                self.warn_sample(raw, "sample %s in %s lacks %s; skipped", missing)
                continue
            if self.decode is None:
                self.counts.samples += 1
                yield raw
                continue
            try:
                decoded = self.decode(raw)
            except Exception as err:  # any decode failure is a corrupt sample, never the end of the stream
                self.counts.corrupt_samples += 1
                self.warn_sample(raw, "corrupt sample %s in %s: %s", err)
                continue
            self.counts.samples += 1
            yield decoded

    def __iter__(self) -> Iterator[Any]:
        index, count = self.consumer()
        rng = random.Random(f"{self.seed}-{self.epoch}-{index}-{count}")
        stream = self.decoded_samples(rng)
        if self.shuffle_buffer <= 1:
            yield from stream
            return
        buffer: list[Any] = []
        for item in stream:
            buffer.append(item)
            if len(buffer) >= self.shuffle_buffer:
                yield buffer.pop(rng.randrange(len(buffer)))
        rng.shuffle(buffer)
        yield from buffer
