"""Fine-tuning: backbone + head trained end to end with layer-wise learning-rate decay (BEiT / MAE style).

Parameter groups: the embeddings (patch embedding, class token, position embedding) are layer 0, transformer block
i is layer i + 1, everything after the blocks (final norm, head) is layer L + 1; a layer's learning rate is
``lr * layer_decay ** (L + 1 - layer)``. Biases, norms and tokens get no weight decay. AdamW, linear warm-up and
cosine decay per step; bf16 autocast on CUDA.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from downstream.backbones import Backbone
from downstream.config import FinetuneConfig
from downstream.datasets import BenchmarkSplit
from downstream.heads import make_head, task_loss
from downstream.protocols.linear import cosine_lr
from downstream.runtime import autocast
from downstream.transforms import ImageDataset, to_window


class FinetunedModel(nn.Module):
    """Backbone followed by a task head; landmarks use the patch tokens, other tasks the pooled features."""

    def __init__(self, backbone: Backbone, head: nn.Module, task: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.task = task

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled, tokens = self.backbone(images)
        return self.head(tokens if self.task == "landmarks" else pooled)


def layer_decay_groups(model: FinetunedModel, lr: float, layer_decay: float, weight_decay: float) -> list[dict]:
    """AdamW parameter groups with per-layer learning rates (see module docstring)."""
    backbone = model.backbone
    last = backbone.num_blocks() + 1
    groups: dict[tuple[int, bool], dict] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        inner = name.removeprefix("backbone.")
        block = backbone.block_index(inner) if name.startswith("backbone.") else None
        if block is not None:
            layer = block + 1
        elif name.startswith("backbone.") and backbone.is_embedding(inner):
            layer = 0
        else:
            layer = last
        no_decay = parameter.ndim <= 1 or inner.endswith(("cls_token", "pos_embed", "class_embedding",
                                                           "positional_embedding"))
        group = groups.setdefault((layer, no_decay), {
            "params": [], "layer": layer, "lr_scale": layer_decay ** (last - layer),
            "weight_decay": 0.0 if no_decay else weight_decay,
        })
        group["params"].append(parameter)
    for group in groups.values():
        group["lr"] = lr * group["lr_scale"]
    return sorted(groups.values(), key=lambda g: (g["layer"], g["weight_decay"]))


def finetune(
    backbone: Backbone,
    split: BenchmarkSplit,
    rows: np.ndarray,
    num_outputs: int,
    config: FinetuneConfig,
    box_scale: float,
    precision: str,
    device: torch.device,
    seed: int = 0,
    desc: str = "fine-tune",
) -> FinetunedModel:
    """Fine-tune a copy of ``backbone`` (left untouched) on the samples ``rows`` of ``split``."""
    torch.manual_seed(seed)
    task = split.task
    samples = tuple(split.samples[i] for i in rows)
    targets = split.targets()[rows]
    channels = backbone.num_features if task != "landmarks" else _token_channels(backbone)
    model = FinetunedModel(copy.deepcopy(backbone), make_head(task, channels, num_outputs), task).to(device)
    groups = layer_decay_groups(model, config.lr, config.layer_decay, config.weight_decay)
    optimizer = torch.optim.AdamW(groups)
    dataset = ImageDataset(samples, task, backbone.inputs, box_scale, hflip=config.hflip and task != "landmarks")
    batch_size = min(config.batch_size, len(dataset))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=config.num_workers, drop_last=len(dataset) > batch_size,
        generator=torch.Generator().manual_seed(seed), pin_memory=device.type == "cuda",
    )
    total = config.epochs * len(loader)
    warmup = config.warmup_epochs * len(loader)
    step = 0
    for epoch in range(config.epochs):
        model.train()
        bar = tqdm(loader, desc=f"{desc} epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False, disable=None)
        for images, windows, index in bar:
            batch_targets = _targets(task, targets[index.numpy()], windows.numpy())
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(config.lr, step, total, warmup) * group["lr_scale"]
            with autocast(device, precision):
                outputs = model(images.to(device, non_blocking=True))
            loss = task_loss(task, outputs, batch_targets.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        bar.close()
    return model.eval()


@torch.no_grad()
def predict_images(
    model: FinetunedModel, split: BenchmarkSplit, box_scale: float, precision: str, device: torch.device,
    batch_size: int, num_workers: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(outputs, crop windows) of every sample of ``split``, in order."""
    dataset = ImageDataset(split.samples, split.task, model.backbone.inputs, box_scale)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    outputs, windows = [], []
    model.eval()
    for images, window, _ in tqdm(loader, desc=f"predict {split.benchmark}/{split.split}", leave=False,
                                      disable=None):
        with autocast(device, precision):
            outputs.append(model(images.to(device)).float().cpu().numpy())
        windows.append(window.numpy())
    return np.concatenate(outputs), np.concatenate(windows)


def _targets(task: str, targets: np.ndarray, windows: np.ndarray) -> torch.Tensor:
    if task == "landmarks":
        return torch.from_numpy(to_window(targets.astype(np.float64), windows))
    return torch.from_numpy(np.asarray(targets))


def _token_channels(backbone: Backbone) -> int:
    with torch.no_grad():
        device = next(backbone.parameters()).device
        was_training = backbone.training
        backbone.eval()
        _, tokens = backbone(torch.zeros(1, 3, *backbone.inputs.size, device=device))
        backbone.train(was_training)
    return int(tokens.shape[-1])
