"""A contact sheet: a grid of random samples from committed shards, each with its face boxes and 5 landmarks drawn
from its ``.json`` member and its key written underneath, to look at what curation produced.

The main face (``faces[0]``) is boxed in green, other faces in yellow; landmarks are coloured left eye red, right eye
blue, nose green, left mouth corner magenta, right mouth corner cyan.
"""

from __future__ import annotations

import io
import logging
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError, check_output_dir
from shards.sample_meta import SampleMeta
from shards.writer import committed_shards, read_marker

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (24, 24, 24)
MAIN_FACE = (0, 230, 64)
OTHER_FACE = (255, 210, 0)
LANDMARK_COLOURS = ((255, 40, 40), (60, 120, 255), (0, 230, 64), (255, 0, 255), (0, 230, 230))
PAD = 4
LABEL_HEIGHT = 16
HEADER_HEIGHT = 22

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SheetSample:
    shard: str
    key: str
    jpg: bytes | None
    meta: SampleMeta | None


@dataclass(frozen=True)
class SheetResult:
    path: Path
    shown: int  # samples on the sheet
    available: int  # samples in the committed shards


def choose_samples(counts: list[int], n: int, seed: int) -> list[tuple[int, int]]:
    """``n`` distinct (shard position, sample position) pairs drawn uniformly over all samples, in order."""
    total = sum(counts)
    chosen = sorted(random.Random(seed).sample(range(total), min(n, total)))
    pairs, start, shard = [], 0, 0
    for index in chosen:
        while index >= start + counts[shard]:
            start += counts[shard]
            shard += 1
        pairs.append((shard, index - start))
    return pairs


def read_samples_at(tar_path: Path, positions: set[int]) -> list[SheetSample]:
    """The samples at ``positions`` (0-based, in tar order) of one shard; unreadable parts are left as None."""
    wanted: dict[str, dict[str, bytes]] = {}
    keys: list[str] = []
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            for member in tar:
                key, _, ext = member.name.partition(".")
                if not keys or keys[-1] != key:
                    keys.append(key)
                if len(keys) - 1 in positions and member.isfile():
                    handle = tar.extractfile(member)
                    wanted.setdefault(key, {})[ext] = handle.read() if handle is not None else b""
    except (tarfile.TarError, OSError, EOFError) as err:
        log.warning("%s is damaged (%s); its unread samples show as unreadable cells", tar_path, err)
    return [SheetSample(tar_path.name, key, members.get("jpg"), _meta_or_none(members.get("json")))
            for key, members in wanted.items()]


def _meta_or_none(data: bytes | None) -> SampleMeta | None:
    if data is None:
        return None
    try:
        return SampleMeta.from_json(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def draw_cell(sample: SheetSample, cell: int) -> Image.Image:
    """One grid cell: the crop scaled to ``cell`` x ``cell`` with faces drawn, and the key on a strip below."""
    from PIL import Image, ImageDraw

    meta = sample.meta
    tile = Image.new("RGB", (cell, cell + LABEL_HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(tile)
    image = _decode(sample.jpg)
    if image is None:
        draw.line((0, 0, cell, cell), fill=(200, 0, 0), width=2)
        draw.line((0, cell, cell, 0), fill=(200, 0, 0), width=2)
        draw.text((cell / 2, cell / 2), "unreadable jpg", fill=(255, 255, 255), anchor="mm", font=_font(11))
    else:
        sx, sy = cell / image.width, cell / image.height
        tile.paste(image.resize((cell, cell), Image.Resampling.BILINEAR), (0, 0))
        if meta is not None:
            try:
                _draw_faces(draw, meta, sx, sy)
            except (ValueError, TypeError):  # boxes or landmarks of the wrong shape: show the key as without meta
                meta = None
    label = sample.key if meta is not None else f"{sample.key} (no meta)"
    size = 11
    font = _font(size)
    while draw.textlength(label, font=font) > cell - 2 and size > 7 and hasattr(font, "size"):
        size -= 1
        font = _font(size)
    draw.text((cell / 2, cell + LABEL_HEIGHT / 2), label, fill=(235, 235, 235), anchor="mm", font=font)
    return tile


def _decode(data: bytes | None) -> Image.Image | None:
    from PIL import Image

    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb: Image.Image = image.convert("RGB")
            return rgb
    except Exception:  # any decode failure is drawn as an unreadable cell
        return None


def _draw_faces(draw: ImageDraw.ImageDraw, meta: SampleMeta, sx: float, sy: float) -> None:
    # Draw secondary faces first so the main face's box stays on top.
    for number, face in reversed(list(enumerate(meta.faces))):
        x0, y0, x1, y1 = face.box
        colour = MAIN_FACE if number == 0 else OTHER_FACE
        draw.rectangle((x0 * sx, y0 * sy, x1 * sx, y1 * sy), outline=colour, width=2)
        radius = max(1.5, min((x1 - x0) * sx, (y1 - y0) * sy) / 25)
        for (x, y), point_colour in zip(face.landmarks, LANDMARK_COLOURS):
            draw.ellipse((x * sx - radius, y * sy - radius, x * sx + radius, y * sy + radius), fill=point_colour)


def render_sheet(samples: list[SheetSample], cols: int, cell: int, title: str) -> Image.Image:
    from PIL import Image, ImageDraw

    rows = -(-len(samples) // cols)
    width = cols * (cell + PAD) + PAD
    height = HEADER_HEIGHT + rows * (cell + LABEL_HEIGHT + PAD) + PAD
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    ImageDraw.Draw(sheet).text((PAD, HEADER_HEIGHT / 2), title, fill=(235, 235, 235), anchor="lm", font=_font(13))
    for number, sample in enumerate(samples):
        row, col = divmod(number, cols)
        corner = (PAD + col * (cell + PAD), HEADER_HEIGHT + row * (cell + LABEL_HEIGHT + PAD))
        sheet.paste(draw_cell(sample, cell), corner)
    return sheet


def contact_sheet(
    directory: Path, out: Path, n: int = 64, cols: int = 8, seed: int = 0, cell: int = 160
) -> SheetResult:
    """Draw ``n`` random samples (chosen by ``seed``) of the committed shards in ``directory`` into the PNG ``out``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory; pass the shard directory (the one holding 00000.tar ...)")
    if n < 1 or cols < 1 or cell < 16:
        raise UserError(f"--n ({n}) and --cols ({cols}) must be at least 1 and --cell ({cell}) at least 16")
    if out.suffix.lower() != ".png":
        raise UserError(f"output {out} must end in .png; pass e.g. -o sheet.png")
    if out.is_dir():
        raise UserError(f"output {out} is a folder; pass a file name, e.g. -o {out / 'sheet.png'}")
    check_output_dir(out.parent, "-o")
    shards = committed_shards(directory)
    counts = [int((read_marker(paths) or {}).get("count", 0)) for paths in shards]
    if not sum(counts):
        raise UserError(f"{directory} holds no committed sample; run `pros shards verify {directory}` to see why")
    by_shard: dict[int, set[int]] = {}
    for shard, position in choose_samples(counts, n, seed):
        by_shard.setdefault(shard, set()).add(position)
    samples = [sample for shard, positions in sorted(by_shard.items())
               for sample in read_samples_at(shards[shard].tar, positions)]
    title = f"{directory.name}: {len(samples)} of {sum(counts):,} samples, seed {seed}"
    sheet = render_sheet(samples, min(cols, len(samples)), cell, title)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="PNG")
    return SheetResult(out, len(samples), sum(counts))
