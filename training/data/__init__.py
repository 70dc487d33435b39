"""Training data: multi-crop augmentation and the streaming shard dataset."""
