"""Near-duplicate removal and seeded retrieval on real photos, embedded with the offline default embedder.

Planted copies (resized, recompressed, cropped) of real images must be grouped with their original, which is kept;
seeds must pull their planted copies out of the pool and leave unrelated photos alone.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curation.embed.config import EmbedderConfig
from curation.embed.registry import build_embedder
from curation.retrieval.config import DedupConfig, RetrievalConfig
from curation.retrieval.dedup import find_near_duplicates
from curation.retrieval.index import build_index
from curation.retrieval.seeded import image_seeds, pool_seeds, retrieve_from_seeds

PLANTED = ("astronaut", "grace_hopper", "t1", "coffee", "chelsea")
FACES = ("astronaut", "camera", "grace_hopper", "mask_blue", "t1", "Tom_Hanks_54745")  # skimage's camera: a cameraman


def _thumbnail(rgb: np.ndarray, side: int = 448) -> np.ndarray:
    image = Image.fromarray(rgb).convert("RGB")
    image.thumbnail((side, side))
    return np.asarray(image)


def real_photos() -> dict[str, np.ndarray]:
    import insightface
    import matplotlib
    import skimage.data

    folder = Path(insightface.__file__).parent / "data" / "images"
    photos = {name: np.asarray(Image.open(folder / f"{name}.{ext}").convert("RGB"))
              for name, ext in (("t1", "jpg"), ("Tom_Hanks_54745", "png"), ("mask_blue", "jpg"))}
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field", "retina"):
        rgb = getattr(skimage.data, name)()
        photos[name] = np.stack([rgb] * 3, axis=-1) if rgb.ndim == 2 else rgb[..., :3]
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photos["grace_hopper"] = np.asarray(Image.open(hopper).convert("RGB"))
    return {name: _thumbnail(rgb) for name, rgb in sorted(photos.items())}


def resized(rgb: np.ndarray, factor: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((int(width * factor), int(height * factor)), Image.BICUBIC))


def recompressed(rgb: np.ndarray, quality: int = 35) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(resized(rgb, 0.9)).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def cropped(rgb: np.ndarray, keep: float = 0.85) -> np.ndarray:
    height, width = rgb.shape[:2]
    dy, dx = int(height * (1 - keep) / 2), int(width * (1 - keep) / 2)
    return rgb[dy : height - dy, dx : width - dx].copy()


@pytest.fixture(scope="module")
def pool():
    """Keys, images and unit vectors: every original ("a-NAME") plus three copies of each planted one ("b-NAME-...")."""
    photos = real_photos()
    images = {f"a-{name}": rgb for name, rgb in photos.items()}
    for name in PLANTED:
        images[f"b-{name}-resized"] = resized(photos[name], 0.6)
        images[f"b-{name}-jpeg"] = recompressed(photos[name])
        images[f"b-{name}-crop"] = cropped(photos[name])
    keys = sorted(images)
    embedder = build_embedder(EmbedderConfig(batch_size=16))
    vectors = embedder.embed_images([images[k] for k in keys])
    return keys, images, vectors, embedder


def test_planted_copies_are_grouped_and_the_original_kept(pool):
    keys, images, vectors, _ = pool
    pixels = np.array([images[k].shape[0] * images[k].shape[1] for k in keys], np.float64)
    face_score = np.zeros(len(keys))  # equal face scores: pixel count decides
    decisions = {d.key: d for d in find_near_duplicates(vectors, keys, np.stack([face_score, pixels], 1), DedupConfig())}
    assert len(decisions) == len(keys)
    for name in PLANTED:
        original = decisions[f"a-{name}"]
        assert (original.status, original.reason) == ("kept", "best_of_duplicates"), name
        for copy in ("resized", "jpeg", "crop"):
            copy_decision = decisions[f"b-{name}-{copy}"]
            assert copy_decision.status == "dropped" and copy_decision.reason == "near_duplicate", copy_decision
            assert copy_decision.duplicate_of == f"a-{name}" and copy_decision.similarity >= DedupConfig().threshold
    unplanted = [k for k in keys if k.startswith("a-") and k[2:] not in PLANTED]
    assert all(decisions[k].reason == "unique" for k in unplanted)


def test_seeds_retrieve_their_planted_copies_and_recheck_decides(pool):
    keys, _, vectors, embedder = pool
    index = build_index(vectors)
    config = RetrievalConfig(k=6, min_similarity=0.75)
    seeds = pool_seeds(keys, vectors, ["a-astronaut", "a-grace_hopper"], config)
    rejected = "b-grace_hopper-crop"
    checked: list[str] = []

    def recheck(candidates: list[str]) -> list[str | None]:
        checked.extend(candidates)
        return ["no_face" if key == rejected else None for key in candidates]

    decisions = {d.key: d for d in retrieve_from_seeds(index, keys, [seeds], config, recheck=recheck)}
    assert decisions["a-astronaut"].reason == "seed" and decisions["a-grace_hopper"].reason == "seed"
    for name in ("astronaut", "grace_hopper"):
        for copy in ("resized", "jpeg", "crop"):
            key = f"b-{name}-{copy}"
            if key == rejected:
                assert (decisions[key].status, decisions[key].reason) == ("dropped", "recheck_no_face")
            else:
                assert (decisions[key].status, decisions[key].reason) == ("kept", "retrieved")
                assert decisions[key].seed_key == f"a-{name}" and decisions[key].similarity >= 0.75
    # unrelated photos are neither retrieved nor shown to the detector
    assert not any(k.startswith(("a-coffee", "b-coffee", "a-rocket", "b-chelsea")) for k in decisions)
    assert sorted(checked) == sorted(k for k, d in decisions.items() if d.reason != "seed")

    outside = image_seeds(embedder, [cropped(real_photos()["t1"], 0.9)], ["group.jpg"], config)
    from_folder = retrieve_from_seeds(index, keys, [outside], config)
    assert {d.key for d in from_folder} >= {"a-t1", "b-t1-resized", "b-t1-jpeg", "b-t1-crop"}
    assert all(d.seed_key == "image:group.jpg" for d in from_folder)


def test_default_thresholds_keep_distinct_photos_apart_and_non_faces_out_of_face_seeds(pool):
    """The defaults the ``retrieval.*`` docstrings state for this embedder: distinct photos (faces of different
    people included) never reach ``dedup.threshold``, and no non-face photo reaches ``seeded.min_similarity`` from a
    face photo, so image seeds send no non-face photo to the re-check."""
    keys, _, vectors, _ = pool
    originals = [k for k in keys if k.startswith("a-")]
    row = {k: keys.index(k) for k in originals}
    similarity = vectors @ vectors.T
    distinct = [similarity[row[a], row[b]] for i, a in enumerate(originals) for b in originals[i + 1 :]]
    assert len(distinct) == 55 and max(distinct) < DedupConfig().threshold
    faces = [row[f"a-{name}"] for name in FACES]
    non_faces = [row[k] for k in originals if k[2:] not in FACES]
    assert similarity[np.ix_(faces, non_faces)].max() < RetrievalConfig().min_similarity
