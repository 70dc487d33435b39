"""Face selection rules and face-centric crop geometry, bytes and metadata."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.config import ConfigError
from curation.crops import (
    CropConfig,
    box_size,
    crop_square,
    cut_square,
    face_crop,
    largest_face_area_ratio,
    select_faces,
)
from curation.types import SELECTION_REASONS, DetectedFace
from shards.sample_meta import SampleMeta


def face(x0: float, y0: float, x1: float, y1: float, score: float = 0.9, landmarks=None) -> DetectedFace:
    if landmarks is None:
        w, h = x1 - x0, y1 - y0
        landmarks = [[x0 + 0.3 * w, y0 + 0.4 * h], [x0 + 0.7 * w, y0 + 0.4 * h], [x0 + 0.5 * w, y0 + 0.6 * h],
                     [x0 + 0.35 * w, y0 + 0.8 * h], [x0 + 0.65 * w, y0 + 0.8 * h]]
    return DetectedFace((x0, y0, x1, y1), np.asarray(landmarks, np.float64), score)


DEFAULT = CropConfig()


def crop(rgb, index, faces, config=DEFAULT, scale=1.0, original_size=None):
    height, width = rgb.shape[:2]
    return face_crop(rgb, index, faces, config, key="u00000i0000f0", source_id="a/b.jpg", source_path="/data/a/b.jpg",
                     source_url=None, original_size=original_size or (width, height), scale=scale)


def decode(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(np.int16)


# --- selection ---

def test_selection_reasons():
    config = CropConfig(min_score=0.7, min_face_px=40)
    assert select_faces([], config) == ([], "no_face")
    low = [face(0, 0, 100, 100, score=0.69), face(200, 0, 230, 30, score=0.99)]  # low score; too small
    assert select_faces(low, config) == ([], "faces_below_threshold")
    assert set(SELECTION_REASONS) == {"no_face", "faces_below_threshold"}


def test_selection_thresholds_are_inclusive_and_judged_in_original_pixels():
    config = CropConfig(min_score=0.7, min_face_px=40)
    edge = face(0, 0, 40, 90, score=0.7)  # shorter side exactly 40, score exactly 0.7
    assert select_faces([edge], config) == ([edge], None)
    small = face(0, 0, 25, 30)  # 25 px decoded, 50 px in an original twice as large
    assert select_faces([small], config)[1] == "faces_below_threshold"
    assert select_faces([small], config, scale=2.0) == ([small], None)


def test_selection_keeps_the_largest_faces_up_to_max_faces():
    faces = [face(0, 0, 50, 50, 0.99), face(100, 0, 200, 100, 0.8), face(300, 0, 370, 70, 0.9),
             face(400, 0, 460, 60, 0.95), face(500, 0, 510, 10, 0.99)]
    kept, reason = select_faces(faces, CropConfig(max_faces=3))
    assert reason is None
    assert kept == [faces[1], faces[2], faces[3]]
    assert select_faces(faces, CropConfig(max_faces=10))[0] == [faces[1], faces[2], faces[3], faces[0]]


def test_selection_by_default_has_no_cap_and_a_cap_is_kept_when_asked():
    faces = [face(100 * n, 0, 100 * n + 60, 60, 0.9) for n in range(9)]
    assert len(select_faces(faces, CropConfig())[0]) == 9
    assert len(select_faces(faces, CropConfig(max_faces=2))[0]) == 2
    with pytest.raises(ConfigError):
        CropConfig(max_faces=-1)


def test_default_keeps_every_clear_face_of_the_t1_group_photo():
    """insightface's t1.jpg has 6 clear faces; the old default cap of 4 dropped 2 of them."""
    from pathlib import Path

    import insightface

    from curation.detect import DetectorConfig, build_detector

    rgb = np.asarray(Image.open(Path(insightface.__file__).parent / "data/images/t1.jpg").convert("RGB"))
    faces = build_detector(DetectorConfig(threads=2)).detect([rgb])[0]
    config = CropConfig()
    clear = [f for f in faces if f.score >= config.min_score and min(box_size(f)) >= config.min_face_px]
    kept, reason = select_faces(faces, config)
    assert reason is None and len(clear) == 6 and len(kept) == 6
    assert len(select_faces(faces, CropConfig(max_faces=4))[0]) == 4


def test_largest_face_area_ratio():
    assert largest_face_area_ratio([], (100, 50)) == 0.0
    assert largest_face_area_ratio([face(0, 0, 10, 10), face(0, 0, 20, 25)], (100, 50)) == pytest.approx(0.1)


# --- geometry ---

def test_crop_is_centred_on_the_face_with_the_margin_and_ratio_computed_by_hand():
    rgb = np.full((200, 200, 3), 128, np.uint8)
    target = face(80, 60, 120, 112)  # 40 x 52, centre (100, 86)
    config = CropConfig(margin=0.25, size=224)
    assert crop_square(target, 0.25) == (61, 47, 78)  # side round(52 * 1.5) = 78, origin centre - 39
    jpeg, meta = crop(rgb, 0, [target], config, scale=2.0, original_size=(400, 400))
    assert meta.crop_box == (122, 94, 278, 250)  # in original pixels (scale 2)
    assert meta.original_size == (400, 400) and meta.crop_size == 224
    assert meta.face_area_ratio == pytest.approx(40 * 52 / 78**2, abs=1e-4)
    f = 224 / 78
    x0, y0, x1, y1 = meta.faces[0].box
    assert (x0, y0, x1, y1) == pytest.approx((19 * f, 13 * f, 59 * f, 65 * f), abs=0.01)
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((112, 112), abs=0.01)
    assert decode(jpeg).shape == (224, 224, 3)


