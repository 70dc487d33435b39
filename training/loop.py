"""``train(shards, out_dir, config)``: the ProS training run, one process of possibly many (torchrun / SLURM).

Per step: schedule values -> forward (bf16 autocast where native) -> NaN/inf guard (agreed by all ranks) -> backward ->
prototype freeze -> gradient clipping -> AdamW -> teacher EMA. Every ``run.log_every`` steps rank 0 writes a JSONL
record and a log line; every ``run.checkpoint_every`` steps and at the end a checkpoint. A run resumes from its
newest checkpoint by default; its data stream then restarts from a seed that includes the resume step (see
``training.data.dataset``), so the stream moves on instead of replaying.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from core.config import config_hash, to_dict
from core.errors import UserError, check_output_dir
from core.hardware import resolve_precision, resolve_threads
from core.run_info import write_run_info
from shards.urls import expand_urls
from training.checkpoint import latest_checkpoint, list_checkpoints, save_checkpoint
from training.collapse import collapse_verdict, loss_trend
from training.config import TrainConfig
from training.data.batch import device_views, step_generator
from training.data.dataset import MultiCropStream, make_loader, samples_in, split_views, stop_workers
from training.data.preflight import check_training_data
from training.data.waiting import next_batch
from training.distributed import (
    DistEnv,
    all_reduce_max,
    all_reduce_means,
    barrier,
    init_distributed,
    shutdown,
    wrap_for_training,
)
from training.metrics import MetricsWriter, Throughput, peak_memory_mb, progress_line, read_metrics, truncate_jsonl
from training.model.backbone import use_explicit_attention
from training.optim import (
    RunLength,
    Schedules,
    StepValues,
    apply_step_values,
    build_optimizer,
    clip_gradients,
    drop_prototype_gradients,
    run_length,
)
from training.plots import plot_curves
from training.state import (
    Counters,
    DataPosition,
    all_finite,
    capture,
    model_state,
    restore_model,
    restore_optimizer,
    restore_rng,
    seed_everything,
)
from training.stop_request import StopRequest
from training.task import ProSTask

log = logging.getLogger(__name__)


class TrainingDiverged(UserError):
    """Too many consecutive non-finite losses."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    total_steps: int
    skipped_steps: int
    checkpoint: Path | None
    stopped_by: str | None = None  # the signal that stopped the run early (it resumes like any other)


@dataclass
class Run:
    """Everything one process holds while training."""

    config: TrainConfig
    env: DistEnv
    run_dir: Path
    task: ProSTask
    optimizer: torch.optim.Optimizer
    schedules: Schedules
    length: RunLength
    metrics: MetricsWriter
    hash: str
    precision: str = "fp32"  # the resolved run.precision: bf16 or fp32
    step: int = 0
    data: DataPosition = field(default_factory=DataPosition)
    counters: Counters = field(default_factory=Counters)
    last_checkpoint: Path | None = None


def resolve_shards(shards: Sequence[str]) -> list[str]:
    urls = expand_urls(list(shards))
    if not urls:
        raise UserError(
            f"no shards found in {' '.join(shards)}; pass shard tars, a brace list or a directory of NNNNN.tar"
        )
    odd = [u for u in urls if Path(u).exists() and not Path(u).is_file()]
    if odd:
        raise UserError(f"shard {odd[0]} is not a regular file (a folder, FIFO or device); pass shard tars")
    missing = [u for u in urls if not Path(u).is_file()]
    if missing:
        raise UserError(f"shard {missing[0]} does not exist ({len(missing)} of {len(urls)} missing); check the path")
    return urls


def train(shards: Sequence[str], out_dir: Path, config: TrainConfig, command: str = "pros train") -> TrainResult:
    """Train (or resume) a run in ``out_dir`` on ``shards``; see the module docstring."""
    check_output_dir(out_dir)
    urls = resolve_shards(shards)
    check_training_data(urls, config.data)
    env = init_distributed(config.run.device)
    try:
        run = prepare(urls, out_dir, config, env, command)
        result = fit(run, urls)
        barrier(env)  # no rank tears the group down while another is still in a collective (gloo then aborts)
        return result
    finally:
        shutdown()


