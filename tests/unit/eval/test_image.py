"""PSNR and SSIM (talkhead.eval.image) against values known by construction."""

from __future__ import annotations

import math

import pytest
import torch

from talkhead.eval.image import psnr, ssim

pytestmark = pytest.mark.usefixtures("one_thread")


def test_psnr_of_a_constant_error():
    a = torch.full((16, 16, 3), 0.5)
    assert float(psnr(a + 0.1, a)) == pytest.approx(-10 * math.log10(0.01), abs=1e-4)  # 20 dB


def test_psnr_batch_shape_and_identity_is_large():
    a = torch.rand(2, 16, 16, 3)
    out = psnr(a, a)
    assert out.shape == (2,) and (out > 90).all()


def test_ssim_identity_is_one_and_noise_lowers_it():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(32, 32, 3, generator=g)
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-5)
    small = float(ssim((a + 0.05 * torch.randn(a.shape, generator=g)).clamp(0, 1), a))
    large = float(ssim((a + 0.3 * torch.randn(a.shape, generator=g)).clamp(0, 1), a))
    assert 1.0 > small > large


@pytest.mark.parametrize("bad", [torch.rand(8, 8, 3), torch.rand(16, 16, 4)])
def test_bad_shapes_are_refused(bad):
    with pytest.raises(ValueError):
        ssim(bad, bad)
