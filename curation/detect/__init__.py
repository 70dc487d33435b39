"""Face detection backends behind the ``FaceDetector`` protocol (curation.types)."""

from curation.detect.config import DetectorConfig
from curation.detect.registry import available_backends, build_detector, register

__all__ = ["DetectorConfig", "available_backends", "build_detector", "register"]
