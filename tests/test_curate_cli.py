"""``pros curate`` as a user runs it: a folder of broken and awkward files, exit codes, overrides, --strict."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from curate_corpus import write_corpus
from typer.testing import CliRunner

from curation.config import load_curate_config
from curation.pipeline.manifest import read_manifests
from pros.cli import app


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, str | None]]:
    folder = tmp_path_factory.mktemp("cli") / "corpus"
    expected = write_corpus(folder)
    os.symlink(folder / "gone.jpg", folder / "unreadable.jpg")  # a dangling link: the file cannot be read
    expected["unreadable.jpg"] = "unreadable"
    return folder, expected


def invoke(*args: str):
    return CliRunner().invoke(app, ["curate", *args])


def test_broken_inputs_each_get_their_reason_and_the_run_exits_0(corpus, tmp_path):
    folder, expected = corpus
    out = tmp_path / "out"
    result = invoke(str(folder), "--out", str(out), "detect.input_size=320")
    assert result.exit_code == 0, result.output
    rows = read_manifests(out / "manifest").to_pylist()
    assert len(rows) == len(expected)  # every input accounted for, duplicates and the non-UTF-8 name included
    by_name = {os.path.basename(r["source_id"]): r for r in rows}
    assert by_name["caf\\xe9_photo.jpg"]["status"] == "rejected"  # decoded fine, no face in noise
    for name, reason in expected.items():
        row = by_name[name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")]
        if reason is None:  # decodes: generated pictures hold no face
            assert (row["reason"], row["width"] is not None) == ("no_face", True), name
        else:
            assert row["reason"] == reason, name
    assert "inputs by outcome" in result.output and "too_large" in result.output
    assert (out / "report" / "index.html").exists()
    written = load_curate_config(out / "config.yaml")  # the resolved config is a preset that reproduces the run
    assert written == load_curate_config(None, ["detect.input_size=320"])

    strict = invoke(str(folder), "--out", str(out), "detect.input_size=320", "--strict")
    assert strict.exit_code == 1
    assert "nothing to do" in strict.output and "could not be decoded" in strict.output


def test_bad_override_and_missing_input_are_clear_errors(corpus, tmp_path):
    folder, _ = corpus
    bad_key = invoke(str(folder), "--out", str(tmp_path / "o"), "detect.inptu_size=320")
    assert bad_key.exit_code == 2 and "detect.input_size" in bad_key.output
    bad_value = invoke(str(folder), "--out", str(tmp_path / "o"), "workers=0")
    assert bad_value.exit_code == 2 and "workers" in bad_value.output
    missing = invoke(str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    assert missing.exit_code == 2 and "nowhere" in missing.output and "does not exist" in missing.output
    no_model = invoke(str(folder), "--out", str(tmp_path / "o"), f"detect.model={tmp_path / 'missing.onnx'}")
    assert no_model.exit_code == 2 and "missing.onnx" in no_model.output


def test_dry_run_prints_the_plan_and_writes_nothing(corpus, tmp_path):
    folder, _ = corpus
    out = tmp_path / "out"
    plan = invoke(str(folder), "--out", str(out), "--dry-run", "sources.files_per_unit=6")
    assert plan.exit_code == 0 and "3 input units" in plan.output and "to do      3" in plan.output
    assert not out.exists()


def test_cli_module_stays_light():
    code = "import sys, curation.cli; heavy = {'onnxruntime', 'cv2', 'torch', 'pyarrow'} & set(sys.modules); print(heavy)"
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == "set()"


def test_the_end_of_a_run_names_the_cache_and_prune_cache_frees_it(corpus, tmp_path):
    folder, _ = corpus
    out = tmp_path / "out"
    settings = ["detect.input_size=320", "retrieval.enabled=false"]
    kept = invoke(str(folder), "--out", str(out), *settings, "--workers", "auto")
    assert kept.exit_code == 0, kept.output
    assert "--prune-cache" in kept.output and "workers" in kept.output and list((out / "work" / "decode").iterdir())
    pruned = invoke(str(folder), "--out", str(out), *settings, "--prune-cache")
    assert pruned.exit_code == 0 and "nothing to do" in pruned.output and "freed" in pruned.output
    assert not list((out / "work" / "decode").glob("*.parquet"))
    bad = invoke(str(folder), "--out", str(out), "--workers", "many")
    assert bad.exit_code == 2 and "workers" in bad.output
