"""LivePortrait's SPADE generator G: warped features → the animated image, upsampled ×2.

LivePortrait (https://arxiv.org/abs/2407.03168), §3.1, after SPADE (Park et al. 2019,
https://arxiv.org/abs/1903.07291): the warped (B, 256, 64, 64) features are both the input and the
label map of eight spectrally normalised SPADE residual blocks (six at 64², one at 128², one at
256²), then a conv to 12 channels and a pixel shuffle give a (B, 3, 512, 512) image in [0, 1].
Keys are those of the released `spade_generator.pth`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from talkhead.models.liveportrait.blocks import SPADEResnetBlock

N_MIDDLE = 6  # G_middle_0 … G_middle_5


@dataclass(frozen=True)
class SpadeConfig:
    """Sizes of G (models.yaml `spade_generator_params` of the release)."""

    upscale: int = 2  # 256 → 512 output through a pixel shuffle
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    out_channels: int = 64


class SPADEDecoder(nn.Module):
    """G: (B, 256, h, w) warped features → (B, 3, 8h, 8w) image in [0, 1] (64² → 512²)."""

    def __init__(self, config: SpadeConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or SpadeConfig()
        cin = min(c.max_features, c.block_expansion * 2**c.num_down_blocks)  # 256, also the label channels
        self.fc = nn.Conv2d(cin, 2 * cin, kernel_size=3, padding=1)
        for i in range(N_MIDDLE):
            self.add_module(f"G_middle_{i}", SPADEResnetBlock(2 * cin, 2 * cin, cin))
        self.up_0 = SPADEResnetBlock(2 * cin, cin, cin)
        self.up_1 = SPADEResnetBlock(cin, c.out_channels, cin)
        if c.upscale is None or c.upscale <= 1:
            self.conv_img = nn.Conv2d(c.out_channels, 3, kernel_size=3, padding=1)
        else:
            self.conv_img = nn.Sequential(nn.Conv2d(c.out_channels, 3 * 4, kernel_size=3, padding=1),
                                          nn.PixelShuffle(upscale_factor=2))

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        seg = feature  # (B, 256, h, w) label map of every SPADE
        x = self.fc(feature)  # (B, 512, h, w)
        for i in range(N_MIDDLE):
            x = getattr(self, f"G_middle_{i}")(x, seg)
        x = self.up_0(F.interpolate(x, scale_factor=2), seg)  # (B, 256, 2h, 2w)
        x = self.up_1(F.interpolate(x, scale_factor=2), seg)  # (B, 64, 4h, 4w)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 0.2)))  # (B, 3, 8h, 8w)
