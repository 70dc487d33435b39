"""Retrieval inside ``pros curate``: embed stage, global retrieval step, decisions in manifests, samples and report.

The pool is real photos (insightface's t1.jpg and Tom Hanks, matplotlib's Grace Hopper, skimage's astronaut and
coffee) plus planted near-copies of them (resized, JPEG-recompressed, cropped), run through the real CenterFace
detector and the offline EfficientNet-Lite0 embedder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import UserError
from curation.config import load_curate_config
from curation.pipeline.manifest import read_manifests
from curation.pipeline.run import curate
from shards.sample_meta import SampleMeta


def real_photos() -> dict[str, Image.Image]:
    import insightface
    import matplotlib
    import skimage.data

    insight = Path(insightface.__file__).parent / "data" / "images"
    grace = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photos = {"t1": Image.open(insight / "t1.jpg"), "grace": Image.open(grace),
              "astronaut": Image.fromarray(skimage.data.astronaut()), "coffee": Image.fromarray(skimage.data.coffee()),
              "hanks": Image.open(insight / "Tom_Hanks_54745.png")}
    return {name: photo.convert("RGB") for name, photo in photos.items()}


def shrink(image: Image.Image, side: int) -> Image.Image:
    image = image.copy()
    image.thumbnail((side, side))
    return image


def crop_centre(image: Image.Image, keep: float) -> Image.Image:
    w, h = image.size
    dx, dy = int(w * (1 - keep) / 2), int(h * (1 - keep) / 2)
    return image.crop((dx, dy, w - dx, h - dy))


def write_pool(folder: Path) -> None:
    """Originals at most 400 px, and near-copies: grace resized, grace recompressed, astronaut cropped to 85%."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = {name: shrink(photo, 800 if name == "t1" else 400) for name, photo in real_photos().items()}
    for name, photo in photos.items():
        photo.save(folder / f"{name}.png")
    shrink(photos["grace"], 260).save(folder / "grace_resized.png")
    photos["grace"].save(folder / "grace_recompressed.jpg", quality=35)
    crop_centre(photos["astronaut"], 0.85).save(folder / "astronaut_cropped.png")

# The first pass keeps faces scoring >= 0.85: the Tom Hanks photo (CenterFace score about 0.80) is rejected, the
# others (about 0.91) become seeds. The re-check keeps faces scoring >= 0.5, so Hanks comes back through retrieval.
SETTINGS = ("detect.input_size=320", "crops.min_score=0.85",
            "retrieval.seeded.min_similarity=0.4", "retrieval.recheck.min_score=0.5")


def curate_pool(pool: Path, out: Path, *extra: str, **kwargs):
    return curate([str(pool)], out, load_curate_config(None, [*SETTINGS, *extra]), **kwargs)


def manifest_by_name(out: Path) -> dict[str, dict]:
    return {Path(row["path"]).name: row for row in read_manifests(out / "manifest").to_pylist()}


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").iterdir()) if p.suffix in (".tar", ".parquet")}


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("retrieval") / "pool"
    write_pool(folder)
    return folder


