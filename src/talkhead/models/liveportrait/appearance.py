"""LivePortrait's appearance feature extractor F: the source image → a 3D appearance feature volume f_s.

Guo et al. 2024, "LivePortrait: Efficient Portrait Animation with Stitching and Retargeting Control"
(https://arxiv.org/abs/2407.03168), §3.1. The image (B, 3, 256, 256) in [0, 1] goes through a
same-resolution block and two down blocks to (B, 512, 64, 64), whose channels are read as
32 features × 16 depth slices and refined by six 3D residual blocks. Keys are those of the released
`appearance_feature_extractor.pth`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from talkhead.models.liveportrait.blocks import DownBlock2d, ResBlock3d, SameBlock2d


@dataclass(frozen=True)
class AppearanceConfig:
    """Sizes of F (models.yaml `appearance_feature_extractor_params` of the release)."""

    image_channel: int = 3
    block_expansion: int = 64
    num_down_blocks: int = 2
    max_features: int = 512
    reshape_channel: int = 32  # feature channels of the volume
    reshape_depth: int = 16  # depth slices: reshape_channel × reshape_depth = max_features
    num_resblocks: int = 6


class AppearanceFeatureExtractor(nn.Module):
    """F: (B, 3, H, W) image in [0, 1] → (B, 32, 16, H/4, W/4) feature volume."""

    def __init__(self, config: AppearanceConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or AppearanceConfig()
        self.first = SameBlock2d(c.image_channel, c.block_expansion)
        widths = [min(c.max_features, c.block_expansion * 2**i) for i in range(c.num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(DownBlock2d(widths[i], widths[i + 1]) for i in range(c.num_down_blocks))
        self.second = nn.Conv2d(widths[-1], c.max_features, kernel_size=1)
        self.resblocks_3d = nn.Sequential()
        for i in range(c.num_resblocks):
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(c.reshape_channel))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.first(image)  # (B, 64, H, W)
        for block in self.down_blocks:
            out = block(out)
        out = self.second(out)  # (B, 512, H/4, W/4)
        b, _, h, w = out.shape
        volume = out.view(b, self.config.reshape_channel, self.config.reshape_depth, h, w)  # (B, 32, 16, h, w)
        return self.resblocks_3d(volume)
