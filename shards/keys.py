"""Sample keys: dot-free, globally unique, derived from the input position so reruns give the same keys."""

from __future__ import annotations

import re

_ALLOWED = re.compile(r"^[A-Za-z0-9_\-]+$")


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid sample key, else raise ValueError naming the problem."""
    if not key:
        raise ValueError("sample key is empty")
    if "." in key:
        raise ValueError(f"sample key {key!r} contains a dot; webdataset splits member names at the first dot")
    if not _ALLOWED.match(key):
        raise ValueError(f"sample key {key!r} may hold only letters, digits, '_' and '-'")
    return key


def make_key(unit: int, item: int, face: int | None = None) -> str:
    """Key of the ``item``-th input of input unit ``unit`` (and its ``face``-th face crop, if any).

    >>> make_key(3, 17, 1)
    '00003_0000017_f1'
    """
    if unit < 0 or item < 0 or (face is not None and face < 0):
        raise ValueError(f"key parts must be non-negative, got unit={unit} item={item} face={face}")
    key = f"{unit:05d}_{item:07d}"
    return key if face is None else f"{key}_f{face}"
