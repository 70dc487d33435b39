"""The curation pipeline end to end: stages, markers, planner, executor, manifest, report.

Most tests use ``GreenSquareDetector``, a stand-in detector that reports every pure-green square as a face, so the
orchestration can be checked fast and exactly; ``test_real_detector_on_group_photo`` runs the real default detector.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curation.config import load_curate_config
from curation.pipeline import decode_stage as stages_module
from curation.pipeline.manifest import read_manifests
from curation.pipeline.run import curate
from curation.types import DetectedFace
from shards import make_key
from shards.sample_meta import SampleMeta
from shards.verify import verify_directory

GREEN = (0, 255, 0)


class GreenSquareDetector:
    """Finds pure-green rectangles; each is a 'face' with landmarks inside it and score 0.9."""

    name = "green-squares"
    version = "1"

    def __init__(self, config) -> None:
        self.config = config
        self.calls = 0

    def detect(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        import cv2

        self.calls += 1
        found = []
        for rgb in images:
            mask = ((rgb[..., 1] > 200) & (rgb[..., 0] < 60) & (rgb[..., 2] < 60)).astype(np.uint8)
            _, _, boxes, _ = cv2.connectedComponentsWithStats(mask)
            faces = []
            for x, y, w, h, area in boxes[1:]:
                if area < 16:
                    continue
                box = (float(x), float(y), float(x + w), float(y + h))
                marks = np.array([[x + f * w, y + g * h] for f, g in
                                  ((0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.75), (0.65, 0.75))])
                faces.append(DetectedFace(box=box, landmarks=marks, score=0.9))
            faces = [f for f in faces if f.score >= self.config.score_threshold]
            found.append(sorted(faces, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
        return found


def green_factory(detector_config) -> GreenSquareDetector:
    return GreenSquareDetector(detector_config)


def photo(width: int, height: int, squares: list[tuple[int, int, int]], seed: int) -> Image.Image:
    """Noise photo with green squares (x, y, side)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(60, 200, size=(height, width, 3), dtype=np.uint8)
    pixels[..., 1] //= 2  # keep the background away from pure green
    for x, y, side in squares:
        pixels[y:y + side, x:x + side] = GREEN
    return Image.fromarray(pixels)


