"""The detect stage: find faces in the detector-resolution images, a batch at a time."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

from curation.config import CurateConfig
from curation.pipeline.decode_stage import DECODE
from curation.pipeline.records import ItemRecord
from curation.pipeline.stage import Stats, UnitContext, commit
from curation.pipeline.unit_files import DETECT_SCHEMA, RowFileWriter, faces_from_json, faces_to_json, iter_rows

DETECT = "detect"


class DetectStage:
    name = DETECT
    version = "1"
    reads = (DECODE,)
    writes = ("work/detect/NNNNN.parquet",)
    needs_pixels = True
    words = "detect faces"

    def enabled(self, config: CurateConfig) -> bool:
        return True

    def config_part(self, config: CurateConfig, pools: Mapping[str, str]) -> object:
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

    def _flush(self, ctx: UnitContext, records: list[ItemRecord], writer: RowFileWriter,
               counts: Stats) -> Iterator[ItemRecord]:
        images = [r for r in records if r.det_rgb is not None]
        found = ctx.detector().detect([r.det_rgb for r in images if r.det_rgb is not None]) if images else []
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
