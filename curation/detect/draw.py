"""Pictures of detections: boxes, landmarks, scores and crop squares drawn over an image (for docs and reports)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from curation.types import DetectedFace

LANDMARK_COLOURS = ((0, 200, 255), (255, 140, 0), (255, 255, 255), (255, 0, 255), (255, 40, 40))  # eyes, nose, mouth
BOX_COLOUR = (40, 230, 40)
CROP_COLOUR = (255, 220, 0)


def draw_detections(
    rgb: np.ndarray,
    faces: Sequence[DetectedFace],
    *,
    crop_squares: Sequence[tuple[float, float, float, float]] = (),
    width: int | None = None,
) -> np.ndarray:
    """A copy of ``rgb`` (resized to ``width`` if given) with each face's box, 5 landmarks and score drawn.

    ``crop_squares`` (x0, y0, x1, y1 in ``rgb`` pixels) are outlined in yellow, e.g. the crops cut around the faces.
    """
    image = Image.fromarray(rgb)
    factor = 1.0
    if width is not None and width != image.width:
        factor = width / image.width
        image = image.resize((width, round(image.height * factor)), Image.LANCZOS)
    pen = ImageDraw.Draw(image)
    line = max(2, round(image.width / 400))
    for square in crop_squares:
        pen.rectangle([v * factor for v in square], outline=CROP_COLOUR, width=max(1, line - 1))
    for face in faces:
        box = [v * factor for v in face.box]
        pen.rectangle(box, outline=BOX_COLOUR, width=line)
        for (x, y), colour in zip(np.asarray(face.landmarks) * factor, LANDMARK_COLOURS):
            pen.ellipse((x - line - 1, y - line - 1, x + line + 1, y + line + 1), fill=colour, outline=(0, 0, 0))
        label = f"{face.score:.2f}"
        left, top, right, bottom = pen.textbbox((box[0], box[3] + 2), label)
        pen.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=(0, 0, 0))
        pen.text((box[0], box[3] + 2), label, fill=BOX_COLOUR)
    return np.asarray(image)
