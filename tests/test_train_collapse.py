"""The collapse verdict on synthetic monitor series: learning, uniform, one-hot and feature collapse, and the
sentence that explains a rising loss; curves.png draws the reference lines and the verdict."""

from __future__ import annotations

import json
import math

import pytest

from training.collapse import collapse_verdict, loss_trend, run_verdict
from training.plots import plot_curves, reference_lines, verdict_text

K, D = 256, 128
LOG_K = math.log(K)


def series(entropy, kl, used=40.0, std=0.08, loss=None, steps=10):
    """``steps`` records from the first to the second value of each (start, end) pair: 3 records at the start
    value, a linear ramp, 3 records at the end value (the verdict reads the mean of the last 3)."""
    def at(pair, i):
        start, end = pair if isinstance(pair, tuple) else (pair, pair)
        return start + (end - start) * min(max((i - 2) / (steps - 5), 0.0), 1.0)
    records = []
    for i in range(steps):
        record = {"step": 10 * (i + 1), "monitor/teacher_entropy": at(entropy, i),
                  "monitor/kl_teacher_student": at(kl, i), "monitor/prototypes_used": at(used, i),
                  "monitor/feature_std": at(std, i)}
        matching = record["monitor/teacher_entropy"] + record["monitor/kl_teacher_student"]
        record["train/loss"] = at(loss, i) if loss is not None else matching
        records.append(record)
    return records


def test_a_healthy_run_is_learning():
    verdict = collapse_verdict(series(entropy=(4.5, 3.8), kl=(1.5, 1.1)), K, D)
    assert verdict.state == "learning" and verdict.headline == "learning"
    assert "no collapse monitor fires" in verdict.sentence


def test_the_demo_run_entropy_near_log_k_and_small_kl_is_uniform_collapse():
    # what issue 16 saw: entropy rising to 5.2 of log 256 = 5.55 with KL about 0.2
    verdict = collapse_verdict(series(entropy=(4.0, 5.2), kl=(0.9, 0.2)), K, D)
    assert (verdict.state, verdict.kind) == ("collapsing", "uniform")
    assert verdict.headline == "collapsing (uniform)"
    assert "teacher_entropy" in verdict.monitor and "kl_teacher_student" in verdict.monitor
    assert "5.20 nats of log K = 5.55 (94%)" in verdict.sentence


def test_high_entropy_with_a_large_kl_is_not_collapse():
    assert collapse_verdict(series(entropy=5.3, kl=2.0), K, D).state == "learning"


def test_entropy_near_zero_on_one_prototype_is_one_hot_collapse():
    verdict = collapse_verdict(series(entropy=(2.0, 0.05), kl=(1.0, 0.01), used=(30.0, 1.0)), K, D)
    assert (verdict.state, verdict.kind) == ("collapsing", "one-hot")
    assert "prototypes_used" in verdict.monitor


def test_a_sharp_teacher_spread_over_many_prototypes_is_learning():
    assert collapse_verdict(series(entropy=0.1, kl=0.5, used=28.0), K, D).state == "learning"


def test_vanishing_feature_spread_is_feature_collapse():
    verdict = collapse_verdict(series(entropy=3.0, kl=1.0, std=(0.08, 0.001)), K, D)
    assert (verdict.state, verdict.kind, verdict.monitor) == ("collapsing", "features", "feature_std")


def test_the_verdict_reads_the_end_of_the_run_not_its_start():
    recovered = series(entropy=(5.4, 3.5), kl=(0.05, 1.2))
    assert collapse_verdict(recovered, K, D).state == "learning"
    assert collapse_verdict(recovered[:2], K, D).kind == "uniform"


def test_no_monitors_yet_is_unknown():
    assert collapse_verdict([{"step": 1, "train/loss": 5.0}], K, D).state == "unknown"
    with pytest.raises(ValueError, match="K >= 2"):
        collapse_verdict([], 1, D)


def test_a_loss_rising_with_the_teacher_entropy_is_explained():
    sentence = loss_trend(series(entropy=(4.0, 5.2), kl=(0.7, 0.2)))
    assert sentence.startswith("The loss rose from 4.70 to 5.40")
    assert "teacher's entropy rose by 1.2" in sentence and "not the student getting worse" in sentence


def test_a_loss_rising_with_the_kl_says_the_student_matches_worse():
    sentence = loss_trend(series(entropy=3.0, kl=(0.5, 1.5)))
    assert "KL(teacher || student) rose by 1.0" in sentence


def test_falling_and_flat_losses():
    assert loss_trend(series(entropy=(5.0, 3.0), kl=1.0)).startswith("The loss fell from 6.00 to 4.00")
    assert loss_trend(series(entropy=3.0, kl=1.0)) == "The loss stayed near 4.00."
    assert loss_trend([]) == ""


def test_reference_lines_hold_log_k_and_zero():
    lines = reference_lines(K, D)
    assert (pytest.approx(LOG_K), ) == tuple(v for v, _ in lines["monitor/teacher_entropy"][:1])
    assert 0.0 in [v for v, _ in lines["monitor/teacher_entropy"]]
    assert [v for v, _ in lines["monitor/kl_teacher_student"]] == [0.0]
    assert pytest.approx(1 / math.sqrt(D)) in [v for v, _ in lines["monitor/feature_std"]]
    assert "monitor/teacher_entropy" not in reference_lines(None, None)


def write_run(run_dir, records):
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(f"model:\n  num_prototypes: {K}\n  bottleneck: {D}\n")
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_run_verdict_and_curves_read_the_run_directory(tmp_path):
    run = tmp_path / "run"
    records = series(entropy=(4.0, 5.2), kl=(0.9, 0.2))
    write_run(run, records)
    assert run_verdict(run).kind == "uniform"
    headline, footer = verdict_text(records, K, D)
    assert headline == "collapsing (uniform)" and "The loss rose" in footer
    path = plot_curves(run)
    assert path == run / "curves.png" and path.stat().st_size > 10_000


def test_run_verdict_without_a_config_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.yaml is missing"):
        run_verdict(tmp_path)


@pytest.mark.timeout(300)
def test_every_training_run_ends_with_the_verdict_in_the_log(tmp_path, caplog):
    import logging

    from train_helpers import shard_urls, tiny_config

    from training.loop import train

    urls = shard_urls(tmp_path / "shards", n_shards=1, per_shard=16)
    with caplog.at_level(logging.INFO):
        train(urls, tmp_path / "run", tiny_config("run.max_steps=2", "run.log_every=1"))
    verdicts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("collapse verdict: ")]
    assert len(verdicts) == 1 and "teacher entropy" in verdicts[0] and "of log K = 4.16" in verdicts[0]  # K = 64
