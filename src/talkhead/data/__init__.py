"""Clip-level data: manifests, per-clip status records, feature files and datasets."""
