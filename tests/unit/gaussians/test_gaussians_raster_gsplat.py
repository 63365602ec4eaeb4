"""The gsplat backend: a clear error without CUDA; where CUDA and gsplat exist, it agrees with the PyTorch reference."""

from __future__ import annotations

import pytest
import torch

from talkhead.gaussians.camera import crop_camera
from talkhead.gaussians.raster_base import Gaussians, get_rasterizer

pytestmark = pytest.mark.usefixtures("one_thread")


def random_scene(n: int, size: int, device: str) -> Gaussians:
    g = torch.Generator().manual_seed(3)
    means = torch.rand(n, 3, generator=g) * torch.tensor([size, size, 8.0]) - torch.tensor([0, 0, 4.0])
    return Gaussians(means.to(device), torch.randn(n, 4, generator=g).to(device),
                     (torch.rand(n, 3, generator=g) * 2 + 0.5).to(device), torch.rand(n, generator=g).to(device),
                     torch.rand(n, 3, generator=g).to(device))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_without_cuda_the_gsplat_backend_says_so():
    rasterize = get_rasterizer("gsplat")
    with pytest.raises(RuntimeError, match="CUDA"):
        rasterize(random_scene(4, 16, "cpu"), crop_camera(16))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gsplat_agrees_with_the_reference():
    pytest.importorskip("gsplat")
    scene, cam = random_scene(300, 64, "cuda"), crop_camera(64).to("cuda")
    ref_rgb, ref_alpha = get_rasterizer("torch")(scene, cam)
    rgb, alpha = get_rasterizer("gsplat", "cuda")(scene, cam)
    # the CUDA kernels stop a pixel once its transmittance is below 1e-4 and bin with their own tile bounds
    assert (rgb - ref_rgb).abs().mean() < 2e-3 and (rgb - ref_rgb).abs().max() < 5e-2
    assert (alpha - ref_alpha).abs().mean() < 2e-3
