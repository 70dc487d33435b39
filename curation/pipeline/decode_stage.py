"""The source stage: read and decode every input; keep the image at detector resolution in a per-unit cache."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from curation.config import CurateConfig
from curation.decode import decode_image
from curation.pipeline.records import ItemRecord, fit_within
from curation.pipeline.stage import UnitContext, commit, zip_items
from curation.pipeline.unit_files import DECODE_SCHEMA, RowFileWriter, iter_rows, pixels_from_row
from curation.pipeline.video_records import replayed_frame_pixels, video_decode_record
from curation.types import InputItem, Rejection

DECODE = "decode"


class DecodeStage:
    name = DECODE
    version = "1"
    reads: tuple[str, ...] = ()
    writes = ("work/decode/NNNNN.parquet",)
    words = "decode"

    def enabled(self, config: CurateConfig) -> bool:
        return True

    def config_part(self, config: CurateConfig, pools: Mapping[str, str]) -> object:
        return {"sources": config.sources, "decode": config.decode, "cache_side": config.detect.input_size,
                "video": config.video}

    def decode(self, ctx: UnitContext, item: InputItem) -> ItemRecord:
        if item.frame is not None or item.video is not None:
            return video_decode_record(item, ctx.config.detect.input_size)
        if item.data is None:
            return ItemRecord(item, "rejected", item.error or "unreadable", item.error_detail)
        result = decode_image(item.data, ctx.config.decode, item.source_id)
        if isinstance(result, Rejection):
            return ItemRecord(item, "rejected", result.reason, result.detail)
        det_rgb, scale = fit_within(result.rgb, ctx.config.detect.input_size)
        width, height = result.original_size
        return ItemRecord(item, width=width, height=height, format=result.format,
                          decoded_width=result.rgb.shape[1], scale=scale, det_rgb=det_rgb, decoded=result)

    def run(self, ctx: UnitContext, items: Iterator[InputItem]) -> Iterator[ItemRecord]:
        path = ctx.layout.decode_cache(ctx.unit.index)
        writer = RowFileWriter(path, DECODE_SCHEMA, compression="none")
        counts = {"inputs": 0, "decoded": 0}
        try:
            for item in items:
                record = self.decode(ctx, item)
                writer.add(decode_row(record))
                counts["inputs"] += 1
                counts["decoded"] += record.status == "ok"
                yield record
        except BaseException:
            writer.abandon()
            raise
        writer.commit()
        commit(ctx, self.name, [path], counts)

    def replay(self, ctx: UnitContext, items: Iterator[InputItem], pixels: bool = True) -> Iterator[ItemRecord]:
        """The committed decoding, read back; without ``pixels`` (nothing after will detect or embed) the cached
        images are not read at all, which is most of the file."""
        columns = None if pixels else [name for name in DECODE_SCHEMA.names if name != "pixels"]
        rows = iter_rows(ctx.layout.decode_cache(ctx.unit.index), columns)
        for item, row in zip_items(ctx, items, rows, self.name):
            record = ItemRecord(
                item, row["status"], row["reason"], row["detail"] or "", row["width"], row["height"],
                row["format"] or "", row["decoded_width"] or 0, row["scale"], pixels_from_row(row),
            )
            yield replayed_frame_pixels(record, ctx.config.detect.input_size) if pixels and item.frame is not None \
                else record


def decode_row(record: ItemRecord) -> dict[str, Any]:
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
