"""Decoding: every broken input gets its reason, awkward modes become correct RGB, and nothing raises."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
from curate_corpus import animated, corrupt_corpus, encode, noise_rgb, png_bomb, rotated_jpeg, transparent
from PIL import Image

from curation.decode import DecodeConfig, decode_image
from curation.types import DECODE_REASONS, DecodedImage, Rejection

CONFIG = DecodeConfig()


def insightface_image(name: str) -> bytes:
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.origin is not None, "insightface is a dependency of pros"
    return (Path(spec.origin).parent / "data" / "images" / name).read_bytes()


@pytest.mark.parametrize("name", sorted(corrupt_corpus()))
def test_corpus_gives_each_file_its_outcome(name: str) -> None:
    data, expected = corrupt_corpus()[name]
    result = decode_image(data, CONFIG, name)
    if expected is None:
        assert isinstance(result, DecodedImage), result
        assert result.rgb.dtype == np.uint8 and result.rgb.ndim == 3 and result.rgb.shape[2] == 3
    else:
        assert isinstance(result, Rejection) and result.reason == expected, result
        assert result.reason in DECODE_REASONS and result.detail


def test_real_photos_decode_at_full_size() -> None:
    group = decode_image(insightface_image("t1.jpg"), CONFIG, "t1.jpg")
    assert isinstance(group, DecodedImage)
    assert group.rgb.shape == (886, 1280, 3) and group.original_size == (1280, 886) and group.format == "JPEG"
    assert 60 < group.rgb.mean() < 200  # a photo, not a blank frame
    portrait = decode_image(insightface_image("Tom_Hanks_54745.png"), CONFIG)
    assert isinstance(portrait, DecodedImage) and portrait.rgb.shape == (112, 112, 3) and portrait.format == "PNG"


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pixel_bomb_is_rejected_from_its_header_quickly() -> None:
    start = time.perf_counter()
    result = decode_image(png_bomb(), CONFIG)
    assert isinstance(result, Rejection) and result.reason == "too_large"
    assert time.perf_counter() - start < 0.5  # 10^10 pixels were never allocated
    # Just above our limit but far below Pillow's default: rejected by our own header check.
    small_limit = DecodeConfig(max_pixels=100 * 100)
    result = decode_image(encode(noise_rgb(101, 100), "PNG"), small_limit)
    assert isinstance(result, Rejection) and result.reason == "too_large" and "max_pixels" in result.detail
    assert isinstance(decode_image(encode(noise_rgb(100, 100), "PNG"), small_limit), DecodedImage)


def test_exif_orientation_is_applied() -> None:
    result = decode_image(rotated_jpeg(6), CONFIG)
    assert isinstance(result, DecodedImage)
    # Stored 60 wide x 40 high with a dark block top-left; orientation 6 = rotate 90 degrees clockwise to show.
    assert result.rgb.shape == (60, 40, 3) and result.original_size == (40, 60)
    assert result.rgb[:8, -8:].mean() < 40 and result.rgb[:8, :8].mean() > 200
    upright = decode_image(rotated_jpeg(1), CONFIG)
    assert isinstance(upright, DecodedImage) and upright.rgb.shape == (40, 60, 3) and upright.rgb[:8, :8].mean() < 40


def test_cmyk_and_16_bit_become_faithful_rgb() -> None:
    cmyk = decode_image(corrupt_corpus()["cmyk.jpg"][0], CONFIG)
    assert isinstance(cmyk, DecodedImage)
    red = cmyk.rgb.reshape(-1, 3).mean(axis=0)
    assert red[0] > 230 and red[1] < 30 and red[2] < 30
    gray = decode_image(corrupt_corpus()["gray16.png"][0], CONFIG)
    assert isinstance(gray, DecodedImage)
    # A full 16-bit ramp keeps its range: scaled to 0..255, not clipped to white.
    assert gray.rgb[0, 0, 0] == 0 and gray.rgb[-1, -1, 0] == 255 and 100 < gray.rgb[32, 0, 0] < 156


@pytest.mark.parametrize("mode", ["P", "LA", "RGBA"])
def test_transparent_pixels_are_composited_on_white(mode: str) -> None:
    result = decode_image(transparent(mode), DecodeConfig(min_side=8))
    assert isinstance(result, DecodedImage) and result.rgb.shape == (40, 40, 3)
    assert tuple(result.rgb[20, 5]) == (255, 255, 255)  # transparent black shows as the background
    opaque = tuple(result.rgb[20, 35])
    assert opaque == ((255, 0, 0) if mode != "LA" else opaque) and opaque != (255, 255, 255)


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animations_give_their_first_frame(fmt: str) -> None:
    result = decode_image(animated(fmt), CONFIG)
    assert isinstance(result, DecodedImage) and result.format == fmt
    assert tuple(result.rgb[20, 20]) == (255, 0, 0)


def test_big_jpeg_is_decoded_at_reduced_size_and_keeps_its_original_size() -> None:
    data = encode(Image.new("RGB", (3000, 2000), (30, 140, 200)), "JPEG", quality=85)
    reduced = decode_image(data, DecodeConfig(max_side=700))
    assert isinstance(reduced, DecodedImage)
    assert reduced.original_size == (3000, 2000) and reduced.rgb.shape == (500, 750, 3)  # 1/4 scale, long side >= 700
    full = decode_image(data, DecodeConfig(max_side=None))
    assert isinstance(full, DecodedImage) and full.rgb.shape == (2000, 3000, 3)
    assert np.abs(reduced.rgb.mean(axis=(0, 1)) - full.rgb.mean(axis=(0, 1))).max() < 3
    png = decode_image(encode(Image.new("RGB", (1600, 100)), "PNG"), DecodeConfig(max_side=700))
    assert isinstance(png, DecodedImage) and png.rgb.shape == (100, 1600, 3)  # only JPEG has reduced decoding


def test_html_saved_as_jpg_is_not_an_image() -> None:
    result = decode_image(b"<!DOCTYPE html><html><body>404</body></html>", CONFIG, "photo.jpg")
    assert isinstance(result, Rejection) and result.reason == "not_an_image" and "HTML" in result.detail


def test_accepted_formats_are_configurable() -> None:
    png = encode(noise_rgb(40, 40), "PNG")
    result = decode_image(png, DecodeConfig(formats=("JPEG",)))
    assert isinstance(result, Rejection) and result.reason == "unsupported_format" and "PNG" in result.detail


def test_every_prefix_of_a_jpeg_and_a_png_is_handled_without_raising() -> None:
    for data in (encode(noise_rgb(64, 48), "JPEG"), encode(noise_rgb(64, 48), "PNG")):
        for cut in [*range(0, len(data), max(1, len(data) // 97)), len(data) - 1]:
            result = decode_image(data[:cut], CONFIG)
            if cut < len(data) - 24:  # only end markers and checksums may be missing from a complete picture
                assert isinstance(result, Rejection) and result.reason in DECODE_REASONS, (cut, result)
            else:
                assert isinstance(result, (Rejection, DecodedImage))


def test_config_rejects_impossible_values() -> None:
    with pytest.raises(ValueError, match="max_side"):
        DecodeConfig(min_side=64, max_side=32)
    with pytest.raises(ValueError, match="max_pixels"):
        DecodeConfig(max_pixels=0)
