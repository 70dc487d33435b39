"""The last stage: choose the faces to keep, cut their crops, write the unit's shard and its manifest.

Crops are cut from the full decode. In a fresh run the decode stage hands it over in memory; when only the stages
after decoding re-run (say, a new detector setting), the images that have faces to keep are decoded again from their
bytes here, which gives the same pixels, so resumed and uninterrupted runs write byte-identical shards.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from curation.config import CurateConfig
from curation.crops import CropConfig, face_crop
from curation.crops import select_faces as select_faces_at
from curation.decode import decode_image
from curation.pipeline.decisions import decisions_path, read_decisions
from curation.pipeline.detect_stage import DETECT
from curation.pipeline.manifest import write_manifest
from curation.pipeline.records import ItemRecord, to_decoded_pixels
from curation.pipeline.retrieval_step import recheck_crops
from curation.pipeline.retrieve_stage import RETRIEVE
from curation.pipeline.stage import UnitContext, commit
from curation.pipeline.unit_files import faces_from_json
from curation.pipeline.video_records import (
    VIDEO_STATUS,
    count_video_frames,
    frame_image,
    sample_source_fields,
    source_columns,
    video_manifest_row,
)
from curation.types import DECODE_REASONS, VIDEO_REASONS, DecodedImage, DetectedFace, Rejection
from shards import Sample, make_key, write_shard

WRITE = "write"
__all__ = ["WRITE", "CropWriteStage", "select_faces", "to_decoded_pixels"]


class CropWriteStage:
    """With retrieval on, its decisions are an input: the retrieval step's digest enters this stage's config part."""

    name = WRITE
    version = "2"  # 2: captions, video frames and video rows in the manifest and the sample json
    reads = (DETECT, RETRIEVE)
    writes = ("shards/NNNNN.{tar,parquet,_stats.json,done}", "manifest/NNNNN.parquet")
    words = "crop and write shards"
    needs_pixels = False  # crops come from the full decode, not the detector-resolution cache

    def enabled(self, config: CurateConfig) -> bool:
        return True

    def config_part(self, config: CurateConfig, pools: Mapping[str, str]) -> object:
        if RETRIEVE not in pools:
            return {"crops": config.crops}
        return {"crops": config.crops, "decisions": pools[RETRIEVE]}

    def replay(self, ctx: UnitContext, stream: Iterator[ItemRecord]) -> Iterator[ItemRecord]:
        """The last stage: nothing after it reads its records."""
        return stream

    def run(self, ctx: UnitContext, stream: Iterator[ItemRecord]) -> Iterator[ItemRecord]:
        samples: list[Sample] = []
        rows: list[dict[str, Any]] = []
        decisions = unit_decisions(ctx)
        for record in stream:
            unit_samples, row = self.finish(ctx, record, decisions.get(record.item.item))
            samples.extend(unit_samples)
            rows.append(row)
            record.decoded = None
            yield record
        count_video_frames(rows)
        items = [r for r in rows if r["status"] != VIDEO_STATUS]  # a read video's row is counted by its frames
        reasons = Counter(r["reason"] for r in items if r["status"] == "rejected")
        stats = {
            "inputs": len(items),
            "images_kept": sum(r["status"] == "kept" for r in items),
            "failed_to_decode": sum(n for reason, n in reasons.items() if reason in DECODE_REASONS + VIDEO_REASONS),
            "status_dict": dict(sorted(reasons.items())),
        }
        index = ctx.unit.index
        paths = write_shard(ctx.layout.shards, index, samples, stats)
        manifest = ctx.layout.manifest_file(index)
        write_manifest(manifest, rows)
        outputs = [paths.tar, paths.parquet, paths.marker, manifest]
        commit(ctx, self.name, outputs, {"inputs": len(items), "samples": len(samples),
                                         "kept": stats["images_kept"], "rejected": len(items) - stats["images_kept"],
                                         "videos": len(rows) - len(items)})

    def finish(self, ctx: UnitContext, record: ItemRecord,
               decision: dict[str, Any] | None = None) -> tuple[list[Sample], dict[str, Any]]:
        """The samples of one input and its manifest row; ``decision`` is the retrieval step's, if it made one."""
        row = manifest_row(ctx.unit.index, record)
        if record.item.video is not None:
            return [], video_manifest_row(row, record)
        if record.status != "ok":
            return [], row
        crops = ctx.config.crops
        if decision is not None and decision["decision"] == "retrieved":
            record.faces = faces_from_json(decision["faces"])  # the re-check's faces, judged by its rules
            crops = recheck_crops(ctx.config)
        faces = to_decoded_pixels(record.faces or [], record.scale)
        original_per_decoded = record.width / max(1, record.decoded_width)
        kept, reason = select_faces(faces, crops, original_per_decoded)
        row.update(n_faces=len(faces), max_score=max((f.score for f in faces), default=None),
                   largest_face_area_ratio=_largest_ratio(record))
        if decision is not None:
            row.update(decision=decision["decision"], seed_key=decision["seed_key"],
                       similarity=decision["similarity"], duplicate_of=decision["duplicate_of"])
            if not decision["keep"]:
                kept, reason = [], DROP_REASONS.get(decision["decision"], reason)
        if not kept:
            row.update(status="rejected", reason=reason)
            return [], row
        decoded = record.decoded or redecode(ctx, record)
        if isinstance(decoded, Rejection):  # the bytes changed under us: say so rather than write a wrong crop
            row.update(status="rejected", reason=decoded.reason, detail=decoded.detail)
            return [], row
        samples = [self.crop(ctx, record, decoded, faces, face, n, original_per_decoded, decision)
                   for n, face in enumerate(kept)]
        row.update(status="kept", n_kept_faces=len(samples))
        return samples, row

    def crop(self, ctx: UnitContext, record: ItemRecord, decoded: DecodedImage, faces: list[DetectedFace],
             face: DetectedFace, number: int, original_per_decoded: float,
             decision: dict[str, Any] | None = None) -> Sample:
        item = record.item
        key = make_key(ctx.unit.index, item.item, number)
        index = next(i for i, f in enumerate(faces) if f is face)
        jpeg, meta = face_crop(
            decoded.rgb, index, faces, ctx.config.crops, key=key, source_id=item.source_id,
            source_path=item.path, source_url=item.url, original_size=(record.width, record.height),
            scale=original_per_decoded,
        )
        meta = replace(meta, **sample_source_fields(item))
        if decision is not None:
            meta = replace(meta, curation=curation_entry(decision))
        x0, y0, x1, y1 = face.box
        sample_row = {
            "unit": ctx.unit.index, "item": item.item, "face": number, "source_id": item.source_id,
            "score": round(float(face.score), 4),
            "face_width": round((x1 - x0) * original_per_decoded, 1),
            "face_height": round((y1 - y0) * original_per_decoded, 1),
            "face_area_ratio": meta.face_area_ratio, "n_faces": len(meta.faces), "crop_size": meta.crop_size,
            "url": item.url, "caption": item.caption, "source_video": meta.source_video,
            "source_frame": meta.source_frame, "source_time_s": meta.source_time_s,
        }
        return Sample(key=key, members={"jpg": jpeg, "json": meta.to_json()}, row=sample_row)


