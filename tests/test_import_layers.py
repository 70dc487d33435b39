"""The import graph runs one way: core <- shards <- curation / training / downstream <- pros (the CLI root)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "shards", "curation", "training", "downstream", "pros")
ALLOWED = {
    "core": {"core"},
    "shards": {"core", "shards"},
    "curation": {"core", "shards", "curation"},
    "training": {"core", "shards", "training"},
    "downstream": {"core", "shards", "downstream"},
    "pros": set(PACKAGES),
}


def first_party_imports(path: Path) -> set[str]:
    """Top-level first-party packages ``path`` imports, at module level or inside functions alike."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(PACKAGES)


def test_every_package_imports_only_the_layers_below_it() -> None:
    wrong = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for imported in sorted(first_party_imports(path) - ALLOWED[package]):
                wrong.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not wrong, "\n".join(wrong)
