"""Decoding reads ahead across unit boundaries: streams stay in order, a failing unit neither stops the run nor leaks
its images into the next unit, and a stopped reader leaves unfinished units uncommitted."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import UserError
from curation.pipeline.manifest import read_manifests
from curation.pipeline.read_ahead import ReadAhead
from curation.pipeline.run import curate
from tests.test_curate_pipeline import GreenSquareDetector, config, photo, shard_bytes


def opened(*streams: Iterator) -> list:
    return [lambda stream=stream: stream for stream in streams]


def test_streams_come_out_whole_and_in_order():
    with ReadAhead(opened(iter(range(3)), iter([]), iter("ab")), depth=2) as ahead:
        assert [list(ahead.next_stream()) for _ in range(3)] == [[0, 1, 2], [], ["a", "b"]]


def test_an_error_ends_only_its_own_stream():
    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("damaged unit")

    def unopenable() -> Iterator[int]:
        raise OSError("unit file vanished")

    with ReadAhead([broken, unopenable, lambda: iter([7, 8])], depth=4) as ahead:
        first = ahead.next_stream()
        assert next(first) == 1
        with pytest.raises(ValueError, match="damaged unit"):
            next(first)
        with pytest.raises(OSError, match="vanished"):
            next(ahead.next_stream())
        assert list(ahead.next_stream()) == [7, 8]


def test_reader_runs_into_the_next_stream_while_the_current_one_is_consumed():
    second_started = threading.Event()

    def second() -> Iterator[str]:
        second_started.set()
        yield "next unit"

    with ReadAhead([lambda: iter([1, 2]), second], depth=8) as ahead:
        current = ahead.next_stream()
        assert next(current) == 1
        assert second_started.wait(timeout=5), "the reader waited for the consumer instead of reading ahead"
        assert list(current) == [2] and list(ahead.next_stream()) == ["next unit"]


def test_skip_rest_moves_to_the_next_stream():
    with ReadAhead(opened(iter(range(100)), iter(["b"])), depth=4) as ahead:
        first = ahead.next_stream()
        assert next(first) == 0
        first.skip_rest()
        assert list(ahead.next_stream()) == ["b"]


def test_closing_early_closes_the_unfinished_stream_without_finishing_it():
    finished, closed = threading.Event(), threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                n += 1
                yield n
            finished.set()  # never reached: the stream must not be reported as finished
        finally:
            closed.set()

    with ReadAhead([endless], depth=2) as ahead:
        assert next(ahead.next_stream()) == 1
    assert closed.wait(timeout=5) and not finished.is_set()


BLUE = (0, 0, 255)


class FailsOnBlueDetector(GreenSquareDetector):
    """Finds green squares, but crashes on any image with a pure-blue mark, as a model would on a bad input."""

    def detect(self, images: Sequence[np.ndarray]) -> list:
        for rgb in images:
            if ((rgb[..., 2] > 200) & (rgb[..., 0] < 60) & (rgb[..., 1] < 60)).sum() > 50:
                raise RuntimeError("detector crashed on a blue-marked image")
        return super().detect(images)


def write_units(folder: Path, blue_unit: int | None) -> None:
    """Three units of three images, one green face each; ``blue_unit``'s first image also has a blue mark."""
    folder.mkdir(parents=True)
    for n in range(9):
        image = np.asarray(photo(320, 240, [(40 + 10 * n, 30, 80)], seed=n)).copy()
        if n // 3 == blue_unit and n % 3 == 0:
            image[200:230, 250:300] = BLUE
        Image.fromarray(image).save(folder / f"img_{n}.png")


def run(folder: Path, out: Path, factory) -> object:
    # config() pins the first pass; workers=1: the in-process path, whose reader thread reads ahead across units
    settings = config("sources.files_per_unit=3", "detect.batch_size=1", "workers=1")
    return curate([str(folder)], out, settings, detector_factory=factory)


def test_a_failing_unit_leaves_the_others_whole_and_a_rerun_finishes_it(tmp_path):
    folder = tmp_path / "dump"
    write_units(folder, blue_unit=1)
    out = tmp_path / "out"
    with pytest.raises(UserError, match=r"(?s)1 input unit\(s\) failed.*unit 1 .*blue-marked"):
        run(folder, out, FailsOnBlueDetector)
    committed = shard_bytes(out)
    assert sorted(name for name in committed if name.endswith(".tar")) == ["00000.tar", "00002.tar"]

    result = run(folder, out, GreenSquareDetector)  # the cause is fixed: the rerun does unit 1 only
    assert result.units_run["write"] == 1
    rows = read_manifests(out / "manifest").to_pylist()
    assert len(rows) == 9 and all(row["status"] == "kept" for row in rows)

    reference = tmp_path / "reference"
    run(folder, reference, GreenSquareDetector)
    assert shard_bytes(out) == shard_bytes(reference)
