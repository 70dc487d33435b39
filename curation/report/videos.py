"""The report's video section: per video, frames sampled, with faces and kept (surviving dedup), and a contact strip
of one video's kept frames (the video with the most kept frames; its first face crop per frame, in time order)."""

from __future__ import annotations

import html
import io
import tarfile
from collections import Counter, defaultdict
from typing import Any

from PIL import Image

from curation.pipeline.layout import RunLayout
from curation.report.html_parts import img as _img
from curation.report.html_parts import table as _table
from curation.report.sheets import _tile, grid, png_bytes
from shards.layout import shard_paths

LISTED_VIDEOS = 200  # report.json and the page list this many videos (most frames first); the counts cover all
STRIP_FRAMES = 12
STRIP_NAME = "video_strip.png"


def video_counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals and per-video counts from the manifest rows of a run; empty totals when it read no video."""
    frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["source_video"] is not None:
            frames[row["source_video"]].append(row)
    videos = [row for row in rows if row["frames_sampled"] is not None]
    listed = []
    for video in videos:
        own = frames.get(video["source_id"], [])
        listed.append({
            "key": video["key"], "source_id": video["source_id"], "status": video["status"],
            "reason": video["reason"], "detail": video["detail"], "frames_sampled": video["frames_sampled"],
            "frames_broken": video["frames_broken"],
            "frames_with_faces": sum((r["n_faces"] or 0) > 0 for r in own),
            "frames_duplicate": sum(r["decision"] == "duplicate" for r in own),
            "frames_kept": sum(r["status"] == "kept" for r in own),
        })
    listed.sort(key=lambda v: (-v["frames_sampled"], v["source_id"]))
    return {
        "videos": len(videos),
        "videos_read": sum(v["status"] == "video" for v in listed),
        "videos_rejected": dict(Counter(v["reason"] for v in listed if v["status"] != "video").most_common()),
        **{name: sum(v[name] for v in listed) for name in
           ("frames_sampled", "frames_broken", "frames_with_faces", "frames_duplicate", "frames_kept")},
        "per_video": listed[:LISTED_VIDEOS],
    }


def strip_video(section: dict[str, Any]) -> dict[str, Any] | None:
    """The listed video with the most kept frames (None when no frame was kept)."""
    best = max(section["per_video"], key=lambda v: (v["frames_kept"], v["frames_sampled"]), default=None)
    return best if best is not None and best["frames_kept"] else None


def kept_frame_tiles(layout: RunLayout, rows: list[dict[str, Any]], video: dict[str, Any], side: int) -> list:
    """Tiles of the first crop of each kept frame of ``video``, in frame order, read from its shard."""

    frames = sorted((r for r in rows if r["source_video"] == video["source_id"] and r["status"] == "kept"),
                    key=lambda r: r["source_frame"])[:STRIP_FRAMES]
    if not frames:
        return []
    tar_path = shard_paths(layout.shards, frames[0]["unit"]).tar
    wanted = {f"{r['key']}_f0.jpg": r for r in frames}
    crops: dict[str, bytes] = {}
    with tarfile.open(tar_path) as tar:
        for member in tar:
            if member.name in wanted:
                crops[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    tiles = []
    for name, row in wanted.items():
        if name in crops:
            image = Image.open(io.BytesIO(crops[name])).convert("RGB")
            tiles.append(_tile(image, side, [f"frame {row['source_frame']}", f"{row['source_time_s']:.2f} s"]))
    return tiles


def video_pictures(layout: RunLayout, rows: list[dict[str, Any]], section: dict[str, Any], side: int) -> dict:
    """``{STRIP_NAME: png}`` when a video has kept frames, else nothing."""

    video = strip_video(section)
    if video is None:
        return {}
    tiles = kept_frame_tiles(layout, rows, video, side)
    return {STRIP_NAME: png_bytes(grid(tiles, columns=len(tiles)))} if tiles else {}


def video_section(summary: dict[str, Any], pictures: dict[str, bytes]) -> str:
    """The page's HTML for videos; empty when the run read none."""

    section = summary.get("videos") or {}
    if not section.get("videos"):
        return ""
    totals = {k: section[k] for k in ("videos", "videos_read", "frames_sampled", "frames_broken",
                                      "frames_with_faces", "frames_duplicate", "frames_kept")}
    head = "<tr><th>video</th><th>sampled</th><th>with faces</th><th>duplicates</th><th>kept</th><th>note</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(v['source_id'])}</td><td>{v['frames_sampled']}</td><td>{v['frames_with_faces']}</td>"
        f"<td>{v['frames_duplicate']}</td><td>{v['frames_kept']}</td>"
        f"<td>{html.escape(v['reason'] or '')} {html.escape(v['detail'] or '')}</td></tr>"
        for v in section["per_video"])
    strip = ""
    if STRIP_NAME in pictures and (video := strip_video(section)) is not None:
        strip = (f"<h3>Kept frames of {html.escape(video['source_id'])}</h3>"
                 f"{_img(pictures, STRIP_NAME, 'kept frames of one video')}")
    more = len(section["per_video"]) < section["videos"]
    return f"""<h2>Videos</h2>
<p>Each sampled frame is an input of its own (counted in the totals above); a video's own manifest row has status
<code>video</code>, or <code>rejected</code> with the reason it gave no frames. Kept = kept after detection and
dedup. Dedup links near-duplicate pairs into groups and keeps one image per group, so the frames of a steady shot
mostly end as duplicates of one kept frame; raise <code>retrieval.dedup.threshold</code> to keep more of them.
{' The table lists the videos with the most frames.' if more else ''}</p>
{_table("videos", totals)}
<table><caption>per video</caption>{head}{body}</table>
{strip}"""
