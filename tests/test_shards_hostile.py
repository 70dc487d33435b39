"""``pros shards verify`` on a shard directory where a FIFO stands in for a shard: a problem, never a hang."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shards.verify import verify_directory


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="this platform has no FIFOs")
@pytest.mark.timeout(30)
def test_a_fifo_named_like_a_shard_is_a_problem_not_a_hang(make_shard_dir) -> None:
    folder: Path = make_shard_dir(n_shards=1, per_shard=2)
    os.mkfifo(folder / "00001.tar")
    report = verify_directory(folder)
    assert not report.ok
    assert any("00001.tar" in str(p) and "not a regular file" in str(p) for p in report.problems), report.problems
