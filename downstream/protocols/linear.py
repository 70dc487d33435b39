"""Linear probe: a head trained on frozen, cached features (pooled features, or patch tokens for landmarks).

Pooled features are standardized with the training set's per-dimension mean and std (a fixed affine map, as a
non-affine BatchNorm would do), then a linear layer is trained with SGD + momentum (AdamW for the heatmap head on
patch tokens; see ``make_optimizer``) and a cosine learning-rate decay.

The schedule is counted in optimizer steps: ``epochs`` passes over the training set, but never fewer than
``min_steps`` steps, so a small (few-shot) training set still gets enough updates to fit. After training, a
convergence check compares the training loss with the image-blind floor's (``downstream.floors``) and with itself a
quarter of the run earlier; a probe that ends above the floor's loss, or was still improving fast when the learning
rate ran out, is reported as not converged (in the log and in results.json).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from downstream.config import LinearConfig
from downstream.floors import floor_training_loss
from downstream.heads import make_head, task_loss


@dataclass
class LinearProbe:
    """A trained head and the standardization applied to its inputs (None for patch tokens)."""

    task: str
    head: nn.Module
    mean: np.ndarray | None
    std: np.ndarray | None
    device: torch.device
    training: dict = field(default_factory=dict)  # steps, losses and the convergence verdict (see training_report)

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
    optimizer, peak_lr = make_optimizer(head, config, pooled)
    count = len(inputs)
    batch_size = min(config.batch_size, count)
    total = probe_steps(count, config)
    target_tensor = torch.from_numpy(np.asarray(targets))
    head.train()
    macs = batch_size * int(np.prod(inputs.shape[1:])) * num_outputs
    with probe_threads(device, macs):
        losses = run_steps(head, probe, optimizer, peak_lr, inputs, target_tensor, task, total, batch_size,
                           generator, desc)
    probe.training = training_report(losses, floor_training_loss(task, targets, num_outputs),
                                     config.convergence_tolerance)
    return probe


def run_steps(
    head: nn.Module, probe: LinearProbe, optimizer: torch.optim.Optimizer, peak_lr: float, inputs: np.ndarray,
    target_tensor: torch.Tensor, task: str, total: int, batch_size: int, generator: torch.Generator, desc: str,
) -> list[float]:
    """``total`` optimizer steps over shuffled passes of the training rows; the loss of every step."""
    device = probe.device
    count = len(inputs)
    losses: list[float] = []
    bar = tqdm(total=total, desc=desc, unit="step", leave=False, disable=None)
    order = np.empty(0, dtype=np.int64)
    while len(losses) < total:
        if len(order) == 0:  # a new pass over the training set, freshly shuffled
            order = torch.randperm(count, generator=generator).numpy()
        rows, order = np.sort(order[:batch_size]), order[batch_size:]  # sorted rows read memory-mapped tokens faster
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(peak_lr, len(losses), total)
        loss = task_loss(task, head(probe._prepare(inputs[rows])), target_tensor[rows].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        bar.update(1)
        if len(losses) % 50 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    bar.close()
    return losses


# Below this many multiply-adds per step a CPU probe runs on one thread: on a 2-core machine shared with other work,
# two threads made a 4-class probe on 24 features 10x slower (31 s vs 2.9 s for 1000 steps), all in thread waits.
ONE_THREAD_MACS = 50_000_000


@contextlib.contextmanager
def probe_threads(device: torch.device, macs_per_step: int) -> Iterator[None]:
    """One intra-op thread for a small probe on the CPU, restored afterwards; otherwise leave threads alone."""
    if device.type != "cpu" or macs_per_step >= ONE_THREAD_MACS or torch.get_num_threads() == 1:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def make_optimizer(head: nn.Module, config: LinearConfig, pooled: bool) -> tuple[torch.optim.Optimizer, float]:
    """The probe's optimizer and peak learning rate.

    ``auto`` picks SGD with momentum for pooled features: AdamW's per-weight step normalization moves the weights of
    irrelevant dimensions as fast as the useful ones, so with more dimensions than training images it overfits
    (on the 80-image attribute fixture: AdamW 0.60 mean accuracy, SGD 0.97, prior 0.50). The heatmap head on patch
    tokens keeps AdamW, whose steps do not depend on the soft-argmax's small coordinate gradients, at 1e-2: on real
    dlib-labelled face crops (docs/quality.md) 1e-3 and 3e-3 had not converged in 1000 steps (NME 8.44% and 6.93%,
    mean shape 8.42%), 1e-2 had (6.50%).
    """
    kind = config.optimizer if config.optimizer != "auto" else ("sgd" if pooled else "adamw")
    if kind == "sgd":
        lr = config.lr or 0.1
        return torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9, weight_decay=config.weight_decay), lr
    lr = config.lr or 1e-2
    return torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=config.weight_decay), lr


def probe_steps(count: int, config: LinearConfig) -> int:
    """Optimizer steps of one probe: ``epochs`` passes over ``count`` rows, at least ``min_steps``."""
    steps_per_epoch = math.ceil(count / min(config.batch_size, count))
    return max(config.epochs * steps_per_epoch, config.min_steps, 1)


def training_report(losses: list[float], floor_loss: float, tolerance: float) -> dict:
    """Steps, first / final training loss, the floor's loss and the verdict ``converged``.

    Final loss = mean of the last 10% of steps. ``still_improving``: the mean loss of the last quarter is below that
    of the quarter before by more than ``tolerance`` times the floor's loss (the task's scale: a loss falling towards
    0 on a small training set would always look improving in relative terms), so more steps would have helped.
    ``above_floor``: the final loss is not below the constant predictor's loss on the same training set.
    """
    values = np.asarray(losses, dtype=np.float64)
    steps = len(values)
    tail = values[-max(1, steps // 10):].mean()
    quarter = max(1, steps // 4)
    last, before = values[-quarter:].mean(), values[-2 * quarter:-quarter].mean() if steps >= 2 * quarter else np.inf
    still_improving = bool(np.isfinite(before) and (before - last) > tolerance * max(floor_loss, 1e-12))
    above_floor = bool(tail >= floor_loss)
    return {"steps": steps, "loss_first": float(values[0]), "loss_final": float(tail), "floor_loss": float(floor_loss),
            "still_improving": still_improving, "above_floor": above_floor,
            "converged": not (still_improving or above_floor)}
