"""A corpus of broken and awkward image files for curation tests, generated with Pillow and numpy.

``corrupt_corpus()`` maps file name -> (bytes, expected decode outcome): a reason from DECODE_REASONS, or None
for images that must decode. ``write_corpus(folder)`` writes it, plus a non-UTF-8 file name and a duplicate file.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

NON_UTF8_NAME = b"caf\xe9_photo.jpg"  # Latin-1 bytes, not valid UTF-8


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def noise_rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A 69-byte PNG whose header claims ``width`` x ``height`` RGB pixels (30 GB decoded)."""
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    body = _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + header + body + _png_chunk(b"IEND", b"")


def bad_crc_png() -> bytes:
    data = bytearray(encode(noise_rgb(64, 48), "PNG"))
    data[29] ^= 0xFF  # first byte of the IHDR checksum
    return bytes(data)


def rotated_jpeg(orientation: int = 6) -> bytes:
    """A 60x40 white JPEG with a black block in its stored top-left corner and EXIF orientation ``orientation``."""
    pixels = np.full((40, 60, 3), 255, np.uint8)
    pixels[:12, :12] = 0
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(pixels), "JPEG", quality=95, exif=exif)


def animated(fmt: str) -> bytes:
    """Two frames: red first, blue second."""
    frames = [Image.new("RGB", (48, 40), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    options = {"lossless": True} if fmt == "WEBP" else {}
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **options)


def gray16_png() -> bytes:
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    return encode(Image.fromarray(ramp), "PNG")


def transparent(mode: str) -> bytes:
    """A 40x40 image whose left half is fully transparent (stored colour black) and right half opaque red."""
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:, 20:] = (255, 0, 0, 255)
    image = Image.fromarray(rgba, "RGBA")
    if mode == "P":
        return encode(image.convert("P", palette=Image.Palette.ADAPTIVE, colors=4), "PNG", transparency=0)
    return encode(image.convert(mode), "PNG")


def corrupt_corpus() -> dict[str, tuple[bytes, str | None]]:
    jpeg = encode(noise_rgb(120, 90), "JPEG", quality=90)
    return {
        "zero_bytes.jpg": (b"", "not_an_image"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated"),
        "random_bytes.jpg": (np.random.default_rng(7).bytes(4096), "not_an_image"),
        "bad_crc.png": (bad_crc_png(), "corrupt"),
        "pixel_bomb.png": (png_bomb(), "too_large"),
        "cmyk.jpg": (encode(Image.new("RGB", (64, 48), (255, 0, 0)).convert("CMYK"), "JPEG", quality=95), None),
        "gray16.png": (gray16_png(), None),
        "animated.gif": (animated("GIF"), None),
        "exif_rotated.jpg": (rotated_jpeg(6), None),
        "thin_1x5000.png": (encode(Image.new("RGB", (1, 5000), (9, 9, 9)), "PNG"), "too_small"),
        "tiny_8x8.png": (encode(Image.new("RGB", (8, 8), (9, 9, 9)), "PNG"), "too_small"),
        "portable_pixmap.jpg": (encode(noise_rgb(40, 40), "PPM"), "unsupported_format"),
        "ok.jpg": (jpeg, None),
    }


def write_corpus(folder: Path) -> dict[str, str | None]:
    """Write the corpus into ``folder`` and return relative name -> expected outcome, including a non-UTF-8 name
    (decodes) and two byte-identical files (both decode)."""
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str | None] = {}
    for name, (data, outcome) in corrupt_corpus().items():
        (folder / name).write_bytes(data)
        expected[name] = outcome
    photo = encode(noise_rgb(80, 60, seed=3), "JPEG")
    with open(os.path.join(os.fsencode(folder), NON_UTF8_NAME), "wb") as handle:
        handle.write(photo)
    expected[os.fsdecode(NON_UTF8_NAME)] = None
    for name in ("duplicate_a.jpg", "duplicate_b.jpg"):
        (folder / name).write_bytes(photo)
        expected[name] = None
    return expected
