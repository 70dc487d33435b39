"""Contact sheets: a grid of kept crops (centre face box and landmarks drawn), and one of rejected inputs with
their reasons (inputs that could not be decoded show as a grey tile naming the reason)."""

from __future__ import annotations

import io
import json
import tarfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from PIL import Image, ImageDraw, ImageFont

from curation.pipeline.layout import RunLayout
from curation.pipeline.unit_files import pixels_from_row
from curation.report.labels import human

LABEL_HEIGHT = 40  # three 12-pixel lines: the label, then the file name over up to two lines


def _font(size: int = 11) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        return ImageFont.load_default()


def _tile(image: Image.Image, side: int, lines: list[str], outline: tuple[int, int, int] | None = None) -> Image.Image:
    """``image`` fitted into a square, under it three lines of text: ``lines[1]`` (a file name: its last path part,
    over up to two lines, cut in the middle only when longer) after ``lines[0]`` (a label, wrapped into the lines
    the name leaves); ``outline`` frames the tile."""
    tile = Image.new("RGB", (side, side + LABEL_HEIGHT), (250, 250, 250))
    image = image.copy()
    image.thumbnail((side, side))
    tile.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    draw = ImageDraw.Draw(tile)
    font = _font(10)
    name = _wrap(draw, _last_part(lines[1]), font, side - 6, 2) if len(lines) > 1 else []
    label = _wrap(draw, lines[0], font, side - 6, 3 - len(name)) if lines else []
    for n, line in enumerate([*label, *name][:3]):
        draw.text((3, side + 2 + 12 * n), line, fill=(30, 30, 30), font=font)
    if outline is not None:
        draw.rectangle((0, 0, tile.width - 1, tile.height - 1), outline=outline, width=3)
    return tile