def test_landmarks_land_on_the_pixels_they_mark():
    rgb = np.full((300, 400, 3), 90, np.uint8)
    points = np.array([[180, 120], [230, 118], [205, 150], [185, 175], [228, 176]])
    for x, y in points:
        rgb[y - 2 : y + 3, x - 2 : x + 3] = (255, 0, 0)  # 5x5 red dot whose continuous centre is (x + .5, y + .5)
    target = face(160, 90, 250, 200, landmarks=points + 0.5)
    jpeg, meta = crop(rgb, 0, [target], CropConfig(size=256, jpeg_quality=95))
    image = decode(jpeg)
    red = (image[..., 0] > 180) & (image[..., 1] < 90) & (image[..., 2] < 90)
    for mx, my in meta.faces[0].landmarks:
        ys, xs = np.nonzero(red[int(my) - 12 : int(my) + 12, int(mx) - 12 : int(mx) + 12])
        assert len(xs) > 20
        centroid = (xs.mean() + int(mx) - 12 + 0.5, ys.mean() + int(my) - 12 + 0.5)
        assert centroid == pytest.approx((mx, my), abs=1.0)


def test_crop_is_padded_where_it_passes_the_border():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    corner = face(0, 0, 40, 52)  # crop square (-19, -13) side 78
    assert crop_square(corner, 0.25) == (-19, -13, 78)
    black = cut_square(rgb, -19, -13, 78, "constant")
    assert black.shape == (78, 78, 3)
    assert not black[:13].any() and not black[:, :19].any()
    np.testing.assert_array_equal(black[13:, 19:], rgb[:65, :59])
    edge = cut_square(rgb, -19, -13, 78, "edge")
    np.testing.assert_array_equal(edge[0, 19:], rgb[0, :59])
    np.testing.assert_array_equal(edge[13:, 0], rgb[:65, 0])
    mirrored = cut_square(rgb, -19, -13, 78, "reflect")
    np.testing.assert_array_equal(mirrored[12, 19:], rgb[1, :59])
    jpeg, meta = crop(np.full((120, 160, 3), 200, np.uint8), 0, [corner], CropConfig(size=78))
    image = decode(jpeg)
    assert image[:8, :8].max() < 30 and image[40:, 40:].min() > 170  # black padding, grey image
    assert meta.crop_box == (-19, -13, 59, 65)


def test_other_faces_are_mapped_and_those_outside_the_crop_dropped():
    rgb = np.full((400, 600, 3), 100, np.uint8)
    near = face(150, 100, 190, 150, score=0.95)  # overlaps the crop around `own`
    far = face(500, 300, 560, 370, score=0.99)  # outside it
    own = face(200, 100, 260, 180, score=0.8)  # side 120, origin (170, 80)
    _, meta = crop(rgb, 2, [far, near, own], CropConfig(size=120))  # factor 1: crop pixels = source - origin
    assert [f.score for f in meta.faces] == [0.8, 0.95]
    assert meta.faces[0].box == (30, 20, 90, 100)
    assert meta.faces[1].box == (-20, 20, 20, 70)  # partly outside: kept, not clipped
    np.testing.assert_allclose(meta.faces[1].landmarks, near.landmarks - (170, 80), atol=0.01)


def test_crop_bytes_are_deterministic_and_metadata_round_trips():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    faces = [face(100, 60, 170, 150), face(10, 10, 60, 70)]
    first, meta = crop(rgb, 0, faces)
    second, meta_again = crop(rgb.copy(), 0, list(faces))
    assert first == second and meta.to_json() == meta_again.to_json()
    assert crop(rgb, 0, faces, CropConfig(jpeg_quality=70))[0] != first
    assert SampleMeta.from_json(meta.to_json()) == meta
    assert meta.source_id == "a/b.jpg" and meta.source_path == "/data/a/b.jpg" and meta.source_url is None


def test_bad_crop_settings_name_the_key():
    with pytest.raises(ConfigError, match="pad_mode"):
        CropConfig(pad_mode="wrap")
    with pytest.raises(ConfigError, match="margin"):
        CropConfig(margin=-0.1)


def test_real_faces_of_t1_give_face_dominant_crops():
    from pathlib import Path

    import insightface

    from curation.detect import DetectorConfig, build_detector

    rgb = np.asarray(Image.open(Path(insightface.__file__).parent / "data/images/t1.jpg").convert("RGB"))
    faces = build_detector(DetectorConfig(threads=2)).detect([rgb])[0]
    kept, reason = select_faces(faces, CropConfig(max_faces=6))
    assert reason is None and len(kept) == 6
    for selected in kept:
        jpeg, meta = crop(rgb, faces.index(selected), faces, CropConfig())
        assert 0.3 < meta.face_area_ratio < 0.45
        x0, y0, x1, y1 = meta.faces[0].box
        assert 0 <= x0 < x1 <= 224 and 0 <= y0 < y1 <= 224
        assert all(x0 < x < x1 and y0 < y < y1 for x, y in meta.faces[0].landmarks)
        assert decode(jpeg).shape == (224, 224, 3)
