"""onnxruntime sessions for the detectors: provider choice, threads, and fixing a graph's input shape."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from curation.detect.config import DetectorConfig
from shards.checksums import file_sha256


def providers_for(config: DetectorConfig) -> list[str]:
    """CUDA first when this onnxruntime build offers it (and the config allows it), then the CPU."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if config.device == "auto" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session_options(config: DetectorConfig) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if config.threads:
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
    # Idle pool threads sleep instead of busy-waiting for the next parallel op: in `pros curate` the detector shares
    # the cores with decoding and crop writing, and spinning threads took CPU from them (2 cores, 400 images: end to
    # end used about 74 instead of 80 CPU ms per image; the detector alone is as fast either way).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # keep onnxruntime's warnings about unused initializers off the user's terminal
    return options


@functools.lru_cache(maxsize=8)
def model_sha256(path: str) -> str:
    """The model file's sha256, cached: detector versions ask for it once per build."""
    return file_sha256(path)


@functools.lru_cache(maxsize=4)
def with_input_shape(path: str, height: int, width: int) -> bytes:
    """The model at ``path`` re-declared for inputs of shape [batch, C, height, width], as serialized bytes.

    Fully convolutional graphs exported with a fixed example shape (CenterFace ships with [10, 3, 32, 32]) run at any
    size once the declared shapes are relaxed: the batch becomes symbolic, H and W are fixed to the requested size,
    and the output shapes are cleared so onnxruntime infers them. Initializers listed as graph inputs (old exporters
    do this) are removed from the inputs, which lets onnxruntime fold batch norms into convolutions.
    """
    import onnx

    model = onnx.load_model(str(Path(path)))
    initializer_names = {init.name for init in model.graph.initializer}
    real_inputs = [value for value in model.graph.input if value.name not in initializer_names]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[0].ClearField("dim_value")
    dims[0].dim_param = "batch"
    dims[2].dim_value = height
    dims[3].dim_value = width
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]
    return model.SerializeToString()
