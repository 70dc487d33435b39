"""`pros eval` end to end through the CLI, on fixture datasets written in the benchmarks' published formats."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from test_eval_protocols import export_tiny_vit
from typer.testing import CliRunner

from downstream.datasets import write_fixture
from pros.cli import app

FAST = ["features.num_workers=0", "features.batch_size=16", "linear.epochs=15", "linear.lr=0.01"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    export_tiny_vit(root / "export")
    return root


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["eval", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def evaluate(workspace: Path, benchmark: str, out: str, *extra: str) -> Path:
    data = workspace / "data" / benchmark
    if not data.exists():
        write_fixture(benchmark, data)
    run(str(workspace / "export"), "--benchmark", benchmark, "--data-root", str(data), "--out",
        str(workspace / out), f"features.cache_dir={workspace / 'cache'}", *FAST, *extra)
    return workspace / out


def test_attributes_linear_probe_writes_results_table_and_bars(workspace: Path) -> None:
    out = evaluate(workspace, "celeba", "celeba")
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == "attributes" and results["protocol"] == "linear"
    (run_,) = results["runs"]
    test = run_["splits"]["test"]
    assert len(test["per_attribute"]) == 40 and 0.0 <= test["mean_accuracy"] <= 1.0
    table = (out / "table.md").read_text()
    assert "| celeba | test | linear | full | mean accuracy (%) ↑ |" in table
    assert f"{100 * test['mean_accuracy']:.2f}" in table
    assert "91.88" in table and "Zheng et al." in table  # FaRL reference with its source
    assert (out / "plots" / "full_test_attributes.png").stat().st_size > 10_000
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["benchmark"] == "celeba" and config["linear"]["epochs"] == 15
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert rows[0]["metric"] == "mean_accuracy" and rows[0]["model"] == "export"


def test_expression_few_shot_fine_tuning_reports_mean_and_std(workspace: Path) -> None:
    out = evaluate(workspace, "rafdb", "rafdb", "--protocol", "finetune", "--shots", "1", "fewshot.seeds=[0,1]",
                   "finetune.epochs=2", "finetune.num_workers=0", "finetune.batch_size=8")
    results = json.loads((out / "results.json").read_text())
    assert [(r["setting"], r["seed"], r["train_size"]) for r in results["runs"]] == [("1-shot", 0, 7), ("1-shot", 1, 7)]
    confusion = results["runs"][0]["splits"]["test"]["confusion"]
    assert len(confusion) == 7 and sum(map(sum, confusion)) == 8  # every test image counted once
    summary = {(s["metric"], s["n"]) for s in results["summary"]}
    assert ("accuracy", 2) in summary and ("mean_class_accuracy", 2) in summary
    assert " ± " in (out / "table.md").read_text()
    assert (out / "plots" / "1-shot_test_confusion.png").is_file()


def test_landmarks_linear_probe_scores_every_test_split(workspace: Path) -> None:
    out = evaluate(workspace, "300w", "300w")
    results = json.loads((out / "results.json").read_text())
    splits = results["runs"][0]["splits"]
    assert set(splits) == {"full", "common", "challenging"}
    for metrics in splits.values():
        assert metrics["norm"] == "inter_ocular" and metrics["nme"] > 0
        assert 0.0 <= metrics["auc_10"] <= 1.0 and 0.0 <= metrics["fr_10"] <= 1.0
    assert (out / "plots" / "full_ced.png").is_file()
    assert "NME inter-ocular (%) ↓" in (out / "table.md").read_text()


def test_landmarks_fine_tuning_on_box_normalized_aflw19(workspace: Path) -> None:
    out = evaluate(workspace, "aflw19", "aflw19-ft", "--protocol", "finetune", "finetune.epochs=1",
                   "finetune.num_workers=0", "finetune.batch_size=8")
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"] == "finetune" and results["nme_norm"] == "box_diagonal"
    for metrics in results["runs"][0]["splits"].values():
        # sqrt(w*h) < sqrt(w^2 + h^2) for any box, so NME_box > NME_diag
        assert metrics["nme_box"] > metrics["nme"] > 0
    table = (out / "table.md").read_text()
    assert "NME diag (%) ↓" in table and "0.943" in table and "1.334" in table


def test_table_merges_runs_with_sourced_references(workspace: Path) -> None:
    for benchmark in ("celeba", "300w"):
        if not (workspace / benchmark / "results.json").exists():
            evaluate(workspace, benchmark, benchmark)
    output = run("--table", str(workspace / "celeba" / "results.json"), str(workspace / "300w"),
                 "--out", str(workspace / "merged"))
    merged = (workspace / "merged" / "table.md").read_text()
    assert merged in output
    for needle in ("| celeba | test |", "| 300w | full |", "| 300w | challenging |", "2.93", "4.45", "91.88"):
        assert needle in merged
    assert "Sources:" in merged and "arXiv:2112.03109" in merged
    assert (workspace / "merged" / "table.csv").is_file()


def test_cli_errors_name_the_input_and_the_fix(workspace: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["eval", str(workspace / "export"), "--benchmark", "celeba", "--data-root",
                                  str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert missing.exit_code == 2 and "list_attr_celeba.txt" in missing.output
    bad_key = runner.invoke(app, ["eval", str(workspace / "export"), "--benchmark", "celeba", "--data-root",
                                  str(tmp_path), "--out", str(tmp_path / "out"), "linear.epoch=3"])
    assert bad_key.exit_code == 2 and "linear.epochs" in bad_key.output
    (tmp_path / "other.json").write_text("{}")
    not_ours = runner.invoke(app, ["eval", "--table", str(tmp_path / "other.json")])
    assert not_ours.exit_code == 2 and "not a `pros eval` results file" in not_ours.output