def write_dump(folder: Path) -> dict[str, int]:
    """A small dump: name -> number of faces to keep (-1 for inputs that cannot be decoded)."""
    folder.mkdir(parents=True, exist_ok=True)
    layout = {
        "a_one.png": [(40, 30, 80)],
        "b_two.png": [(20, 20, 90), (200, 40, 60)],
        "c_none.png": [],
        "d_small.png": [(10, 10, 12)],  # a face below crops.min_face_px
        "e_big.jpg": [(300, 200, 260)],
        "f_one.png": [(100, 60, 70)],
    }
    expected = {}
    for n, (name, squares) in enumerate(layout.items()):
        width, height = (800, 600) if name == "e_big.jpg" else (320, 240)
        image = photo(width, height, squares, seed=n)
        image.save(folder / name, quality=95) if name.endswith(".jpg") else image.save(folder / name)
        expected[name] = len([s for s in squares if s[2] >= 40])
    (folder / "g_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    expected["g_broken.jpg"] = -1
    return expected


def config(*overrides: str):
    # These tests pin the first pass (manifest rows, shards, which stages re-run); the retrieval half, on by
    # default, would merge the synthetic photos as near-duplicates and has its own tests in test_curate_retrieval.py.
    return load_curate_config(None, ["crops.min_face_px=40", "detect.input_size=320", "retrieval.enabled=false",
                                     *overrides])


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*")) if p.suffix in (".tar", ".parquet")}


@pytest.fixture
def dump(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    folder = tmp_path / "dump"
    return folder, write_dump(folder)


def run(inputs: list[Path], out: Path, *overrides: str, **kwargs):
    return curate([str(p) for p in inputs], out, config(*overrides), detector_factory=green_factory, **kwargs)


def test_every_input_has_a_manifest_row_and_kept_faces_become_samples(dump, tmp_path):
    folder, expected = dump
    out = tmp_path / "out"
    result = run([folder], out, "sources.files_per_unit=4")

    rows = read_manifests(out / "manifest").to_pylist()
    assert len(rows) == len(expected) == result.inputs == result.kept + result.rejected
    by_name = {Path(r["source_id"]).name: r for r in rows}
    for name, faces in expected.items():
        row = by_name[name]
        if faces > 0:
            assert (row["status"], row["reason"], row["n_kept_faces"]) == ("kept", None, faces)
        else:
            assert row["status"] == "rejected"
    assert by_name["c_none.png"]["reason"] == "no_face"
    assert by_name["d_small.png"]["reason"] == "faces_below_threshold"
    assert by_name["g_broken.jpg"]["reason"] in ("not_an_image", "truncated", "corrupt")
    assert by_name["e_big.jpg"]["width"] == 800 and by_name["e_big.jpg"]["largest_face_area_ratio"] == pytest.approx(
        260 * 260 / (800 * 600), rel=0.05)

    # two units of at most 4 files -> two shards, one sample per kept face, keys from the input position
    sizes = json.loads((out / "shards" / "sizes.json").read_text())
    assert sizes == {"00000.tar": 3, "00001.tar": 2}
    assert result.samples == sum(v for v in expected.values() if v > 0) == 5
    with tarfile.open(out / "shards" / "00000.tar") as tar:
        names = tar.getnames()
        meta = SampleMeta.from_json(tar.extractfile(f"{make_key(0, 1, 0)}.json").read())
    assert f"{make_key(0, 1, 1)}.jpg" in names
    assert meta.source_id.endswith("b_two.png") and meta.original_size == (320, 240)
    x0, y0, x1, y1 = meta.faces[0].box  # the centre face covers the crop's middle
    assert x0 < meta.crop_size / 2 < x1 and y0 < meta.crop_size / 2 < y1
    assert verify_directory(out / "shards").ok
    assert (out / "config.yaml").exists() and (out / "run_info.json").exists()
    report = json.loads((out / "report" / "report.json").read_text())
    assert (report["inputs"], report["kept"], report["samples"]) == (7, 4, 5)


def test_second_run_does_nothing_and_says_so(dump, tmp_path, capsys):
    folder, _ = dump
    out = tmp_path / "out"
    run([folder], out)
    tar = out / "shards" / "00000.tar"
    stamp = tar.stat().st_mtime_ns
    from rich.console import Console

    console = Console(file=io.StringIO(), width=200)
    again = run([folder], out, console=console)
    assert again.nothing_to_do and again.inputs == 7
    assert "nothing to do" in console.file.getvalue()
    assert tar.stat().st_mtime_ns == stamp


def test_detector_change_reruns_detection_but_not_decoding(dump, tmp_path, monkeypatch):
    folder, _ = dump
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    run([folder], out)
    decode_marker = out / "work" / "markers" / "decode" / "00000.json"
    marker_before = decode_marker.read_bytes(), decode_marker.stat().st_mtime_ns

    def no_decoding(self, ctx, item):
        raise AssertionError("the decode stage ran although only detector settings changed")

    monkeypatch.setattr(stages_module.DecodeStage, "decode", no_decoding)
    changed = run([folder], out, "detect.batch_size=2")
    assert changed.units_run == {"decode": 0, "detect": 1, "write": 1}
    assert (decode_marker.read_bytes(), decode_marker.stat().st_mtime_ns) == marker_before
    monkeypatch.undo()

    run([folder], fresh, "detect.batch_size=2")  # the same settings from scratch give the same shards
    assert shard_bytes(out) == shard_bytes(fresh)


def test_crop_change_reruns_only_the_write_stage(dump, tmp_path):
    folder, _ = dump
    out = tmp_path / "out"
    run([folder], out)
    changed = run([folder], out, "crops.size=96")
    assert changed.units_run == {"decode": 0, "detect": 0, "write": 1}
    with tarfile.open(out / "shards" / "00000.tar") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".jpg"))
        assert Image.open(io.BytesIO(tar.extractfile(member).read())).size == (96, 96)


