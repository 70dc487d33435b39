"""The curation stage graph: which stages a config turns on, the phases pool stages split it into, and the marker
signatures the planner derives from it, restated here by their rule so that a refactor of the engine cannot change
them silently (a changed signature makes every existing run redo its work)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from curation.config import CurateConfig, load_curate_config
from curation.pipeline.graph import UnitPhase, build_graph
from curation.pipeline.layout import RunLayout
from curation.pipeline.markers import StageSignature
from curation.pipeline.planner import make_plan, part_hash
from curation.sources import InputUnit


def units() -> list[InputUnit]:
    return [InputUnit(0, "directory", "dump[0]", "/dump", "f" * 24, ("a.jpg",)),
            InputUnit(1, "directory", "dump[1]", "/dump", "e" * 24, ("b.jpg",))]


def sha24(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def phase_names(config: CurateConfig) -> list[object]:
    return [p.names if isinstance(p, UnitPhase) else p.name for p in build_graph(config).phases()]


def test_retrieval_splits_the_unit_stages_around_the_pool_stage() -> None:
    on = load_curate_config(None, ["retrieval.enabled=true"])
    off = load_curate_config(None, ["retrieval.enabled=false"])
    assert phase_names(on) == [("decode", "embed", "detect"), "retrieve", ("write",)]
    assert phase_names(off) == [("decode", "detect", "write")]


def test_signatures_chain_what_each_stage_reads(tmp_path: Path) -> None:
    config = load_curate_config(None, ["retrieval.enabled=true"])
    plan = make_plan(RunLayout(tmp_path), build_graph(config), config, units())
    retrieve = plan.pool("retrieve").signature
    for unit_plan in plan.units:
        s = unit_plan.signatures
        assert s["decode"] == StageSignature("decode", "1", part_hash(
            {"sources": config.sources, "decode": config.decode, "cache_side": config.detect.input_size,
             "video": config.video}), unit_plan.unit.fingerprint)
        assert s["detect"] == StageSignature("detect", "1", part_hash(replace(config.detect, threads=0)),
                                             s["decode"].digest())
        assert s["embed"] == StageSignature("embed", "2", part_hash({"embed": replace(config.retrieval.embed,
                                                                                      threads=0)}),
                                            s["decode"].digest())
        assert s["write"] == StageSignature("write", "2", part_hash({"crops": config.crops,
                                                                     "decisions": retrieve.digest()}),
                                            s["detect"].digest())
    joined = ",".join(f"{u.signatures['detect'].digest()}:{u.signatures['embed'].digest()}" for u in plan.units)
    assert retrieve.stage == "retrieve" and retrieve.version == "3"
    assert retrieve.input_fingerprint == sha24(joined)
    assert plan.stages == ("decode", "embed", "detect", "write")
    assert [u.todo for u in plan.units] == [plan.stages] * 2 and not plan.pool("retrieve").done


def test_without_retrieval_writing_reads_only_the_detections(tmp_path: Path) -> None:
    config = load_curate_config(None, ["retrieval.enabled=false"])
    plan = make_plan(RunLayout(tmp_path), build_graph(config), config, units())
    s = plan.units[0].signatures
    assert set(s) == {"decode", "detect", "write"} and plan.pools == ()
    assert s["write"] == StageSignature("write", "2", part_hash({"crops": config.crops}), s["detect"].digest())
