"""Raw image dumps to face-dominant shards: sources, decoding, detection, crops, retrieval, and the staged pipeline."""