def test_dry_run_prints_the_plan_and_writes_nothing(dump, tmp_path):
    from rich.console import Console

    folder, _ = dump
    out = tmp_path / "out"
    console = Console(file=io.StringIO(), width=200)
    result = run([folder], out, "sources.files_per_unit=3", dry_run=True, console=console)
    assert result.dry_run and not out.exists()
    text = console.file.getvalue()
    assert "3 input units" in text and "decode  done      0  to do      3" in text

    run([folder], out, "sources.files_per_unit=3")
    console = Console(file=io.StringIO(), width=200)
    run([folder], out, "sources.files_per_unit=3", "detect.score_threshold=0.95", dry_run=True, console=console)
    assert "decode  done      3  to do      0" in console.file.getvalue()
    assert "detect  done      0  to do      3" in console.file.getvalue()


def test_two_workers_write_the_same_shards_as_one(dump, tmp_path):
    folder, _ = dump
    run([folder], tmp_path / "one", "sources.files_per_unit=2")
    result = run([folder], tmp_path / "two", "sources.files_per_unit=2", "workers=2")
    assert result.units_run["write"] == 4
    assert shard_bytes(tmp_path / "one") == shard_bytes(tmp_path / "two")


def test_img2dataset_tar_and_parquet_inputs(tmp_path):
    """An img2dataset shard (.jpg/.json/.txt members + sidecar parquet) and a parquet file of image bytes."""
    shards_in = tmp_path / "img2dataset"
    shards_in.mkdir()
    encoded = []
    for n in range(3):
        buffer = io.BytesIO()
        photo(256, 192, [(60, 40, 90)] if n != 1 else [], seed=10 + n).save(buffer, format="JPEG", quality=95)
        encoded.append(buffer.getvalue())
    with tarfile.open(shards_in / "00000.tar", "w") as tar:
        for n, data in enumerate(encoded):
            key = f"{n:09d}"
            members = {"jpg": data, "txt": f"caption {n}".encode(),
                       "json": json.dumps({"url": f"https://example.com/{n}.jpg", "key": key}).encode()}
            for ext, payload in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    pq.write_table(pa.table({"key": [f"{n:09d}" for n in range(3)],
                             "url": [f"https://example.com/{n}.jpg" for n in range(3)]}), shards_in / "00000.parquet")
    table_in = tmp_path / "images.parquet"
    pq.write_table(pa.table({"jpg": encoded, "url": ["u0", "u1", "u2"]}), table_in)

    out = tmp_path / "out"
    result = run([shards_in / "00000.tar", table_in], out)
    rows = read_manifests(out / "manifest").to_pylist()
    assert [(r["unit"], r["item"], r["status"]) for r in rows] == [
        (0, 0, "kept"), (0, 1, "rejected"), (0, 2, "kept"), (1, 0, "kept"), (1, 1, "rejected"), (1, 2, "kept")]
    assert rows[0]["url"] == "https://example.com/0.jpg" and rows[3]["url"] == "u0"
    assert result.samples == 4
    assert json.loads((out / "shards" / "sizes.json").read_text()) == {"00000.tar": 2, "00001.tar": 2}
    assert verify_directory(out / "shards").ok


