"""The renderer interface: one portrait + a motion sequence in talkhead's 70-value layout → RGB frames.

A renderer turns the motion a generator produces (talkhead.features.motion's layout, raw, i.e.
denormalised: 21 keypoint deformations in the canonical frame, scale, translation, pitch/yaw/roll)
into frames of the portrait. `prepare` does the per-portrait work once (face detection, mesh,
anything precomputed); `render` streams full-size frames. The offline default is the mesh warp
(talkhead.render.mesh_warp, no learned weights); the learned renderer `liveportrait`
(talkhead.render.liveportrait: LivePortrait's warping network and generator, official weights from
a folder) is chosen by name with its options:

    renderer = make_renderer("mesh_warp")              # or make_renderer("liveportrait", directory=DIR)
    source = renderer.prepare(load_image("me.jpg"))
    for frame in renderer.render(source, motion):      # (H, W, 3) uint8
        ...
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Source:
    """A prepared portrait: the image and the face's own motion; renderers subclass it to add their state."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, the full portrait
    motion: np.ndarray  # (70,) float32 the portrait's own motion, talkhead.features.motion layout


class Renderer(ABC):
    """Portrait + motion → frames; subclasses register under a name in `RENDERERS`."""

    name: str = ""

    @abstractmethod
    def prepare(self, image_rgb: np.ndarray) -> Source:
        """Detect the face in an (H, W, 3) uint8 RGB portrait and precompute what `render` needs."""

    @abstractmethod
    def render(self, source: Source, motion: np.ndarray, fps: int = 25) -> Iterator[np.ndarray]:
        """(T, 70) raw motion → T frames (H, W, 3) uint8 of the portrait's full size.

        A yielded frame is only valid until the next one is requested (implementations may reuse
        one buffer so that memory and copying do not grow with the photo): copy it to keep it.
        """

    def close(self) -> None:  # noqa: B027 (a default that subclasses may override, not abstract)
        """Free model resources (graphs, sessions); the default has none."""


# name -> "module:Class". Classes are imported only when built, so listing costs nothing.
RENDERERS: dict[str, str] = {
    "mesh_warp": "talkhead.render.mesh_warp:MeshWarpRenderer",
    "liveportrait": "talkhead.render.liveportrait:LivePortraitRenderer",
}


def register(name: str, target: str) -> None:
    """Make `make_renderer(name)` build `target` ("package.module:Class")."""
    if ":" not in target:
        raise ValueError(f"register: target must be 'module:Class', got {target!r}")
    RENDERERS[name] = target


def make_renderer(name: str = "mesh_warp", **kwargs: Any) -> Renderer:
    """Build the renderer registered as `name` with its keyword options (e.g. directory=PATH)."""
    if name not in RENDERERS:
        raise ValueError(f"unknown renderer {name!r}; choose one of {', '.join(sorted(RENDERERS))}")
    module, cls = RENDERERS[name].split(":")
    renderer = getattr(importlib.import_module(module), cls)(**kwargs)
    if not isinstance(renderer, Renderer):
        raise TypeError(f"{RENDERERS[name]} is not a talkhead.render.base.Renderer")
    return renderer
