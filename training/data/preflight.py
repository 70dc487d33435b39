"""Checks of the training data before any model is built: empty shards are refused, tiny ones are warned about."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from core.errors import UserError
from shards.stall import shard_list
from training.config import DataConfig

log = logging.getLogger(__name__)


def check_training_data(urls: Sequence[str], data: DataConfig) -> None:
    """Refuse shards that sizes.json (or their commit markers) say hold 0 samples, since a resampled stream would
    wait forever on them; warn when the data is smaller than one batch. Shards without counts are left to
    the run (which asks for sizes.json or data.samples_per_epoch)."""
    from training.data.dataset import shard_sizes

    known = shard_sizes(urls)
    if len(known) < len(urls):
        return
    total = sum(known.values())
    if total == 0:
        raise UserError(
            f"0 samples in the given shards ({shard_list(list(urls))}): their sizes.json / commit markers count no "
            "sample (pros curate writes an empty shard for an input unit without usable faces). Pass shards that "
            "hold samples, or curate inputs with faces"
        )
    world = int(os.environ.get("WORLD_SIZE", "1"))
    batch = data.batch_size * world
    if total < batch:
        log.warning(
            "the %d sample(s) in the given shards are fewer than one batch (data.batch_size=%d x %d process(es)): "
            "every batch repeats samples; lower data.batch_size or add data", total, data.batch_size, world)
