"""ProS pre-training: multi-crop data from shards, the teacher/student task and losses, the loop, checkpoints, export."""
