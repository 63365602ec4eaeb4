"""A do-nothing renderer for the registry test: what a learned renderer's class looks like."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from talkhead.render.base import Renderer, Source


class NullRenderer(Renderer):
    """Returns the portrait unchanged; takes a weights path like a learned renderer would."""

    name = "null_for_test"

    def __init__(self, weights: str) -> None:
        self.weights = weights

    def prepare(self, image_rgb: np.ndarray) -> Source:
        """No detection: the whole image is the source."""
        return Source(image=image_rgb, motion=np.zeros(70, np.float32))

    def render(self, source: Source, motion: np.ndarray, fps: int = 25) -> Iterator[np.ndarray]:
        """The portrait, once per motion frame."""
        for _ in range(len(motion)):
            yield source.image
