"""The CUDA rasterizer backend: gsplat's fused 3DGS kernels (https://docs.gsplat.studio, `gsplat.rasterization`).

gsplat is an optional dependency (`pip install talkhead[cuda]`), imported only when this backend
is used on a CUDA device. `gsplat.rasterization(means, quats, scales, opacities, colors, viewmats,
Ks, width, height)` takes the same activated values as talkhead.gaussians.raster_base (quaternions
w, x, y, z, linear scales, opacities in [0, 1]; RGB colours with `sh_degree=None`) and a batch of C
cameras, and returns (render_colors (C, H, W, 3), render_alphas (C, H, W, 1), meta). We render one
camera, classic (not antialiased) mode and eps2d 0.3, the settings of the PyTorch reference, which a
CUDA-only test compares against (tests/unit/gaussians/test_gaussians_raster_gsplat.py).
"""

from __future__ import annotations

import torch

from talkhead.gaussians.camera import Camera
from talkhead.gaussians.raster_base import Gaussians


def _gsplat_rasterization():
    """gsplat.rasterization, with a clear error when CUDA or gsplat is missing."""
    if not torch.cuda.is_available():
        raise RuntimeError("the gsplat rasterizer needs CUDA; use rasterizer 'torch' on this machine")
    try:
        from gsplat import rasterization
    except ImportError as exc:
        raise RuntimeError("the gsplat rasterizer needs gsplat: pip install 'talkhead[cuda]' (gsplat>=1.4)") from exc
    return rasterization


def rasterize(g: Gaussians, cam: Camera, eps2d: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Render `g` seen by `cam` with gsplat: (rgb (H, W, 3) over black, alpha (H, W, 1))."""
    rasterization = _gsplat_rasterization()
    if g.means.device.type != "cuda":
        raise RuntimeError(f"the gsplat rasterizer needs CUDA tensors, got {g.means.device}")
    cam = cam.to(g.means.device, g.means.dtype)
    colors, alphas, _ = rasterization(
        g.means, g.quats, g.scales, g.opacities, g.colors, cam.viewmat[None], cam.K[None], cam.width, cam.height,
        eps2d=eps2d, packed=False, rasterize_mode="classic", render_mode="RGB", sh_degree=None)
    return colors[0], alphas[0]  # (H, W, 3), (H, W, 1)
