"""Published numbers to print beside ours, each with its source.

Only numbers we could trace to a listing of the paper's results are here; where we were unsure, the number is left
out (no LFWA and no ProS numbers yet: the ProS paper's tables were not reachable when this was written). Values are
in percent, as published. These are fine-tuning results on the full training sets.
"""

from __future__ import annotations

from dataclasses import dataclass

FARL = (
    "FaRL ViT-B/16, Zheng et al., 'General Facial Representation Learning in a Visual-Linguistic Manner', "
    "CVPR 2022 (arXiv:2112.03109)"
)
FARL_ALIGN = FARL + "; face-alignment results of FaRL-B (LAION-Face, epoch 16) as listed on Papers with Code"
FARL_LISTING = FARL + "; as listed in the paper's benchmark entries on Papers with Code / wizwand.com"


@dataclass(frozen=True)
class Reference:
    """One published number: ``value`` in percent for ``metric`` on ``benchmark``/``split``."""

    method: str
    benchmark: str
    split: str
    metric: str
    value: float
    source: str
    protocol: str = "finetune"
    setting: str = "full"
    num_classes: int | None = None  # only compared with runs using this many classes (AffectNet 7 vs 8)


REFERENCES: tuple[Reference, ...] = (
    Reference("FaRL-B", "300w", "full", "nme", 2.93, FARL_ALIGN),
    Reference("FaRL-B", "300w", "common", "nme", 2.56, FARL_ALIGN),
    Reference("FaRL-B", "300w", "challenging", "nme", 4.45, FARL_ALIGN),
    Reference("FaRL-B", "aflw19", "full", "nme", 0.943, FARL_ALIGN + " (NME_diag)"),
    Reference("FaRL-B", "aflw19", "frontal", "nme", 0.821, FARL_ALIGN + " (NME_diag)"),
    Reference("FaRL-B", "aflw19", "full", "nme_box", 1.334, FARL_ALIGN + " (NME_box)"),
    Reference("FaRL-B", "wflw", "test", "nme", 3.96, FARL_ALIGN),
    Reference("FaRL-B", "wflw", "test", "fr_10", 1.76, FARL_ALIGN),
    Reference("FaRL-B", "wflw", "test", "auc_10", 61.16, FARL_ALIGN),
    Reference("FaRL-B", "celeba", "test", "mean_accuracy", 91.88, FARL_LISTING),
    Reference("FaRL-B", "rafdb", "test", "accuracy", 88.31, FARL_LISTING),
    Reference("FaRL-B", "affectnet", "val", "accuracy", 64.85, FARL_LISTING + " (AffectNet 7-way)", num_classes=7),
)


def references_for(benchmark: str, split: str, metric: str, num_classes: int | None = None) -> list[Reference]:
    """Published numbers comparable with our ``metric`` on ``benchmark``/``split``."""
    return [
        ref for ref in REFERENCES
        if (ref.benchmark, ref.split, ref.metric) == (benchmark, split, metric)
        and (ref.num_classes is None or num_classes is None or ref.num_classes == num_classes)
    ]
