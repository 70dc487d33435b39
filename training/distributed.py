"""Process-group set-up from torchrun's (or SLURM's) environment, and wrapping of the trained modules.

gloo on CPU, NCCL on GPU. Only the student and the prototypes (the parameters in the optimizer) are wrapped, with
DDP or, as an option, FSDP2 ``fully_shard``; the teacher is never DDP-wrapped and never in the optimizer (under
FSDP2 it is sharded like the student so its EMA update pairs shard with shard).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from core.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _adopt_slurm_env() -> None:
    """Under ``srun`` without torchrun, take rank and world size from SLURM's variables."""
    if "RANK" in os.environ or "SLURM_PROCID" not in os.environ:
        return
    if int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return
    os.environ["RANK"] = os.environ["SLURM_PROCID"]
    os.environ["WORLD_SIZE"] = os.environ["SLURM_NTASKS"]
    os.environ["LOCAL_RANK"] = os.environ.get("SLURM_LOCALID", "0")
    if "MASTER_ADDR" not in os.environ:
        raise UserError(
            "running under SLURM with several tasks but MASTER_ADDR is not set; export MASTER_ADDR (the first node's "
            "host name, e.g. $(scontrol show hostnames $SLURM_JOB_NODELIST | head -n1)) and MASTER_PORT, "
            "or use torchrun"
        )
    os.environ.setdefault("MASTER_PORT", "29500")


def pick_device(preference: str, local_rank: int) -> torch.device:
    if preference == "cuda" and not torch.cuda.is_available():
        raise UserError("run.device=cuda but no CUDA device is visible; use run.device=cpu or run.device=auto")
    if preference in ("cuda", "auto") and torch.cuda.is_available():
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(device_preference: str = "auto") -> DistEnv:
    """Join the process group when launched with several processes; a single process needs no group."""
    _adopt_slurm_env()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_preference, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=dt.timedelta(minutes=30))
        log.info("joined process group: rank %d of %d (%s)", rank, world, backend)
    return DistEnv(rank=rank, world_size=world, local_rank=local_rank, device=device)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def all_reduce_max(value: float, env: DistEnv) -> float:
    if not env.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=env.device if env.device.type == "cuda" else "cpu")
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def all_reduce_means(values: dict[str, float], env: DistEnv) -> dict[str, float]:
    """Mean over ranks of each value (same keys on every rank)."""
    if not env.distributed or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64,
                          device=env.device if env.device.type == "cuda" else "cpu")
    dist.all_reduce(tensor)
    return {k: float(v) / env.world_size for k, v in zip(keys, tensor.tolist())}


def all_gather_objects(obj: Any, env: DistEnv) -> list[Any]:
    if not env.distributed:
        return [obj]
    gathered: list[Any] = [None] * env.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def wrap_ddp(task: nn.Module, env: DistEnv) -> None:
    """DDP-wrap ``task.student`` and ``task.prototypes`` in place (each syncs its own gradients)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    device_ids = [env.device.index] if env.device.type == "cuda" else None
    task.student = DDP(task.student, device_ids=device_ids)
    task.prototypes = DDP(task.prototypes, device_ids=device_ids)


def wrap_fsdp(task: nn.Module) -> None:
    """FSDP2: shard each transformer block, then the rest, of student and teacher alike; prototypes as one unit."""
    from torch.distributed.fsdp import fully_shard

    for network in (task.student, task.teacher):
        for block in network.backbone.blocks:
            fully_shard(block)
        fully_shard(network)
    fully_shard(task.prototypes)
    if getattr(task, "teacher_prototypes", None) is not None:
        fully_shard(task.teacher_prototypes)


def wrap_for_training(task: nn.Module, strategy: str, env: DistEnv) -> None:
    if not env.distributed:
        return
    if strategy == "fsdp":
        wrap_fsdp(task)
    else:
        wrap_ddp(task, env)
