"""Calibration of the retrieval thresholds for the offline embedder (and the re-check's detector scores) on real photos.

Prints what docs/retrieval.md tabulates: cosines between real photos and their edited copies (dedup threshold), between
different photos, faces and non-faces (seed threshold), on scikit-image's lfw_subset, and CenterFace's scores on
non-face photos and on lfw_subset's faces at the re-check and first-pass settings.
Usage: python benchmarks/calibrate_retrieval.py
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_retrieval_real_images import _thumbnail, cropped, real_photos, recompressed, resized

from curation.detect.config import DetectorConfig
from curation.detect.registry import build_detector
from curation.embed.config import EmbedderConfig
from curation.embed.registry import build_embedder

NATURAL = ("astronaut", "brick", "camera", "coffee", "grass", "gravel", "horse", "immunohistochemistry",
           "moon", "page", "rocket", "text", "clock", "coins", "logo", "hubble_deep_field", "retina", "cat")
FACES = ("t1", "Tom_Hanks_54745", "grace_hopper", "astronaut", "camera", "mask_blue", "mask_black", "mask_green",
         "mask_white")  # skimage's camera is a cameraman
EDITS = {
    "85% centre crop": cropped,
    "90% centre crop": lambda rgb: cropped(rgb, 0.9),
    "mirrored": lambda rgb: np.asarray(ImageOps.mirror(Image.fromarray(rgb))),
    "0.6x resize": lambda rgb: resized(rgb, 0.6),
    "JPEG q=35 of a 0.9x copy": recompressed,
    "0.35x resize": lambda rgb: resized(rgb, 0.35),
    "75% centre crop": lambda rgb: cropped(rgb, 0.75),
    "JPEG q=15 of a 0.9x copy": lambda rgb: recompressed(rgb, 15),
}


def photos() -> dict[str, np.ndarray]:
    """The test photos plus scikit-image's natural images and insightface's mask photos, each at most 448 px."""
    import insightface
    import skimage.data

    found = real_photos()
    for name in NATURAL:
        rgb = getattr(skimage.data, name)()
        rgb = rgb[0] if isinstance(rgb, tuple) else rgb
        if rgb.dtype == np.uint8:
            found.setdefault(name, _thumbnail(np.stack([rgb] * 3, -1) if rgb.ndim == 2 else rgb[..., :3]))
    folder = Path(insightface.__file__).parent / "data" / "images"
    for name in ("mask_black", "mask_green", "mask_white"):
        found[name] = _thumbnail(np.asarray(Image.open(folder / f"{name}.jpg").convert("RGB")))
    return dict(sorted(found.items()))


def lfw_rgb(side: int) -> list[np.ndarray]:
    """scikit-image's lfw_subset (100 faces, then 100 non-faces, 25 px grey) as RGB at ``side`` px."""
    import skimage.data

    images = [Image.fromarray((x * 255).astype(np.uint8)).convert("RGB") for x in skimage.data.lfw_subset()]
    return [np.asarray(image if side == 25 else image.resize((side, side), Image.BICUBIC)) for image in images]


def embedder_figures(pool: dict[str, np.ndarray], dedup: float, seed: float) -> None:
    embedder = build_embedder(EmbedderConfig(batch_size=16))
    names = list(pool)
    vectors = embedder.embed_images(list(pool.values()))
    print(f"{len(names)} photos, embedder {embedder.version} ({embedder.runtime})")
    for edit, apply in EDITS.items():
        sims = np.sum(embedder.embed_images([apply(rgb) for rgb in pool.values()]) * vectors, axis=1)
        print(f"  {edit:<26} cosine to the original: min {sims.min():.3f}, median {np.median(sims):.3f}, "
              f"below {dedup}: {int((sims < dedup).sum())} of {len(sims)}")
    similar = vectors @ vectors.T
    pairs = [(similar[i, j], names[i], names[j]) for i, j in itertools.combinations(range(len(names)), 2)]
    different = [p for p in pairs if p[0] < 0.999]  # skimage's cat is chelsea: the same picture
    print(f"  different photos: max {max(different)[0]:.3f} ({max(different)[1]} / {max(different)[2]})")
    faces = [n for n in FACES if n in pool]
    same_person = {n for n in faces if n.startswith("mask")}  # one man in four masks
    people = [p for p in pairs if p[1] in faces and p[2] in faces and not {p[1], p[2]} <= same_person]
    print(f"  faces of different people (the mask photos count as one): max {max(people)[0]:.3f}")
    mixed = [p for p in pairs if (p[1] in faces) != (p[2] in faces)]
    print(f"  a face photo and a non-face photo: max {max(mixed)[0]:.3f} ({max(mixed)[1]} / {max(mixed)[2]})")
    lfw = embedder.embed_images(lfw_rgb(25))
    lfw_similar = lfw @ lfw.T
    face_pairs = lfw_similar[:100, :100][np.triu_indices(100, 1)]
    face_nonface = lfw_similar[:100, 100:]
    print(f"  lfw_subset, two different faces: mean {face_pairs.mean():.2f}, {int((face_pairs >= dedup).sum())} of "
          f"{face_pairs.size} pairs >= {dedup} (max {face_pairs.max():.2f}), "
          f"{(face_pairs >= seed).mean():.0%} >= {seed}")
    print(f"  lfw_subset, a face and a non-face: {(face_nonface >= seed).mean():.0%} of pairs >= {seed}")


def detector_figures(pool: dict[str, np.ndarray], recheck: float, min_score: float, first_pass: float) -> None:
    detector = build_detector(DetectorConfig(score_threshold=recheck))
    nonfaces = [name for name in pool if name not in FACES]
    found = {name: faces for name, faces in zip(nonfaces, detector.detect([pool[n] for n in nonfaces])) if faces}
    print(f"CenterFace at score_threshold {recheck}: faces on {len(found)} of {len(nonfaces)} non-face photos "
          f"{sorted(found)}")
    results = detector.detect(lfw_rgb(100))
    best = [max((face.score for face in faces), default=0.0) for faces in results]
    for threshold in (min_score, first_pass):
        print(f"  lfw_subset at 100 px: a face scored >= {threshold} on {sum(s >= threshold for s in best[:100])} of "
              f"100 faces and {sum(s >= threshold for s in best[100:])} of 100 non-faces")


def main() -> None:
    from curation.config import load_curate_config

    config = load_curate_config(None, [])
    pool = photos()
    embedder_figures(pool, config.retrieval.dedup.threshold, config.retrieval.seeded.min_similarity)
    detector_figures(pool, config.retrieval.recheck.score_threshold, config.retrieval.recheck.min_score,
                     config.crops.min_score)


if __name__ == "__main__":
    main()
