"""The Ray executor: the same units of work as the local executor, run by a pool of Ray actors on one or many machines.

Each actor holds one detector (built on first use, once per actor) and runs whole units with ``run_unit``, so it
writes the unit's decode cache, detections, shard, manifest and commit markers itself, exactly as a local worker
does; resume therefore works through the same markers. The driver sends unit plans, collects only ``UnitResult``
stats and small progress counts, and drives one progress bar.

Why plain actors rather than Ray Data: one unit is already a pipelined stream (reader thread, batched detection,
writer) that ends in one committed shard, so the unit is the natural grain. A dispatch loop over actors gives
per-unit failures (one bad unit does not end the run), per-item progress from running actors, and no second
serialization of every image between stages; Ray Data would add a per-record dataflow that our markers do not need.

On a cluster ``--out`` (and the inputs) must be on a filesystem every node sees at the same path (NFS, Lustre, a
FUSE-mounted bucket): the actors write there directly.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core.errors import UserError
from core.hardware import usable_cores
from curation.config import CurateConfig, RayConfig
from curation.detect.config import DetectorConfig
from curation.pipeline.detector_runtime import DetectorFactory, LazyDetector, default_detector_factory
from curation.pipeline.layout import RunLayout
from curation.pipeline.planner import UnitPlan
from curation.pipeline.unit import UnitResult, run_unit
from curation.pipeline.unit_failure import UnitFailure
from curation.pipeline.unit_progress import UnitProgress

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25  # how often the driver looks for finished units
PROGRESS_SECONDS = 1.0  # how often it asks running actors for progress (one small call per actor)
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20  # only plans and stats travel through it


class UnitWorker:
    """The body of one Ray actor: holds a detector and runs units, counting finished inputs for the driver.

    The actor is threaded (``max_concurrency=2``) so ``take_progress`` answers while ``run`` works; the driver never
    sends an actor a second unit before the first is done, so the detector is used by one thread at a time.
    """

    def __init__(self, factory: DetectorFactory, detector_config: DetectorConfig) -> None:
        self.detector = LazyDetector(factory, detector_config)
        self.lock = threading.Lock()
        self.unit = -1
        self.pending = 0

    def run(self, plan: UnitPlan, config: CurateConfig, layout: RunLayout) -> UnitResult:
        with self.lock:
            self.unit, self.pending = plan.unit.index, 0
        return run_unit(plan, config, layout, self.detector, self._count)

    def take_progress(self) -> tuple[int, int]:
        """(unit, inputs finished since the last call)."""
        with self.lock:
            taken, self.pending = self.pending, 0
            return self.unit, taken

    def _count(self, n: int) -> None:
        with self.lock:
            self.pending += n


def import_ray() -> Any:
    try:
        import ray  # heavy and optional (the ray extra): only executor=ray loads it
    except ImportError as err:
        raise UserError(
            "executor=ray needs Ray, which is not installed; install it with `pip install 'pros[ray]'` "
            "(or `pip install 'ray[data]'`), or run with the default --executor local"
        ) from err
    return ray


def connect(address: str) -> bool:
    """Connect to the cluster at ``address`` (``ray://HOST:10001``, ``HOST:6379`` or ``auto``), or start a local Ray
    with this machine's cores when ``address`` is empty; returns whether this call started the connection (and so
    must end it). An already initialized Ray (e.g. in a notebook or test) is used as it is."""
    ray = import_ray()

    if ray.is_initialized():
        return False
    try:
        check_reachable(address)
        if address:
            ray.init(address=address, logging_level="WARNING")
        else:
            ray.init(address="local", num_cpus=usable_cores(), include_dashboard=False,
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, logging_level="WARNING")
    except (ConnectionError, RuntimeError, ValueError, OSError) as err:
        if not address:
            raise UserError(
                f"executor=ray: could not start a local Ray instance ({err}); check that /tmp has free space and "
                f"that no firewall blocks local ports, or run with --executor local"
            ) from err
        raise UserError(
            f"--ray-address {address!r}: could not connect to the Ray cluster there ({err}). Start the cluster "
            f"first (`ray start --head` on one node, `ray start --address=HEAD:6379` on the others) and pass "
            f"`auto` (from a cluster node; it also brings the cluster's auth token), HEAD:6379 or "
            f"ray://HEAD:10001; or leave --ray-address out to start Ray on this machine"
        ) from err
    return True


def check_reachable(address: str, seconds: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` nobody listens on (Ray itself retries for minutes); ``auto``, ``ray://`` and
    the empty address are left to Ray."""
    if not address or address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"{address!r} is not HOST:PORT")
    with socket.create_connection((host, int(port)), timeout=seconds):
        pass


