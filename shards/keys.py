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

    A video frame's item (``frame_item``) gives ``UUUUU_PPPPPPP_vKKKKK``: the video's position and the frame index.

    >>> make_key(3, 17, 1)
    '00003_0000017_f1'
    >>> make_key(3, frame_item(17, 42), 0)
    '00003_0000017_v00042_f0'
    """
    if unit < 0 or item < 0 or (face is not None and face < 0):
        raise ValueError(f"key parts must be non-negative, got unit={unit} item={item} face={face}")
    position, frame_slot = item % FRAME_STRIDE, item // FRAME_STRIDE
    key = f"{unit:05d}_{position:07d}" + (f"_v{frame_slot - 1:05d}" if frame_slot else "")
    return key if face is None else f"{key}_f{face}"


FRAME_STRIDE = 1_000_000_000  # items at or above this are video frames: (frame + 1) * FRAME_STRIDE + position


def frame_item(position: int, frame: int) -> int:
    """The item number of sampled frame ``frame`` of the video at ``position`` in its unit (see ``make_key``)."""
    if not 0 <= position < FRAME_STRIDE or frame < 0:
        raise ValueError(f"video position must lie in [0, {FRAME_STRIDE}) and frame be >= 0, got {position}, {frame}")
    return (frame + 1) * FRAME_STRIDE + position


def item_order(item: int) -> tuple[int, int]:
    """Sort key of items: by position in the unit, a video's frames right after it (``frame + 1``; 0 for others)."""
    return item % FRAME_STRIDE, item // FRAME_STRIDE
