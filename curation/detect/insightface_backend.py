"""SCRFD / RetinaFace detectors through insightface's model zoo: a model-pack name or a local ``.onnx`` file.

Packs live in ``MODEL_ROOT/models/NAME/`` (insightface's own layout, default ``~/.insightface``) and are downloaded
by insightface on first use. Without network access the error names the zip to fetch and the folder to unpack it to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError
from curation.detect.config import DetectorConfig
from curation.detect.onnx_session import model_sha256, providers_for, session_options
from curation.detect.registry import register
from curation.types import DetectedFace

DEFAULT_PACK = "buffalo_l"
_DETECTOR_NAME_HINTS = ("det", "scrfd", "retinaface")


def pack_url(name: str) -> str:
    """The release zip insightface downloads for pack ``name``."""
    try:
        from insightface.utils.storage import model_zoo_download_url
    except ImportError:  # insightface <= 0.7 kept the packs under the v0.7 release
        return f"https://github.com/deepinsight/insightface/releases/download/v0.7/{name}.zip"
    return model_zoo_download_url(f"{name}.zip")


def download_pack(name: str, root: Path) -> None:
    """Let insightface download and unpack ``name`` into ``root/models/name``."""
    from insightface.utils.storage import download

    download("models", name, force=True, root=str(root))


def resolve_model_file(config: DetectorConfig) -> Path:
    """The detection ``.onnx`` file ``config.model`` points at, downloading its pack if needed and possible."""
    model = config.model or DEFAULT_PACK
    if model.endswith(".onnx"):
        path = Path(model).expanduser()
        if not path.is_file():
            raise UserError(f"detect.model={model!r}: no such file; give an existing SCRFD / RetinaFace .onnx path")
        return path
    root = Path(config.model_root).expanduser()
    pack_dir = root / "models" / model
    found = find_detector_file(pack_dir)
    if found is not None:
        return found
    try:
        download_pack(model, root)
    except Exception as err:  # any network or unpacking failure: tell the user how to place the pack by hand
        raise UserError(
            f"insightface model pack {model!r} is not in {pack_dir} and could not be downloaded "
            f"({type(err).__name__}). Fetch {pack_url(model)} on a machine with internet access and unzip it so "
            f"that the .onnx files lie in {pack_dir}/ , or set detect.model to a local detector .onnx path"
        ) from err
    found = find_detector_file(pack_dir)
    if found is None:
        raise UserError(f"insightface model pack {model!r} in {pack_dir} has no face detection .onnx file")
    return found


def find_detector_file(pack_dir: Path) -> Path | None:
    """The pack's detection model: named det*/scrfd*/retinaface*, else any file with SCRFD's >= 5 outputs."""
    if not pack_dir.is_dir():
        return None
    files = sorted(pack_dir.rglob("*.onnx"))
    named = [f for f in files if f.name.lower().startswith(_DETECTOR_NAME_HINTS)]
    if named:
        return named[0]
    for path in files:
        if _output_count(path) >= 5:
            return path
    return None


def _output_count(path: Path) -> int:
    import onnx

    return len(onnx.load_model(str(path), load_external_data=False).graph.output)


class InsightFaceDetector:
    """insightface's detector classes (one image per call), mapped to DetectedFace in source pixels."""

    name = "insightface"

    def __init__(self, config: DetectorConfig) -> None:
        from insightface.model_zoo import get_model

        self.config = config
        self.model_file = resolve_model_file(config)
        size = config.input_size
        model = get_model(
            str(self.model_file), providers=providers_for(config), sess_options=session_options(config)
        )
        if model is None or getattr(model, "taskname", None) != "detection":
            raise UserError(
                f"{self.model_file} is not a face detector insightface recognises (SCRFD / RetinaFace layout: "
                "6, 9, 10 or 15 outputs); give a detection .onnx file, e.g. det_10g.onnx from buffalo_l"
            )
        if not getattr(model, "use_kps", False):
            raise UserError(
                f"{self.model_file} detects boxes without the 5 landmarks the crops need; use a *_kps model"
            )
        model.prepare(0, input_size=(size, size), det_thresh=config.score_threshold, nms_thresh=config.nms_iou)
        self.model: Any = model
        self.version = (
            f"insightface-{self.model_file.stem}-{model_sha256(str(self.model_file))[:12]}-in{size}"
            f"-t{config.score_threshold:g}-nms{config.nms_iou:g}"
        )

    def detect(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        return [self._detect_one(image) for image in images]

    def _detect_one(self, rgb: np.ndarray) -> list[DetectedFace]:
        size = self.config.input_size
        bgr = np.ascontiguousarray(rgb[..., ::-1])  # insightface takes OpenCV's BGR order
        boxes, points = self.model.detect(bgr, input_size=(size, size), max_num=0)
        height, width = rgb.shape[:2]
        faces = []
        for box, landmarks in zip(boxes, points):
            x0, x1 = np.clip(box[[0, 2]], 0, width)
            y0, y1 = np.clip(box[[1, 3]], 0, height)
            if x1 > x0 and y1 > y0:
                faces.append(DetectedFace((float(x0), float(y0), float(x1), float(y1)),
                                          landmarks.astype(np.float64), float(box[4])))
        faces.sort(key=lambda face: -face.score)
        return faces


register("insightface", InsightFaceDetector)
