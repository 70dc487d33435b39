"""``--help`` reads well (no type placeholder on flags, plain usage lines), and ``pros config show`` prints the
resolved configuration a command would run with."""

from __future__ import annotations

import re

import pytest
import yaml
from typer.testing import CliRunner

from core.config import to_dict
from curation.config import CurateConfig
from downstream.config import EvalConfig
from pros.cli import app
from training.config import load_train_config

runner = CliRunner()
WIDE = {"COLUMNS": "120"}
COMMANDS = (["--help"], ["curate", "--help"], ["train", "--help"], ["export", "--help"], ["eval", "--help"],
            ["demo", "--help"], ["doctor", "--help"], ["shards", "verify", "--help"], ["config", "show", "--help"])


def usage_line(output: str) -> str:
    return next(line.strip() for line in output.splitlines() if "Usage:" in line)


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv))
def test_flags_show_no_type_and_usage_has_no_braces(argv):
    result = runner.invoke(app, argv, env=WIDE)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    assert not re.search(r"[{}]", usage_line(result.stdout)), usage_line(result.stdout)


def test_usage_lines_read_as_written():
    assert usage_line(runner.invoke(app, ["curate", "--help"], env=WIDE).stdout) == \
        "Usage: pros curate [OPTIONS] INPUT... [KEY=VALUE...]"
    assert usage_line(runner.invoke(app, ["shards", "verify", "--help"], env=WIDE).stdout) == \
        "Usage: pros shards verify [OPTIONS] DIRECTORY"
    assert usage_line(runner.invoke(app, ["demo", "--help"], env=WIDE).stdout) == "Usage: pros demo [OPTIONS] [OUT]"


def test_train_takes_c_for_config_like_curate():
    for command in ("train", "curate"):
        help_text = runner.invoke(app, [command, "--help"], env=WIDE).stdout
        assert re.search(r"--config\s+-c", help_text), command


def test_config_show_prints_each_commands_defaults():
    for command, defaults in (("curate", CurateConfig()), ("eval", EvalConfig())):
        result = runner.invoke(app, ["config", "show", command])
        assert result.exit_code == 0, result.output
        assert yaml.safe_load(result.stdout) == to_dict(defaults)


def test_config_show_applies_the_preset_and_overrides():
    result = runner.invoke(app, ["config", "show", "train", "--preset", "tiny-cpu", "run.max_steps=7"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown == to_dict(load_train_config(None, "tiny-cpu", ["run.max_steps=7"]))
    assert shown["model"]["num_prototypes"] == 256 and shown["run"]["max_steps"] == 7


def test_config_show_reads_a_config_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("crops:\n  size: 256\n")
    result = runner.invoke(app, ["config", "show", "curate", "-c", str(path)])
    assert yaml.safe_load(result.stdout)["crops"]["size"] == 256


@pytest.mark.parametrize("argv, message", [
    (["config", "show", "fit"], "unknown command 'fit' for pros config show; choose one of curate, train, eval"),
    (["config", "show", "curate", "--preset", "tiny-cpu"], "--preset is for train"),
    (["config", "show", "train", "--preset", "huge"], "unknown preset 'huge'"),
    (["config", "show", "train", "model.drop_pth=0.1"], "Did you mean 'model.drop_path'?"),
])
def test_config_show_errors_name_the_fix(argv, message):
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
