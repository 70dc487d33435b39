"""Reading one file with a size limit, and cheap fingerprints from sizes and modification times."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class ReadResult:
    data: bytes | None
    error: str | None = None
    detail: str = ""


def read_file(path: str, max_bytes: int) -> ReadResult:
    """The bytes of ``path``; ``too_large`` (unread) above ``max_bytes``; ``unreadable`` on any OS error."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                return ReadResult(None, "too_large", f"file is {size} bytes, above max_bytes={max_bytes}")
            return ReadResult(handle.read())
    except OSError as err:
        return ReadResult(None, "unreadable", err.strerror or type(err).__name__)


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
