"""Building blocks shared by LivePortrait's renderer networks: 2D/3D conv blocks, the 3D hourglass, SPADE.

LivePortrait (Guo et al. 2024, https://arxiv.org/abs/2407.03168) inherits these blocks from
face-vid2vid (Wang et al. 2021, https://arxiv.org/abs/2011.15126) and SPADE (Park et al. 2019,
https://arxiv.org/abs/1903.07291). Attribute names are those of the released checkpoints, so the
state-dict keys (`conv`, `norm`, `down_blocks.N`, `mlp_shared.0`, `conv_0.weight_orig`, …) load
strictly. Coordinates follow the reference's convention: a grid over (D, H, W) in [-1, 1] with x
to the right, y down, z inward, sampled with `grid_sample(align_corners=False)`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm


def coordinate_grid(d: int, h: int, w: int, ref: torch.Tensor) -> torch.Tensor:
    """(d, h, w, 3) grid of (x, y, z) in [-1, 1] (x right, y down, z in), ref's dtype and device."""
    x = 2 * (torch.arange(w, dtype=ref.dtype, device=ref.device) / (w - 1)) - 1
    y = 2 * (torch.arange(h, dtype=ref.dtype, device=ref.device) / (h - 1)) - 1
    z = 2 * (torch.arange(d, dtype=ref.dtype, device=ref.device) / (d - 1)) - 1
    xx = x.view(1, 1, w).expand(d, h, w)
    yy = y.view(1, h, 1).expand(d, h, w)
    zz = z.view(d, 1, 1).expand(d, h, w)
    return torch.stack([xx, yy, zz], dim=3)  # (d, h, w, 3)


def keypoint_gaussians(kp: torch.Tensor, size: tuple[int, int, int], variance: float) -> torch.Tensor:
    """(B, K, 3) keypoints → (B, K, d, h, w) unnormalised Gaussians exp(-|p - kp|² / 2σ²) on the grid."""
    grid = coordinate_grid(*size, ref=kp)  # (d, h, w, 3)
    diff = grid[None, None] - kp[:, :, None, None, None, :]  # (B, K, d, h, w, 3)
    return torch.exp(-0.5 * (diff**2).sum(-1) / variance)


class SameBlock2d(nn.Module):
    """Conv → batch norm → ReLU (or leaky ReLU), same resolution."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int = 1, lrelu: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(cout, affine=True)
        self.lrelu = lrelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm(self.conv(x))
        return F.leaky_relu(out) if self.lrelu else F.relu(out)


class DownBlock2d(nn.Module):
    """Conv → batch norm → ReLU → 2×2 average pool."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(cout, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), kernel_size=2)


class DownBlock3d(nn.Module):
    """3D conv → batch norm → ReLU → average pool over (h, w) only."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(cout, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool3d(F.relu(self.norm(self.conv(x))), kernel_size=(1, 2, 2))


class UpBlock3d(nn.Module):
    """Nearest upsampling of (h, w) by 2 → 3D conv → batch norm → ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(cout, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=(1, 2, 2))  # nearest
        return F.relu(self.norm(self.conv(out)))


class ResBlock3d(nn.Module):
    """Pre-activation 3D residual block: x + conv(relu(bn(conv(relu(bn(x))))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(channels, channels, kernel_size=3, padding=1)
        self.norm1 = nn.BatchNorm3d(channels, affine=True)
        self.norm2 = nn.BatchNorm3d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


def _width(block_expansion: int, level: int, max_features: int) -> int:
    """Channels of hourglass level `level` (1-based below the input)."""
    return min(max_features, block_expansion * 2**level)


class HourglassEncoder(nn.Module):
    """The hourglass's way down: `num_blocks` DownBlock3d, keeping every level's output for the skips."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        widths = [in_features] + [_width(block_expansion, i + 1, max_features) for i in range(num_blocks)]
        self.down_blocks = nn.ModuleList(DownBlock3d(widths[i], widths[i + 1]) for i in range(num_blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class HourglassDecoder(nn.Module):
    """The hourglass's way up: UpBlock3d with skip concatenation, then conv → batch norm → ReLU."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int) -> None:
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            cin = (1 if i == num_blocks - 1 else 2) * _width(block_expansion, i + 1, max_features)
            blocks.append(UpBlock3d(cin, _width(block_expansion, i, max_features)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters, affine=True)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        out = skips[-1]
        for block, skip in zip(self.up_blocks, reversed(skips[:-1]), strict=True):
            out = torch.cat([block(out), skip], dim=1)
        return F.relu(self.norm(self.conv(out)))


class Hourglass(nn.Module):
    """3D U-Net (encoder + decoder with skips) over a (B, C, d, h, w) volume; h, w halve per level."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256) -> None:
        super().__init__()
        self.encoder = HourglassEncoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = HourglassDecoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: instance norm, then a scale and shift predicted from a label map."""

    hidden = 128

    def __init__(self, norm_nc: int, label_nc: int) -> None:
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, self.hidden, kernel_size=3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(self.hidden, norm_nc, kernel_size=3, padding=1)
        self.mlp_beta = nn.Conv2d(self.hidden, norm_nc, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = F.instance_norm(x, eps=1e-5)  # no affine, no running statistics
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """SPADE residual block with spectrally normalised convs (keys `weight_orig`, `weight_u`, `weight_v`).

    In eval mode torch's spectral norm does no power iteration: it divides by uᵀWv with the stored
    vectors, as the released checkpoints expect.
    """

    def __init__(self, fin: int, fout: int, label_nc: int) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = spectral_norm(nn.Conv2d(fin, fmiddle, kernel_size=3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(fmiddle, fout, kernel_size=3, padding=1))
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, kernel_size=1, bias=False))
        self.norm_0 = SPADE(fin, label_nc)
        self.norm_1 = SPADE(fmiddle, label_nc)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, label_nc)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx
