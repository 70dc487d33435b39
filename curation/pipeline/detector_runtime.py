"""The detector as workers run it: built on first use, with onnxruntime threads sized to the worker's share."""

from __future__ import annotations

from dataclasses import replace

from curation.config import CurateConfig
from curation.detect import build_detector
from curation.detect.config import DetectorConfig
from curation.pipeline.resources import threads_per_worker
from curation.pipeline.stage import DetectorFactory
from curation.types import FaceDetector

__all__ = ["DetectorFactory", "LazyDetector", "default_detector_factory", "runtime_detector_config"]


def default_detector_factory(detector_config: DetectorConfig) -> FaceDetector:
    return build_detector(detector_config)


class LazyDetector:
    """Build the detector on first use, once per process: units whose detection is committed never load it."""

    def __init__(self, factory: DetectorFactory, detector_config: DetectorConfig) -> None:
        self.factory = factory
        self.detector_config = detector_config
        self.detector: FaceDetector | None = None

    def __call__(self) -> FaceDetector:
        if self.detector is None:
            self.detector = self.factory(self.detector_config)
        return self.detector


def runtime_detector_config(config: CurateConfig, workers: int, reader_thread: bool = True) -> DetectorConfig:
    """The detector settings a worker runs with: onnxruntime threads = cores / workers less the reader thread,
    unless ``detect.threads`` is set."""
    if config.detect.threads:
        return config.detect
    return replace(config.detect, threads=threads_per_worker(workers, reader_thread))
