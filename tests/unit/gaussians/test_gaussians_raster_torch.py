"""The pure-PyTorch rasterizer: numerical gradients, tiling invariance and a Gaussian's value at its centre."""

from __future__ import annotations

import pytest
import torch

from talkhead.gaussians.camera import crop_camera
from talkhead.gaussians.raster_base import Gaussians, get_rasterizer
from talkhead.gaussians.raster_torch import project, quat_to_rotmat, rasterize

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_scene(dtype=torch.float64) -> list[torch.Tensor]:
    """Three overlapping anisotropic, rotated Gaussians at different depths on a 12 px image."""
    g = torch.Generator().manual_seed(0)
    return [torch.tensor([[4.0, 5.0, 0.0], [7.0, 6.0, 0.5], [6.0, 4.0, -0.3]], dtype=dtype),
            torch.tensor([[1.0, 0.1, 0.2, 0.0], [0.9, 0.0, 0.0, 0.3], [1.0, 0.2, -0.1, 0.1]], dtype=dtype),
            torch.tensor([[1.5, 1.0, 1.0], [1.0, 2.0, 1.2], [1.2, 1.2, 1.0]], dtype=dtype),
            torch.tensor([0.6, 0.7, 0.5], dtype=dtype), torch.rand(3, 3, generator=g, dtype=dtype)]


@pytest.mark.parametrize("tile", [4, 16])
def test_gradients_match_finite_differences(tile):
    cam = crop_camera(12, dtype=torch.float64)
    inputs = [t.requires_grad_() for t in tiny_scene()]

    def image(*tensors):
        rgb, alpha = rasterize(Gaussians(*tensors), cam, tile=tile)
        return torch.cat([rgb, alpha], -1)

    assert torch.autograd.gradcheck(image, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def test_tiling_does_not_change_the_image():
    cam = crop_camera(12, dtype=torch.float64)
    g = Gaussians(*tiny_scene())
    a, b = rasterize(g, cam, tile=4), rasterize(g, cam, tile=16)
    # only the 3σ cut-off can differ between tilings; on this scene nothing does
    assert torch.allclose(a[0], b[0], atol=1e-12) and torch.allclose(a[1], b[1], atol=1e-12)


def test_a_gaussian_at_a_pixel_centre_shows_its_opacity_and_colour():
    cam = crop_camera(16, dtype=torch.float64)
    f64 = dict(dtype=torch.float64)
    g = Gaussians(torch.tensor([[8.5, 5.5, 0.0]], **f64), torch.tensor([[1.0, 0, 0, 0]], **f64),
                  torch.full((1, 3), 1.0, **f64), torch.tensor([0.5], **f64), torch.tensor([[0.2, 0.4, 0.8]], **f64))
    rgb, alpha = rasterize(g, cam)
    assert float(alpha[5, 8, 0]) == pytest.approx(0.5, abs=1e-9)
    assert torch.allclose(rgb[5, 8], 0.5 * torch.tensor([0.2, 0.4, 0.8], dtype=torch.float64))
    assert float(alpha.max()) == pytest.approx(0.5) and float(alpha[0, 0, 0]) == 0.0  # far corner untouched


def test_front_gaussian_occludes_the_back_one():
    cam = crop_camera(8, dtype=torch.float64)
    means = torch.tensor([[4.5, 4.5, 1.0], [4.5, 4.5, -1.0]], dtype=torch.float64)  # second is nearer
    f64 = dict(dtype=torch.float64)
    g = Gaussians(means, torch.tensor([[1.0, 0, 0, 0]] * 2, **f64), torch.full((2, 3), 2.0, **f64),
                  torch.tensor([0.99, 0.99], **f64), torch.eye(3, **f64)[:2])
    rgb, _ = rasterize(g, cam)
    assert rgb[4, 4, 1] > 0.95 and rgb[4, 4, 0] < 0.05  # green (near) in front of red (far)


def test_projection_puts_z0_points_on_their_pixels():
    cam = crop_camera(32)
    g = Gaussians(torch.tensor([[3.0, 20.0, 0.0]]), torch.tensor([[1.0, 0, 0, 0]]), torch.ones(1, 3), torch.ones(1),
                  torch.ones(1, 3))
    means2d, conics, depth, radii, visible = project(g, cam)
    assert torch.allclose(means2d, torch.tensor([[3.0, 20.0]])) and bool(visible[0])
    # ≈ (1 + eps2d)⁻¹ on the diagonal: a unit Gaussian at z = 0 (the mild perspective adds a little)
    assert torch.allclose(conics[0], torch.tensor([1 / 1.3, 0.0, 1 / 1.3]), atol=5e-3)


def test_quaternions_give_rotations():
    R = quat_to_rotmat(torch.randn(5, 4, generator=torch.Generator().manual_seed(1)))
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(5, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(5), atol=1e-5)


def test_empty_and_offscreen_scenes_render_black():
    cam = crop_camera(16)
    g = Gaussians(torch.tensor([[-50.0, 8.0, 0.0]]), torch.tensor([[1.0, 0, 0, 0]]), torch.ones(1, 3), torch.ones(1),
                  torch.ones(1, 3))
    rgb, alpha = rasterize(g, cam)
    assert rgb.shape == (16, 16, 3) and alpha.shape == (16, 16, 1) and float(alpha.abs().max()) == 0.0


def test_bad_shapes_and_unknown_backends_are_refused():
    with pytest.raises(ValueError, match="quats"):
        Gaussians(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3), torch.ones(2), torch.ones(2, 3))
    with pytest.raises(ValueError, match="unknown rasterizer"):
        get_rasterizer("optix")
    assert get_rasterizer("auto", "cpu") is rasterize
