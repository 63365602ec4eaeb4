"""Per-clip feature extractors."""
