"""Every command refuses an output path it cannot use before any work: exit status 2 and a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pros.cli import app

runner = CliRunner()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("command", [
    ["curate", "{inputs}/a.jpg", "--out", "{taken}"],
    ["train", "{inputs}", "--out", "{taken}", "--preset", "tiny-cpu"],
    ["export", "{inputs}", "--out", "{taken}"],
    ["eval", "{inputs}", "--benchmark", "imagefolder", "--data-root", "{inputs}", "--out", "{taken}"],
    ["demo", "{taken}"],
    ["shards", "sheet", "{inputs}", "-o", "{taken}/sheet.png"],
])
def test_an_output_path_that_is_a_file_exits_2_naming_it(tmp_path: Path, command: list[str]) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "a.jpg").write_bytes(b"\xff\xd8\xff not really")
    taken = tmp_path / "taken"
    taken.write_text("a file where a folder should be")
    args = [word.format(inputs=inputs, taken=taken) for word in command]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 2, text
    assert str(taken) in text and ("is an existing file" in text or "is a file, not a folder" in text), text
