"""The report's words and pictures: readable labels, file names cut in the middle, no gap under histogram ticks."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from curation.report.labels import human
from curation.report.plots import counts_png, histogram_png
from curation.report.sheets import _cut_middle, _font, _last_part, _tile, _wrap


def test_labels_are_words_not_snake_case():
    assert human("no_face") == "no face found"
    assert human("recheck_faces_below_threshold") == "re-check: faces below threshold"
    assert human("some_new_reason") == "some new reason"
    assert "_" not in human("kept_below_min_score").replace("crops.min_score", "")


def blank_rows_under_the_plot(png: bytes) -> int:
    """The longest run of white rows between the x axis and the bottom edge of a chart."""
    gray = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    axis = max(y for y in range(gray.shape[0]) if (gray[y, 60:700] < 200).mean() > 0.9)  # the x axis line
    longest = run = 0
    for row in gray[axis + 1:]:
        run = run + 1 if row.min() > 240 else 0
        longest = max(longest, run)
    return longest


def test_axis_title_sits_close_under_the_tick_labels_whatever_their_length():
    short = counts_png("outcomes", {"kept": 3, "no_face": 2}, "outcome")
    long = counts_png("outcomes", {"kept": 3, "faces_below_threshold": 2, "unsupported_format": 1}, "outcome")
    scores = histogram_png("scores", {"edges": [0.0, 0.5, 1.0], "counts": [1, 2]}, "score")
    for png in (short, long, scores):
        assert blank_rows_under_the_plot(png) <= 16
    assert Image.open(io.BytesIO(long)).height > Image.open(io.BytesIO(short)).height


def test_file_names_wrap_and_keep_their_start_and_end():
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    font = _font(10)
    name = "insightface_Tom_Hanks_54745_1_with_a_very_long_suffix_that_cannot_fit.jpg"
    lines = _wrap(draw, name, font, 106, 2)
    assert len(lines) == 2 and lines[0] == name[: len(lines[0])] and lines[1].startswith("…")
    assert name.endswith(lines[1][1:]) and all(draw.textlength(line, font=font) <= 106 for line in lines)
    assert _wrap(draw, "a.jpg", font, 106, 2) == ["a.jpg"]
    cut = _cut_middle(draw, name, font, 106)
    head, tail = cut.split("…")
    assert name.startswith(head) and name.endswith(tail) and head and tail


def test_tile_shows_the_file_name_not_its_folders():
    assert _last_part("/some/long/folder/path/face.jpg") == "face.jpg"
    assert _last_part("00000_0000004_f0") == "00000_0000004_f0"
    tile = _tile(Image.new("RGB", (50, 50), "red"), 112, ["kept", "/some/long/folder/path/face.jpg"], outline=(0, 0, 0))
    assert tile.size == (112, 112 + 40) and tile.getpixel((0, 0)) == (0, 0, 0)


def test_a_label_on_one_line_is_cut_in_the_middle_not_at_the_front():
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text = "score 0.80 < 0.85, retrieved from a very long seed name"
    (line,) = _wrap(draw, text, _font(10), 106, 1)
    head, tail = line.split("…")
    assert text.startswith(head) and text.endswith(tail) and head and tail
