"""Reading one file with a size limit, and cheap fingerprints from sizes and modification times."""

from __future__ import annotations

import hashlib
import os
from typing import Iterable

from curation.sources.safe_read import ReadResult, read_regular

__all__ = ["ReadResult", "files_fingerprint", "fingerprint", "read_file", "stat_signature"]


def read_file(path: str, max_bytes: int) -> ReadResult:
    """The bytes of ``path``; see ``curation.sources.safe_read.read_regular`` (``not_a_file``, ``too_large``,
    ``unreadable``); never raises."""
    return read_regular(path, max_bytes)


def stat_signature(path: str) -> tuple[int, int]:
    """(size, mtime in ns) of ``path``, following links; a dangling link gives its own lstat."""
    try:
        st = os.stat(path)
    except OSError:
        try:
            st = os.lstat(path)
        except OSError:
            return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def fingerprint(entries: Iterable[tuple[bytes, int, int]]) -> str:
    """A short stable hash of (name, size, mtime) triples."""
    digest = hashlib.sha1()
    for name, size, mtime in entries:
        digest.update(name + b"\0" + f"{size}:{mtime}\n".encode())
    return digest.hexdigest()[:16]


def files_fingerprint(paths: Iterable[str]) -> str:
    return fingerprint((os.fsencode(p), *stat_signature(p)) for p in paths)
