"""README's Quickstart shows exactly the commands ``pros demo`` prints, and the demo's probe sentence says what
its table means (ProS trained vs random init vs the majority-class floor)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from pros.demo.probe import interpret, probe_summary, split_size
from pros.demo.run import DemoConfig, demo_commands

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart_commands() -> list[str]:
    section = README.read_text().split("## Quickstart: `pros demo`", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README's Quickstart has no bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_quickstart_is_what_the_demo_prints():
    printed = [shlex.join(argv) for argv in demo_commands(Path("DIR"), DemoConfig()).values()]
    assert quickstart_commands() == printed


def test_every_printed_eval_reads_a_backbone_an_earlier_command_writes():
    commands = demo_commands(Path("DIR"))
    written = {argv[argv.index("--out") + 1] for argv in commands.values()}
    for name in ("eval pros", "eval random_init"):
        assert commands[name][2] in written
    assert "--weights" in commands["eval random_init"] and "random" in commands["eval random_init"]


def test_options_of_the_demo_reach_its_commands():
    commands = demo_commands(Path("out"), DemoConfig(train_steps=7, eval_epochs=3))
    assert commands["train"][-2:] == ["--max-steps", "7"]
    assert "linear.epochs=3" in commands["eval pros"] and "linear.epochs=3" in commands["eval random_init"]


@pytest.mark.parametrize("trained, baseline, start", [
    (90.0, 90.0, "ProS trained does not beat random init on this probe"),
    (91.0, 89.0, "ProS trained does not beat random init on this probe"),
    (97.0, 80.0, "ProS trained beats random init on this probe"),
    (70.0, 90.0, "ProS trained does worse than random init on this probe"),
])
def test_interpretation_of_trained_vs_random_init(trained, baseline, start):
    sentence = interpret(trained, baseline, floor=50.0, images=100)
    assert sentence.startswith(start)
    assert "well above the floor of 50.0%" in sentence


def test_a_probe_at_the_floor_learned_nothing():
    assert "it learned nothing" in interpret(52.0, 90.0, floor=50.0, images=100)


def _results(path: Path, accuracy: float, floor: float = 0.3) -> Path:
    path.write_text(json.dumps({"summary": [
        {"setting": "full", "split": "test", "metric": "accuracy", "mean": accuracy, "std": 0.0, "n": 1,
         "floor": floor},
        {"setting": "full", "split": "test", "metric": "mean_class_accuracy", "mean": accuracy, "std": 0.0, "n": 1}]}))
    return path


def test_probe_rows_are_named_for_what_they_are(tmp_path):
    for label, count in (("face", 30), ("non_face", 70)):
        (tmp_path / "test" / label).mkdir(parents=True)
        for i in range(count):
            (tmp_path / "test" / label / f"{i}.png").write_bytes(b"")
    assert split_size(tmp_path / "test") == (100, 2)
    summary = probe_summary(_results(tmp_path / "a.json", 0.9), _results(tmp_path / "b.json", 0.9), tmp_path / "test")
    assert [row.name for row in summary.rows] == ["ProS trained", "random init", "floor"]
    # the floor pros eval reports (the training labels' majority, scored on the test split), not the test majority
    assert summary.rows[2].accuracy == 30.0 and "training labels" in summary.rows[2].detail
    assert summary.sentence.startswith("ProS trained does not beat random init on this probe (90.0% vs 90.0%")


def test_an_empty_test_split_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no class folders"):
        split_size(tmp_path)
