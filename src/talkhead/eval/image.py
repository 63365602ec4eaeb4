"""Image reconstruction metrics every model can use: PSNR and SSIM of RGB images in [0, 1].

PSNR = 10 log10(1 / MSE). SSIM is Wang et al. 2004, "Image quality assessment: from error visibility
to structural similarity" (https://ece.uwaterloo.ca/~z70wang/publications/ssim.pdf): an 11×11
Gaussian window (σ 1.5), C1 = 0.01², C2 = 0.03², computed per channel on the valid ('same'-free)
area and averaged — the constants of the reference implementation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
C1, C2 = 0.01 ** 2, 0.03 ** 2


def _check(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.ndim not in (3, 4) or pred.shape[-1] != 3:
        raise ValueError(f"expected two (..., H, W, 3) images of one shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")


def psnr(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """PSNR in dB of (H, W, 3) or (B, H, W, 3) images in [0, 1]; (B,) for a batch."""
    _check(pred, target)
    mse = ((pred - target) ** 2).flatten(-3).mean(-1)  # (B,) or ()
    return -10.0 * torch.log10(mse + eps)


def _window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    x = torch.arange(SSIM_WINDOW, dtype=dtype, device=device) - SSIM_WINDOW // 2
    g = torch.exp(-x ** 2 / (2 * SSIM_SIGMA ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, SSIM_WINDOW, SSIM_WINDOW)  # (3, 1, k, k)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of (H, W, 3) or (B, H, W, 3) images in [0, 1] (both sides ≥ 11 px); (B,) for a batch."""
    _check(pred, target)
    batched = pred.ndim == 4
    x = (pred if batched else pred[None]).permute(0, 3, 1, 2)  # (B, 3, H, W)
    y = (target if batched else target[None]).permute(0, 3, 1, 2)
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} px, got {tuple(x.shape[-2:])}")
    w = _window(x.dtype, x.device)
    mu_x, mu_y = F.conv2d(x, w, groups=3), F.conv2d(y, w, groups=3)
    sxx = F.conv2d(x * x, w, groups=3) - mu_x ** 2
    syy = F.conv2d(y * y, w, groups=3) - mu_y ** 2
    sxy = F.conv2d(x * y, w, groups=3) - mu_x * mu_y
    num = (2 * mu_x * mu_y + C1) * (2 * sxy + C2)
    den = (mu_x ** 2 + mu_y ** 2 + C1) * (sxx + syy + C2)
    value = (num / den).flatten(1).mean(1)  # (B,)
    return value if batched else value[0]
