"""`pros eval` on an image folder of your own (the benchmark that runs offline): help and results name it for what it
is, a `--weights random` baseline is recorded as such, and the output says where the feature cache is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from pros.cli import app


def write_two_classes(root: Path, per_class: int = 6) -> Path:
    """ROOT/{train,test}/{bright,dark}/*.png: a trivially learnable two-class folder."""
    for split in ("train", "test"):
        for label, value in (("bright", 230), ("dark", 25)):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                Image.new("RGB", (40, 40), (value, value - index, value)).save(folder / f"{index}.png")
    return root


def test_eval_help_lists_imagefolder() -> None:
    result = CliRunner().invoke(app, ["eval", "--help"], terminal_width=200)
    assert result.exit_code == 0 and "imagefolder" in result.output


@pytest.mark.timeout(300)
def test_imagefolder_results_name_the_task_the_random_baseline_and_the_cache(tmp_path: Path) -> None:
    data = write_two_classes(tmp_path / "folder")
    out, cache = tmp_path / "out", tmp_path / "cache"
    result = CliRunner().invoke(app, [
        "eval", "test_vit", "--weights", "random", "--benchmark", "imagefolder", "--data-root", str(data),
        "--out", str(out), f"features.cache_dir={cache}", "features.num_workers=0", "linear.min_steps=200"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == "classification" and results["floor_name"] == "majority class"
    assert results["backbone"]["weights"] == "random"
    assert results["feature_cache"] and all(Path(entry).parent == cache for entry in results["feature_cache"])
    table = (out / "table.md").read_text()
    assert "| test_vit (random init) | imagefolder | test | linear | full | accuracy (%) ↑ |" in table
    assert "| 50.00 |" in table  # the majority-class floor of a balanced two-class split
    assert f"features cached in {cache}" in " ".join(result.output.split())
    assert (out / "plots" / "full_test_confusion.png").is_file()
