"""Face selection and face-centric crops: which faces become samples, and the square JPEG cut around each.

Geometry: the crop is the square of side ``max(face w, face h) * (1 + 2 * margin)`` centred on the face box, rounded
to whole source pixels, padded where it passes the image border, and resized to ``size`` x ``size``. A point maps
to crop pixels as ``(p - crop_origin) * size / crop_side`` (pixel-corner convention, as cv2.resize uses).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.config import ConfigError
from curation.types import DetectedFace
from shards.sample_meta import Face, SampleMeta

PAD_MODES = ("constant", "edge", "reflect")


@dataclass(frozen=True)
class CropConfig:
    """Which faces become samples and how their crops are cut.

    min_score: a face needs a detection score >= this to be kept.
    min_face_px: ... and a face box whose shorter side is >= this many pixels of the original image.
    max_faces: at most this many samples per image, largest faces first; 0 (default) = no cap, every face that
        passes ``min_score`` and ``min_face_px`` becomes a sample (a group photo gives one sample per clear face).
    margin: the square crop extends the face box's longer side by this fraction on each side. 0.25 gives a crop side
        of 1.5x the face box, so a square face box covers 1 / 1.5^2 = 44% of the crop (CenterFace boxes are about
        0.8 as wide as tall: about 36%); with the hair and neck around it the head fills most of the crop.
    size: output side in pixels.
    jpeg_quality: JPEG quality of the crop (Pillow, 4:2:0 chroma subsampling, no optimisation: deterministic bytes).
    pad_mode: how pixels outside the image are filled: ``constant`` (black), ``edge`` (repeat the border pixel) or
        ``reflect`` (mirror the image at its border).
    """

    min_score: float = 0.7
    min_face_px: int = 40
    max_faces: int = 0
    margin: float = 0.25
    size: int = 224
    jpeg_quality: int = 90
    pad_mode: str = "constant"

    def __post_init__(self) -> None:
        if self.margin < 0:
            raise ConfigError(f"crops.margin={self.margin} must be >= 0 (0 = the face box's longer side exactly)")
        if self.size < 8:
            raise ConfigError(f"crops.size={self.size} must be at least 8 pixels")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"crops.jpeg_quality={self.jpeg_quality} must lie in 1..100")
        if self.max_faces < 0:
            raise ConfigError(f"crops.max_faces={self.max_faces} must be 0 (no cap) or a positive count")
        if self.pad_mode not in PAD_MODES:
            raise ConfigError(f"crops.pad_mode={self.pad_mode!r} is not one of: {', '.join(PAD_MODES)}")


def box_size(face: DetectedFace) -> tuple[float, float]:
    x0, y0, x1, y1 = face.box
    return x1 - x0, y1 - y0


def select_faces(
    faces: Sequence[DetectedFace], config: CropConfig, *, scale: float = 1.0
) -> tuple[list[DetectedFace], str | None]:
    """The faces that become samples, largest first, and None; or [] and why none qualified.

    ``scale`` = original / decoded pixels, so ``min_face_px`` is judged in the original image's pixels.
    Reasons: ``no_face`` (the detector found nothing), ``faces_below_threshold`` (faces found, none passed the rules).
    """
    if not faces:
        return [], "no_face"
    kept = [
        face
        for face in faces
        if face.score >= config.min_score and min(box_size(face)) * scale >= config.min_face_px
    ]
    if not kept:
        return [], "faces_below_threshold"
    kept.sort(key=lambda face: (-_area(face), -face.score))
    return (kept[: config.max_faces] if config.max_faces else kept), None


def largest_face_area_ratio(faces: Sequence[DetectedFace], image_size: tuple[int, int]) -> float:
    """Area of the largest face box over the image's area (0.0 without faces); ``image_size`` = (width, height)."""
    if not faces:
        return 0.0
    return max(_area(face) for face in faces) / float(image_size[0] * image_size[1])


