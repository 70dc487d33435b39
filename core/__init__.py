"""The shared base every package may import: layered config loading, user errors, run info, logging, hardware choices.

Imports run one way: core <- shards <- curation / training / downstream <- pros (the CLI root, imported by none).
"""
