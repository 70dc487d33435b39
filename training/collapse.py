"""The collapse verdict: is a run learning, or collapsing, and which monitor says so (read from ``metrics.jsonl``).

The monitors (training/loss/monitors.py) are judged over the last few records, against the reference values
docs/train.md describes:
- uniform collapse: teacher entropy near log K (>= 90% of it) with KL(teacher || student) near 0 (<= 10% of log K):
  the teacher says "any prototype" and the student has nothing left to learn;
- one-hot collapse: teacher entropy near 0 (<= 10% of log K) with at most 2 prototypes winning any sample;
- feature collapse: the feature standard deviation below 10% of 1/sqrt(D), the spread of unit vectors in D dims.
Otherwise the run is "learning". A rising loss is explained from the same records: loss = H(teacher) + KL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

ENTROPY = "monitor/teacher_entropy"
KL = "monitor/kl_teacher_student"
USED = "monitor/prototypes_used"
FEATURE_STD = "monitor/feature_std"
LOSS = "train/loss"

UNIFORM_ENTROPY_SHARE = 0.9  # entropy >= this share of log K ...
NEAR_ZERO_KL_SHARE = 0.1  # ... with KL <= this share of log K
ONE_HOT_ENTROPY_SHARE = 0.1  # entropy <= this share of log K ...
ONE_HOT_MAX_PROTOTYPES = 2  # ... with at most this many prototypes winning a sample
FEATURE_STD_SHARE = 0.1  # feature std <= this share of 1/sqrt(D)
TAIL_RECORDS = 3  # the verdict reads the mean of the last records, not one noisy window
RISE_SHARE = 0.02  # a loss change under 2% of its start is "flat"

State = Literal["learning", "collapsing", "unknown"]


@dataclass(frozen=True)
class Verdict:
    state: State
    kind: str  # "uniform", "one-hot", "features" when collapsing; "" otherwise
    monitor: str  # the monitor(s) that decided it
    sentence: str  # one line for the log and the pages

    @property
    def headline(self) -> str:
        return f"collapsing ({self.kind})" if self.state == "collapsing" else self.state


def _tail_mean(records: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in records if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    if not values:
        return None
    tail = values[-TAIL_RECORDS:]
    return sum(tail) / len(tail)


def collapse_verdict(records: Sequence[dict[str, Any]], num_prototypes: int, feature_dim: int | None = None) -> Verdict:
    """Judge the last records of a run; ``num_prototypes`` is K, ``feature_dim`` D of the projected features."""
    if num_prototypes < 2:
        raise ValueError(f"num_prototypes={num_prototypes}: a collapse verdict needs K >= 2 prototypes")
    log_k = math.log(num_prototypes)
    entropy, kl, used = _tail_mean(records, ENTROPY), _tail_mean(records, KL), _tail_mean(records, USED)
    spread = _tail_mean(records, FEATURE_STD)
    if entropy is None or kl is None:
        return Verdict("unknown", "", "",
                       "unknown: no collapse monitors recorded yet (one record every run.log_every steps)")
    where = (f"teacher entropy {entropy:.2f} nats of log K = {log_k:.2f} ({100 * entropy / log_k:.0f}%), "
             f"KL(teacher || student) {kl:.3f}")
    if entropy >= UNIFORM_ENTROPY_SHARE * log_k and kl <= NEAR_ZERO_KL_SHARE * log_k:
        return Verdict("collapsing", "uniform", "teacher_entropy + kl_teacher_student",
                       f"collapsing (uniform): {where}; the teacher spreads over all prototypes and the student "
                       f"matches it without learning. Usual causes: too few distinct images for K prototypes "
                       f"(more data, or fewer prototypes, e.g. model.num_prototypes=64) or a teacher not sharp "
                       f"enough (a lower loss.teacher_temp and loss.warmup_teacher_temp)")
    if entropy <= ONE_HOT_ENTROPY_SHARE * log_k and used is not None and used <= ONE_HOT_MAX_PROTOTYPES:
        return Verdict("collapsing", "one-hot", "teacher_entropy + prototypes_used",
                       f"collapsing (one-hot): {where}, {used:.1f} prototype(s) win every sample; try "
                       f"Sinkhorn-Knopp normalisation (loss.teacher_norm=sinkhorn) or mean-entropy maximisation "
                       f"(loss.me_max_weight=1.0)")
    if feature_dim and spread is not None and spread <= FEATURE_STD_SHARE / math.sqrt(feature_dim):
        return Verdict("collapsing", "features", "feature_std",
                       f"collapsing (features): feature std {spread:.4f}, under 10% of the 1/sqrt({feature_dim}) = "
                       f"{1 / math.sqrt(feature_dim):.4f} of spread-out features; {where}")
    return Verdict("learning", "", "teacher_entropy, kl_teacher_student, prototypes_used, feature_std",
                   f"learning: no collapse monitor fires ({where})")


def loss_trend(records: Sequence[dict[str, Any]]) -> str:
    """A sentence on how the loss moved from the first to the last record, and why (loss = H(teacher) + KL)."""
    firsts, lasts = records[:TAIL_RECORDS], records[-TAIL_RECORDS:]
    start, end = _tail_mean(firsts, LOSS), _tail_mean(lasts, LOSS)
    if start is None or end is None or len(records) < 2:
        return ""
    if abs(end - start) <= RISE_SHARE * abs(start):
        return f"The loss stayed near {start:.2f}."
    if end < start:
        return f"The loss fell from {start:.2f} to {end:.2f}."
    entropy_rise = _difference(firsts, lasts, ENTROPY)
    kl_rise = _difference(firsts, lasts, KL)
    sentence = f"The loss rose from {start:.2f} to {end:.2f}"
    if entropy_rise is None or kl_rise is None:
        return sentence + "."
    if entropy_rise >= kl_rise:
        return (sentence + f": the teacher's entropy rose by {entropy_rise:.2f} (its distribution got flatter) and "
                f"KL(teacher || student) changed by {kl_rise:+.2f}. The loss is H(teacher) + KL, so a rise driven by "
                f"the entropy is not the student getting worse; the KL and the collapse verdict tell whether it "
                f"learns.")
    return (sentence + f": KL(teacher || student) rose by {kl_rise:.2f}, so the student matches the teacher less "
            f"well than at the start (the teacher's entropy changed by {entropy_rise:+.2f}).")


def _difference(firsts: Sequence[dict[str, Any]], lasts: Sequence[dict[str, Any]], key: str) -> float | None:
    start, end = _tail_mean(firsts, key), _tail_mean(lasts, key)
    return None if start is None or end is None else end - start


def run_sizes(run_dir: Path) -> tuple[int, int | None]:
    """K and D of a run, from its resolved ``config.yaml``."""
    import yaml

    path = run_dir / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; pass a run directory written by pros train")
    model = (yaml.safe_load(path.read_text()) or {}).get("model", {})
    return int(model["num_prototypes"]), (int(model["bottleneck"]) if "bottleneck" in model else None)


def run_verdict(run_dir: Path) -> Verdict:
    """The verdict of a ``pros train`` run directory."""
    from training.metrics import read_metrics

    num_prototypes, feature_dim = run_sizes(run_dir)
    return collapse_verdict(read_metrics(run_dir), num_prototypes, feature_dim)
