"""Check a shard directory against the shards contract and list every problem found.

Per shard: the tar opens, holds only regular ``KEY.EXT`` members, and ends with the two zero blocks of a complete
archive; every sample has its required members, its json parses as ``SampleMeta`` (with the sample's key) and its jpg
decodes at the crop size; the parquet manifest holds exactly the tar's keys; the stats file parses and counts the
samples; the commit marker exists and its count and checksums match. Per directory: ``sizes.json`` equals the
committed shards' counts, and no temporary file of an interrupted write is left.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from core.errors import UserError
from shards.checksums import file_sha256
from shards.keys import check_key
from shards.layout import SIZES_FILE, ShardPaths, shard_index, shard_paths
from shards.sample_meta import SampleMeta

BLOCK = 512
END_OF_ARCHIVE = 2 * BLOCK
REQUIRED_MEMBERS = ("jpg", "json")


@dataclass(frozen=True)
class Problem:
    """One thing wrong: the file it is in (relative to the shard directory, "." for the directory) and what."""

    file: str
    what: str

    def __str__(self) -> str:
        return f"{self.file}: {self.what}"


@dataclass
class ShardCheck:
    """What checking one shard found."""

    name: str
    committed: bool = False
    samples: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass
class VerifyReport:
    """The outcome of ``verify_directory``: ``ok`` when no problem was found."""

    directory: Path
    shards: list[ShardCheck] = field(default_factory=list)
    directory_problems: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [p for shard in self.shards for p in shard.problems] + self.directory_problems

    @property
    def samples(self) -> int:
        return sum(shard.samples for shard in self.shards)

    @property
    def ok(self) -> bool:
        return not self.problems


def shard_indices(directory: Path) -> list[int]:
    """Indices of every shard that has a tar or a marker in ``directory``, sorted."""
    indices = {shard_index(p) for p in directory.glob("*.tar")}
    indices |= {int(p.stem) for p in directory.glob("*.done") if p.stem.isdigit()}
    return sorted(i for i in indices if i is not None)


def member_end(member: tarfile.TarInfo) -> int:
    """Offset just past ``member``'s data, padded to whole 512-byte blocks."""
    return member.offset_data + -(-member.size // BLOCK) * BLOCK


def trailer_problem(path: Path, end_of_members: int) -> str | None:
    """Why the bytes after the last member are not a clean end-of-archive, or None when they are."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(end_of_members)
        trailer = handle.read()
    if trailer.strip(b"\0"):
        return (f"unreadable data after the last good member (offset {end_of_members} of {size} bytes): "
                "the archive is corrupt or truncated inside a header")
    if len(trailer) < END_OF_ARCHIVE:
        return f"truncated: the archive lacks its end-of-archive blocks ({len(trailer)} of {END_OF_ARCHIVE} zero bytes)"
    return None


def scan_tar(path: Path, required: Sequence[str], decode_images: bool, problems: list[Problem]) -> list[str] | None:
    """Walk a shard tar once, checking each sample as soon as its members are read (one sample in memory at a time).

    Problems are appended, never raised. Returns the keys of the complete samples, or None when the file is not a tar.
    """
    if path.exists() and not path.is_file():  # a FIFO would block the open, a device be read without end
        problems.append(Problem(path.name, "is not a regular file (a FIFO, device or folder); shards are tar files"))
        return None
    try:
        tar = tarfile.open(path, mode="r:")
    except (tarfile.TarError, OSError) as err:
        problems.append(Problem(path.name, f"cannot be opened as a tar archive ({err})"))
        return None
    scan = _TarScan(path.name, required, decode_images, problems)
    end_of_members = 0
    with tar:
        try:
            for member in tar:
                end_of_members = member_end(member)
                scan.add(tar, member)
        except (tarfile.TarError, OSError, EOFError) as err:
            problems.append(Problem(path.name, f"archive is corrupt after {len(scan.keys)} complete samples ({err})"))
            return scan.keys
    scan.finish_sample()
    trailer = trailer_problem(path, end_of_members)
    if trailer:
        problems.append(Problem(path.name, trailer))
    return scan.keys


@dataclass
class _TarScan:
    """Groups consecutive members by key, as webdataset does, and checks each finished sample."""

    name: str
    required: Sequence[str]
    decode_images: bool
    problems: list[Problem]
    keys: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    current: str | None = None
    members: dict[str, bytes] = field(default_factory=dict)
    last: tuple[str, str] = ("", "")
    order_reported: bool = False

    def problem(self, what: str) -> None:
        self.problems.append(Problem(self.name, what))

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        if not member.isfile():
            self.problem(f"member {member.name!r} is not a regular file")
            return
        key, dot, ext = member.name.partition(".")
        if not dot or "/" in member.name:
            self.problem(f"member {member.name!r} is not named KEY.EXT")
            return
        if (key, ext) < self.last and not self.order_reported:
            self.problem(f"members are not sorted by key: {member.name!r} comes after {'.'.join(self.last)!r}")
            self.order_reported = True
        self.last = (key, ext)
        if key != self.current:
            self.finish_sample()
            if key in self.seen:
                self.problem(f"members of sample {key} are not consecutive; readers would see two samples")
            else:
                self._check_key(key)
            self.current = key
        handle = tar.extractfile(member)
        data = handle.read() if handle is not None else b""
        if len(data) != member.size:
            raise EOFError(f"member {member.name} is truncated: {len(data)} of {member.size} bytes")
        if ext in self.members:
            self.problem(f"member {member.name!r} appears twice")
        self.members[ext] = data

    def _check_key(self, key: str) -> None:
        try:
            check_key(key)
        except ValueError as err:
            self.problem(str(err))

    def finish_sample(self) -> None:
        if self.current is None:
            return
        if self.current not in self.seen:
            self.keys.append(self.current)
            self.seen.add(self.current)
        for what in check_sample(self.current, self.members, self.required, self.decode_images):
            self.problem(what)
        self.current, self.members = None, {}


def check_sample(
    key: str, members: dict[str, bytes], required: Sequence[str], decode_images: bool,
) -> Iterator[str]:
    """What is wrong with one sample (nothing when it is fine)."""
    missing = [ext for ext in required if ext not in members]
    if missing:
        yield f"sample {key} lacks member(s) {', '.join('.' + m for m in missing)}"
    meta = None
    if "json" in members:
        try:
            meta = SampleMeta.from_json(members["json"])
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            yield f"sample {key}: {key}.json is not valid sample metadata ({type(err).__name__}: {err})"
        if meta is not None and meta.key != key:
            yield f"sample {key}: {key}.json names key {meta.key!r}"
    if "jpg" in members and decode_images:
        problem = _image_problem(members["jpg"], meta)
        if problem:
            yield f"sample {key}: {key}.jpg {problem}"


def _image_problem(data: bytes, meta: SampleMeta | None) -> str | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            size = image.size
    except Exception as err:  # Pillow raises many types for bad bytes; any of them means "does not decode"
        return f"does not decode ({type(err).__name__}: {err})"
    if meta is not None and size != (meta.crop_size, meta.crop_size):
        return f"is {size[0]}x{size[1]} but its json says crop_size {meta.crop_size}"
    return None


def check_parquet(paths: ShardPaths, keys: list[str]) -> Iterator[str]:
    import pyarrow.parquet as pq

    if not paths.parquet.exists():
        yield "missing (the shard's manifest)"
        return
    try:
        table = pq.read_table(paths.parquet, columns=["key"])
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, KeyError for different damage
        yield f"cannot be read as a parquet manifest with a 'key' column ({type(err).__name__}: {err})"
        return
    rows = [str(k) for k in table.column("key").to_pylist()]
    if len(rows) != len(set(rows)):
        yield f"has {len(rows) - len(set(rows))} duplicate key row(s)"
    only_parquet = sorted(set(rows) - set(keys))
    only_tar = sorted(set(keys) - set(rows))
    if only_parquet:
        yield f"{len(only_parquet)} row(s) with no sample in {paths.tar.name}: {_few(only_parquet)}"
    if only_tar:
        yield f"no row for {len(only_tar)} sample(s) of {paths.tar.name}: {_few(only_tar)}"


def check_stats(paths: ShardPaths, count: int) -> Iterator[str]:
    if not paths.stats.exists():
        yield "missing (the shard's stats)"
        return
    try:
        stats = json.loads(paths.stats.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        yield f"is not valid JSON ({err})"
        return
    if not isinstance(stats, dict) or stats.get("count") != count:
        found = stats.get("count") if isinstance(stats, dict) else stats
        yield f"count is {found!r} but {paths.tar.name} holds {count} samples"


def check_marker(paths: ShardPaths, count: int) -> Iterator[str]:
    if not paths.marker.exists():
        yield "missing: the shard is not committed (its writer did not finish); rerun the step that writes it"
        return
    try:
        marker = json.loads(paths.marker.read_text())
        expected = {"count": int(marker["count"]), "tar": marker["tar_sha256"], "parquet": marker["parquet_sha256"]}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as err:
        yield f"is not a commit marker with count, tar_sha256 and parquet_sha256 ({type(err).__name__}: {err})"
        return
    if expected["count"] != count:
        yield f"count is {expected['count']} but {paths.tar.name} holds {count} samples"
    for label, path in (("tar", paths.tar), ("parquet", paths.parquet)):
        if path.exists() and file_sha256(path) != expected[label]:
            yield f"{label}_sha256 does not match {path.name}: the file changed after it was committed"


def verify_shard(
    paths: ShardPaths, required: Sequence[str] = REQUIRED_MEMBERS, decode_images: bool = True
) -> ShardCheck:
    """Every check of one shard."""
    check = ShardCheck(paths.tar.name, committed=paths.marker.exists() and paths.tar.exists())
    if not paths.tar.exists():
        check.problems.append(Problem(paths.tar.name, f"missing, but its marker {paths.marker.name} exists"))
        return check
    keys = scan_tar(paths.tar, required, decode_images, check.problems)
    if keys is None:
        return check
    check.samples = len(keys)
    check.problems += [Problem(paths.parquet.name, what) for what in check_parquet(paths, keys)]
    check.problems += [Problem(paths.stats.name, what) for what in check_stats(paths, len(keys))]
    check.problems += [Problem(paths.marker.name, what) for what in check_marker(paths, len(keys))]
    return check


def check_sizes(directory: Path, shards: list[ShardCheck]) -> Iterator[str]:
    """``sizes.json`` must map exactly the committed shards to their sample counts."""
    path = directory / SIZES_FILE
    if not path.exists():
        yield "missing; write it with shards.write_sizes(DIR) after the last shard is committed"
        return
    try:
        sizes = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        yield f"is not valid JSON ({err})"
        return
    if not isinstance(sizes, dict):
        yield f"must map shard names to counts, found {type(sizes).__name__}"
        return
    committed = {s.name: s.samples for s in shards if s.committed}
    for name in sorted(set(sizes) - set(committed)):
        yield f"lists {name}, which is not a committed shard"
    for name in sorted(set(committed) - set(sizes)):
        yield f"does not list committed shard {name} ({committed[name]} samples)"
    for name in sorted(set(sizes) & set(committed)):
        if sizes[name] != committed[name]:
            yield f"says {name} holds {sizes[name]} samples; it holds {committed[name]}"


def _few(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def verify_directory(
    directory: Path,
    *,
    required: Sequence[str] = REQUIRED_MEMBERS,
    decode_images: bool = True,
    on_shard: Callable[[str, int, int], None] | None = None,
) -> VerifyReport:
    """Check every shard of ``directory`` and the dataset-level files.

    ``on_shard(name, done, total)`` is called before the first shard (done=0) and after each one, for progress bars.
    Raises UserError when ``directory`` is not a directory.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory; pass the shard directory (the one holding 00000.tar ...)")
    report = VerifyReport(directory)
    indices = shard_indices(directory)
    if not indices:
        report.directory_problems.append(Problem(".", "holds no shard (no NNNNN.tar file)"))
        return report
    for tar in sorted(directory.glob("*.tar")):
        if shard_index(tar) is None:
            report.directory_problems.append(Problem(tar.name, "is not named like a shard (NNNNN.tar, digits only)"))
    for tmp in sorted(directory.glob("*.tmp")):
        what = "left by an interrupted write; rerun the writer or delete it"
        report.directory_problems.append(Problem(tmp.name, what))
    if on_shard is not None:
        on_shard("", 0, len(indices))
    for done, index in enumerate(indices, start=1):
        check = verify_shard(shard_paths(directory, index), required, decode_images)
        report.shards.append(check)
        if on_shard is not None:
            on_shard(check.name, done, len(indices))
    report.directory_problems += [Problem(SIZES_FILE, what) for what in check_sizes(directory, report.shards)]
    return report
