"""Raw bytes -> RGB uint8 array, safely: header checks before any pixel is decoded, every failure a Rejection.

Order of work: identify the format from the header; reject by pixel count (decompression bombs) and by shorter
side; for big JPEGs ask libjpeg for a reduced-size decode (``draft``); decode; convert the mode to RGB
(transparency composited onto ``background``; 16-bit scaled to 8-bit; CMYK converted without colour management);
apply the EXIF orientation. Animated images give their first frame.
"""

from __future__ import annotations

import functools
import io
import math
import struct
import warnings
import zlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from curation.decode_config import DecodeConfig
from curation.types import DecodedImage, Rejection

__all__ = ["DecodeConfig", "decode_image"]

# Pillow warns between MAX_IMAGE_PIXELS and twice that; decode_image rejects everything above max_pixels itself.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
)
_EXIF_ORIENTATION = 0x0112


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.rejection = Rejection(reason, detail)


def decode_image(data: bytes, config: DecodeConfig, name: str = "") -> DecodedImage | Rejection:
    """Decode ``data`` (``name`` only enters messages). Never raises on bad bytes; returns a Rejection instead."""
    if not data:
        return Rejection("not_an_image", "empty file (0 bytes)")
    if Image.MAX_IMAGE_PIXELS != config.max_pixels:
        Image.MAX_IMAGE_PIXELS = config.max_pixels  # Pillow's own bomb error then fires only above our limit
    try:
        return _decode(data, config, name)
    except _Reject as rejected:
        return rejected.rejection
    except Image.DecompressionBombError as err:
        return Rejection("too_large", str(err))
    except MemoryError:
        return Rejection("too_large", "out of memory while decoding")
    except Exception as err:  # Pillow and its codecs raise many types on damaged data
        return _classify(err)


def _classify(err: Exception) -> Rejection:
    message = str(err) or type(err).__name__
    if isinstance(err, EOFError) or "truncat" in message.lower():
        return Rejection("truncated", message)
    return Rejection("corrupt", f"{type(err).__name__}: {message}")


def _sniff(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in _SIGNATURES if data.startswith(magic)), None)


@functools.lru_cache(maxsize=8)
def _available(formats: tuple[str, ...]) -> tuple[str, ...]:
    """The accepted formats this Pillow has plugins for (Pillow 13 folds MPO into JPEG, for example)."""
    Image.init()
    return tuple(f for f in (name.upper() for name in formats) if f in Image.OPEN)


def _open(data: bytes, config: DecodeConfig, name: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=_available(tuple(config.formats)))
    except UnidentifiedImageError:
        pass
    try:
        other = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise
    except Exception:
        sniffed = _sniff(data)
        if sniffed is not None:
            raise _Reject("corrupt", f"{sniffed} signature but its header cannot be parsed") from None
        looks = "HTML text" if data.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")) else "no image format"
        named = f" named {name!r}" if name else ""
        raise _Reject("not_an_image", f"{len(data)} bytes{named}: {looks}") from None
    raise _Reject("unsupported_format", f"{other.format} is not among the accepted formats {config.formats}")


def _decode(data: bytes, config: DecodeConfig, name: str) -> DecodedImage:
    image = _open(data, config, name)
    width, height = image.size
    if width * height > config.max_pixels:
        raise _Reject("too_large", f"{width}x{height} = {width * height} pixels, above max_pixels={config.max_pixels}")
    if min(width, height) < config.min_side:
        raise _Reject("too_small", f"{width}x{height}, shorter side below min_side={config.min_side}")
    fmt = image.format or ""
    if config.max_side is not None and fmt in ("JPEG", "MPO") and max(width, height) >= 2 * config.max_side:
        scale = config.max_side / max(width, height)
        request = (max(math.ceil(width * scale), config.min_side), max(math.ceil(height * scale), config.min_side))
        image.draft("RGB", request)
    image.load()
    orientation = _orientation(image)
    rgb = _to_rgb(image, tuple(config.background))
    if orientation in _TRANSPOSE:
        rgb = rgb.transpose(_TRANSPOSE[orientation])
    original = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    return DecodedImage(rgb=np.asarray(rgb), original_size=original, format=fmt)


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except (ValueError, TypeError, OSError, SyntaxError, struct.error, zlib.error):
        return 1  # damaged EXIF: keep the pixels as stored
    return value if isinstance(value, int) else 1


def _to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("L", "1", "CMYK", "YCbCr", "LAB", "HSV"):
        return image.convert("RGB")
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_gray_to_uint8(np.asarray(image), mode), "L").convert("RGB")
    if mode == "P" and "transparency" not in image.info:
        return image.convert("RGB")
    if mode in ("P", "PA", "LA", "La", "RGBA", "RGBa"):
        return _composite(image.convert("RGBA"), background)
    try:
        return image.convert("RGB")
    except ValueError as err:
        raise _Reject("unsupported_format", f"pixel mode {mode} cannot be converted to RGB") from err


def _gray_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """16-bit (and 32-bit integer / float) gray to 8 bits by scaling, not clipping, so the picture survives."""
    if mode.startswith("I;16") or values.dtype == np.uint16:
        return (values >> 8).astype(np.uint8)
    if mode == "F":
        peak = float(values.max()) if values.size else 0.0
        scaled = values * 255.0 if peak <= 1.0 else values
        return np.clip(scaled, 0, 255).astype(np.uint8)
    if values.size and int(values.max()) > 255:  # mode "I" holding 16-bit samples
        return (np.clip(values, 0, 65535) >> 8).astype(np.uint8)
    return np.clip(values, 0, 255).astype(np.uint8)


def _composite(rgba: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] == 255:  # fully opaque: dropping alpha is exact and cheaper
        return rgba.convert("RGB")
    out = Image.new("RGB", rgba.size, background)
    out.paste(rgba, mask=alpha)
    return out
