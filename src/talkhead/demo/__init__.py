"""The bundled demo dataset: one photograph animated to synthesized speech (no download needed)."""

from talkhead.demo.clips import write_demo_dataset

__all__ = ["write_demo_dataset"]
