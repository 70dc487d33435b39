"""Input units: the pieces of work a run is cut into (a chunk of a directory tree, one tar, one parquet file).

Units are numbered in the order the inputs were given, and inside an input in the byte order of relative paths,
so the same command lists the same units with the same indices, and sample keys stay stable across reruns.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Iterator, Sequence

from core.errors import UserError
from curation.sources.config import SourceConfig
from curation.sources.directory import chunk_fingerprint, folder_identity, iter_files, walk_tree
from curation.sources.files import files_fingerprint
from curation.sources.names import display
from curation.sources.parquet_source import iter_parquet, resolve_columns
from curation.sources.safe_read import regular_file_problem
from curation.sources.tar_source import TAR_SUFFIXES, iter_tar, sidecar_parquet
from curation.sources.video import VIDEO_EXTENSIONS, is_video_name
from curation.types import InputItem
from shards.urls import expand_braces

log = logging.getLogger(__name__)

KINDS = ("directory", "tar", "parquet")


@dataclass(frozen=True)
class InputUnit:
    """One unit of work.

    path: the directory root ("" for loose files named on the command line), tar or parquet file, as a file
        system string (may hold surrogate escapes); ``name`` and ``fingerprint`` are always JSON-safe.
    members: for "directory" units, the files of this chunk relative to ``path``; empty otherwise.
    fingerprint: hash of the names, sizes and modification times of the files the unit reads.
    """

    index: int
    kind: str
    name: str
    path: str
    fingerprint: str
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Pending:
    kind: str
    name: str
    path: str
    members: tuple[str, ...] = ()


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Inputs with ``::`` joins and brace lists expanded; raises UserError naming any that does not exist."""
    paths: list[str] = []
    for spec in inputs:
        for source in (s.strip() for s in spec.split("::")):
            if not source:
                continue
            if os.path.lexists(source):  # a real name that happens to hold braces is taken as it is
                paths.append(source)
                continue
            try:
                expanded = expand_braces(source)
            except ValueError as err:
                raise UserError(f"input {source!r}: {err}") from err
            missing = [p for p in expanded if not os.path.lexists(p)]
            if missing:
                shown = ", ".join(display(p) for p in missing[:3]) + (" ..." if len(missing) > 3 else "")
                origin = f" (from {source!r})" if len(expanded) > 1 else ""
                raise UserError(f"input {shown}{origin} does not exist; check the path or the brace range")
            paths.extend(expanded)
    if not paths:
        raise UserError("no inputs given; pass directories, tar shards, parquet files or image files")
    return paths


def _chunks(kind: str, root: str, members: list[str], size: int, label: str) -> list[_Pending]:
    out = []
    for start in range(0, len(members), size):
        part = tuple(members[start:start + size])
        out.append(_Pending(kind, f"{label}[{start}:{start + len(part)}]", root, part))
    return out


def _plan_input(
    path: str, config: SourceConfig, loose: list[str], exclude: frozenset[tuple[int, int]]
) -> list[_Pending]:
    """Units of one input path; image files given directly are gathered in ``loose``."""
    if os.path.isdir(path):
        images, tars = walk_tree(path, config, exclude)
        units = _chunks("directory", path, images, config.unit_size(len(images)), display(path))
        units += [_Pending("tar", display(os.path.join(path, t)), os.path.join(path, t)) for t in tars]
        if not units:
            log.warning("input folder %s holds no image files (%s) and no .tar shards", display(path),
                        ", ".join(config.extensions))
        return units
    lower = path.lower()
    if lower.endswith(TAR_SUFFIXES):
        return [_Pending("tar", display(path), path)]
    if lower.endswith(".parquet"):
        try:
            if regular_file_problem(path) is None:  # a FIFO must not block the listing; its item says not_a_file
                resolve_columns(path, config)
        except UserError:
            raise
        except Exception as err:  # damaged file: listed, and its one item says why
            log.warning("parquet input %s cannot be read (%s); it will be reported as unreadable", display(path), err)
        return [_Pending("parquet", display(path), path)]
    if config.is_image_name(path) or is_video_name(path):
        loose.append(path)
        return []
    raise UserError(
        f"input {display(path)} is not a folder, a tar shard (.tar), a parquet file (.parquet), an image "
        f"({', '.join(config.extensions)}) or a video ({', '.join(VIDEO_EXTENSIONS)}); pass one of those, or add "
        f"its ending to sources.extensions"
    )


def _fingerprint(unit: _Pending) -> str:
    if unit.kind == "directory":
        return chunk_fingerprint(unit.path, unit.members)
    files = [unit.path]
    if unit.kind == "tar" and (side := sidecar_parquet(unit.path)) is not None:
        files.append(side)
    return files_fingerprint(files)


def list_units(inputs: Sequence[str], config: SourceConfig, exclude: Sequence[str] = ()) -> list[InputUnit]:
    """All input units of ``inputs`` (folders, tars, parquet files, image files, brace lists, ``::`` joins).

    Folders in ``exclude`` are skipped while walking input folders: pass the run's output folder, so a run
    writing inside its input folder does not read its own shards and report pictures on the next run.
    An input named twice (or reached twice through different spellings) is listed once. Image files named
    directly are gathered, in the order given, into "directory" units after all other units.
    """
    pending: list[_Pending] = []
    loose: list[str] = []
    seen: set[str] = set()
    skip = frozenset(i for i in map(folder_identity, exclude) if i is not None)
    for path in expand_inputs(inputs):
        real = os.path.realpath(path)
        if real in seen:
            log.warning("input %s is given more than once; it is read once", display(path))
            continue
        seen.add(real)
        pending += _plan_input(path, config, loose, skip)
    pending += _chunks("directory", "", loose, config.unit_size(len(loose)), "files")
    return [
        InputUnit(index=i, kind=u.kind, name=u.name, path=u.path, fingerprint=_fingerprint(u), members=u.members)
        for i, u in enumerate(pending)
    ]


def iter_items(unit: InputUnit, config: SourceConfig) -> Iterator[InputItem]:
    """Every input of ``unit`` in a stable order; ``item`` is the position. Never raises on damaged inputs."""
    if unit.kind == "directory":
        return iter_files(unit.index, unit.path, unit.members, config)
    if unit.kind == "tar":
        return iter_tar(unit.index, unit.path, config)
    if unit.kind == "parquet":
        return iter_parquet(unit.index, unit.path, config)
    raise ValueError(f"unknown input unit kind {unit.kind!r}; expected one of {KINDS}")
