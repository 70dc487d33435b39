"""Staged, resumable curation: stages with commit markers, a planner that reads them, a local process executor."""
