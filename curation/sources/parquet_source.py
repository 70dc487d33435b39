"""Parquet files whose rows hold encoded image bytes or image file paths, read in streamed record batches."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import UserError
from curation.sources.config import FALLBACK_IMAGE_COLUMNS, SourceConfig
from curation.sources.files import read_file
from curation.sources.names import display
from curation.sources.safe_read import regular_file_problem
from curation.sources.video import is_video_name
from curation.types import InputItem

BATCH_ROWS = 256


@dataclass(frozen=True)
class ParquetColumns:
    """Which columns of one parquet file are read; ``mode`` is "bytes" or "path"."""

    mode: str
    image: str
    url: str | None
    caption: str | None


def resolve_columns(path: str, config: SourceConfig) -> ParquetColumns:
    """Pick the image column of ``path`` from its schema (footer only). Raises UserError naming the file, its
    columns and the setting to change when no usable column exists; OSError-like errors when unreadable."""
    schema = pq.ParquetFile(path).schema_arrow
    names = schema.names
    url = config.url_column if config.url_column in names else None
    caption = config.caption_column if config.caption_column in names else None
    candidates = [(config.image_column, "bytes"), (config.path_column, "path")]
    candidates += [(c, "bytes") for c in FALLBACK_IMAGE_COLUMNS]
    for column, mode in candidates:
        if column not in names:
            continue
        kind = schema.field(column).type
        if mode == "bytes" and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise UserError(
                f"parquet input {display(path)}: column {column!r} holds text, not image bytes; if it holds file "
                f"paths set sources.path_column={column}"
            )
        return ParquetColumns(mode, column, url, caption)
    raise UserError(
        f"parquet input {display(path)} has no image column: looked for image_column={config.image_column!r}, "
        f"path_column={config.path_column!r} and {', '.join(FALLBACK_IMAGE_COLUMNS)}; its columns are "
        f"{', '.join(names)}. Set sources.image_column=<bytes column> or sources.path_column=<path column>."
    )


def _cell_bytes(value: Any) -> tuple[bytes | None, str | None]:
    """(bytes, path) from a cell: raw bytes, or a Hugging Face image struct {"bytes": ..., "path": ...}."""
    if isinstance(value, dict):
        return value.get("bytes"), value.get("path")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), None
    return None, None


def _row_item(unit: int, row: int, shown: str, folder: str, columns: ParquetColumns, values: dict[str, Any],
              config: SourceConfig) -> InputItem:
    url, caption = (None if values.get(k) is None else str(values[k]) for k in ("url", "caption"))
    common = {"unit": unit, "item": row, "source_id": f"{shown}#{row}", "url": url, "caption": caption}
    cell = values["image"]
    if columns.mode == "bytes":
        data, ref = _cell_bytes(cell)
        if data is not None:
            if len(data) > config.max_bytes:
                return InputItem(**common, path=None, data=None, error="too_large",
                                 error_detail=f"cell is {len(data)} bytes, above max_bytes")
            return InputItem(**common, path=None, data=data)
        cell = ref
    if not isinstance(cell, str) or not cell:
        return InputItem(**common, path=None, data=None, error="unreadable",
                         error_detail=f"row {row} has no image in column {columns.image!r}")
    path = cell if os.path.isabs(cell) else os.path.join(folder, cell)
    if is_video_name(path):  # streamed from disk by curation.sources.video, never read whole
        return InputItem(**common, path=display(path), data=None, open_path=path)
    result = read_file(path, config.max_bytes)
    return InputItem(**common, path=display(path), data=result.data, error=result.error, error_detail=result.detail)


def _safe_row_item(unit: int, row: int, shown: str, folder: str, columns: ParquetColumns, values: dict[str, Any],
                   config: SourceConfig) -> InputItem:
    """``_row_item``, where any failure reading this row's image is this row's ``unreadable``, not the file's."""
    try:
        return _row_item(unit, row, shown, folder, columns, values, config)
    except Exception as err:
        return InputItem(unit=unit, item=row, source_id=f"{shown}#{row}", path=None, url=None, data=None,
                         error="unreadable", error_detail=f"row {row}: {type(err).__name__}: {err}")


def iter_parquet(unit_index: int, path: str, config: SourceConfig) -> Iterator[InputItem]:
    """One InputItem per row, in row order; a file that cannot be read yields one ``unreadable`` item."""
    shown = display(path)
    try:
        problem = regular_file_problem(path)
    except OSError:
        problem = None  # pyarrow's own error below names it
    if problem is not None:
        yield InputItem(unit=unit_index, item=0, source_id=shown, path=shown, url=None, data=None,
                        error="not_a_file", error_detail=problem)
        return
    try:
        columns = resolve_columns(path, config)
        reader = pq.ParquetFile(path)
    except UserError:
        raise
    except Exception as err:  # pyarrow raises its own error types for damaged files
        yield InputItem(unit=unit_index, item=0, source_id=shown, path=shown, url=None, data=None,
                        error="unreadable", error_detail=f"not a readable parquet file: {err}")
        return
    wanted = {"image": columns.image, "url": columns.url, "caption": columns.caption}
    read = [c for c in dict.fromkeys(wanted.values()) if c is not None]
    folder = os.path.dirname(path)
    row = 0
    try:
        for batch in reader.iter_batches(batch_size=BATCH_ROWS, columns=read):
            data = {role: batch.column(name).to_pylist() for role, name in wanted.items() if name is not None}
            for i in range(batch.num_rows):
                yield _safe_row_item(unit_index, row, shown, folder, columns, {k: v[i] for k, v in data.items()},
                                     config)
                row += 1
    except MemoryError:
        yield InputItem(unit=unit_index, item=row, source_id=f"{shown}#rest", path=None, url=None, data=None,
                        error="too_large", error_detail=f"rows after {row} do not fit in memory ({BATCH_ROWS} at a "
                        "time); split the file into smaller ones")
    except Exception as err:
        yield InputItem(unit=unit_index, item=row, source_id=f"{shown}#rest", path=None, url=None, data=None,
                        error="corrupt", error_detail=f"parquet file damaged after {row} rows: {err}")
