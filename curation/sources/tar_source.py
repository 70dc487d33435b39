"""Tar and WebDataset shards, img2dataset output included, read as a stream without extracting anything to disk.

Members are grouped into samples by key (the member name up to the first dot of its base name), as webdataset
does. Every image member is one input; a sample's ``.json`` gives ``url`` and ``caption`` (img2dataset writes
both there), its ``.txt`` the caption, and a sidecar ``NNNNN.parquet`` fills in a missing url.
"""

from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow.parquet as pq

from curation.sources.config import SourceConfig
from curation.sources.names import display, is_unsafe_member
from curation.sources.safe_read import READ_CHUNK, NotRegularFile, open_regular
from curation.sources.video import is_video_name
from curation.types import InputItem

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
TAIL_CHUNKS = 4  # at most this many READ_CHUNKs past the end-of-archive block are checked (a .tar.gz may pad a lot)


def sidecar_parquet(tar_path: str) -> str | None:
    """``NNNNN.parquet`` beside ``NNNNN.tar`` (img2dataset and our own shards write one), if it exists."""
    for suffix in TAR_SUFFIXES:
        if tar_path.endswith(suffix):
            candidate = tar_path[: -len(suffix)] + ".parquet"
            return candidate if os.path.isfile(candidate) else None
    return None


def split_member(name: str) -> tuple[str, str]:
    """("dir/key", "ext") of a member name; the extension is everything after the first dot of the base name."""
    directory, _, base = name.rpartition("/")
    key, _, ext = base.partition(".")
    return (f"{directory}/{key}" if directory else key), ext.lower()


@dataclass
class _Sample:
    key: str
    images: list[tuple[str, bytes | None, str | None, str]] = field(default_factory=list)  # name, data, error, detail
    url: str | None = None
    caption: str | None = None


def _read_meta(sample: _Sample, ext: str, data: bytes) -> None:
    if ext == "json":
        try:
            meta = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(meta, dict):
            url, caption = meta.get("url"), meta.get("caption")
            sample.url = url if isinstance(url, str) else sample.url
            sample.caption = caption if isinstance(caption, str) else sample.caption
    elif ext == "txt" and sample.caption is None:
        sample.caption = data.decode("utf-8", "replace")


class _SidecarUrls:
    """url and caption by sample key from the sidecar parquet, loaded only when a sample's json lacks a url."""

    def __init__(self, tar_path: str) -> None:
        self.path = sidecar_parquet(tar_path)
        self.table: dict[str, tuple[str | None, str | None]] | None = None

    def lookup(self, key: str) -> tuple[str | None, str | None]:
        if self.path is None:
            return None, None
        if self.table is None:
            self.table = _load_sidecar(self.path)
        return self.table.get(key.rpartition("/")[2], (None, None))


def _load_sidecar(path: str) -> dict[str, tuple[str | None, str | None]]:
    try:
        names = pq.ParquetFile(path).schema_arrow.names
        if "key" not in names or "url" not in names:
            return {}
        columns = ["key", "url"] + (["caption"] if "caption" in names else [])
        rows = pq.read_table(path, columns=columns).to_pylist()
    except Exception:  # a damaged sidecar only loses the url fallback
        return {}
    return {str(r["key"]): (r.get("url"), r.get("caption")) for r in rows}


def _unreadable_rest(tar_shown: str, members_seen: int, err: BaseException) -> tuple[str, str]:
    message = str(err) or type(err).__name__
    truncated = isinstance(err, (EOFError, tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError)) \
        or "end of data" in message or "truncated" in message
    return ("truncated" if truncated else "corrupt"), f"archive damaged after {members_seen} members: {message}"


class _WatchedTarInfo(tarfile.TarInfo):
    """Records on the archive why header reading stopped: tarfile ends iteration silently at a header that is
    cut short, missing or has a bad checksum after the first member, as it does at the end-of-archive blocks."""

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(archive)
        except tarfile.HeaderError as err:
            archive.pros_stop = err  # type: ignore[attr-defined]
            raise


def _early_stop(stream: tarfile.TarFile) -> Exception | None:
    """Why iteration ended before the real end of the archive (a header error, or data after the zero block that
    tarfile takes for the end, e.g. a zeroed header), or None for a clean end."""
    stop = getattr(stream, "pros_stop", None)
    if stop is None or not isinstance(stop, tarfile.EOFHeaderError):
        return stop
    at = stream.offset
    for _ in range(TAIL_CHUNKS):  # the rest is padding (10 KiB usually); a zeroed header shows in the first bytes
        chunk = stream.fileobj.read(READ_CHUNK)
        if not chunk:
            break
        if chunk.strip(b"\0"):
            return tarfile.ReadError(f"data after the end-of-archive zero block at byte {at} (a zeroed header?); "
                                     "the members there are not read")
    return None


