"""Read MATLAB .mat files in either format the face benchmarks ship: v5 (scipy) or v7.3 (HDF5, h5py).

Only what the loaders need: numeric arrays (returned in MATLAB's row/column orientation) and cell
arrays of strings (returned as a list of str).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError


def is_hdf5(path: Path) -> bool:
    """True for MATLAB v7.3 files (HDF5 signature after the 512-byte MATLAB user block)."""
    with open(path, "rb") as handle:
        head = handle.read(520)
    return head[512:520] == b"\x89HDF\r\n\x1a\n" or head[:8] == b"\x89HDF\r\n\x1a\n"


def load_mat(path: Path, keys: list[str]) -> dict[str, Any]:
    """Variables ``keys`` of ``path``: numeric ones as ndarray, cell arrays of strings as list[str]."""
    try:
        raw = _load_hdf5(path, keys) if is_hdf5(path) else _load_v5(path, keys)
    except (OSError, ValueError, NotImplementedError) as err:
        raise UserError(
            f"cannot read {path} as a MATLAB .mat file ({err}); re-download it from the official page"
        ) from None
    missing = [key for key in keys if key not in raw]
    if missing:
        raise UserError(
            f"{path} has no variable {', '.join(missing)}; expected {', '.join(keys)} (is it the right file?)"
        )
    return raw


def _load_v5(path: Path, keys: list[str]) -> dict[str, Any]:
    import scipy.io

    content = scipy.io.loadmat(path, variable_names=keys)
    out: dict[str, Any] = {}
    for key in keys:
        if key not in content:
            continue
        value = content[key]
        out[key] = [_cell_string(item) for item in value.ravel(order="F")] if value.dtype == object else value
    return out


def _cell_string(item: Any) -> str:
    array = np.asarray(item)
    return str(array.ravel()[0]) if array.size else ""


def _load_hdf5(path: Path, keys: list[str]) -> dict[str, Any]:
    import h5py

    out: dict[str, Any] = {}
    with h5py.File(path, "r") as handle:
        for key in keys:
            if key not in handle:
                continue
            dataset = handle[key]
            if dataset.dtype == h5py.ref_dtype:
                # h5py sees MATLAB's dimensions reversed, so its C order is MATLAB's column-major order
                out[key] = [_hdf5_string(handle[ref]) for ref in np.asarray(dataset).ravel()]
            else:
                out[key] = np.asarray(dataset).T
    return out


def _hdf5_string(dataset: Any) -> str:
    codes = np.asarray(dataset).ravel(order="F")
    return "".join(chr(int(code)) for code in codes)
