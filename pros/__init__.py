"""pros: face-dominant data curation, ProS self-distillation pre-training, and face benchmark evaluation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pros")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"