def prepare(urls: list[str], out_dir: Path, config: TrainConfig, env: DistEnv, command: str) -> Run:
    checkpoint = find_resume_checkpoint(out_dir, config)
    precision = resolve_precision(config.run.precision, env.device.type)
    threads = resolve_threads(config.run.num_threads)
    torch.set_num_threads(int(threads.value))
    if env.is_main:
        log.info("precision %s, %s threads, %d data workers (1 thread each)%s", precision, threads,
                 config.data.num_workers, ", explicit attention (cpu)" if env.device.type == "cpu" else "")
    try:
        samples = config.data.samples_per_epoch or samples_in(urls)
    except ValueError as err:
        raise UserError(f"{err}; write it with shards.write_sizes or set data.samples_per_epoch=N") from err
    length = run_length(samples, config.data.batch_size * env.world_size, config.run.epochs, config.run.max_steps)
    seed_everything(config.run.seed, rank=0)  # the same initial weights on every rank (the teacher is not synced)
    task = ProSTask(config.model, config.loss)
    seed_everything(config.run.seed, env.rank)  # then per-rank randomness (drop-path)
    if checkpoint is not None:
        restore_model(task, checkpoint)
    task.to(env.device)
    if env.device.type == "cpu":
        use_explicit_attention(task)
    wrap_for_training(task, config.run.strategy, env)
    if config.run.compile:
        task.student = torch.compile(task.student)
    optimizer = build_optimizer(task.parameter_groups(config.optim.weight_decay), config.optim)
    run = Run(
        config=config, env=env, run_dir=out_dir, task=task, optimizer=optimizer,
        schedules=Schedules(config.optim, config.loss, length), length=length,
        metrics=MetricsWriter(out_dir, env.is_main, config.run.tensorboard), hash=config_hash(config),
        precision=str(precision.value),
    )
    if checkpoint is not None:
        restore_optimizer(task, optimizer, checkpoint)
        restore_rng(checkpoint, env, config.run.seed)
        run.step = int(checkpoint["step"])
        run.data = DataPosition(**checkpoint["data"])
        run.data.segment_start_step = run.step
        run.counters = Counters(**checkpoint["counters"])
        run.last_checkpoint = Path(checkpoint["path"])
        run.metrics.truncate_after(run.step)
        log.info("resuming %s from step %d (%s)", out_dir, run.step, checkpoint["path"])
    if env.is_main:
        write_run_info(out_dir, config, command)
    return run


def find_resume_checkpoint(out_dir: Path, config: TrainConfig) -> dict[str, Any] | None:
    existing = list_checkpoints(out_dir)
    if not existing:
        return None
    if not config.run.resume:
        raise UserError(
            f"{out_dir} already holds checkpoints (newest: step {existing[-1][0]}) and run.resume=false; "
            "pick a new --out directory, delete its checkpoints/ folder, or drop run.resume=false to continue"
        )
    checkpoint = latest_checkpoint(out_dir)
    if checkpoint is None:
        raise UserError(f"no checkpoint in {out_dir}/checkpoints loads; delete that folder to start over")
    _check_same_model(out_dir, config)
    if checkpoint.get("config_hash") != config_hash(config):
        log.warning("the config differs from the one %s was trained with so far; resuming with the new one", out_dir)
    return checkpoint


def _check_same_model(out_dir: Path, config: TrainConfig) -> None:
    path = out_dir / "config.yaml"
    if not path.exists():
        return
    saved = yaml.safe_load(path.read_text()) or {}
    for section in ("model", "loss"):
        if saved.get(section) not in (None, to_dict(getattr(config, section))):
            raise UserError(
                f"{out_dir} was trained with another {section} config ({path}); resume with the same {section} "
                "settings or choose a new --out directory"
            )


def batches(run: Run, urls: list[str]) -> Iterator[tuple[list[torch.Tensor], list[str], int]]:
    stream = MultiCropStream(urls, run.config.data, run.config.run.seed, run.data.segment_start_step)
    loader = make_loader(stream, run.config.data, pin_memory=run.env.device.type == "cuda")
    iterator = iter(loader)
    try:
        for views, keys, skipped in iterator:
            yield views, list(keys), int(skipped.sum())
    finally:
        # The workers ignore SIGTERM, so stop them here rather than trust garbage collection to do it before exit.
        stop_workers(iterator)


