"""Shard lists as users write them: brace ranges ``dir/{00000..00099}.tar``, brace choices ``{a,b}``,
directories, and ``::`` to join several sources."""

from __future__ import annotations

import re
from pathlib import Path

_BRACE = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"^(\d+)\.\.(\d+)$")


def expand_braces(pattern: str) -> list[str]:
    """Expand the first brace group recursively; ranges keep the zero padding of their start."""
    match = _BRACE.search(pattern)
    if not match:
        return [pattern]
    head, body, tail = pattern[: match.start()], match.group(1), pattern[match.end():]
    range_match = _RANGE.match(body)
    if range_match:
        start, stop = range_match.groups()
        if int(stop) < int(start):
            raise ValueError(f"brace range {{{body}}} in {pattern!r} counts down; write it as {{{stop}..{start}}}")
        width = len(start)
        options = [f"{i:0{width}d}" for i in range(int(start), int(stop) + 1)]
    else:
        options = body.split(",")
    return [out for option in options for out in expand_braces(head + option + tail)]


def expand_urls(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    """All shard paths named by ``spec``: ``::``-joined sources, brace lists, and directories of ``*.tar``."""
    specs = [spec] if isinstance(spec, str) else list(spec)
    urls: list[str] = []
    for item in specs:
        for source in item.split("::"):
            source = source.strip()
            if not source:
                continue
            for expanded in expand_braces(source):
                path = Path(expanded)
                if path.is_dir():
                    urls.extend(str(p) for p in sorted(path.glob("*.tar")))
                else:
                    urls.append(expanded)
    return urls
