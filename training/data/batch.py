"""A collated batch of uint8 views -> normalized float views on the training device, once per batch.

With ``data.augment_on=device`` the photometric augmentations run here too, drawn from a generator seeded by
(run seed, step, rank): a rerun, and a resumed run at the same step, draw the same augmentations.
"""

from __future__ import annotations

import torch

from training.config import DataConfig
from training.data.device_augment import augment_batch
from training.data.transforms import normalize


def step_generator(device: torch.device, seed: int, step: int, rank: int) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(hash((seed, step, rank)) % (2**63))  # tuples of ints hash the same in every process
    return generator


def device_views(
    views: list[torch.Tensor], config: DataConfig, device: torch.device, generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """uint8 [B, 3, H, W] views -> float32 normalized views on ``device``; ``generator`` is needed (and used) only
    with ``config.augment_on == "device"``."""
    floats = [view.to(device, non_blocking=True).float() for view in views]
    if config.augment_on == "device":
        if generator is None:
            raise ValueError("data.augment_on=device needs a generator for the augmentations")
        unit = augment_batch([view.div_(255) for view in floats], config, generator)
        return [normalize(view, config, max_value=1.0) for view in unit]
    return [normalize(view, config) for view in floats]
