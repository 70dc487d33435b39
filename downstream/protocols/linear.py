"""Linear probe: a head trained on frozen, cached features (pooled features, or patch tokens for landmarks).

Pooled features are standardized with the training set's per-dimension mean and std (a fixed affine map, as a
non-affine BatchNorm would do), then a linear layer is trained with AdamW and a cosine learning-rate decay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from downstream.config import LinearConfig
from downstream.heads import make_head, task_loss


@dataclass
class LinearProbe:
    """A trained head and the standardization applied to its inputs (None for patch tokens)."""

    task: str
    head: nn.Module
    mean: np.ndarray | None
    std: np.ndarray | None
    device: torch.device

    def _prepare(self, inputs: np.ndarray) -> torch.Tensor:
        batch = torch.from_numpy(np.asarray(inputs, dtype=np.float32))
        if self.mean is not None:
            batch = (batch - torch.from_numpy(self.mean)) / torch.from_numpy(self.std)
        return batch.to(self.device)

    @torch.no_grad()
    def predict(self, inputs: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Logits (attributes, expression) or [0, 1] window coordinates (landmarks), row per input."""
        self.head.eval()
        outputs = [self.head(self._prepare(inputs[i:i + batch_size])).float().cpu().numpy()
                   for i in range(0, len(inputs), batch_size)]
        return np.concatenate(outputs)


def cosine_lr(peak: float, step: int, total: int, warmup: int = 0) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay from ``peak`` to 0 at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_linear_probe(
    task: str,
    inputs: np.ndarray,
    targets: np.ndarray,
    num_outputs: int,
    config: LinearConfig,
    device: torch.device,
    seed: int = 0,
    desc: str = "linear probe",
) -> LinearProbe:
    """Train a head on ``inputs`` (N, D) pooled features or (N, h, w, C) tokens against ``targets``."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    pooled = np.asarray(inputs).ndim == 2
    mean = std = None
    if pooled:
        as_float = np.asarray(inputs, dtype=np.float32)
        mean = as_float.mean(axis=0)
        std = as_float.std(axis=0) + 1e-6
    head = make_head(task, int(inputs.shape[-1]), num_outputs).to(device)
    probe = LinearProbe(task, head, mean, std, device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    count = len(inputs)
    batch_size = min(config.batch_size, count)
    steps_per_epoch = math.ceil(count / batch_size)
    total = config.epochs * steps_per_epoch
    target_tensor = torch.from_numpy(np.asarray(targets))
    step = 0
    bar = tqdm(range(config.epochs), desc=desc, unit="epoch", leave=False)
    for _ in bar:
        head.train()
        order = torch.randperm(count, generator=generator).numpy()
        running = 0.0
        for start in range(0, count, batch_size):
            rows = np.sort(order[start:start + batch_size])  # sorted rows read memory-mapped tokens faster
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(config.lr, step, total)
            loss = task_loss(task, head(probe._prepare(inputs[rows])), target_tensor[rows].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += float(loss.detach()) * len(rows)
            step += 1
        bar.set_postfix(loss=f"{running / count:.4f}")
    bar.close()
    return probe
