"""The curation stages: decode -> detect -> crop+write, each one input unit at a time, streaming item by item.

A stage declares its name, version, inputs and outputs, and the part of the run config it depends on (its hash goes
into the stage's commit marker). ``run`` does the work and commits the unit's outputs when its input stream ends;
``replay`` reads a committed unit's outputs back so the stages after it can run without redoing it. Items flow as
``ItemRecord``s; a unit's stages are chained generators, so decoding, detection and writing overlap per unit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from curation.pipeline.layout import RunLayout
from curation.pipeline.markers import StageSignature, write_marker
from curation.pipeline.unit_files import (
    DECODE_SCHEMA,
    DETECT_SCHEMA,
    RowFileWriter,
    faces_from_json,
    faces_to_json,
    iter_rows,
    pixels_from_row,
)
from curation.types import (
    DecodedImage,
    DetectedFace,
    FaceDetector,
    InputItem,
    Rejection,
)
from curation.pipeline.video_records import replayed_frame_pixels, video_decode_record


@dataclass
class ItemRecord:
    """One input on its way through a unit's stages."""

    item: InputItem
    status: str = "ok"  # "ok" while it may still be kept, "rejected" once a stage rejected it
    reason: str | None = None
    detail: str = ""
    width: int = 0  # original size of the source image
    height: int = 0
    format: str = ""
    decoded_width: int = 0
    scale: float = 1.0  # detector-resolution pixels per decoded pixel
    det_rgb: np.ndarray | None = None  # the image the detector sees (the decode stage's cached output)
    decoded: DecodedImage | None = None  # full decode, present only where this process decoded it
    faces: list[DetectedFace] | None = None  # in detector-resolution coordinates


@dataclass
class UnitContext:
    """What a stage needs to process one unit: the run's config and layout, the unit, and its stage signatures."""

    config: Any  # curation.config.CurateConfig
    layout: RunLayout
    unit: Any  # curation.sources.InputUnit
    signatures: dict[str, StageSignature]
    detector: Callable[[], FaceDetector]
    stats: dict[str, dict[str, int]] = field(default_factory=dict)


class Stage(Protocol):
    name: str
    version: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def config_part(self, config: Any) -> Any:
        """The values of the run config this stage's output depends on (hashed into its marker)."""
        ...

    def run(self, ctx: UnitContext, stream: Iterator[Any]) -> Iterator[ItemRecord]:
        ...


def commit(ctx: UnitContext, stage: str, outputs: list, stats: dict[str, int]) -> None:
    ctx.stats[stage] = stats
    names = [str(Path(p).relative_to(ctx.layout.out)) for p in outputs]
    write_marker(ctx.layout.marker(stage, ctx.unit.index), ctx.signatures[stage], names, stats)


