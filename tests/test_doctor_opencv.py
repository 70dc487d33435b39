"""``pros doctor`` names the cv2 that ``import cv2`` loads and flags OpenCV wheels that overwrite each other."""

from __future__ import annotations

from pros.doctor import active_cv2, opencv_checks


def test_one_opencv_4_is_fine():
    checks = opencv_checks({"opencv-python": "4.12.0.88"}, "4.12.0", True)
    assert [(c.name, c.ok) for c in checks] == [("cv2 (OpenCV)", True)]
    assert "import cv2 loads 4.12.0 (opencv-python 4.12.0.88)" == checks[0].detail


def test_two_wheels_are_a_conflict_with_the_fix():
    checks = opencv_checks({"opencv-python": "5.0.0.93", "opencv-python-headless": "4.14.0.94"}, "5.0.0", False)
    by_name = {c.name: c for c in checks}
    assert not by_name["cv2 (OpenCV)"].ok and "5.x dropped CascadeClassifier" in by_name["cv2 (OpenCV)"].fix
    conflict = by_name["opencv conflict"]
    assert not conflict.ok and "opencv-python 5.0.0.93, opencv-python-headless 4.14.0.94" in conflict.detail
    assert conflict.fix == ("pip uninstall -y opencv-python opencv-python-headless && "
                            "pip install 'opencv-python>=4.8,<5'")


def test_missing_cv2_is_reported():
    (check,) = opencv_checks({}, None, False)
    assert not check.ok and "import cv2 fails" in check.detail and check.fix == "pip install 'opencv-python>=4.8,<5'"


def test_active_cv2_reads_the_loaded_module():
    import cv2

    version, has_cascade = active_cv2()
    assert version == cv2.__version__ and has_cascade == hasattr(cv2, "CascadeClassifier")
