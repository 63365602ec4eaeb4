"""ConvNeXt V2 (Woo et al. 2023, https://arxiv.org/abs/2301.00808): the backbone of LivePortrait's motion extractor.

Four stages of depthwise-7×7 blocks with Global Response Normalization (GRN), a 4×4 stride-4 stem,
2×2 stride-2 downsampling, global average pooling and a final LayerNorm. Parameter names follow the
ConvNeXt V2 release as LivePortrait vendors it (`downsample_layers.i`, `stages.i.j.{dwconv, norm,
pwconv1, grn, pwconv2}`, `norm`), so the official checkpoints load strictly. Inference only: the
stochastic depth used in training is the identity here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-6
GRN_EPS = 1e-6


@dataclass(frozen=True)
class ConvNeXtConfig:
    """Blocks per stage and channel widths per stage."""

    depths: tuple[int, int, int, int]
    dims: tuple[int, int, int, int]


CONVNEXT_MODELS: dict[str, ConvNeXtConfig] = {
    "convnextv2_tiny": ConvNeXtConfig(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
}


class ChannelsLastLayerNorm(nn.Module):
    """LayerNorm over the last axis of (B, H, W, C) (the block's norm; keys `weight`, `bias`)."""

    def __init__(self, dim: int, eps: float = LN_EPS) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


class ChannelsFirstLayerNorm(ChannelsLastLayerNorm):
    """LayerNorm over the channel axis of (B, C, H, W) (ConvNeXt's `channels_first` LayerNorm; same keys)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)  # (B, 1, H, W)
        var = (x - mean).pow(2).mean(1, keepdim=True)  # biased, as the reference
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GRN(nn.Module):
    """Global Response Normalization over the spatial axes of (B, H, W, C)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)  # (B, 1, 1, C)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + GRN_EPS)  # (B, 1, 1, C)
        return self.gamma * (x * nx) + self.beta + x


class Block(nn.Module):
    """ConvNeXt V2 block: depthwise 7×7, LayerNorm, 4× MLP with GELU and GRN, residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = ChannelsLastLayerNorm(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(y)))))  # (B, H, W, C)
        return x + y.permute(0, 3, 1, 2)  # (B, C, H, W)


class ConvNeXtV2(nn.Module):
    """The ConvNeXt V2 trunk: image (B, 3, H, W) → pooled, normalised features (B, dims[-1])."""

    def __init__(self, config: ConvNeXtConfig, in_chans: int = 3) -> None:
        super().__init__()
        dims = config.dims
        self.downsample_layers = nn.ModuleList([
            nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4), ChannelsFirstLayerNorm(dims[0])),
            *(nn.Sequential(ChannelsFirstLayerNorm(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
              for i in range(3)),
        ])
        self.stages = nn.ModuleList([nn.Sequential(*(Block(dims[i]) for _ in range(config.depths[i])))
                                     for i in range(4)])
        self.norm = nn.LayerNorm(dims[-1], eps=LN_EPS)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) → (B, dims[-1]): the four stages, global average pooling, LayerNorm."""
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.norm(x.mean(dim=(-2, -1)))  # (B, C)