def autocast(run: Run) -> contextlib.AbstractContextManager:
    if run.precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=run.env.device.type, dtype=torch.bfloat16)


def train_step(run: Run, views: list[torch.Tensor], values: StepValues) -> dict[str, torch.Tensor] | None:
    """One optimization step; returns the task's outputs, or None when the loss was not finite (step skipped)."""
    device = run.env.device
    on_device = run.config.data.augment_on == "device"
    generator = step_generator(device, run.config.run.seed, run.step, run.env.rank) if on_device else None
    views = device_views(views, run.config.data, device, generator)
    global_views, local_views = split_views(views)
    apply_step_values(run.optimizer, values)
    with autocast(run):
        out = run.task(global_views, local_views, values.teacher_temp)
    loss = out["loss"]
    if run.step + 1 in run.config.run.inject_nan_steps:
        loss = loss * float("nan")
    bad = all_reduce_max(0.0 if bool(torch.isfinite(loss.detach())) else 1.0, run.env)
    run.optimizer.zero_grad(set_to_none=True)
    if bad:
        return None
    loss.backward()
    if run.schedules.prototypes_frozen(run.step):
        drop_prototype_gradients(run.optimizer)
    params = [p for group in run.optimizer.param_groups for p in group["params"]]
    out["train/grad_norm"] = torch.tensor(clip_gradients(params, run.config.optim.clip_grad))
    run.optimizer.step()
    reshard_teacher(run.task)
    run.task.update_teacher(values.momentum)
    return out


def reshard_teacher(task: ProSTask) -> None:
    """FSDP2 keeps a root module's parameters gathered after a forward without backward; shard them again so the
    EMA pairs student shard with teacher shard. A no-op without FSDP."""
    for module in (task.teacher, getattr(task, "teacher_prototypes", None)):
        if module is not None and hasattr(module, "reshard"):
            module.reshard()


def fit(run: Run, urls: list[str]) -> TrainResult:
    config, env = run.config, run.env
    total = run.length.total_steps
    if run.step >= total:
        log.info("%s is already at step %d of %d; nothing to train", run.run_dir, run.step, total)
        return finish(run, write=False)
    if env.is_main:
        log.info("training %d steps (%d per epoch, global batch %d) on %d shards, %s", total,
                 run.length.steps_per_epoch, run.length.global_batch, len(urls), env.device)
    run.task.train()
    trace = open_trace(run) if config.run.trace_keys and env.is_main else None
    data = batches(run, urls)
    with StopRequest() as stop:
        try:
            return train_steps(run, data, stop, trace, total)
        finally:
            data.close()
            if trace is not None:
                trace.close()


def train_steps(run: Run, data: Iterator, stop: StopRequest, trace: Any, total: int) -> TrainResult:
    config, env = run.config, run.env
    throughput = Throughput()
    window: list[float] = []
    bad_streak = 0
    latest: dict[str, torch.Tensor] = {}
    first_step = run.step + 1  # logged as soon as it is done: the first one waits for the workers to start
    while run.step < total:
        waited = time.perf_counter()
        batch = next_batch(data, stop)
        if batch is None:  # a stop signal came while waiting for data
            result = finish(run, write=True)
            result.stopped_by = stop.received
            return result
        views, keys, skipped = batch
        wait = time.perf_counter() - waited
        values = run.schedules.at(run.step)
        out = train_step(run, views, values)
        run.step += 1
        run.data.samples_seen += len(keys) * env.world_size
        run.data.skipped_samples += skipped
        throughput.add(len(keys) * env.world_size, wait)
        if trace is not None:
            trace.write(json.dumps({"step": run.step, "keys": keys}) + "\n")
        if out is None:
            run.counters.skipped_steps += 1
            bad_streak += 1
            log.warning("step %d: non-finite loss, step skipped (%d in a row)", run.step, bad_streak)
            if bad_streak >= config.run.max_bad_steps:
                raise diverged(run, bad_streak)
        else:
            bad_streak = 0
            window.append(float(out["loss"].detach()))
            latest = out
        if run.step == first_step and env.is_main and run.step % config.run.log_every:
            log.info("step %d/%d done (%.1f s, of which %.1f s waiting for data); a log line every %d steps",
                     run.step, total, time.perf_counter() - waited, wait, config.run.log_every)
        if run.step % config.run.log_every == 0 or run.step == total:
            log_window(run, values, latest, window, throughput)
            window = []
            throughput.reset()
        if run.step % config.run.checkpoint_every == 0 and run.step < total:
            checkpoint(run)
        if config.run.plot_every and run.step % config.run.plot_every == 0 and env.is_main:
            plot_curves(run.run_dir)
        if all_reduce_max(1.0 if stop.received else 0.0, env) and run.step < total:
            result = finish(run, write=True)
            result.stopped_by = stop.received or "a signal on another rank"
            return result
    return finish(run, write=True)


