"""The last stage: choose the faces to keep, cut their crops, write the unit's shard and its manifest.

Crops are cut from the full decode. In a fresh run the decode stage hands it over in memory; when only the stages
after decoding re-run (say, a new detector setting), the images that have faces to keep are decoded again from their
bytes here, which gives the same pixels, so resumed and uninterrupted runs write byte-identical shards.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from curation.pipeline.manifest import write_manifest
from curation.pipeline.stages import ItemRecord, UnitContext, commit
from curation.types import DECODE_REASONS, DecodedImage, DetectedFace, Rejection
from shards import Sample, make_key, write_shard


class CropWriteStage:
    name = "write"
    version = "1"
    inputs = ("detect",)
    outputs = ("shards/NNNNN.{tar,parquet,_stats.json,done}", "manifest/NNNNN.parquet")

    def config_part(self, config: Any) -> Any:
        return {"crops": config.crops}

    def run(self, ctx: UnitContext, stream: Iterator[ItemRecord]) -> Iterator[ItemRecord]:
        samples: list[Sample] = []
        rows: list[dict[str, Any]] = []
        for record in stream:
            unit_samples, row = self.finish(ctx, record)
            samples.extend(unit_samples)
            rows.append(row)
            record.decoded = None
            yield record
        reasons = Counter(r["reason"] for r in rows if r["status"] == "rejected")
        stats = {
            "inputs": len(rows),
            "images_kept": sum(r["status"] == "kept" for r in rows),
            "failed_to_decode": sum(n for reason, n in reasons.items() if reason in DECODE_REASONS),
            "status_dict": dict(sorted(reasons.items())),
        }
        index = ctx.unit.index
        paths = write_shard(ctx.layout.shards, index, samples, stats)
        manifest = ctx.layout.manifest_file(index)
        write_manifest(manifest, rows)
        outputs = [paths.tar, paths.parquet, paths.marker, manifest]
        commit(ctx, self.name, outputs, {"inputs": len(rows), "samples": len(samples),
                                         "kept": stats["images_kept"], "rejected": len(rows) - stats["images_kept"]})

    def finish(self, ctx: UnitContext, record: ItemRecord) -> tuple[list[Sample], dict[str, Any]]:
        """The samples of one input and its manifest row."""
        row = manifest_row(ctx.unit.index, record)
        if record.status != "ok":
            return [], row
        faces = to_decoded_pixels(record.faces or [], record.scale)
        original_per_decoded = record.width / max(1, record.decoded_width)
        kept, reason = select_faces(faces, ctx.config.crops, original_per_decoded)
        row.update(n_faces=len(faces), max_score=max((f.score for f in faces), default=None),
                   largest_face_area_ratio=_largest_ratio(record))
        if not kept:
            row.update(status="rejected", reason=reason)
            return [], row
        decoded = record.decoded or redecode(ctx, record)
        if isinstance(decoded, Rejection):  # the bytes changed under us: say so rather than write a wrong crop
            row.update(status="rejected", reason=decoded.reason, detail=decoded.detail)
            return [], row
        samples = [self.crop(ctx, record, decoded, faces, face, n, original_per_decoded) for n, face in enumerate(kept)]
        row.update(status="kept", n_kept_faces=len(samples))
        return samples, row

    def crop(self, ctx: UnitContext, record: ItemRecord, decoded: DecodedImage, faces: list[DetectedFace],
             face: DetectedFace, number: int, original_per_decoded: float) -> Sample:
        from curation.crops import face_crop

        item = record.item
        key = make_key(ctx.unit.index, item.item, number)
        index = next(i for i, f in enumerate(faces) if f is face)
        jpeg, meta = face_crop(
            decoded.rgb, index, faces, ctx.config.crops, key=key, source_id=item.source_id,
            source_path=item.path, source_url=item.url, original_size=(record.width, record.height),
            scale=original_per_decoded,
        )
        x0, y0, x1, y1 = face.box
        sample_row = {
            "unit": ctx.unit.index, "item": item.item, "face": number, "source_id": item.source_id,
            "score": round(float(face.score), 4),
            "face_width": round((x1 - x0) * original_per_decoded, 1),
            "face_height": round((y1 - y0) * original_per_decoded, 1),
            "face_area_ratio": meta.face_area_ratio, "n_faces": len(meta.faces), "crop_size": meta.crop_size,
        }
        return Sample(key=key, members={"jpg": jpeg, "json": meta.to_json()}, row=sample_row)


def select_faces(faces: list[DetectedFace], config: Any, scale: float) -> tuple[list[DetectedFace], str | None]:
    from curation.crops import select_faces as select

    return select(faces, config, scale=scale)


def to_decoded_pixels(faces: list[DetectedFace], scale: float) -> list[DetectedFace]:
    """Faces found at detector resolution, in the decoded image's pixels (``scale`` = detector / decoded)."""
    if scale == 1.0:
        return list(faces)
    return [
        DetectedFace(box=tuple(v / scale for v in f.box), landmarks=f.landmarks / scale, score=f.score)
        for f in faces
    ]


def redecode(ctx: UnitContext, record: ItemRecord) -> DecodedImage | Rejection:
    from curation.decode import decode_image

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
    }

