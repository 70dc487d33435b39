"""PNG bar charts of the report, drawn with Pillow (fast, no plotting library to import)."""

from __future__ import annotations

import io
from collections.abc import Mapping

from PIL import Image, ImageDraw, ImageFont

from curation.report.labels import human

WIDTH, PLOT_HEIGHT = 720, 186
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP = 56, 16, 44
TICK_GAP, TITLE_GAP, TITLE_HEIGHT = 4, 10, 16  # axis -> tick labels -> axis title -> bottom edge


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _nice_top(value: int) -> int:
    """A round axis maximum at or above ``value``."""
    if value < 20:
        return 4 * (value // 4 + 1)  # integer grid lines at quarters
    step = 10 ** (len(str(value)) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * step:
            return int(factor * step)
    return value


def bar_chart_png(title: str, labels: list[str], counts: list[int], xlabel: str, color: str = "#4C72B0") -> bytes:
    small, normal = _font(11), _font(14)
    # The bottom margin fits the tallest 45-degree tick label, so the axis title sits right under the ticks.
    label_depth = max((_rotated_size(label, small)[1] for label in labels), default=0)
    height = MARGIN_TOP + PLOT_HEIGHT + TICK_GAP + label_depth + TITLE_GAP + TITLE_HEIGHT
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((WIDTH // 2, 8), title, fill="#222", font=normal, anchor="mt")
    left, right, top, bottom = MARGIN_LEFT, WIDTH - MARGIN_RIGHT, MARGIN_TOP, MARGIN_TOP + PLOT_HEIGHT
    top_value = _nice_top(max(counts, default=0))
    for tick in range(5):  # horizontal grid with values
        value = top_value * tick / 4
        y = bottom - (bottom - top) * tick / 4
        draw.line((left, y, right, y), fill="#e5e5e5")
        draw.text((left - 6, y), f"{value:g}", fill="#444", font=small, anchor="rm")
    draw.line((left, top, left, bottom), fill="#888")
    draw.line((left, bottom, right, bottom), fill="#888")
    slot = (right - left) / max(1, len(labels))
    for n, (label, count) in enumerate(zip(labels, counts)):
        x0 = left + n * slot + slot * 0.1
        x1 = left + (n + 1) * slot - slot * 0.1
        y = bottom - (bottom - top) * count / top_value
        if count:
            draw.rectangle((x0, y, x1, bottom), fill=color)
        draw.text(((x0 + x1) / 2, y - 2), str(count), fill="#222", font=small, anchor="mb")
        _rotated_label(image, label, (x0 + x1) / 2, bottom + TICK_GAP, small)
    title_top = bottom + TICK_GAP + label_depth + TITLE_GAP
    draw.text((WIDTH // 2, title_top), xlabel, fill="#222", font=small, anchor="mt")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _text_size(text: str, font: ImageFont.ImageFont) -> tuple[int, int]:
    measure = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font)
    return measure[2] + 2, measure[3] + 2


def _rotated_size(text: str, font: ImageFont.ImageFont) -> tuple[int, int]:
    width, height = _text_size(text, font)
    return Image.new("L", (width, height)).rotate(45, expand=True).size


def _rotated_label(image: Image.Image, text: str, x: float, y: float, font: ImageFont.ImageFont) -> None:
    """``text`` written at 45 degrees, its end at (x, y), as under a bar."""
    width, height = _text_size(text, font)
    label = Image.new("L", (width, height), 0)
    ImageDraw.Draw(label).text((0, 0), text, fill=255, font=font)
    rotated = label.rotate(45, expand=True, resample=Image.Resampling.BICUBIC)
    position = (int(x - rotated.width + 4), int(y))
    image.paste(Image.new("RGB", rotated.size, "#333"), position, rotated)


def histogram_png(title: str, histogram: Mapping[str, list], xlabel: str, integer_edges: bool = False) -> bytes:
    edges, counts = histogram["edges"], histogram["counts"]
    if integer_edges:
        labels = [f"{int(a)}-{int(b)}" if b < 10000 else f">={int(a)}" for a, b in zip(edges[:-1], edges[1:])]
    else:
        labels = [f"{a:.2f}-{b:.2f}" for a, b in zip(edges[:-1], edges[1:])]
    return bar_chart_png(title, labels, list(counts), xlabel)


def counts_png(title: str, counts: Mapping[str, int], xlabel: str, color: str = "#4C72B0") -> bytes:
    labels = [human(k) for k in counts] or ["(none)"]
    return bar_chart_png(title, labels, [int(counts[k]) for k in counts] or [0], xlabel, color)
