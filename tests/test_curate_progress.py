"""Curation progress: a bar on a terminal, a few plain lines elsewhere (never a redrawn bar in a log)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from curation.pipeline.progress import ImageProgress, PlainProgress, open_progress, phase_label


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def plain(total: int | None) -> tuple[PlainProgress, FakeClock, io.StringIO]:
    out = io.StringIO()
    clock = FakeClock()
    return PlainProgress(total, Console(file=out, width=300), "decode, detect faces", clock), clock, out


def test_phases_are_named_for_what_they_do():
    assert phase_label(["write", "decode", "detect", "embed"]) == "decode, embed, detect faces, crop and write shards"
    assert phase_label(["write"]) == "crop and write shards"


def test_a_fast_phase_prints_one_line_at_its_end():
    bar, clock, out = plain(1000)
    with bar:
        for _ in range(1000):
            clock.now += 0.001
            bar.advance(1)
    lines = out.getvalue().splitlines()
    assert lines == ["decode, detect faces: done, 1000/1000 images in 0:00:01 (1,000.0 img/s)"]


def test_a_slow_phase_prints_a_line_per_tenth_at_most_one_per_ten_seconds():
    bar, clock, out = plain(100)
    with bar:
        for _ in range(100):
            clock.now += 2.0  # 200 s in all
            bar.advance(1)
    lines = out.getvalue().splitlines()
    assert 9 <= len(lines) <= 11 and lines[-1].startswith("decode, detect faces: done, 100/100")
    assert lines[0] == "decode, detect faces: 10/100 images (10%), 0.5 img/s, 0:00:20 elapsed, ETA 0:03:00"


def test_without_a_total_a_line_every_thirty_seconds():
    bar, clock, out = plain(None)
    with bar:
        for _ in range(100):
            clock.now += 1.0
            bar.advance(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines[0] == "decode, detect faces: 30 images, 1.0 img/s, 0:00:30 elapsed"


def test_no_final_line_when_the_phase_fails():
    bar, clock, out = plain(10)
    with pytest.raises(RuntimeError), bar:
        bar.advance(1)
        raise RuntimeError("unit failed")
    assert out.getvalue() == ""


def test_a_terminal_gets_the_bar_and_a_log_the_plain_lines():
    assert isinstance(open_progress(5, Console(file=io.StringIO(), force_terminal=True), "x"), ImageProgress)
    assert isinstance(open_progress(5, Console(file=io.StringIO()), "x"), PlainProgress)