def face_crop(
    rgb: np.ndarray,
    face_index: int,
    faces: Sequence[DetectedFace],
    config: CropConfig,
    *,
    key: str,
    source_id: str,
    source_path: str | None,
    source_url: str | None,
    original_size: tuple[int, int],
    scale: float = 1.0,
) -> tuple[bytes, SampleMeta]:
    """The JPEG crop centred on ``faces[face_index]`` and its sample metadata.

    ``faces`` are all faces detected in ``rgb`` (decoded pixels); every one that overlaps the crop goes into the
    metadata in crop pixels, the centre face first. ``scale`` = original / decoded pixels: ``crop_box`` is reported
    in the original image's pixels, like ``original_size`` (width, height).
    """
    origin_x, origin_y, side = crop_square(faces[face_index], config.margin)
    pixels = cut_square(rgb, origin_x, origin_y, side, config.pad_mode)
    jpeg = encode_jpeg(resize_square(pixels, config.size), config.jpeg_quality)
    factor = config.size / side
    order = [face_index] + [i for i in range(len(faces)) if i != face_index]
    mapped = [_map_face(faces[i], origin_x, origin_y, factor) for i in order]
    inside = [face for i, face in enumerate(mapped) if i == 0 or _overlaps(face.box, config.size)]
    own_w, own_h = box_size(faces[face_index])
    meta = SampleMeta(
        key=key,
        source_id=source_id,
        source_path=source_path,
        source_url=source_url,
        original_size=(int(original_size[0]), int(original_size[1])),
        crop_box=tuple(_round(v * scale) for v in (origin_x, origin_y, origin_x + side, origin_y + side)),
        crop_size=config.size,
        faces=tuple(inside),
        face_area_ratio=_round(own_w * own_h / float(side * side), 4),
    )
    return jpeg, meta


def crop_square(face: DetectedFace, margin: float) -> tuple[int, int, int]:
    """Top-left corner and side, in whole pixels, of the square crop around ``face``."""
    x0, y0, x1, y1 = face.box
    side = max(1, round(max(x1 - x0, y1 - y0) * (1 + 2 * margin)))
    origin_x = round((x0 + x1) / 2 - side / 2)
    origin_y = round((y0 + y1) / 2 - side / 2)
    return origin_x, origin_y, side


def cut_square(rgb: np.ndarray, origin_x: int, origin_y: int, side: int, pad_mode: str) -> np.ndarray:
    """Pixels of the square [origin, origin + side) of ``rgb``, padded by ``pad_mode`` where it leaves the image."""
    height, width = rgb.shape[:2]
    left, top = max(0, origin_x), max(0, origin_y)
    right, bottom = min(width, origin_x + side), min(height, origin_y + side)
    if right <= left or bottom <= top:
        raise ValueError(f"crop square at ({origin_x}, {origin_y}) side {side} lies outside the {width}x{height} image")
    inside = rgb[top:bottom, left:right]
    pads = ((top - origin_y, origin_y + side - bottom), (left - origin_x, origin_x + side - right), (0, 0))
    if not any(before or after for before, after in pads):
        return inside
    return np.pad(inside, pads, mode=pad_mode)


def resize_square(pixels: np.ndarray, size: int) -> np.ndarray:
    import cv2  # heavy (OpenCV, 0.2 s): only processes that cut crops load it

    interpolation = cv2.INTER_AREA if pixels.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(pixels), (size, size), interpolation=interpolation)


def encode_jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, subsampling="4:2:0", optimize=False)
    return buffer.getvalue()


def _map_face(face: DetectedFace, origin_x: int, origin_y: int, factor: float) -> Face:
    x0, y0, x1, y1 = face.box
    box = tuple(_round(v) for v in ((x0 - origin_x) * factor, (y0 - origin_y) * factor,
                                     (x1 - origin_x) * factor, (y1 - origin_y) * factor))
    points = np.asarray(face.landmarks, dtype=np.float64)
    landmarks = tuple((_round((x - origin_x) * factor), _round((y - origin_y) * factor)) for x, y in points)
    return Face(box=box, landmarks=landmarks, score=_round(face.score, 4))


def _overlaps(box: tuple[float, ...], size: int) -> bool:
    x0, y0, x1, y1 = box
    return x1 > 0 and y1 > 0 and x0 < size and y0 < size


def _area(face: DetectedFace) -> float:
    width, height = box_size(face)
    return width * height


def _round(value: float, digits: int = 2) -> float:
    return round(float(value), digits)
