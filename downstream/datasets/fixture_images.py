"""Tiny synthetic face pictures whose content encodes the label, for fixtures and demos.

Attributes: a grid of cells, cell i bright when attribute i is on. Expressions: a face ellipse whose colour
is the class's. Landmarks: a face ellipse with the points drawn as dots, from a template with the right
semantic order (outer eye corners where each benchmark's NME expects them).
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64


def _noise(rng: np.random.Generator, size: int, level: float = 20.0) -> np.ndarray:
    return rng.normal(0.0, level, size=(size, size, 3))


def attribute_image(bits: np.ndarray, rng: np.random.Generator, size: int = SIZE) -> Image.Image:
    """Cell i of an 8-column grid is bright when ``bits[i]`` is 1, dark otherwise; Gaussian noise on top."""
    cell = size // 8
    pixels = np.full((size, size, 3), 128.0)
    for index, bit in enumerate(bits):
        row, col = divmod(index, 8)
        pixels[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = 220.0 if bit else 35.0
    return Image.fromarray(np.clip(pixels + _noise(rng, size), 0, 255).astype(np.uint8))


def class_color(label: int, num_classes: int) -> tuple[int, int, int]:
    """A distinct, saturated colour per class."""
    r, g, b = colorsys.hsv_to_rgb(label / num_classes, 0.85, 0.95)
    return (int(r * 255), int(g * 255), int(b * 255))


def expression_image(label: int, num_classes: int, rng: np.random.Generator, size: int = SIZE) -> Image.Image:
    """A face-like ellipse filled with the class colour on a noisy grey background, with eyes and a mouth."""
    image = Image.fromarray(np.clip(110 + _noise(rng, size, 30.0), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    m = size // 8
    draw.ellipse((m, m // 2, size - m, size - m // 2), fill=class_color(label, num_classes))
    eye = size // 16
    for cx in (size * 3 // 8, size * 5 // 8):
        draw.ellipse((cx - eye, size * 3 // 8 - eye, cx + eye, size * 3 // 8 + eye), fill=(20, 20, 20))
    draw.line((size * 3 // 8, size * 11 // 16, size * 5 // 8, size * 11 // 16), fill=(20, 20, 20), width=2)
    return image


def landmark_image(points: np.ndarray, rng: np.random.Generator, size: int = SIZE) -> Image.Image:
    """A skin-coloured ellipse around the points, with every point drawn as a dark dot."""
    image = Image.fromarray(np.clip(90 + _noise(rng, size, 25.0), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    draw.ellipse((x0 - 2, y0 - 6, x1 + 2, y1 + 2), fill=(225, 185, 150))
    for x, y in points:
        draw.ellipse((x - 1, y - 1, x + 1, y + 1), fill=(40, 10, 10))
    return image


def _ring(cx: float, cy: float, rx: float, ry: float, n: int) -> list[tuple[float, float]]:
    """n points on an ellipse, starting at its left end and going over the top (image y points down)."""
    angles = np.pi - 2 * np.pi * np.arange(n) / n
    return [(cx + rx * np.cos(a), cy - ry * np.sin(a)) for a in angles]


def _arc(cx: float, cy: float, rx: float, ry: float, n: int) -> list[tuple[float, float]]:
    """n points on the upper half of an ellipse, left to right."""
    angles = np.linspace(np.pi, 0, n)
    return [(cx + rx * np.cos(a), cy - ry * np.sin(a)) for a in angles]


def _line(p: tuple[float, float], q: tuple[float, float], n: int) -> list[tuple[float, float]]:
    return [(p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t) for t in np.linspace(0, 1, n)]


def _jaw(n: int) -> list[tuple[float, float]]:
    angles = np.linspace(np.pi, 0, n)
    return [(0.5 + 0.5 * np.cos(a), 0.3 + 0.7 * np.sin(a)) for a in angles]


def template(num_points: int) -> np.ndarray:
    """Canonical points in the unit square for the 68 (iBUG), 98 (WFLW) or 19 (AFLW-19) point layouts."""
    if num_points == 68:
        pts = _jaw(17) + _arc(0.27, 0.25, 0.15, 0.05, 5) + _arc(0.73, 0.25, 0.15, 0.05, 5)
        pts += _line((0.5, 0.35), (0.5, 0.58), 4) + _line((0.4, 0.65), (0.6, 0.65), 5)
        pts += _ring(0.3, 0.38, 0.08, 0.03, 6) + _ring(0.7, 0.38, 0.08, 0.03, 6)
        pts += _ring(0.5, 0.8, 0.15, 0.06, 12) + _ring(0.5, 0.8, 0.1, 0.025, 8)
    elif num_points == 98:
        pts = _jaw(33) + _ring(0.27, 0.25, 0.15, 0.04, 9) + _ring(0.73, 0.25, 0.15, 0.04, 9)
        pts += _line((0.5, 0.35), (0.5, 0.58), 4) + _line((0.4, 0.65), (0.6, 0.65), 5)
        pts += _ring(0.3, 0.38, 0.08, 0.03, 8) + _ring(0.7, 0.38, 0.08, 0.03, 8)
        pts += _ring(0.5, 0.8, 0.15, 0.06, 12) + _ring(0.5, 0.8, 0.1, 0.025, 8) + [(0.3, 0.38), (0.7, 0.38)]
    elif num_points == 19:
        pts = _line((0.12, 0.25), (0.42, 0.25), 3) + _line((0.58, 0.25), (0.88, 0.25), 3)
        pts += _line((0.22, 0.38), (0.38, 0.38), 3) + _line((0.62, 0.38), (0.78, 0.38), 3)
        pts += _line((0.4, 0.62), (0.6, 0.62), 3) + _line((0.35, 0.8), (0.65, 0.8), 3) + [(0.5, 1.0)]
    else:
        raise ValueError(f"no template for {num_points} points")
    return np.array(pts, dtype=np.float32)


def random_face_points(num_points: int, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """The template scaled to 45-70% of the image, shifted at random, with a little per-point jitter (pixels)."""
    scale = size * rng.uniform(0.45, 0.7)
    margin = size - scale
    offset = rng.uniform(0.1 * margin, 0.9 * margin, size=2)
    jitter = rng.normal(0.0, 0.4, size=(num_points, 2))
    return (template(num_points) * scale + offset + jitter).astype(np.float32)
