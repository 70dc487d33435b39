"""Benchmark loaders read each dataset's published on-disk format; fixtures are written in exactly that format."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from core.errors import UserError
from downstream.datasets import (
    benchmark_names,
    benchmark_options,
    benchmark_spec,
    benchmark_splits,
    load_benchmark,
    write_fixture,
)
from downstream.datasets.celeba_names import CELEBA_ATTRIBUTES
from downstream.datasets.matlab_writer import write_mat73

ALL = ["celeba", "lfwa", "rafdb", "affectnet", "300w", "aflw19", "wflw"]


def _image(path: Path, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), (100, 120, 140)).save(path)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("fixtures")
    return {name: write_fixture(name, base / name, per_split=6, seed=1) for name in ALL}


# ---------------------------------------------------------------- every loader on its own fixture


def test_registry_lists_every_benchmark_with_its_splits() -> None:
    assert benchmark_names() == [*ALL, "imagefolder"]
    assert benchmark_splits("300w") == ["train", "common", "challenging", "full"]
    assert benchmark_splits("AFLW-19") == ["train", "full", "frontal"]
    assert benchmark_spec("RAF-DB").name == "rafdb"
    assert benchmark_options("affectnet") == {"num_classes": 7}
    for name in ALL:  # the registry and each loader agree on the split names
        spec = benchmark_spec(name)
        module = importlib.import_module(f"downstream.datasets.{spec.module}")
        assert tuple(getattr(module, "SPLITS", getattr(module, "FOLDERS", None))) == spec.splits
        assert spec.train_split in spec.splits and set(spec.eval_splits) <= set(spec.splits)


@pytest.mark.parametrize("name", ALL)
def test_fixture_loads_with_shapes_and_ranges_of_its_task(name: str, fixtures: dict[str, Path]) -> None:
    spec = benchmark_spec(name)
    for split in spec.splits:
        data = load_benchmark(name, fixtures[name], split)
        assert (data.benchmark, data.split, data.task) == (name, split, spec.task)
        assert len(data) > 0
        targets = data.targets()
        if data.task == "attributes":
            assert targets.shape == (len(data), 40) and targets.dtype == np.int8
            assert set(np.unique(targets)) <= {0, 1}
            assert data.label_names == CELEBA_ATTRIBUTES
        elif data.task == "expression":
            assert targets.shape == (len(data),) and targets.dtype == np.int64
            assert targets.min() >= 0 and targets.max() < len(data.label_names)
        else:
            assert targets.shape == (len(data), data.num_points, 2) and targets.dtype == np.float32
            left, right = data.eye_corner_indices
            assert np.all(targets[:, left, 0] < targets[:, right, 0])  # outer eye corners on the correct sides
            for sample in data.samples:
                x0, y0, x1, y1 = sample.box
                assert x0 < x1 and y0 < y1
        with Image.open(data.samples[0].image_path) as image:
            assert image.size == (64, 64)


def test_fixture_split_sizes_are_as_documented(fixtures: dict[str, Path]) -> None:
    sizes = {(n, s): len(load_benchmark(n, fixtures[n], s)) for n in ALL for s in benchmark_splits(n)}
    assert sizes[("celeba", "train")] == sizes[("celeba", "val")] == sizes[("celeba", "test")] == 6
    assert sizes[("rafdb", "train")] == sizes[("rafdb", "test")] == 6
    assert sizes[("300w", "full")] == sizes[("300w", "common")] + sizes[("300w", "challenging")] == 12
    assert sizes[("wflw", "test")] == 6
    assert sizes[("aflw19", "full")] >= 6 > sizes[("aflw19", "frontal")] > 0


def test_fixture_images_encode_their_labels(fixtures: dict[str, Path]) -> None:
    """Attribute cells decode exactly; expression colours separate classes for a nearest-mean classifier."""
    celeba = load_benchmark("celeba", fixtures["celeba"], "test")
    for sample in celeba.samples:
        pixels = np.asarray(Image.open(sample.image_path).convert("L"), dtype=float)
        cells = pixels[:40].reshape(5, 8, 8, 8).mean(axis=(1, 3)).ravel()
        np.testing.assert_array_equal((cells > 128).astype(np.int8), sample.target)

    def colour(path: Path) -> np.ndarray:
        return np.asarray(Image.open(path).convert("RGB"), dtype=float)[24:40, 24:40].mean(axis=(0, 1))

    train = load_benchmark("rafdb", fixtures["rafdb"], "train")
    test = load_benchmark("rafdb", fixtures["rafdb"], "test")
    means = {int(s.target): colour(s.image_path) for s in train.samples}
    hits = [
        min(means, key=lambda c: np.linalg.norm(means[c] - colour(s.image_path))) == int(s.target)
        for s in test.samples
        if int(s.target) in means
    ]
    assert len(hits) >= 3 and np.mean(hits) == 1.0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("celeba", ["list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba", "Anno/"]),
        ("lfwa", ["lfw_att_40.mat", "indices_train_test.mat", "lfw/"]),
        ("rafdb", ["EmoLabel/list_patition_label.txt", "Image/aligned"]),
        ("affectnet", ["training.csv", "Manually_Annotated_Images"]),
        ("300w", ["lfpw/trainset", "helen/trainset", "afw"]),
        ("aflw19", ["AFLWinfo_release.mat", "data/flickr"]),
        ("wflw", ["list_98pt_rect_attr_train.txt", "WFLW_images"]),
    ],
)
def test_wrong_root_names_the_expected_files(name: str, expected: list[str], tmp_path: Path) -> None:
    with pytest.raises(UserError) as error:
        load_benchmark(name, tmp_path, "train")
    for fragment in expected:
        assert fragment in str(error.value)


def test_registry_rejects_unknown_names_splits_and_options(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="choose one of celeba"):
        load_benchmark("imagenet", tmp_path, "train")
    with pytest.raises(UserError, match="choose one of train, common, challenging, full"):
        load_benchmark("300w", tmp_path, "test")
    with pytest.raises(UserError, match="options of this benchmark: num_classes"):
        load_benchmark("affectnet", tmp_path, "train", classes=8)


def test_missing_images_are_reported_with_counts(fixtures: dict[str, Path], tmp_path: Path) -> None:
    root = shutil.copytree(fixtures["rafdb"], tmp_path / "raf")
    (root / "basic/Image/aligned/test_0002_aligned.jpg").unlink()
    with pytest.raises(UserError, match=r"1 of 6 images .* missing, e.g. .*test_0002_aligned.jpg"):
        load_benchmark("rafdb", root, "test")


# ---------------------------------------------------------------- CelebA


CELEBA_ATTR = (
    "2\n" + " ".join(CELEBA_ATTRIBUTES) + " \n"
    "000001.jpg -1  1  1 -1 -1 -1 -1 -1 -1 -1 -1  1 -1 -1 -1 -1 -1 -1  1  1 -1  1 -1 -1  1 -1 -1  1 -1 -1 -1  1  1 -1  1 -1  1 -1 -1  1\n"  # noqa: E501
    "000002.jpg  1 -1 -1  1 -1 -1 -1  1 -1 -1 -1  1 -1 -1 -1 -1 -1 -1 -1  1 -1  1 -1 -1  1 -1 -1 -1 -1 -1 -1  1 -1 -1 -1 -1 -1 -1 -1  1\n"  # noqa: E501
)


def _celeba(root: Path, anno: str = "", evals: str = "", images: str = "img_align_celeba") -> None:
    (root / anno).mkdir(parents=True, exist_ok=True)
    (root / evals).mkdir(parents=True, exist_ok=True)
    (root / anno / "list_attr_celeba.txt").write_text(CELEBA_ATTR)
    (root / evals / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 2\n")
    for name in ("000001.jpg", "000002.jpg"):
        _image(root / images / name)


@pytest.mark.parametrize("layout", ["flat", "drive"])
def test_celeba_maps_minus_one_to_zero_and_reads_the_partition(layout: str, tmp_path: Path) -> None:
    if layout == "flat":
        _celeba(tmp_path)
    else:
        _celeba(tmp_path, "Anno", "Eval", "Img/img_align_celeba")
    train = load_benchmark("celeba", tmp_path, "train")
    test = load_benchmark("celeba", tmp_path, "test")
    assert [s.image_path.name for s in train.samples] == ["000001.jpg"]
    assert [s.image_path.name for s in test.samples] == ["000002.jpg"]
    assert load_benchmark("celeba", tmp_path, "val").targets().shape == (0, 40)  # empty split, right shape
    first = train.samples[0].target
    assert [train.label_names[i] for i in np.flatnonzero(first)] == [
        "Arched_Eyebrows",
        "Attractive",
        "Brown_Hair",
        "Heavy_Makeup",
        "High_Cheekbones",
        "Mouth_Slightly_Open",
        "No_Beard",
        "Pointy_Nose",
        "Smiling",
        "Straight_Hair",
        "Wearing_Earrings",
        "Wearing_Lipstick",
        "Young",
    ]
    assert train.label_names[0] == "5_o_Clock_Shadow" and train.label_names[20] == "Male"
    assert test.samples[0].target[CELEBA_ATTRIBUTES.index("5_o_Clock_Shadow")] == 1


def test_celeba_malformed_lines_are_named(tmp_path: Path) -> None:
    _celeba(tmp_path)
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text(path.read_text().replace("2\n", "3\n", 1))
    with pytest.raises(UserError, match=r"list_attr_celeba.txt line 1: the count line says 3"):
        load_benchmark("celeba", tmp_path, "train")
    path.write_text(CELEBA_ATTR.replace("000002.jpg  1 -1", "000002.jpg  1 11"))
    with pytest.raises(UserError, match=r"list_attr_celeba.txt line 4: expected a file name and 40 values -1 or 1"):
        load_benchmark("celeba", tmp_path, "train")


# ---------------------------------------------------------------- LFWA


@pytest.mark.parametrize("mat_format", ["v7.3", "v5"])
def test_lfwa_reads_names_labels_and_one_based_indices(mat_format: str, tmp_path: Path) -> None:
    names = ["Aaron_Eckhart\\Aaron_Eckhart_0001.jpg", "Zico\\Zico_0002.jpg", "Zico\\Zico_0003.jpg"]
    label = np.zeros((3, 40))
    label[1, [0, 20]] = 1
    label[2, 39] = 1
    (tmp_path / "anno").mkdir()
    attributes = {"AttrName": list(CELEBA_ATTRIBUTES), "label": label, "name": names}
    indices = {"indices_img_train": np.array([[3], [1]]), "indices_img_test": np.array([[2]])}
    if mat_format == "v7.3":
        write_mat73(tmp_path / "anno/lfw_att_40.mat", attributes)
        write_mat73(tmp_path / "anno/indices_train_test.mat", indices)
    else:
        cells = np.empty((1, 3), dtype=object)
        cells[0, :] = names
        scipy.io.savemat(tmp_path / "anno/lfw_att_40.mat", {"name": cells, "label": label})
        scipy.io.savemat(tmp_path / "anno/indices_train_test.mat", indices)
    for name in names:
        _image(tmp_path / "lfw" / Path(*name.split("\\")))
    train = load_benchmark("lfwa", tmp_path, "train")
    test = load_benchmark("lfwa", tmp_path, "test")
    assert [s.image_path.relative_to(tmp_path).as_posix() for s in train.samples] == [
        "lfw/Zico/Zico_0003.jpg",
        "lfw/Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
    ]
    assert np.flatnonzero(test.samples[0].target).tolist() == [0, 20]
    assert np.flatnonzero(train.samples[0].target).tolist() == [39]
    assert train.label_names == CELEBA_ATTRIBUTES


# ---------------------------------------------------------------- RAF-DB


def test_rafdb_maps_labels_one_to_seven_onto_zero_to_six(tmp_path: Path) -> None:
    basic = tmp_path / "basic"
    (basic / "EmoLabel").mkdir(parents=True)
    (basic / "EmoLabel/list_patition_label.txt").write_text("train_00001.jpg 5\ntrain_00002.jpg 1\ntest_0001.jpg 7\n")
    for stem in ("train_00001", "train_00002", "test_0001"):
        _image(basic / "Image/aligned" / f"{stem}_aligned.jpg")
    for root in (tmp_path, basic):  # the basic/ folder or the folder holding it
        train = load_benchmark("rafdb", root, "train")
        assert [int(s.target) for s in train.samples] == [4, 0]
        assert train.label_names[4] == "Sadness" and train.label_names[0] == "Surprise"
        assert train.samples[0].image_path == basic / "Image/aligned/train_00001_aligned.jpg"
        test = load_benchmark("rafdb", root, "test")
        assert [int(s.target) for s in test.samples] == [6] and test.label_names[6] == "Neutral"
    (basic / "EmoLabel/list_patition_label.txt").write_text("train_00001.jpg 8\n")
    with pytest.raises(UserError, match=r"list_patition_label.txt line 1: .* label L in 1..7"):
        load_benchmark("rafdb", tmp_path, "train")


# ---------------------------------------------------------------- AffectNet


def test_affectnet_seven_and_eight_class_settings(fixtures: dict[str, Path]) -> None:
    seven = load_benchmark("affectnet", fixtures["affectnet"], "train")
    eight = load_benchmark("affectnet", fixtures["affectnet"], "train", num_classes=8)
    assert len(seven.label_names) == 7 and eight.label_names[7] == "Contempt"
    assert sorted(int(s.target) for s in seven.samples) == [0, 1, 2, 3, 4, 5]  # per_split=6 rows with codes 0-6
    assert sorted(int(s.target) for s in eight.samples) == [0, 1, 2, 3, 4, 5, 7]  # + Contempt; 8 and 10 dropped
    with pytest.raises(UserError, match="num_classes must be 7"):
        load_benchmark("affectnet", fixtures["affectnet"], "val", num_classes=11)


def test_affectnet_parses_a_hand_written_row_with_or_without_header(tmp_path: Path) -> None:
    lists = tmp_path / "Manually_Annotated_file_lists"
    lists.mkdir()
    name = "689/737db2483489148d783ef278f43f486c0a97e140fc4b6b61b84363ca.jpg"
    row = f'{name},134,134,899,899,"181.64;530.91;188.32",1,0.785714,-0.055556'
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
    _image(tmp_path / "Manually_Annotated/Manually_Annotated_Images" / name)
    for with_header in (True, False):
        (lists / "validation.csv").write_text((header if with_header else "") + row + "\n")
        data = load_benchmark("affectnet", tmp_path, "val")
        (sample,) = data.samples
        assert int(sample.target) == 1 and data.label_names[1] == "Happy"
        assert sample.box == (134.0, 134.0, 1033.0, 1033.0)


# ---------------------------------------------------------------- 300W


def test_300w_parses_pts_and_forms_the_standard_subsets(fixtures: dict[str, Path], tmp_path: Path) -> None:
    root = fixtures["300w"]
    common = load_benchmark("300w", root, "common")
    challenging = load_benchmark("300w", root, "challenging")
    full = load_benchmark("300w", root, "full")
    train = load_benchmark("300w", root, "train")
    folders = lambda data: {s.image_path.parent.relative_to(root).as_posix() for s in data.samples}  # noqa: E731
    assert folders(common) == {"lfpw/testset", "helen/testset"}
    assert folders(challenging) == {"ibug"}
    assert folders(train) == {"lfpw/trainset", "helen/trainset", "afw"}
    assert [s.image_path for s in full.samples] == [s.image_path for s in common.samples + challenging.samples]
    assert (full.nme_norm, full.eye_corner_indices, full.num_points) == ("inter_ocular", (36, 45), 68)

    pts = tmp_path / "ibug" / "image_003_1.pts"
    pts.parent.mkdir(parents=True)
    points = "\n".join(f"{100 + i}.5 {200 - i}.25" for i in range(68))
    pts.write_text(f"version: 1\nn_points:  68\n{{\n{points}\n}}\n")
    _image(pts.with_suffix(".jpg"))
    (sample,) = load_benchmark("300w", tmp_path, "challenging").samples
    assert sample.target[0].tolist() == [100.5, 200.25] and sample.target[67].tolist() == [167.5, 133.25]
    assert sample.box == (100.5, 133.25, 167.5, 200.25)
    pts.write_text(f"version: 1\nn_points:  68\n{{\n{points}\n")
    with pytest.raises(UserError, match=r"image_003_1.pts line 3"):
        load_benchmark("300w", tmp_path, "challenging")


# ---------------------------------------------------------------- AFLW-19


def test_aflw19_uses_ra_order_box_order_and_frontal_visibility(tmp_path: Path) -> None:
    rows = 6
    data = np.zeros((rows, 38))
    data[:, :19] = np.arange(19) + 10 * np.arange(rows)[:, None]  # x1..x19
    data[:, 19:] = np.arange(19) + 100  # y1..y19
    bbox = np.tile([5.0, 50.0, 7.0, 70.0], (rows, 1))  # left, right, top, bottom
    visible = np.ones((rows, 19))
    visible[3, 4] = 0
    names = np.empty((rows, 1), dtype=object)
    names[:, 0] = [f"{i % 3}/image{i:05d}.jpg" for i in range(rows)]
    ra = np.array([[2, 5, 1, 6, 4, 3]], dtype=float)  # 1-based
    scipy.io.savemat(
        tmp_path / "AFLWinfo_release.mat",
        {"nameList": names, "data": data, "bbox": bbox, "mask_new": visible, "ra": ra},
    )
    for name in names[:, 0]:
        _image(tmp_path / "data/flickr" / name)
    train = load_benchmark("aflw19", tmp_path, "train", num_train=3)
    full = load_benchmark("aflw19", tmp_path, "full", num_train=3)
    frontal = load_benchmark("aflw19", tmp_path, "frontal", num_train=3)
    as_rows = lambda split: [int(s.image_path.stem[-5:]) for s in split.samples]  # noqa: E731
    assert as_rows(train) == [1, 4, 0] and as_rows(full) == [5, 3, 2] and as_rows(frontal) == [5, 2]
    assert train.samples[0].target[2].tolist() == [12.0, 102.0]
    assert train.samples[0].box == (5.0, 7.0, 50.0, 70.0)
    assert (full.nme_norm, full.eye_corner_indices) == ("box_diagonal", (6, 11))
    # default split: 20000/24386 of the rows, i.e. round(6 * 0.82) = 5 train rows here
    assert len(load_benchmark("aflw19", tmp_path, "train")) == 5


# ---------------------------------------------------------------- WFLW


def test_wflw_parses_a_hand_written_line_and_attribute_subsets(tmp_path: Path) -> None:
    lists = tmp_path / "WFLW_annotations/list_98pt_rect_attr_train_test"
    lists.mkdir(parents=True)
    coords = " ".join(f"{i}.5 {i + 1000}.25" for i in range(98))
    lines = [
        f"{coords} 104 359 374 664 1 0 0 0 0 0 51--Dresses/51_Dresses_wearingdress_51_377.jpg",
        f"{coords} 104 359 374 664 0 0 1 0 1 1 0--Parade/0_Parade_marchingband_1_116.jpg",
    ]
    (lists / "list_98pt_rect_attr_test.txt").write_text("\n".join(lines) + "\n")
    (lists / "list_98pt_rect_attr_train.txt").write_text(lines[0] + "\n")
    for line in lines:
        _image(tmp_path / "WFLW_images" / line.split()[-1])
    test = load_benchmark("wflw", tmp_path, "test")
    assert len(test) == 2
    assert test.samples[0].target[97].tolist() == [97.5, 1097.25]
    assert test.samples[0].box == (104.0, 359.0, 374.0, 664.0)
    pose = load_benchmark("wflw", tmp_path, "test_pose")
    assert [s.image_path.name for s in pose.samples] == ["51_Dresses_wearingdress_51_377.jpg"]
    for subset in ("test_illumination", "test_occlusion", "test_blur"):
        assert [s.image_path.name for s in load_benchmark("wflw", tmp_path, subset).samples] == [
            "0_Parade_marchingband_1_116.jpg"
        ]
    assert len(load_benchmark("wflw", tmp_path, "test_expression")) == 0
    (lists / "list_98pt_rect_attr_train.txt").write_text(lines[0].rsplit(" ", 2)[0] + "\n")
    with pytest.raises(UserError, match=r"list_98pt_rect_attr_train.txt line 1: expected 207 fields"):
        load_benchmark("wflw", tmp_path, "train")
