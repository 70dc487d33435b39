"""Settings of image decoding."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF")


@dataclass(frozen=True)
class DecodeConfig:
    """How raw bytes become an RGB array.

    max_pixels: images whose header claims more pixels (width x height) are rejected as ``too_large`` before any
        pixel is decoded (decompression-bomb limit).
    min_side: images whose shorter side is below this are rejected as ``too_small`` (also checked on the header).
    max_side: a JPEG whose longer side is at least twice this is decoded at reduced size (libjpeg DCT scaling by
        1/2, 1/4 or 1/8), keeping the longer side >= max_side; ``None`` always decodes at full size. Other formats
        are decoded at full size. ``DecodedImage.original_size`` keeps the full size.
    formats: Pillow format names accepted; other images are rejected as ``unsupported_format``.
    background: RGB colour that transparent pixels are composited onto.
    """

    max_pixels: int = 50_000_000
    min_side: int = 32
    max_side: int | None = 2048
    formats: tuple[str, ...] = DEFAULT_FORMATS
    background: tuple[int, int, int] = (255, 255, 255)

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, got {self.max_pixels}")
        if self.min_side < 1:
            raise ValueError(f"min_side must be at least 1, got {self.min_side}")
        if self.max_side is not None and self.max_side < self.min_side:
            raise ValueError(f"max_side ({self.max_side}) must be at least min_side ({self.min_side}), or None")
