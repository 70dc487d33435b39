"""Image files on disk: a directory tree walked recursively, or loose files named on the command line."""

from __future__ import annotations

import logging
import os
from typing import Iterator

from curation.sources.config import SourceConfig
from curation.sources.files import fingerprint, read_file, stat_signature
from curation.sources.names import display, sort_key
from curation.sources.video import is_video_name
from curation.types import InputItem

log = logging.getLogger(__name__)


def folder_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of an existing folder, else None; compares folders whatever the spelling of their path."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def walk_tree(
    root: str, config: SourceConfig, exclude: frozenset[tuple[int, int]] = frozenset()
) -> tuple[list[str], list[str]]:
    """(image and video files, tar files) under ``root`` as relative paths sorted by their bytes.

    Links to files are kept (a dangling one later reads as ``unreadable``); links to folders are not followed,
    so a link cycle cannot trap the walk. Folders that cannot be listed are logged and skipped, and folders in
    ``exclude`` (identities from ``folder_identity``, e.g. the run's own output) are not entered.
    """

    def warn(err: OSError) -> None:
        log.warning("cannot list folder %s (%s); its files are not inputs", display(err.filename or root), err.strerror)

    images: list[str] = []
    tars: list[str] = []
    for folder, dirs, files in os.walk(root, onerror=warn):
        if exclude:
            dirs[:] = [d for d in dirs if folder_identity(os.path.join(folder, d)) not in exclude]
        for name in files:
            rel = os.path.relpath(os.path.join(folder, name), root)
            if config.is_image_name(name) or is_video_name(name):
                images.append(rel)
            elif name.endswith(".tar"):
                tars.append(rel)
    images.sort(key=sort_key)
    tars.sort(key=sort_key)
    return images, tars


def chunk_fingerprint(root: str, members: tuple[str, ...]) -> str:
    """Names, sizes and modification times of a chunk's files: changes when any file is added, edited or removed."""
    return fingerprint((os.fsencode(rel), *stat_signature(os.path.join(root, rel))) for rel in members)


def iter_files(unit_index: int, root: str, members: tuple[str, ...], config: SourceConfig) -> Iterator[InputItem]:
    """One InputItem per file in ``members`` (paths relative to ``root``; ``root`` "" means as given)."""
    for item, rel in enumerate(members):
        path = os.path.join(root, rel) if root else rel
        shown = display(path)
        if is_video_name(rel):  # streamed from disk by curation.sources.video, never read whole
            yield InputItem(unit=unit_index, item=item, source_id=shown, path=shown, url=None, data=None, open_path=path)
            continue
        result = read_file(path, config.max_bytes)
        yield InputItem(
            unit=unit_index, item=item, source_id=shown, path=shown, url=None,
            data=result.data, error=result.error, error_detail=result.detail,
        )
