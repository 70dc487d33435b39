"""benchmarks/gpu_check.py: exits 0 without CUDA, and its steps run end to end on the CPU up to the CUDA calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the script would run for real")
@pytest.mark.timeout(120)
def test_without_cuda_it_says_so_and_exits_0() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr
    assert "no CUDA device" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_step_runs_on_the_cpu_and_fills_the_table(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--work", str(tmp_path)],
                          capture_output=True, text=True, timeout=880)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| step")]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == [
        "curate", "train", "FSDP2 (1 process)", "export", "eval features"]
    for row in rows:
        images, seconds = row.split(" | ")[1:3]
        assert int(images) > 0 and float(seconds) > 0, row
    assert (tmp_path / "export" / "model.safetensors").is_file()
    assert (tmp_path / "eval" / "results.json").is_file()
