from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from downstream.datasets import load_benchmark
from pros.demo.lfw_proxy import write_lfw_proxy


def test_lfw_proxy_loads_as_a_two_class_image_folder(tmp_path: Path) -> None:
    root = write_lfw_proxy(tmp_path / "lfw")
    train = load_benchmark("imagefolder", root, "train")
    test = load_benchmark("image-folder", root, "test")
    assert train.label_names == ("face", "non_face")
    assert len(train) + len(test) == 200
    labels = np.concatenate([train.targets(), test.targets()])
    assert (labels == 0).sum() == 100 and (labels == 1).sum() == 100
    assert {s.image_path for s in train.samples}.isdisjoint({s.image_path for s in test.samples})


def test_image_folder_without_class_folders_names_the_layout(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(UserError, match="one sub-folder per class"):
        load_benchmark("imagefolder", tmp_path, "train")
    with pytest.raises(UserError, match=r"ROOT/train/<class>"):
        load_benchmark("imagefolder", tmp_path / "missing", "train")
