"""Image embedders: the ``ImageEmbedder`` protocol, its backends by name, and precomputed embeddings as input."""
