"""The rasterizer interface and its registry: world-space Gaussians + a camera → an RGB image and its alpha.

Two backends implement it: `torch` (talkhead.gaussians.raster_torch, pure PyTorch, runs anywhere,
the reference) and `gsplat` (talkhead.gaussians.raster_gsplat, gsplat's CUDA kernels, imported only
when CUDA is present). Both take activated values: unit or non-unit quaternions (w, x, y, z), linear
scales, opacities in [0, 1] and RGB colours; both return the straight alpha-composite over black plus
the accumulated alpha, so the caller composites any background: rgb + (1 − alpha) · background.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from talkhead.gaussians.camera import Camera


@dataclass
class Gaussians:
    """A set of N world-space Gaussians, activated (what a rasterizer consumes)."""

    means: torch.Tensor  # (N, 3)
    quats: torch.Tensor  # (N, 4) w, x, y, z
    scales: torch.Tensor  # (N, 3) > 0
    opacities: torch.Tensor  # (N,) in [0, 1]
    colors: torch.Tensor  # (N, 3)

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        shapes = {"means": (n, 3), "quats": (n, 4), "scales": (n, 3), "opacities": (n,), "colors": (n, 3)}
        for name, shape in shapes.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"Gaussians.{name}: expected {shape}, got {tuple(getattr(self, name).shape)}")


Rasterizer = Callable[[Gaussians, Camera], tuple[torch.Tensor, torch.Tensor]]  # → rgb (H, W, 3), alpha (H, W, 1)


def _torch_backend() -> Rasterizer:
    from talkhead.gaussians.raster_torch import rasterize

    return rasterize


def _gsplat_backend() -> Rasterizer:
    from talkhead.gaussians.raster_gsplat import rasterize

    return rasterize


RASTERIZERS: dict[str, Callable[[], Rasterizer]] = {"torch": _torch_backend, "gsplat": _gsplat_backend}


def get_rasterizer(name: str, device: torch.device | str = "cpu") -> Rasterizer:
    """The rasterizer called `name`; 'auto' is gsplat on a CUDA device, torch otherwise."""
    if name == "auto":
        name = "gsplat" if torch.device(device).type == "cuda" else "torch"
    try:
        factory = RASTERIZERS[name]
    except KeyError:
        raise ValueError(f"unknown rasterizer '{name}' (known: auto, {', '.join(RASTERIZERS)})") from None
    return factory()
