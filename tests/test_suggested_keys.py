"""Every ``dotted.key=value`` that the code base shows a user (doctor's fixes, error messages, help) is a real key.

The source is scanned, not a list kept by hand: a message that suggests ``detector.model=...`` when the key is
``detect.model`` fails here.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.config import build_config
from curation.config import CurateConfig
from downstream.config import EvalConfig
from pros.doctor import opencv_checks, weight_checks
from training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pros", "curation", "training", "downstream", "shards")
CONFIGS = (CurateConfig, TrainConfig, EvalConfig)
# A dotted key right before '=', not part of a path, URL or attribute chain (``/tmp/x.onnx=`` is a path).
SUGGESTED_KEY = re.compile(r"(?<![\w./\-$])([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)=")


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of module, class and function docstrings: they document code, they are not messages to users."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def suggested_keys(text: str) -> list[str]:
    return SUGGESTED_KEY.findall(text)


def source_suggestions() -> Iterator[tuple[str, int, str]]:
    """(file, line, key) for every dotted ``key=`` inside a string literal of the packages."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            skip = _docstring_nodes(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                    for key in suggested_keys(node.value):
                        yield str(path.relative_to(ROOT)), node.lineno, key


def accepted_by(config: Any, dotted: str) -> bool:
    node = config
    for part in dotted.split("."):
        if isinstance(node, dict):  # free-form sections (eval's dataset_options) take any key
            return True
        if not dataclasses.is_dataclass(node) or part not in {f.name for f in dataclasses.fields(node)}:
            return False
        node = getattr(node, part)
    return not dataclasses.is_dataclass(node)  # a key names a value, not a whole section


def accepted(dotted: str) -> bool:
    return any(accepted_by(config(), dotted) for config in CONFIGS)


def test_the_scanner_finds_keys_and_ignores_code_and_paths():
    assert suggested_keys("or pass detect.model=/path/to/det.onnx") == ["detect.model"]
    assert suggested_keys("set run.precision=fp32 or data.batch_size=8") == ["run.precision", "data.batch_size"]
    assert suggested_keys("see /tmp/x.onnx=1, ./a.b=2 and KEY.NAME=VALUE") == []
    assert accepted("retrieval.embed.pretrained") and accepted("linear.epochs") and accepted("workers")
    assert not accepted("detector.model") and not accepted("embed.model") and not accepted("retrieval.embed")


def test_the_scan_covers_the_code_base():
    keys = {key for _, _, key in source_suggestions()}
    assert {"detect.model", "retrieval.enabled", "run.max_steps", "linear.epochs"} <= keys


def test_every_key_suggested_in_the_source_is_accepted_by_a_config():
    wrong = [f"{path}:{line}: {key}" for path, line, key in source_suggestions() if not accepted(key)]
    assert not wrong, "keys suggested to users that no config accepts:\n" + "\n".join(wrong)


def test_every_key_doctor_suggests_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path / "insightface"))  # no packs, no CLIP weights: every fix shows
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    fixes = " ".join(check.fix for check in weight_checks())
    fixes += " ".join(check.fix for check in opencv_checks({"opencv-python": "5.0"}, "5.0", False))
    keys = suggested_keys(fixes)
    assert "detect.model" in keys and "retrieval.embed.pretrained" in keys
    for key in keys:
        assert accepted(key), key


@pytest.mark.parametrize("override", ["detect.backend=insightface", "detect.model=/path/to/det.onnx",
                                      "retrieval.embed.backend=open_clip", "retrieval.embed.model=ViT-B-32",
                                      "retrieval.embed.pretrained=/path/to/open_clip.pt"])
def test_doctor_overrides_build_a_curate_config(override):
    assert build_config(CurateConfig, overrides=[override]) is not None


def test_every_key_in_the_readme_and_docs_is_accepted():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    wrong = [f"{page.relative_to(ROOT)}:{number}: {key}" for page in pages
             for number, line in enumerate(page.read_text().splitlines(), 1)
             for key in suggested_keys(line) if not accepted(key)]
    assert not wrong, "keys in the docs that no config accepts:\n" + "\n".join(wrong)
