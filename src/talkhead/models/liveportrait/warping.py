"""LivePortrait's warping module W: warps the source feature volume f_s from source to driving keypoints.

LivePortrait (https://arxiv.org/abs/2407.03168), §3.1: the dense motion network
(talkhead.models.liveportrait.dense_motion) turns the implicit keypoints x_s, x_d into a 3D
deformation; f_s is resampled under it (trilinear `grid_sample`, `align_corners=False`, zeros
outside), its depth folded into channels (32 × 16 → 512), reduced to 256 channels and multiplied
by the occlusion map. Keys are those of the released `warping_module.pth`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from talkhead.models.liveportrait.blocks import SameBlock2d
from talkhead.models.liveportrait.dense_motion import DenseMotionConfig, DenseMotionNetwork


@dataclass(frozen=True)
class WarpingConfig:
    """Sizes of W (models.yaml `warping_module_params` of the release)."""

    num_kp: int = 21
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    reshape_channel: int = 32
    estimate_occlusion_map: bool = True
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)


class WarpingNetwork(nn.Module):
    """W: f_s (B, 32, 16, h, w) + x_s, x_d (B, K, 3) → warped 2D features (B, 256, h, w)."""

    def __init__(self, config: WarpingConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or WarpingConfig()
        self.dense_motion_network = DenseMotionNetwork(c.dense_motion)
        width = c.block_expansion * 2**c.num_down_blocks
        self.third = SameBlock2d(c.max_features, width, lrelu=True)
        self.fourth = nn.Conv2d(width, width, kernel_size=1)

    def forward(self, feature_3d: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor) -> dict:
        """Keys: out (B, 256, h, w), deformation (B, d, h, w, 3), occlusion_map (B, 1, h, w) or None."""
        motion = self.dense_motion_network(feature_3d, kp_driving=kp_driving, kp_source=kp_source)
        warped = F.grid_sample(feature_3d, motion["deformation"], align_corners=False)  # (B, 32, 16, h, w)
        b, c, d, h, w = warped.shape
        out = self.fourth(self.third(warped.view(b, c * d, h, w)))  # (B, 256, h, w)
        if motion["occlusion_map"] is not None:
            out = out * motion["occlusion_map"]
        return {"out": out, "deformation": motion["deformation"], "occlusion_map": motion["occlusion_map"]}
