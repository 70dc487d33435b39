"""Detector-independent geometry: letterboxing, non-maximum suppression, CenterFace heatmap decoding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.types import DetectedFace

CENTERFACE_STRIDE = 4


@dataclass(frozen=True)
class Letterbox:
    """Where an image went inside the square detector canvas: content is [0, width) x [0, height), top-left aligned."""

    width: int
    height: int
    scale_x: float  # canvas pixels per source pixel
    scale_y: float


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize ``rgb`` to fit a ``size`` x ``size`` canvas keeping its aspect ratio, zero-padded bottom and right."""
    import cv2  # heavy (OpenCV, 0.2 s): only processes that detect load it

    height, width = rgb.shape[:2]
    scale = size / max(height, width)
    new_width = min(size, max(1, round(width * scale)))
    new_height = min(size, max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(rgb), (new_width, new_height), interpolation=interpolation)
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    canvas[:new_height, :new_width] = resized
    return canvas, Letterbox(new_width, new_height, new_width / width, new_height / height)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, highest score first."""
    x0, y0, x1, y1 = boxes.T
    areas = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter_w = np.maximum(0.0, np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]))
        inter_h = np.maximum(0.0, np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]))
        inter = inter_w * inter_h
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_centerface(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    landmarks: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (N, 4), landmarks (N, 5, 2) and scores (N,) in canvas pixels from one image's CenterFace outputs.

    Shapes: heatmap (1, h, w); scale and offset (2, h, w) as (y, x) channel pairs, scale in log units of the stride;
    landmarks (10, h, w) as (y, x) pairs relative to the box's top-left corner, in units of the box size.
    """
    ys, xs = np.nonzero(heatmap[0] > threshold)
    scores = heatmap[0, ys, xs].astype(np.float32)
    box_h = np.exp(scale[0, ys, xs]) * CENTERFACE_STRIDE
    box_w = np.exp(scale[1, ys, xs]) * CENTERFACE_STRIDE
    center_y = (ys + offset[0, ys, xs] + 0.5) * CENTERFACE_STRIDE
    center_x = (xs + offset[1, ys, xs] + 0.5) * CENTERFACE_STRIDE
    top, left = center_y - box_h / 2, center_x - box_w / 2
    boxes = np.stack([left, top, left + box_w, top + box_h], axis=1).astype(np.float32)
    marks = landmarks[:, ys, xs].T.reshape(-1, 5, 2)  # (N, 5, [y, x])
    points_x = marks[..., 1] * box_w[:, None] + left[:, None]
    points_y = marks[..., 0] * box_h[:, None] + top[:, None]
    points = np.stack([points_x, points_y], axis=-1)
    return boxes, points.astype(np.float32), scores


def to_faces(
    boxes: np.ndarray, points: np.ndarray, scores: np.ndarray, placement: Letterbox, iou_threshold: float
) -> list[DetectedFace]:
    """Suppress overlaps, clip to the image content and map canvas pixels back to source pixels, best first."""
    if len(scores) == 0:
        return []
    keep = nms(boxes, scores, iou_threshold)
    factor = np.array([placement.scale_x, placement.scale_y], dtype=np.float64)
    faces = []
    for index in keep:
        box = boxes[index].astype(np.float64)
        box[[0, 2]] = np.clip(box[[0, 2]], 0, placement.width)
        box[[1, 3]] = np.clip(box[[1, 3]], 0, placement.height)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        source_box = (box.reshape(2, 2) / factor).reshape(4)
        faces.append(
            DetectedFace(
                box=tuple(float(v) for v in source_box),
                landmarks=(points[index].astype(np.float64) / factor),
                score=float(scores[index]),
            )
        )
    return faces
