"""The ``pros`` command line through typer's runner: help, version, doctor and ``pros shards verify|inspect|sheet``."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from pros import __version__
from pros.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "120"}


def invoke(*args: str):
    return runner.invoke(app, list(args), env=WIDE)


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("doctor", "shards"):
        assert command in result.stdout
    assert "Show versions, accelerators" in result.stdout


def test_shards_help_lists_its_commands_with_one_line_help():
    result = invoke("shards", "--help")
    assert result.exit_code == 0
    assert "verify" in result.stdout and "Check every shard against the contract" in result.stdout
    assert "inspect" in result.stdout and "sheet" in result.stdout


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"pros {__version__}"


def test_doctor_reports_the_environment():
    from pros.doctor import package_checks

    result = invoke("doctor")
    assert "pros environment" in result.stdout
    for topic in ("packages: pyarrow", "packages: torch", "accelerator: torch CUDA", "weights: detector centerface"):
        assert topic in result.stdout
    missing_package = any(not check.ok for check in package_checks())
    assert result.exit_code == (1 if missing_package else 0)


def test_verify_passes_on_good_shards(shard_dir):
    result = invoke("shards", "verify", str(shard_dir))
    assert result.exit_code == 0, result.output
    assert f"ok: 2 shard(s), 8 sample(s) in {shard_dir} hold the shards contract" in result.stdout


def test_verify_lists_problems_and_exits_1(shard_dir):
    (shard_dir / "00001.done").unlink()
    (shard_dir / "00000.parquet").unlink()
    result = invoke("shards", "verify", str(shard_dir), "--no-decode")
    assert result.exit_code == 1
    assert f"{shard_dir / '00001.done'}: missing: the shard is not committed" in result.stdout
    assert f"{shard_dir / '00000.parquet'}: missing (the shard's manifest)" in result.stdout
    assert f"{shard_dir / 'sizes.json'}: lists 00001.tar, which is not a committed shard" in result.stdout
    assert "3 problem(s) in 2 of 2 shard(s)" in result.stderr


def test_verify_of_a_missing_directory_is_a_user_error(tmp_path):
    result = invoke("shards", "verify", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "is not a directory; pass the shard directory" in result.stderr
    assert "Traceback" not in result.output


def test_inspect_table(shard_dir):
    result = invoke("shards", "inspect", str(shard_dir))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in ("00000.tar", "00001.tar", "total (2)"):
        row = next(line for line in lines if name in line)
        assert "48 / 64 / 80" in row and "1.75 (max 3)" in row
    assert "crop px min/med/max" in result.stdout


def test_inspect_json(shard_dir):
    result = invoke("shards", "inspect", str(shard_dir), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"]["samples"] == 8 and len(data["shards"]) == 2


def test_sheet_writes_a_png(shard_dir, tmp_path):
    out = tmp_path / "look" / "sheet.png"
    result = invoke("shards", "sheet", str(shard_dir), "-o", str(out), "--n", "5", "--cols", "3", "--seed", "2")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 5 of 8 samples" in result.stdout
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > image.height > 0


@pytest.mark.parametrize("args,message", [
    (["-o", "sheet.jpg"], "must end in .png"),
    (["--n", "0"], "must be at least 1"),
])
def test_sheet_bad_options_exit_2_with_the_fix(shard_dir, tmp_path, args, message):
    result = invoke("shards", "sheet", str(shard_dir), *args)
    assert result.exit_code == 2
    assert message in result.stderr
