"""The training stream: shards -> raw samples (resampled, split by node and worker, shuffled as bytes) -> multi-crop
views as uint8 tensors (``training.data.batch`` makes them float once per batch). A sample that fails to decode or
augment is skipped and counted, never fatal.

Data position on resume: the stream of a run segment is seeded by (seed, start step), so a resumed run continues
with a fresh, deterministic stream rather than replaying the one the first segment already consumed. (Resampled
shards make "the next unseen sample" undefined; reseeding is what webdataset-style infinite streams do as well.)
"""

from __future__ import annotations

import io
import json
import logging
import random
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import torch
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset

from shards.reader import RawSample, ShardReader, node_rank_and_size, worker_id_and_count
from shards.sample_meta import SampleMeta
from shards.stall import StallGuard
from training.config import DataConfig
from training.data.parent_watch import exit_with_parent
from training.data.transforms import MultiCrop, Point

log = logging.getLogger(__name__)

Item = tuple[list[torch.Tensor], str, int]  # uint8 views, sample key, samples skipped just before this one


def open_image(raw: RawSample) -> Image.Image:
    """The sample's image with only its header read: ``MultiCrop`` picks the JPEG draft scale before decoding."""
    return Image.open(io.BytesIO(raw["jpg"]))


def face_points(raw: RawSample, image: Image.Image) -> list[Point]:
    """The main face's 5 landmarks in this image's pixels (the json gives them in crop coordinates)."""
    meta = SampleMeta.from_json(raw["json"])
    if not meta.faces:
        return []
    scale_x, scale_y = image.width / meta.crop_size, image.height / meta.crop_size
    return [(x * scale_x, y * scale_y) for x, y in meta.faces[0].landmarks]


class MultiCropStream(IterableDataset):
    """Endless iterable of ``(views, key, skipped)``; each DataLoader worker of each rank draws its own shards."""

    def __init__(self, urls: Sequence[str], config: DataConfig, seed: int, start_step: int) -> None:
        super().__init__()
        self.urls = list(urls)
        self.config = config
        self.seed = seed
        self.start_step = start_step
        self.multicrop = MultiCrop(config)

    def reader(self) -> ShardReader:
        required = ("jpg", "json") if self.config.face_aware else ("jpg",)
        return ShardReader(
            self.urls, required=required, shuffle_buffer=self.config.shuffle_buffer, resampled=True,
            seed=self.seed, epoch=self.start_step, expected_counts=shard_sizes(self.urls),
            guard=StallGuard(self.urls, self.config.stall_timeout_s),
        )

    def __iter__(self) -> Iterator[Item]:
        reader = self.reader()
        rank, world = node_rank_and_size()
        worker, workers = worker_id_and_count()
        rng = random.Random(f"views-{self.seed}-{self.start_step}-{rank}-{world}-{worker}-{workers}")
        reported = 0
        corrupt = 0
        for raw in reader:
            try:
                image = open_image(raw)
                keep = face_points(raw, image) if self.config.face_aware else []
                views = self.multicrop.uint8_views(rng, image, keep)
            except Exception as err:  # a bad sample costs one sample, never the run
                corrupt += 1
                reader.warn_sample(raw, "skipping corrupt sample %s in %s: %s", err)
                continue
            counts = reader.counts
            skipped = corrupt + counts.incomplete_samples + counts.lost_samples
            yield views, raw["__key__"], skipped - reported
            reported = skipped
            if reader.guard is not None:  # after the yield: time the consumer spent stepping is not a stall
                reader.guard.progress()


def make_loader(stream: MultiCropStream, config: DataConfig, pin_memory: bool) -> DataLoader:
    workers = config.num_workers
    if workers > 0:
        # Forked workers inherit OpenCV's thread pool: with the pool live at fork time a worker's first OpenCV call
        # deadlocked (seen in the tests). One OpenCV thread in this process before forking leaves no pool to
        # inherit, and gives each worker one core.
        cv2.setNumThreads(1)
    return DataLoader(
        stream,
        batch_size=config.batch_size,
        num_workers=workers,
        prefetch_factor=config.prefetch_factor if workers > 0 else None,
        pin_memory=pin_memory,
        drop_last=True,
        persistent_workers=False,
        worker_init_fn=_leave_signals_to_the_trainer if workers > 0 else None,
        timeout=float(config.stall_timeout_s or 0) if workers > 0 else 0,  # a worker stuck in a read ends the wait
    )


def _leave_signals_to_the_trainer(worker_id: int) -> None:
    """Workers ignore Ctrl-C and SIGTERM: the training process checkpoints and stops them; they exit when it dies,
    even while busy reading (torch's own check runs only between batches)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    exit_with_parent()


def stop_workers(iterator: Any) -> None:
    """Stop a DataLoader iterator's workers; kill the ones still busy (stuck on data that never comes), since they
    ignore SIGTERM and would otherwise keep the interpreter from exiting."""
    workers = list(getattr(iterator, "_workers", None) or [])
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()
    for worker in workers:
        if worker.is_alive():
            worker.kill()
            worker.join(timeout=5)


def split_views(views: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(global views, local views) of a collated batch."""
    return views[:2], views[2:]


def samples_in(urls: Sequence[str]) -> int:
    """Samples in the given shards, from each directory's sizes.json (or, lacking it, the shards' commit markers).

    Raises ValueError naming the shard when neither is there.
    """
    known = shard_sizes(urls)
    for url in urls:
        if url not in known:
            path = Path(url)
            raise ValueError(f"no sample count for {url}: neither {path.parent / 'sizes.json'} nor its .done marker")
    return sum(known[url] for url in urls)


def shard_sizes(urls: Sequence[str]) -> dict[str, int]:
    """Samples per shard url where sizes.json or the shard's commit marker says; shards with neither are left out."""
    sizes: dict[Path, dict[str, Any]] = {}
    known = {}
    for url in urls:
        path = Path(url)
        if path.parent not in sizes:
            sizes[path.parent] = _read_json(path.parent / "sizes.json")
        count = sizes[path.parent].get(path.name)
        if count is None:
            count = _read_json(path.with_suffix(".done")).get("count")
        try:
            known[url] = int(count)
        except (TypeError, ValueError):
            continue
    return known


def _read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; {} when it is missing, damaged or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