def actor_count(settings: RayConfig, units: int) -> int:
    """How many actors to start: ``settings.actors``, or (0) the cluster's CPUs / max(1, ``cpus_per_actor``) so
    onnxruntime threads are not oversubscribed; never more than the cluster can place (an actor Ray cannot place
    would hold its unit forever) nor more than the units to run."""
    ray = import_ray()

    resources = ray.cluster_resources()
    cpus = resources.get("CPU", 0.0)
    fits = int(cpus // settings.cpus_per_actor + 1e-9)
    if settings.gpus_per_actor:
        fits = min(fits, int(resources.get("GPU", 0.0) // settings.gpus_per_actor + 1e-9))
    if fits < 1:
        raise UserError(
            f"the Ray cluster has {cpus:g} CPUs and {resources.get('GPU', 0.0):g} GPUs, too few for one actor with "
            f"ray.cpus_per_actor={settings.cpus_per_actor} and ray.gpus_per_actor={settings.gpus_per_actor}; "
            f"lower them or add nodes"
        )
    wanted = settings.actors or int(cpus // max(1.0, settings.cpus_per_actor))
    return max(1, min(wanted, fits, units))


def actor_threads(settings: RayConfig) -> int:
    """onnxruntime / torch threads of one actor: its whole CPUs, at least 1."""
    return max(1, math.floor(settings.cpus_per_actor))


def actor_detector_config(config: CurateConfig) -> DetectorConfig:
    """onnxruntime threads per actor: ``detect.threads`` when set, else ``actor_threads``."""
    if config.detect.threads:
        return config.detect
    return replace(config.detect, threads=actor_threads(config.ray))


def actor_config(config: CurateConfig) -> CurateConfig:
    """The run settings sent to the actors: the embedder runs with the actor's whole CPUs (at least 1 thread) unless
    ``retrieval.embed.threads`` is set. Left at 0, each actor would take cores / ``workers`` threads: every core of
    its node, in every actor of the node at once. Embedding threads change speed, not signatures."""
    embed = config.retrieval.embed
    if embed.threads:
        return config
    embed = replace(embed, threads=actor_threads(config.ray))
    return replace(config, retrieval=replace(config.retrieval, embed=embed))


@dataclass
class _RaySession:
    """The Ray connection and the actors of one executor, kept between its ``run`` calls (a run with retrieval
    calls it twice: once before the global retrieval step, once after)."""

    started: bool  # this executor started (or connected) Ray, so it ends it
    actors: list[Any] = field(default_factory=list)

    def close(self) -> None:
        ray = import_ray()
        actors, self.actors = self.actors, []
        if not ray.is_initialized():  # the actors ended with the Ray they ran on
            return
        for actor in actors:
            try:
                ray.kill(actor)  # ends a unit still running after Ctrl-C or an error: it stays uncommitted
            except ray.exceptions.RayError:  # an actor of an earlier Ray session: already gone
                continue
        if self.started and ray.is_initialized():
            ray.shutdown()
        self.started = False


@dataclass
class RayExecutor:
    """Runs units on Ray actors. Ray is connected (or started) on the first ``run`` and the actors are kept for the
    next; both end with ``close()``, on an error or Ctrl-C, or when the executor is garbage-collected."""

    config: CurateConfig
    layout: RunLayout
    detector_factory: DetectorFactory = default_detector_factory
    _session: _RaySession | None = field(default=None, init=False, repr=False)

    def run(self, plans: Sequence[UnitPlan], on_items: Callable[[int], None]) -> tuple[list[UnitResult], list[UnitFailure]]:
        import_ray()
        if not plans:
            return [], []
        if self._session is None:
            self._session = _RaySession(connect(self.config.ray.address))
            weakref.finalize(self, self._session.close)
        session = self._session
        try:
            self._add_actors(session, len(plans))
            dispatch = _Dispatch(session.actors, actor_config(self.config), self.layout, on_items)
            results = dispatch.run(plans)
        except BaseException:
            self.close()
            raise
        session.actors = dispatch.idle  # the live ones
        return results

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None  # a later run connects again

    def _add_actors(self, session: _RaySession, units: int) -> None:
        ray = import_ray()
        settings = self.config.ray
        count = actor_count(settings, units)
        if len(session.actors) >= count:
            return
        remote_class = ray.remote(UnitWorker).options(
            num_cpus=settings.cpus_per_actor, num_gpus=settings.gpus_per_actor, max_concurrency=2,
        )
        log.info("starting %d Ray actors (%.2g CPU, %.2g GPU each)", count - len(session.actors),
                 settings.cpus_per_actor, settings.gpus_per_actor)
        detector_config = actor_detector_config(self.config)
        session.actors += [remote_class.remote(self.detector_factory, detector_config)
                           for _ in range(count - len(session.actors))]


class _Dispatch:
    """Hands each idle actor the next unit, polls running actors for progress, and gathers results and failures."""

    def __init__(self, actors: list[Any], config: CurateConfig, layout: RunLayout,
                 on_items: Callable[[int], None]) -> None:
        self.idle = list(actors)
        self.config = config
        self.layout = layout
        self.on_items = on_items
        self.running: dict[Any, tuple[Any, UnitPlan]] = {}  # result ref -> (actor, plan)
        self.progress = UnitProgress(on_items)
        self.results: list[UnitResult] = []
        self.failures: list[UnitFailure] = []
        self.last_poll = 0.0

    def run(self, plans: Sequence[UnitPlan]) -> tuple[list[UnitResult], list[UnitFailure]]:
        ray = import_ray()
        queue = list(plans)
        while queue or self.running:
            while queue and self.idle:
                actor, plan = self.idle.pop(), queue.pop(0)
                self.running[actor.run.remote(plan, self.config, self.layout)] = (actor, plan)
            if not self.running:  # every actor died: the units left are failures, a rerun does them
                self.failures += [UnitFailure(p.unit.index, p.unit.name, "no Ray actor left to run it") for p in queue]
                break
            done, _ = ray.wait(list(self.running), num_returns=1, timeout=POLL_SECONDS)
            if time.monotonic() - self.last_poll >= PROGRESS_SECONDS:
                self.last_poll = time.monotonic()
                self._poll_progress()
            for ref in done:
                self._collect(ref)
        return sorted(self.results, key=lambda r: r.unit), self.failures

    def _collect(self, ref: Any) -> None:
        ray = import_ray()
        from ray.exceptions import RayActorError, RayTaskError  # heavy and optional, as ray itself

        actor, plan = self.running.pop(ref)
        try:
            result = ray.get(ref)
        except RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, UserError):  # a problem every unit would hit (e.g. the model is missing): stop
                raise cause from None
            self.idle.append(actor)
            message = f"{type(cause).__name__}: {cause}" if cause is not None else str(err)
            self.failures.append(UnitFailure(plan.unit.index, plan.unit.name, message))
            return
        except RayActorError as err:  # the actor or its node died; its unit stays uncommitted
            self.failures.append(UnitFailure(plan.unit.index, plan.unit.name, f"Ray actor died: {err}"))
            return
        self.idle.append(actor)
        self.results.append(result)
        self.progress.finish(plan.unit.index, result.items)  # makes the bar exact

    def _poll_progress(self) -> None:
        ray = import_ray()
        from ray.exceptions import RayError  # heavy and optional, as ray itself

        running_units = {plan.unit.index for _, plan in self.running.values()}
        refs = [actor.take_progress.remote() for actor, _ in self.running.values()]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=POLL_SECONDS)
        total = 0
        for ref in ready:
            try:
                unit, n = ray.get(ref)
            except RayError:  # a dying actor; _collect reports it
                continue
            if n and unit in running_units:
                total += self.progress.count(unit, n)
        if total:
            self.on_items(total)  # one update per poll keeps the bar's rate estimate smooth