@pytest.fixture(scope="module")
def finished(pool, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("retrieval") / "out"
    return out, curate_pool(pool, out)


def test_planted_near_duplicates_are_removed_and_one_copy_kept(finished):
    out, result = finished
    rows = manifest_by_name(out)
    assert result.inputs == 8 and result.kept + result.rejected == 8
    grace = ["grace.png", "grace_resized.png", "grace_recompressed.jpg"]
    kept_grace = [name for name in grace if rows[name]["status"] == "kept"]
    assert len(kept_grace) == 1 and kept_grace[0] != "grace_resized.png"  # the smaller copy never wins
    for name in grace:
        if name not in kept_grace:
            assert rows[name]["status"] == "rejected" and rows[name]["reason"] == "duplicate"
            assert rows[name]["duplicate_of"] == rows[kept_grace[0]]["key"]
            assert rows[name]["similarity"] >= 0.85
    assert rows["astronaut.png"]["status"] == "kept"
    assert rows["astronaut_cropped.png"]["reason"] == "duplicate"
    assert rows["astronaut_cropped.png"]["duplicate_of"] == rows["astronaut.png"]["key"]
    # distinct photos stay
    assert rows["t1.png"]["status"] == "kept" and rows["t1.png"]["decision"] == "seed"


def test_retrieval_recovers_a_face_the_first_pass_rejected(finished):
    out, _ = finished
    rows = manifest_by_name(out)
    hanks = rows["hanks.png"]
    assert 0.5 <= hanks["max_score"] < 0.85  # the first pass could not keep it
    assert hanks["status"] == "kept" and hanks["decision"] == "retrieved" and hanks["n_kept_faces"] == 1
    seeds = {row["key"] for row in rows.values() if row["decision"] == "seed" or row["reason"] == "duplicate"}
    assert hanks["seed_key"] in seeds and hanks["similarity"] >= 0.4
    by_key = {row["key"]: row for row in rows.values()}
    assert by_key[hanks["seed_key"]]["status"] == "kept"  # a seed removed as a duplicate gives way to its kept copy
    assert rows["coffee.png"]["status"] == "rejected" and rows["coffee.png"]["reason"] == "no_face"
    with tarfile.open(out / "shards" / "00000.tar") as tar:
        metas = {m.name: SampleMeta.from_json(tar.extractfile(m).read()) for m in tar if m.name.endswith(".json")}
    assert metas[f"{hanks['key']}_f0.json"].curation == {
        "reason": "retrieved", "seed_key": hanks["seed_key"], "similarity": hanks["similarity"]}
    assert metas[f"{rows['t1.png']['key']}_f0.json"].curation == {"reason": "seed"}
    assert len(metas) == sum(row["n_kept_faces"] for row in rows.values())


def test_embeddings_and_index_load_without_pros(finished):
    import faiss
    import numpy as np
    import pyarrow.parquet as pq

    out, _ = finished
    vectors = np.load(out / "embeddings" / "img_emb" / "img_emb_00000.npy")
    keys = pq.read_table(out / "embeddings" / "metadata" / "metadata_00000.parquet").column("key").to_pylist()
    assert vectors.dtype == np.float16 and vectors.shape[0] == len(keys) == 8
    assert keys == sorted(row["key"] for row in manifest_by_name(out).values())
    index = faiss.read_index(str(out / "index" / "pool.faiss"))
    assert index.ntotal == 8


def test_report_counts_seeds_retrieval_and_duplicates(finished):
    out, _ = finished
    report = json.loads((out / "report" / "report.json").read_text())["retrieval"]
    assert report["kept_from_retrieval"] == 1 and report["duplicates_removed"] == 3
    assert report["kept_from_seeds"] == 3  # t1, astronaut, one grace
    assert {d["source_id"].rsplit("/", 1)[1] for d in report["duplicates"]} >= {"astronaut_cropped.png"}
    assert (out / "report" / "duplicates.png").stat().st_size > 1000
    assert "Duplicates and the copy kept" in (out / "report" / "index.html").read_text()


def test_rerun_does_nothing_and_a_retrieval_change_reruns_only_the_step_and_writing(finished, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(finished[0], out)
    pool = Path(manifest_by_name(out)["hanks.png"]["path"]).parent
    again = curate_pool(pool, out)
    assert again.nothing_to_do and "nothing to do" in capsys.readouterr().err
    changed = curate_pool(pool, out, "retrieval.recheck.min_score=0.85")
    assert changed.units_run == {"decode": 0, "detect": 0, "embed": 0, "write": 1}
    hanks = manifest_by_name(out)["hanks.png"]
    assert hanks["status"] == "rejected" and hanks["decision"] == "recheck_faces_below_threshold"
    assert hanks["reason"] == "faces_below_threshold"
    detector_changed = curate_pool(pool, out, "retrieval.recheck.min_score=0.85", "detect.score_threshold=0.45")
    assert detector_changed.units_run == {"decode": 0, "detect": 1, "embed": 0, "write": 1}


def test_a_run_killed_in_the_retrieval_step_resumes_to_identical_shards(finished, monkeypatch, tmp_path):
    import curation.pipeline.retrieval_step as step

    out, _ = finished
    pool = Path(manifest_by_name(out)["hanks.png"]["path"]).parent
    resumed = tmp_path / "out"

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies before any decision file is committed

    monkeypatch.setattr(step, "write_decisions", crash)
    with pytest.raises(KeyboardInterrupt):
        curate_pool(pool, resumed)
    monkeypatch.undo()
    assert not (resumed / "manifest" / "00000.parquet").exists()
    result = curate_pool(pool, resumed)
    assert result.units_run == {"decode": 0, "detect": 0, "embed": 0, "write": 1}
    assert shard_bytes(resumed) == shard_bytes(out)
    assert manifest_by_name(resumed)["hanks.png"]["decision"] == "retrieved"


def test_retrieval_is_on_by_default_and_off_gives_the_first_pass_alone(pool, tmp_path):
    on = tmp_path / "on"
    curate([str(pool)], on, load_curate_config(None, ["detect.input_size=320", "crops.min_score=0.85"]))
    rows = manifest_by_name(on)
    assert rows["grace_resized.png"]["reason"] == "duplicate" and rows["t1.png"]["decision"] == "seed"
    assert (on / "embeddings").exists()

    off = tmp_path / "off"
    result = curate([str(pool)], off, load_curate_config(
        None, ["detect.input_size=320", "crops.min_score=0.85", "retrieval.enabled=false"]))
    rows = manifest_by_name(off)
    assert all(row["decision"] is None for row in rows.values())
    assert rows["hanks.png"]["status"] == "rejected" and rows["grace_resized.png"]["status"] == "kept"
    assert not (off / "embeddings").exists() and result.kept == 6


def kill_when_markers(cmd: list[str], out: Path, stage: str, at_least: int) -> None:
    """Start ``cmd`` and SIGKILL it once ``stage`` has committed ``at_least`` markers."""
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = out / "work" / "markers" / stage
    deadline = time.monotonic() + 120
    while len(list(folder.glob("*.json"))) < at_least:
        assert process.poll() is None, "the run ended before the kill point"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the run ended before it could be killed"


def test_sigkill_while_embedding_then_resume_gives_identical_shards(pool, tmp_path):
    """Four units of two images, killed after two units are embedded: the same command then finishes, embedding only
    the units that were not, and writes the uninterrupted run's shards. (A kill in the retrieval step is tested
    above; a kill while writing resumes through the write markers as in test_curate_resume.)"""
    units = ("sources.files_per_unit=2", "detect.batch_size=2")
    reference = tmp_path / "reference"
    curate_pool(pool, reference, *units)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pros", "curate", str(pool), "--out", str(out), *SETTINGS, *units]
    kill_when_markers(cmd, out, "embed", 2)
    embedded = {p.name: p.stat().st_mtime_ns for p in (out / "work" / "markers" / "embed").glob("*.json")}
    assert 2 <= len(embedded) < 4
    result = curate_pool(pool, out, *units)
    assert result.units_run["embed"] == 4 - len(embedded) and result.units_run["write"] == 4
    assert {n: (out / "work" / "markers" / "embed" / n).stat().st_mtime_ns for n in embedded} == embedded
    assert shard_bytes(out) == shard_bytes(reference)
    assert read_manifests(out / "manifest").equals(read_manifests(reference / "manifest"))


def test_precomputed_embeddings_give_the_same_decisions_without_embedding(finished, pool, tmp_path):
    """A clip-retrieval folder (here the finished run's own) replaces the embedder; rows match by manifest key."""
    source, _ = finished
    out = tmp_path / "out"
    curate_pool(pool, out, "retrieval.embed.backend=precomputed", f"retrieval.embed.precomputed={source / 'embeddings'}")
    columns = ["key", "status", "reason", "decision", "seed_key", "duplicate_of"]
    assert read_manifests(out / "manifest", columns).equals(read_manifests(source / "manifest", columns))


def test_no_seeds_means_no_retrieval_and_every_image_keeps_its_first_pass_reason(pool, tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("coffee.png", "hanks.png"):
        shutil.copy(pool / name, folder / name)
    result = curate_pool(folder, tmp_path / "out", "crops.min_score=0.99")
    rows = manifest_by_name(tmp_path / "out")
    assert result.kept == 0 and result.rejected == 2
    assert all(row["decision"] is None for row in rows.values())
    assert json.loads((tmp_path / "out" / "report" / "report.json").read_text())["retrieval"]["kept_from_seeds"] == 0


def test_cluster_balance_caps_the_kept_images_and_says_so(finished, pool, tmp_path):
    out = tmp_path / "out"
    result = curate_pool(pool, out, "retrieval.balance.enabled=true", "retrieval.balance.clusters=1",
                         "retrieval.balance.cap=2")
    rows = manifest_by_name(out)
    before = {name for name, row in manifest_by_name(finished[0]).items() if row["status"] == "kept"}
    capped = {name for name, row in rows.items() if row["decision"] == "cluster_cap"}
    assert result.kept == 2 and len(capped) == len(before) - 2 and capped < before
    assert all(rows[name]["reason"] == "cluster_cap" and rows[name]["status"] == "rejected" for name in capped)
    assert json.loads((out / "report" / "report.json").read_text())["retrieval"]["cluster_capped"] == len(capped)


TINY_CLIP = {  # a random-init CLIP small enough to build in the test (as in test_embed_open_clip.py)
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def small_pool(pool: Path, folder: Path, names: tuple[str, ...]) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(pool / name, folder / name)
    return folder


def test_a_seed_folder_recovers_near_copies_the_first_pass_and_the_pool_seeds_missed(pool, tmp_path, capsys):
    """Hanks (CenterFace score about 0.80) fails the first pass, and at min_similarity 0.7 no pool seed reaches him
    (cosines <= 0.45); a mirrored Hanks in the seed folder retrieves his pool copies, which pass the re-check."""
    folder = small_pool(pool, tmp_path / "pool", ("t1.png", "grace.png", "coffee.png", "hanks.png"))
    hanks = Image.open(pool / "hanks.png")
    hanks.save(folder / "hanks_recompressed.jpg", quality=35)
    seeds = tmp_path / "seeds"
    (seeds / "faces").mkdir(parents=True)
    hanks.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(seeds / "faces" / "hanks_mirrored.png")
    (seeds / "notes.txt").write_text("not an image: skipped")
    out = tmp_path / "out"
    strict = "retrieval.seeded.min_similarity=0.7"
    curate_pool(folder, out, strict)
    copies = ("hanks.png", "hanks_recompressed.jpg")
    before = manifest_by_name(out)
    assert all(before[name]["status"] == "rejected" and before[name]["decision"] is None for name in copies)

    result = curate_pool(folder, out, strict, f"retrieval.seed_images={seeds}")
    assert result.units_run == {"decode": 0, "detect": 0, "embed": 0, "write": 1}
    rows = manifest_by_name(out)
    recovered = [name for name in copies if rows[name]["decision"] == "retrieved"]
    assert recovered and all(rows[name]["status"] == "kept" for name in recovered)
    for name in recovered:
        assert rows[name]["seed_key"] == "image:faces/hanks_mirrored.png" and rows[name]["similarity"] >= 0.7
    for name in set(copies) - set(recovered):  # a copy not kept is a near-duplicate of the one that is
        assert rows[name]["reason"] == "duplicate" and rows[name]["duplicate_of"] == rows[recovered[0]]["key"]
    assert rows["coffee.png"]["status"] == "rejected" and rows["t1.png"]["decision"] == "seed"

    assert curate_pool(folder, out, strict, f"retrieval.seed_images={seeds}").nothing_to_do
    (seeds / "faces" / "hanks_mirrored.png").unlink()
    Image.open(pool / "coffee.png").save(seeds / "faces" / "coffee.png")  # new contents: the step runs again
    changed = curate_pool(folder, out, strict, f"retrieval.seed_images={seeds}")
    assert changed.units_run == {"decode": 0, "detect": 0, "embed": 0, "write": 1}
    assert all(manifest_by_name(out)[name]["status"] == "rejected" for name in copies)


def test_a_missing_seed_folder_is_named_before_any_work(pool, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UserError, match="retrieval.seed_images=.*not a folder"):
        curate_pool(pool, out, f"retrieval.seed_images={tmp_path / 'nowhere'}")
    assert not list((out / "work").glob("decode/*.parquet"))


def test_prompts_with_the_offline_embedder_fail_with_the_fix_before_any_work(pool, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UserError) as raised:
        curate_pool(pool, out, "retrieval.prompts=[a photo of a face]")
    message = str(raised.value)
    assert "retrieval.prompts" in message and "text tower" in message and "retrieval.embed.backend=open_clip" in message
    assert not list((out / "work").glob("decode/*.parquet"))
    with pytest.raises(UserError, match="retrieval.prompts is set but retrieval is off"):
        load_curate_config(None, ["retrieval.enabled=false", "retrieval.prompts=[a photo of a face]"])


def test_text_prompts_seed_retrieval_end_to_end_with_a_tiny_open_clip(pool, tmp_path):
    """No accuracy claim (the model is random-init): with no image seeds (first pass threshold 0.99) and any cosine
    accepted, the prompt retrieves every pool image and the detector re-check decides."""
    import open_clip
    import torch

    config = tmp_path / "pros-test-tiny-clip.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    checkpoint = tmp_path / "tiny.pt"
    torch.save({"state_dict": open_clip.create_model("pros-test-tiny-clip").state_dict()}, checkpoint)
    folder = small_pool(pool, tmp_path / "pool", ("coffee.png", "hanks.png"))
    out = tmp_path / "out"
    clip = ("retrieval.embed.backend=open_clip", "retrieval.embed.model=pros-test-tiny-clip",
            f"retrieval.embed.pretrained={checkpoint}", f"retrieval.embed.model_config={config}")
    result = curate_pool(folder, out, *clip, "crops.min_score=0.99", "retrieval.seeded.min_text_similarity=-1",
                         "retrieval.prompts=[a photo of a face]")
    rows = manifest_by_name(out)
    assert result.kept == 1 and rows["hanks.png"]["decision"] == "retrieved"
    assert rows["coffee.png"]["decision"] == "recheck_no_face" and rows["coffee.png"]["reason"] == "no_face"
    assert {row["seed_key"] for row in rows.values()} == {"text:a photo of a face"}
    assert np.load(out / "embeddings" / "img_emb" / "img_emb_00000.npy").shape == (2, 32)


def test_a_retrieved_image_whose_seed_was_removed_as_a_duplicate_names_the_kept_copy():
    from curation.pipeline.decisions import Decision
    from curation.pipeline.retrieval_step import point_to_kept_seeds

    keys = ["kept", "dup", "found", "other"]
    vectors = np.array([[1, 0, 0], [0.8, 0.6, 0], [0.6, 0.8, 0], [0, 0, 1]], np.float32)
    decisions = {
        "kept": Decision(0, "kept", True, "seed"),
        "dup": Decision(1, "dup", False, "duplicate", duplicate_of="kept", similarity=0.8),
        "found": Decision(2, "found", True, "retrieved", seed_key="dup", similarity=0.96),
        "other": Decision(3, "other", True, "retrieved", seed_key="kept", similarity=0.5),
    }
    point_to_kept_seeds(decisions, keys, vectors)
    assert decisions["found"].seed_key == "kept" and decisions["found"].similarity == pytest.approx(0.6)
    assert decisions["other"].seed_key == "kept" and decisions["other"].similarity == 0.5
    assert decisions["dup"].seed_key is None


def test_report_marks_images_kept_through_retrieval_below_min_score(finished):
    out, _ = finished
    rows = manifest_by_name(out)
    report = json.loads((out / "report" / "report.json").read_text())["retrieval"]
    assert report["kept_below_min_score"] == 1 and report["min_score"] == 0.85
    (hanks,) = [r for r in report["retrieved"] if r["below_min_score"]]
    assert hanks["source_id"] == rows["hanks.png"]["source_id"] and hanks["max_score"] < 0.85
    assert hanks["seed_source_id"] == {r["key"]: r for r in rows.values()}[hanks["seed_key"]]["source_id"]
    page = (out / "report" / "index.html").read_text()
    assert "face score below crops.min_score (0.85)" in page and "Framed in orange" in page
    assert "no_face" not in page and "no face found" in page


@pytest.mark.timeout(600)
def test_two_workers_with_retrieval_write_the_same_shards_as_one(pool, tmp_path):
    """One pool of two workers serves both phases (embed/detect, then writing after the retrieval step)."""
    units = ("sources.files_per_unit=2", "detect.batch_size=2")
    curate_pool(pool, tmp_path / "one", *units, "workers=1")
    two = curate_pool(pool, tmp_path / "two", *units, "workers=2")
    assert two.units_run["embed"] == 4 and two.units_run["write"] == 4
    assert shard_bytes(tmp_path / "one") == shard_bytes(tmp_path / "two")
    assert read_manifests(tmp_path / "one" / "manifest").equals(read_manifests(tmp_path / "two" / "manifest"))
