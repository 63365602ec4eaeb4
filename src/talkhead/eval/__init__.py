"""Evaluation: the metrics every model is scored with (docs/evaluation.md)."""
