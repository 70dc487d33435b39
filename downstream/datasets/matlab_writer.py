"""Write small MATLAB v7.3 (HDF5) files the way MATLAB lays them out, for LFWA fixtures.

MATLAB stores an R x C array as an HDF5 dataset of shape (C, R), cell arrays as datasets of object
references into ``#refs#``, and char arrays as uint16 code points; a 512-byte text header precedes the HDF5 data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jan  1 00:00:00 2015 HDF5 schema 1.00 ."


def write_mat73(path: Path, variables: dict[str, np.ndarray | list[str]]) -> None:
    """Write numeric arrays (MATLAB shape = numpy shape) and lists of strings (as 1 x N cell arrays)."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as handle:
        refs = handle.create_group("#refs#")
        for name, value in variables.items():
            if isinstance(value, list):
                references = [_write_char(refs, f"{name}_{i}", text).ref for i, text in enumerate(value)]
                # HDF5 shape (N, 1) = a MATLAB 1 x N cell, the orientation of the LFWA release (public
                # readers index mat73's flat list of names directly)
                column = np.array(references, dtype=h5py.ref_dtype).reshape(-1, 1)
                dataset = handle.create_dataset(name, data=column)
                dataset.attrs["MATLAB_class"] = np.bytes_("cell")
            else:
                array = np.atleast_2d(np.asarray(value, dtype=np.float64))
                dataset = handle.create_dataset(name, data=array.T)
                dataset.attrs["MATLAB_class"] = np.bytes_("double")
    header = _HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as handle:
        handle.write(header.ljust(512, b"\x00"))


def _write_char(group, name: str, text: str):  # noqa: ANN001, ANN202 - h5py objects
    codes = np.array([[ord(ch)] for ch in text], dtype=np.uint16)
    dataset = group.create_dataset(name, data=codes)
    dataset.attrs["MATLAB_class"] = np.bytes_("char")
    dataset.attrs["MATLAB_int_decode"] = np.int32(2)
    return dataset
