"""Open and read one input file so that no file system object can hang, flood or crash a run.

Any source (folders, parquet path columns, tar and parquet files themselves, videos) calls ``read_regular`` or
``open_regular``: only regular files are opened (a FIFO, a socket, a character or block device, even behind a link
named ``.jpg``, is ``not_a_file`` and never opened, so a FIFO cannot block ``open()`` and ``/dev/zero`` cannot be read
until memory runs out); the open is non-blocking and the opened descriptor is checked again (the name may have been
swapped after the check); a read stops at ``max_bytes + 1`` bytes whatever ``st_size`` claims; and any exception while
reading is this item's result, never the caller's.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import BinaryIO

READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class ReadResult:
    data: bytes | None
    error: str | None = None  # a reason from curation.types.DECODE_REASONS when ``data`` is None
    detail: str = ""


class NotRegularFile(OSError):
    """The path names something other than a regular file (its kind is in the message)."""


def file_kind(mode: int) -> str:
    """A reader's word for the kind of file system object ``mode`` describes."""
    kinds = (
        (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a regular file"),
    )
    return next((word for test, word in kinds if test(mode)), "not a regular file")


def regular_file_problem(path: str) -> str | None:
    """Why ``path`` (links followed) must not be opened as an input, or None for a regular file.

    Raises OSError when ``path`` cannot be examined at all (missing, dangling link, no permission on a folder)."""
    mode = os.stat(path).st_mode
    return None if stat.S_ISREG(mode) else f"{file_kind(mode)}, not a regular file; only regular files are read"


def open_regular(path: str) -> BinaryIO:
    """``path`` opened for binary reading, only when it is a regular file, without ever blocking in ``open()``.

    Raises NotRegularFile for anything else, OSError when it cannot be opened."""
    problem = regular_file_problem(path)
    if problem is not None:
        raise NotRegularFile(problem)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped between the stat and the open
            raise NotRegularFile(f"{file_kind(mode)}, not a regular file; only regular files are read")
        _clear_nonblocking(fd)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _clear_nonblocking(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no FIFOs to guard against in the first place
        return
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)


def read_bounded(handle: BinaryIO, max_bytes: int) -> bytes | None:
    """All bytes of ``handle``, or None once more than ``max_bytes`` arrive (the rest is never read)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = handle.read(min(READ_CHUNK, max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            return None


def read_regular(path: str, max_bytes: int) -> ReadResult:
    """The bytes of ``path``: ``not_a_file`` for anything but a regular file, ``too_large`` above ``max_bytes``
    (judged from the size first, then enforced while reading), ``unreadable`` for any error reading it."""
    try:
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                return ReadResult(None, "too_large", f"file is {size} bytes, above sources.max_bytes={max_bytes}")
            data = read_bounded(handle, max_bytes)
    except NotRegularFile as err:
        return ReadResult(None, "not_a_file", str(err))
    except OSError as err:
        return ReadResult(None, "unreadable", err.strerror or str(err) or type(err).__name__)
    except MemoryError:
        return ReadResult(None, "too_large", f"out of memory reading it (limit sources.max_bytes={max_bytes})")
    except Exception as err:  # whatever else goes wrong reading one file is that file's row
        return ReadResult(None, "unreadable", f"{type(err).__name__}: {err}")
    if data is None:
        return ReadResult(None, "too_large", f"more than sources.max_bytes={max_bytes} bytes (grew while read)")
    return ReadResult(data)