# Manifest ``reason`` of images the retrieval step dropped (a failed re-check keeps the first pass's reason).
DROP_REASONS = {"duplicate": "duplicate", "cluster_cap": "cluster_cap"}


def unit_decisions(ctx: UnitContext) -> dict[int, dict[str, Any]]:
    """The retrieval step's decisions for this unit by item; empty when retrieval is off."""
    if not ctx.config.retrieval.enabled:
        return {}
    return read_decisions(decisions_path(ctx.layout.work, ctx.unit.index))


def curation_entry(decision: dict[str, Any]) -> dict[str, Any]:
    """The sample json's ``curation`` dict: why the image was kept."""
    entry: dict[str, Any] = {"reason": decision["decision"]}
    if decision["seed_key"] is not None:
        entry.update(seed_key=decision["seed_key"], similarity=decision["similarity"])
    return entry


def select_faces(faces: list[DetectedFace], config: CropConfig,
                 scale: float) -> tuple[list[DetectedFace], str | None]:
    return select_faces_at(faces, config, scale=scale)


def redecode(ctx: UnitContext, record: ItemRecord) -> DecodedImage | Rejection:
    if record.item.frame is not None:  # read again from the video with its unit
        return frame_image(record.item)
    if record.item.data is None:
        return Rejection(record.item.error or "unreadable", record.item.error_detail)
    return decode_image(record.item.data, ctx.config.decode, record.item.source_id)


def _largest_ratio(record: ItemRecord) -> float:
    """Largest face box area over the image area; the ratio is the same at every resolution."""
    if not record.faces or record.decoded_width <= 0:
        return 0.0
    det_width = record.decoded_width * record.scale
    det_height = det_width * record.height / max(1, record.width)
    largest = max((f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in record.faces)
    return round(largest / max(1e-9, det_width * det_height), 6)


def manifest_row(unit: int, record: ItemRecord) -> dict[str, Any]:
    item = record.item
    decoded = record.status == "ok"
    return {
        "key": make_key(unit, item.item), "unit": unit, "item": item.item, "source_id": item.source_id,
        "path": item.path, "url": item.url, "status": "rejected" if not decoded else "kept",
        "reason": record.reason, "detail": record.detail or "",
        "width": record.width if decoded else None, "height": record.height if decoded else None,
        "n_faces": 0 if decoded else None, "n_kept_faces": 0, "max_score": None, "largest_face_area_ratio": None,
        "decision": None, "seed_key": None, "similarity": None, "duplicate_of": None, **source_columns(item),
    }

