"""File names as the file system gives them (any bytes) and as we show and store them (valid UTF-8)."""

from __future__ import annotations

import os
import re

_DRIVE = re.compile(r"^[A-Za-z]:")


def display(path: str) -> str:
    """A JSON- and parquet-safe form of a file system name: bytes that are not UTF-8 appear as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def sort_key(path: str) -> bytes:
    """Order names by their bytes, so the order does not depend on the locale or on surrogate escapes."""
    return os.fsencode(path)


def is_unsafe_member(name: str) -> bool:
    """True for archive member names that would land outside the extraction folder: absolute, drive-lettered
    or holding a ``..`` component (either slash counts)."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return True
    return ".." in re.split(r"[/\\]", name)