def _last_part(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or path


def _cut_middle(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """``text``, or its start and its end around an ellipsis, to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    head, tail = text[: len(text) // 2], text[len(text) // 2:]
    while (head or tail) and draw.textlength(f"{head}…{tail}", font=font) > width:
        if len(head) >= len(tail):
            head = head[:-1]
        else:
            tail = tail[1:]
    return f"{head}…{tail}"


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int, lines: int) -> list[str]:
    """``text`` broken into at most ``lines`` lines of ``width`` pixels; what does not fit is cut from its middle."""
    if lines <= 1:
        return [_cut_middle(draw, text, font, width)] if text else []
    out: list[str] = []
    rest = text
    while rest and len(out) < lines - 1:
        cut = len(rest)
        while cut > 1 and draw.textlength(rest[:cut], font=font) > width:
            cut -= 1
        if cut < len(rest):  # break after a space, "_" or "-" when one falls in the line's second half
            soft = max(rest.rfind(mark, 0, cut) for mark in " _-") + 1
            cut = soft if soft > cut // 2 else cut
        out.append(rest[:cut].rstrip(" "))
        rest = rest[cut:]
    if not rest:
        return out
    if draw.textlength(rest, font=font) <= width:
        return out + [rest]
    # Too long for the lines: keep the start on the first lines and the end (the file name's tail) on the last.
    tail = rest
    while tail and draw.textlength("…" + tail, font=font) > width:
        tail = tail[1:]
    return out + ["…" + tail]


def grid(tiles: list[Image.Image], columns: int = 8) -> Image.Image:
    if not tiles:
        empty = Image.new("RGB", (320, 40), (250, 250, 250))
        ImageDraw.Draw(empty).text((8, 12), "(nothing to show)", fill=(90, 90, 90), font=_font(12))
        return empty
    width, height = tiles[0].size
    columns = min(columns, len(tiles))
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (width + 4) + 4, rows * (height + 4) + 4), (200, 200, 200))
    for n, tile in enumerate(tiles):
        sheet.paste(tile, (4 + (n % columns) * (width + 4), 4 + (n // columns) * (height + 4)))
    return sheet


BELOW_MIN_SCORE = (240, 140, 0)  # frame of crops kept through retrieval with a face score below crops.min_score


def kept_tiles(layout: RunLayout, limit: int, side: int, min_score: float | None = None) -> list[Image.Image]:
    """The first ``limit`` crops in key order; those retrieved with a score below ``min_score`` are framed and say so."""
    tiles: list[Image.Image] = []
    for tar_path in sorted(layout.shards.glob("[0-9]*.tar")):
        if not tar_path.with_suffix(".done").exists():
            continue
        with tarfile.open(tar_path) as tar:
            members = {m.name: m for m in tar.getmembers()}
            for name in sorted(n for n in members if n.endswith(".jpg")):
                key = name[: -len(".jpg")]
                image = Image.open(io.BytesIO(tar.extractfile(members[name]).read())).convert("RGB")
                meta = json.loads(tar.extractfile(members[f"{key}.json"]).read())
                _draw_face(image, meta["faces"][0])
                score = meta["faces"][0]["score"]
                retrieved = (meta.get("curation") or {}).get("reason") == "retrieved"
                below = retrieved and min_score is not None and score < min_score
                note = f"score {score:.2f}" + (f" < {min_score:g}, retrieved" if below else
                                               ", retrieved" if retrieved else "")
                tiles.append(_tile(image, side, [note, key], outline=BELOW_MIN_SCORE if below else None))
                if len(tiles) >= limit:
                    return tiles
    return tiles


def _draw_face(image: Image.Image, face: dict[str, Any]) -> None:
    draw = ImageDraw.Draw(image)
    width = max(1, image.width // 112)
    draw.rectangle(face["box"], outline=(0, 220, 0), width=width)
    for x, y in face["landmarks"]:
        r = max(2.0, image.width / 60)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 60, 60))


def pick_rejected(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` rejected rows, taken from every reason in turn so rare reasons show too."""
    by_reason: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["status"] == "rejected":
            by_reason[row["reason"] or "unknown"].append(row)
    picked: list[dict[str, Any]] = []
    queues = [list(reversed(v)) for _, v in sorted(by_reason.items())]
    while len(picked) < limit and any(queues):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop())
    return picked


def rejected_tiles(layout: RunLayout, rows: list[dict[str, Any]], side: int) -> list[Image.Image]:
    pixels = cached_pixels(layout, rows)
    tiles = []
    for row in rows:
        rgb = pixels.get((row["unit"], row["item"]))
        image = Image.fromarray(rgb) if rgb is not None else _reason_card(row["reason"], side)
        tiles.append(_tile(image, side, [human(row["reason"] or "rejected"), row["source_id"] or ""]))
    return tiles


def cached_pixels(layout: RunLayout, rows: list[dict[str, Any]]) -> dict[tuple[int, int], Any]:
    """(unit, item) -> the decode-cache pixels of the manifest ``rows`` that have them, reading only the row groups
    that hold them."""
    wanted: dict[int, set[int]] = defaultdict(set)
    for row in rows:
        wanted[row["unit"]].add(row["item"])
    pixels = {}
    for unit, items in wanted.items():
        cache = layout.decode_cache(unit)
        if not cache.exists():
            continue
        for record in _cached_rows(cache, items):
            rgb = pixels_from_row(record)
            if rgb is not None:
                pixels[(unit, record["item"])] = rgb
    return pixels


def _cached_rows(cache: Path, items: set[int]) -> list[dict[str, Any]]:
    """The decode-cache rows of ``items``, reading only the row groups that hold them."""
    parquet = pq.ParquetFile(cache)
    column = parquet.schema_arrow.get_field_index("item")
    rows = []
    for group in range(parquet.metadata.num_row_groups):
        stats = parquet.metadata.row_group(group).column(column).statistics
        if stats is not None and stats.has_min_max and not any(stats.min <= i <= stats.max for i in items):
            continue
        rows += [r for r in parquet.read_row_group(group).to_pylist() if r["item"] in items]
    return rows


def _reason_card(reason: str | None, side: int) -> Image.Image:
    card = Image.new("RGB", (side, side), (120, 120, 120))
    draw = ImageDraw.Draw(card)
    draw.line((0, 0, side, side), fill=(150, 150, 150), width=2)
    draw.line((0, side, side, 0), fill=(150, 150, 150), width=2)
    draw.text((6, side // 2 - 8), human(reason or "rejected"), fill=(255, 255, 255), font=_font(12))
    return card


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()

