"""Command-line adapter of this package; imports only light modules at import time."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root ``pros`` app."""