def test_report_pictures_are_self_contained(dump, tmp_path):
    folder, _ = dump
    out = tmp_path / "out"
    run([folder], out)
    report = out / "report"
    page = (report / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 6 and 'src="http' not in page
    for name in ("kept_samples.png", "rejected_inputs.png", "face_scores.png", "face_sizes.png",
                 "faces_per_image.png", "status_reasons.png"):
        with Image.open(report / name) as image:
            assert image.format == "PNG" and image.width > 100
    summary = json.loads((report / "report.json").read_text())
    assert summary["by_reason"] == {"no_face": 1, "faces_below_threshold": 1, summary_reason(summary): 1}
    assert summary["faces_per_image"] == {"0": 1, "1": 4, "2": 1}
    assert sum(summary["face_score_histogram"]["counts"]) == summary["faces_detected"] == 6


def summary_reason(summary: dict) -> str:
    return next(iter(summary["decode_rejections"]))


@pytest.fixture(scope="module")
def group_photo() -> Path:
    import insightface

    return Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"


def test_real_detector_on_group_photo(group_photo, tmp_path):
    """The default CenterFace detector finds the 6 faces of insightface's t1.jpg and 6 samples are written."""
    out = tmp_path / "out"
    result = curate([str(group_photo)], out, load_curate_config(None, ["crops.max_faces=6"]))
    assert result.kept == 1 and result.samples == 6
    detections = pq.read_table(out / "work" / "detect" / "00000.parquet").to_pylist()
    faces = json.loads(detections[0]["faces"])
    assert len(faces) == 6
    for face in faces:
        x0, y0, x1, y1 = face["box"]
        assert face["score"] > 0.5
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in face["landmarks"])
    with tarfile.open(out / "shards" / "00000.tar") as tar:
        metas = [SampleMeta.from_json(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".json")]
    assert len(metas) == 6 and all(m.original_size == (1280, 886) for m in metas)
    for meta in metas:
        x0, y0, x1, y1 = meta.faces[0].box
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in meta.faces[0].landmarks)
    assert verify_directory(out / "shards").ok


def test_fewer_units_than_before_removes_the_old_units_outputs(dump, tmp_path):
    folder, _ = dump
    out = tmp_path / "out"
    run([folder], out, "sources.files_per_unit=2")
    assert (out / "shards" / "00003.tar").exists()
    result = run([folder], out, "sources.files_per_unit=4")
    assert sorted(p.name for p in (out / "shards").glob("*.tar")) == ["00000.tar", "00001.tar"]
    assert sorted(p.name for p in (out / "manifest").glob("*.parquet")) == ["00000.parquet", "00001.parquet"]
    assert result.inputs == 7 and verify_directory(out / "shards").ok

    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "x.png").write_bytes((folder / "a_one.png").read_bytes())
    run([folder, extra], out, "sources.files_per_unit=4")  # units 0, 1 from the dump, unit 2 from extra
    dropped = run([folder], out, "sources.files_per_unit=4")  # units 0 and 1 are unchanged and stay done
    assert not dropped.nothing_to_do and dropped.units_run["write"] == 0 and dropped.inputs == 7
    assert json.loads((out / "shards" / "sizes.json").read_text()) == {"00000.tar": 3, "00001.tar": 2}


def test_a_log_gets_plain_progress_lines_and_the_run_choices_once(dump, tmp_path):
    from rich.console import Console

    folder, expected = dump
    console = Console(file=io.StringIO(), width=200)  # not a terminal, as when stderr goes to a log
    run([folder], tmp_path / "out", console=console)
    text = console.file.getvalue()
    assert "━" not in text and "\r" not in text
    progress = [line for line in text.splitlines() if " images in " in line or "%)" in line]
    assert len(progress) == 1 and progress[0].startswith(
        f"decode, detect faces, crop and write shards: done, {len(expected)}/{len(expected)} images in ")
    assert text.count("workers 1 (auto: ") == 1 and text.count("onnxruntime threads per worker: detector ") == 1


def test_prune_cache_frees_the_decode_cache_and_a_rerun_writes_the_same_shards(dump, tmp_path):
    folder, _ = dump
    out = tmp_path / "out"
    first = run([folder], out)
    reference = shard_bytes(out)
    assert first.cache_bytes > 0 and first.pruned_bytes == 0
    pruned = run([folder], out, prune_cache=True)
    assert pruned.nothing_to_do and pruned.pruned_bytes == first.cache_bytes and pruned.cache_bytes == 0
    assert not list((out / "work" / "decode").glob("*.parquet")) and shard_bytes(out) == reference
    again = run([folder], out)
    assert again.units_run["decode"] == 1 and shard_bytes(out) == reference