def open_trace(run: Run) -> Any:
    path = run.run_dir / "data_trace.jsonl"
    truncate_jsonl(path, run.step)
    return open(path, "a", buffering=1)


def log_window(run: Run, values: StepValues, out: dict[str, torch.Tensor], window: list[float],
               throughput: Throughput) -> None:
    """Reduce this window's numbers over ranks and write them (rank 0)."""
    record: dict[str, float] = {
        "train/lr": values.lr, "train/weight_decay": values.weight_decay, "train/momentum": values.momentum,
        "train/teacher_temp": values.teacher_temp, "train/epoch": run.step / run.length.steps_per_epoch,
        **throughput.summary(),
    }
    if window:
        record["train/loss"] = sum(window) / len(window)
    record.update({k: float(v) for k, v in out.items() if k != "loss"})
    record = all_reduce_means(record, run.env)  # same keys on every rank: skips are decided by all ranks together
    record["train/skipped_steps"] = float(run.counters.skipped_steps)
    record["data/skipped_samples"] = float(run.data.skipped_samples)
    record["data/samples_seen"] = float(run.data.samples_seen)
    memory = peak_memory_mb(run.env.device)
    record["train/peak_memory_mb"] = memory
    run.metrics.write(run.step, record)
    if run.env.is_main:
        log.info(progress_line(run.step, run.length.total_steps, record, memory))


def checkpoint(run: Run) -> Path | None:
    payload = capture(run.task, run.optimizer, run.step, run.data, run.counters, run.env, run.hash)
    path = None
    if run.env.is_main:
        path = save_checkpoint(run.run_dir, run.step, payload, run.config.run.keep_checkpoints)
        run.last_checkpoint = path
    barrier(run.env)
    return path


def diverged(run: Run, streak: int) -> TrainingDiverged:
    """Save the current (unchanged since the last good step) state if it is finite, and build the error."""
    state_ok = all_finite(model_state(run.task))
    if state_ok:
        checkpoint(run)
    where = run.last_checkpoint or "no checkpoint"
    return TrainingDiverged(
        f"{streak} consecutive steps had a NaN/inf loss (step {run.step}); training stopped. Last valid checkpoint: "
        f"{where}. Lower optim.base_lr, raise optim.warmup_epochs, try run.precision=fp32 or a smaller "
        f"optim.clip_grad, then rerun the same command to resume from it"
    )


def finish(run: Run, write: bool) -> TrainResult:
    if write and (run.last_checkpoint is None or not run.last_checkpoint.name.endswith(f"{run.step:09d}.pt")):
        checkpoint(run)
    if run.env.is_main:
        plot_curves(run.run_dir)
        log_verdict(run)
    run.metrics.close()
    return TrainResult(
        run_dir=run.run_dir, step=run.step, total_steps=run.length.total_steps,
        skipped_steps=run.counters.skipped_steps, checkpoint=run.last_checkpoint,
    )


def log_verdict(run: Run) -> None:
    """The collapse verdict (a warning when collapsing) and how the loss moved, at the end of every run."""
    records, model = read_metrics(run.run_dir), run.config.model
    verdict = collapse_verdict(records, model.num_prototypes, model.bottleneck)
    (log.warning if verdict.state == "collapsing" else log.info)("collapse verdict: %s", verdict.sentence)
    trend = loss_trend(records)
    if trend:
        log.info(trend)
