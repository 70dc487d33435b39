"""The contract between curation and training: keys, deterministic atomic shards, manifests, the streaming reader.

No torch here: anything that reads or writes shards can import this package cheaply.
"""

from shards.keys import check_key, make_key
from shards.layout import ShardPaths, shard_paths
from shards.urls import expand_urls
from shards.writer import Sample, committed_shards, write_shard, write_sizes

__all__ = [
    "Sample", "ShardPaths", "check_key", "committed_shards", "expand_urls", "make_key", "shard_paths",
    "write_shard", "write_sizes",
]
