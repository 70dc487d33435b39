"""How video frames and videos' own rows pass the per-unit stages.

A sampled frame is decoded already (its pixels came with it from the reader thread); its decode-cache row holds its
sizes but no pixels, so the cache does not grow with frames, kept or rejected: a stage that needs a frame's pixels
again gets them from the video, which is read again whenever its unit is (see ``DecodeStage.replay``). A video's own
row passes every stage untouched (status ``video``, or ``rejected`` with the reason it gave no frames) and becomes
its manifest row, whose frame counts are filled in from its frames' rows.
"""

from __future__ import annotations

from typing import Any

from curation.pipeline.records import ItemRecord, fit_within
from curation.types import DecodedImage, InputItem

VIDEO_STATUS = "video"
FRAME_FORMAT = "VIDEO_FRAME"  # the decode cache's ``format`` of a frame


def video_decode_record(item: InputItem, input_size: int) -> ItemRecord:
    """The decode stage's record of a frame or of a video's own row (``input_size``: the detector's side)."""
    if item.video is not None:
        if item.error is not None:
            return ItemRecord(item, "rejected", item.error, item.error_detail)
        return ItemRecord(item, VIDEO_STATUS, None, _video_detail(item), width=item.video.width,
                          height=item.video.height, format="VIDEO")
    decoded = frame_image(item)
    det_rgb, scale = fit_within(decoded.rgb, input_size)
    width, height = decoded.original_size
    return ItemRecord(item, width=width, height=height, format=FRAME_FORMAT, decoded_width=width, scale=scale,
                      det_rgb=det_rgb, decoded=decoded)


def frame_image(item: InputItem) -> DecodedImage:
    rgb = item.frame.rgb  # type: ignore[union-attr]
    return DecodedImage(rgb=rgb, original_size=(rgb.shape[1], rgb.shape[0]), format=FRAME_FORMAT)


def replayed_frame_pixels(record: ItemRecord, input_size: int) -> ItemRecord:
    """A replayed frame record with its detector-resolution pixels rebuilt from the frame read again."""
    if record.status == "ok" and record.item.frame is not None:
        record.det_rgb = fit_within(record.item.frame.rgb, input_size)[0]
    return record


def _video_detail(item: InputItem) -> str:
    summary = item.video
    parts = [summary.description] if summary.description else []  # type: ignore[union-attr]
    if item.error_detail:
        parts.append(item.error_detail)
    return "; ".join(parts)


def source_columns(item: InputItem) -> dict[str, Any]:
    """The manifest's source columns: caption, and for a frame its video, index and time."""
    frame = item.frame
    return {
        "caption": item.caption,
        "source_video": None if frame is None else frame.video,
        "source_frame": None if frame is None else frame.index,
        "source_time_s": None if frame is None else frame.time_s,
        "frames_sampled": None if item.video is None else item.video.frames_sampled,
        "frames_broken": None if item.video is None else item.video.frames_broken,
        "frames_kept": None,
    }


def video_manifest_row(row: dict[str, Any], record: ItemRecord) -> dict[str, Any]:
    """The manifest row of a video's own record (``row`` as ``manifest_row`` made it)."""
    if record.status == VIDEO_STATUS:
        row.update(status=VIDEO_STATUS, reason=None, width=record.width, height=record.height, n_faces=None)
    return row


def count_video_frames(rows: list[dict[str, Any]]) -> None:
    """Fill each video row's ``frames_kept`` from its frames' rows (all in the same unit)."""
    kept: dict[str, int] = {}
    for row in rows:
        if row.get("source_video") is not None:
            kept[row["source_video"]] = kept.get(row["source_video"], 0) + (row["status"] == "kept")
    for row in rows:
        if row.get("frames_sampled") is not None:
            row["frames_kept"] = kept.get(row["source_id"], 0)


def sample_source_fields(item: InputItem) -> dict[str, Any]:
    """The sample json's caption and frame fields (``SampleMeta``), for ``dataclasses.replace``."""
    frame = item.frame
    fields: dict[str, Any] = {"caption": item.caption}
    if frame is not None:
        fields.update(source_video=frame.video, source_frame=frame.index, source_time_s=frame.time_s)
    return fields
