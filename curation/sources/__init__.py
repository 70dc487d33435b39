"""Raw inputs of ``pros curate``: folders, tar / WebDataset shards (img2dataset output included), parquet files.

``list_units`` cuts the inputs into stable units of work; ``iter_items`` yields each unit's inputs with their bytes.
"""

from curation.sources.config import IMAGE_EXTENSIONS, SourceConfig
from curation.sources.units import InputUnit, iter_items, list_units

__all__ = ["IMAGE_EXTENSIONS", "InputUnit", "SourceConfig", "iter_items", "list_units"]