def _open_stream(tar_path: str) -> tuple[Any, tarfile.TarFile]:
    """(file handle, streaming TarFile) of a regular file; raises NotRegularFile, OSError or TarError."""
    handle = open_regular(tar_path)
    try:
        return handle, tarfile.open(fileobj=handle, mode="r|*", tarinfo=_WatchedTarInfo)
    except BaseException:
        handle.close()
        raise


def iter_tar(unit_index: int, tar_path: str, config: SourceConfig) -> Iterator[InputItem]:
    """One InputItem per image member (and per unsafe or special member), in archive order.

    A damaged archive yields what was read before the damage, then one item ``tar#rest`` with the reason, also
    when the damage is a header (cut short, bad checksum) or a cut at a member boundary; a tar that is not a
    regular file yields one ``not_a_file`` item.
    """
    tar_shown = display(tar_path)
    sidecar = _SidecarUrls(tar_path)
    position = 0
    current: _Sample | None = None

    def flush(sample: _Sample) -> Iterator[InputItem]:
        nonlocal position
        url, caption = sample.url, sample.caption
        if url is None and sample.images:
            url, side_caption = sidecar.lookup(sample.key)
            caption = caption if caption is not None else side_caption
        for name, data, error, detail in sample.images:
            yield InputItem(
                unit=unit_index, item=position, source_id=f"{tar_shown}/{display(name)}", path=None, url=url,
                data=data, error=error, error_detail=detail, caption=caption,
            )
            position += 1

    def rest(reason: str, detail: str) -> InputItem:
        return InputItem(unit=unit_index, item=position, source_id=f"{tar_shown}#rest", path=None, url=None,
                         data=None, error=reason, error_detail=detail)

    members_seen = 0
    try:
        handle, stream = _open_stream(tar_path)
    except NotRegularFile as err:
        yield InputItem(unit=unit_index, item=0, source_id=tar_shown, path=tar_shown, url=None, data=None,
                        error="not_a_file", error_detail=str(err))
        return
    except Exception as err:  # tarfile, gzip, bz2 and lzma raise their own types on damaged data
        yield InputItem(unit=unit_index, item=0, source_id=tar_shown, path=tar_shown, url=None, data=None,
                        error="unreadable", error_detail=f"not a readable tar archive: {err}")
        return
    cut_in_member = False
    try:
        with handle, stream:
            for member in stream:
                members_seen += 1
                if member.isdir():
                    continue
                key, ext = split_member(member.name)
                if current is not None and current.key != key:
                    yield from flush(current)
                    current = None
                if current is None:
                    current = _Sample(key)
                entry = _member_entry(stream, member, config)
                if entry is None:
                    continue
                if entry[0] == "meta":
                    _read_meta(current, ext, entry[1])
                else:
                    current.images.append(entry[1])
                    if entry[1][2] == "truncated":
                        cut_in_member = True
                        break
            stop = None if cut_in_member else _early_stop(stream)
    except Exception as err:  # any failure past this point costs the rest of this archive, never the unit
        if current is not None:
            yield from flush(current)
        yield rest(*_unreadable_rest(tar_shown, members_seen, err))
        return
    if current is not None:
        yield from flush(current)
    if stop is not None:
        yield rest(*_unreadable_rest(tar_shown, members_seen, stop))


def _special_member(member: tarfile.TarInfo) -> str | None:
    """Why a member that is neither a regular file, a link nor a folder is not read, or None."""
    kinds = ((member.isfifo, "a FIFO"), (member.ischr, "a character device"), (member.isblk, "a block device"))
    kind = next((word for test, word in kinds if test()), None)
    if kind is None and not (member.isfile() or member.issym() or member.islnk()):
        kind = f"of tar type {member.type!r}"
    return None if kind is None else f"member is {kind}, not a regular file; only regular members are read"


def _member_entry(stream: tarfile.TarFile, member: tarfile.TarInfo, config: SourceConfig) -> tuple[str, Any] | None:
    """("image", (name, data, error, detail)), ("meta", bytes) or None for members that are neither."""
    name = member.name
    if is_unsafe_member(name):
        return "image", (name, None, "unsafe_path", "absolute or '..' member path; never extracted")
    special = _special_member(member)
    if special is not None:
        return "image", (name, None, "not_a_file", special)
    is_image = config.is_image_name(name) or is_video_name(name)  # a video member is expanded into frames later
    ext = split_member(name)[1]
    if not member.isfile():
        return ("image", (name, None, "unsafe_path", "link member; links are not followed")) if is_image else None
    if is_image:
        if member.size > config.max_bytes:
            return "image", (name, None, "too_large", f"member is {member.size} bytes, above sources.max_bytes")
        data = stream.extractfile(member).read()  # type: ignore[union-attr]
        if len(data) != member.size:
            return "image", (name, None, "truncated", f"member holds {len(data)} of {member.size} bytes")
        return "image", (name, data, None, "")
    if ext in ("json", "txt") and member.size <= 1_000_000:
        return "meta", stream.extractfile(member).read()  # type: ignore[union-attr]
    return None
