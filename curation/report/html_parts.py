"""Small HTML pieces the report page's sections share: an inline PNG and a two-column table."""

from __future__ import annotations

import base64
import html
from typing import Any

from curation.report.labels import human


def img(pictures: dict[str, bytes], name: str, alt: str) -> str:
    data = base64.b64encode(pictures[name]).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def table(title: str, counts: dict[str, Any], names: bool = False) -> str:
    """A two-column table; its first column in words (``names``: file names, shown as they are)."""
    rows = "".join(f"<tr><td>{html.escape(str(k) if names else human(k))}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in counts.items())
    return f"<table><caption>{html.escape(title)}</caption>{rows or '<tr><td>(none)</td></tr>'}</table>"