def fit_within(rgb: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """``rgb`` shrunk (never enlarged) so its longer side is at most ``side``, and the scale applied."""
    import cv2

    height, width = rgb.shape[:2]
    scale = min(1.0, side / max(height, width))
    if scale >= 1.0:
        return np.ascontiguousarray(rgb), 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return resized, size[0] / width


class DecodeStage:
    """Read and decode every input; keep the image at detector resolution in a per-unit cache."""

    name = "decode"
    version = "1"
    inputs = ("sources",)
    outputs = ("work/decode/NNNNN.parquet",)

    def config_part(self, config: Any) -> Any:
        return {"sources": config.sources, "decode": config.decode, "cache_side": config.detect.input_size,
                "video": config.video}

    def decode(self, ctx: UnitContext, item: InputItem) -> ItemRecord:
        from curation.decode import decode_image

        if item.frame is not None or item.video is not None:
            return video_decode_record(ctx, item)
        if item.data is None:
            return ItemRecord(item, "rejected", item.error or "unreadable", item.error_detail)
        result = decode_image(item.data, ctx.config.decode, item.source_id)
        if isinstance(result, Rejection):
            return ItemRecord(item, "rejected", result.reason, result.detail)
        det_rgb, scale = fit_within(result.rgb, ctx.config.detect.input_size)
        width, height = result.original_size
        return ItemRecord(item, width=width, height=height, format=result.format,
                          decoded_width=result.rgb.shape[1], scale=scale, det_rgb=det_rgb, decoded=result)

    def run(self, ctx: UnitContext, stream: Iterator[InputItem]) -> Iterator[ItemRecord]:
        path = ctx.layout.decode_cache(ctx.unit.index)
        writer = RowFileWriter(path, DECODE_SCHEMA, compression="none")
        counts = {"inputs": 0, "decoded": 0}
        try:
            for item in stream:
                record = self.decode(ctx, item)
                writer.add(_decode_row(record))
                counts["inputs"] += 1
                counts["decoded"] += record.status == "ok"
                yield record
        except BaseException:
            writer.abandon()
            raise
        writer.commit()
        commit(ctx, self.name, [path], counts)

    def replay(self, ctx: UnitContext, stream: Iterator[InputItem], pixels: bool = True) -> Iterator[ItemRecord]:
        """The committed decoding, read back; without ``pixels`` (nothing after will detect or embed) the cached
        images are not read at all, which is most of the file."""
        columns = None if pixels else [name for name in DECODE_SCHEMA.names if name != "pixels"]
        rows = iter_rows(ctx.layout.decode_cache(ctx.unit.index), columns)
        for item, row in _zip_items(ctx, stream, rows, self.name):
            record = ItemRecord(
                item, row["status"], row["reason"], row["detail"] or "", row["width"], row["height"],
                row["format"] or "", row["decoded_width"] or 0, row["scale"], pixels_from_row(row),
            )
            yield replayed_frame_pixels(ctx, record) if pixels and item.frame is not None else record


def _decode_row(record: ItemRecord) -> dict[str, Any]:
    pixels = record.det_rgb
    cached = None if pixels is None or record.item.frame is not None else pixels.tobytes()  # frames: no pixels
    return {
        "item": record.item.item, "status": record.status, "reason": record.reason, "detail": record.detail,
        "width": record.width, "height": record.height, "format": record.format,
        "decoded_width": record.decoded_width, "scale": record.scale,
        "det_width": None if pixels is None else pixels.shape[1],
        "det_height": None if pixels is None else pixels.shape[0],
        "pixels": cached,
    }


def _zip_items(ctx: UnitContext, items: Iterator[InputItem], rows: Iterator[dict], stage: str):
    """Pair the unit's items with a committed stage's rows; they must line up one to one."""
    for item in items:
        row = next(rows, None)
        if row is None or row["item"] != item.item:
            raise RuntimeError(
                f"unit {ctx.unit.index} ({ctx.unit.name}): the committed {stage} output does not match the input "
                f"(item {item.item}); the input changed without changing its fingerprint. Delete "
                f"{ctx.layout.marker(stage, ctx.unit.index)} and run again."
            )
        yield item, row


class DetectStage:
    """Find faces in the detector-resolution images, a batch at a time."""

    name = "detect"
    version = "1"
    inputs = ("decode",)
    outputs = ("work/detect/NNNNN.parquet",)

    def config_part(self, config: Any) -> Any:
        # The thread count changes speed, not results.
        return replace(config.detect, threads=0)

    def run(self, ctx: UnitContext, stream: Iterator[ItemRecord]) -> Iterator[ItemRecord]:
        path = ctx.layout.detections(ctx.unit.index)
        writer = RowFileWriter(path, DETECT_SCHEMA)
        batch_size = ctx.config.detect.batch_size
        counts = {"images": 0, "faces": 0}
        pending: list[ItemRecord] = []
        try:
            for record in stream:
                pending.append(record)
                if sum(r.det_rgb is not None for r in pending) >= batch_size:
                    yield from self._flush(ctx, pending, writer, counts)
                    pending = []
            yield from self._flush(ctx, pending, writer, counts)
        except BaseException:
            writer.abandon()
            raise
        writer.commit()
        commit(ctx, self.name, [path], counts)

    def _flush(self, ctx: UnitContext, records: list[ItemRecord], writer: RowFileWriter, counts: dict):
        images = [r for r in records if r.det_rgb is not None]
        found = ctx.detector().detect([r.det_rgb for r in images]) if images else []
        for record, faces in zip(images, found):
            text = faces_to_json(faces)
            # Round-trip through the stored form, so a fresh run and a resumed one crop from identical numbers.
            record.faces = faces_from_json(text)
            record.det_rgb = None
            writer.add({"item": record.item.item, "faces": text})
            counts["images"] += 1
            counts["faces"] += len(faces)
        yield from records

    def replay(self, ctx: UnitContext, stream: Iterator[ItemRecord]) -> Iterator[ItemRecord]:
        rows = iter_rows(ctx.layout.detections(ctx.unit.index))
        row = next(rows, None)
        for record in stream:
            record.det_rgb = None
            if record.status != "ok":
                yield record
                continue
            if row is None or row["item"] != record.item.item:
                raise RuntimeError(
                    f"unit {ctx.unit.index} ({ctx.unit.name}): committed detections do not match the decode cache "
                    f"at item {record.item.item}; delete {ctx.layout.marker(self.name, ctx.unit.index)} and run again."
                )
            record.faces = faces_from_json(row["faces"])
            row = next(rows, None)
            yield record
