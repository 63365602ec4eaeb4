"""LivePortrait's dense motion network: sparse keypoint motion → a dense 3D deformation and occlusion map.

Part of the warping module W of LivePortrait (https://arxiv.org/abs/2407.03168), taken over from
face-vid2vid (https://arxiv.org/abs/2011.15126, §3.2). For each of the K keypoints the feature
volume is warped by the keypoint's translation (x_s − x_d, no first-order term) and a background
"identity" motion is added; a 3D hourglass over those K+1 warped volumes and the Gaussian heatmap
differences predicts a softmax mask that blends the K+1 motions into one deformation, and a 2D
convolution over the hourglass's depth-stacked output predicts an occlusion map.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from talkhead.models.liveportrait.blocks import Hourglass, coordinate_grid, keypoint_gaussians

KP_VARIANCE = 0.01  # of the keypoint heatmaps, in the [-1, 1] grid's units


@dataclass(frozen=True)
class DenseMotionConfig:
    """Sizes of the dense motion network (models.yaml `warping_module_params.dense_motion_params`)."""

    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    reshape_depth: int = 16
    compress: int = 4  # channels the feature volume is compressed to before warping
    num_kp: int = 21
    feature_channel: int = 32
    estimate_occlusion_map: bool = True


class DenseMotionNetwork(nn.Module):
    """(B, C, d, h, w) volume + driving/source keypoints → deformation (B, d, h, w, 3), mask, occlusion."""

    def __init__(self, config: DenseMotionConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or DenseMotionConfig()
        in_features = (c.num_kp + 1) * (c.compress + 1)
        self.hourglass = Hourglass(c.block_expansion, in_features, c.num_blocks, c.max_features)
        self.mask = nn.Conv3d(self.hourglass.out_filters, c.num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(c.feature_channel, c.compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(c.compress, affine=True)
        self.occlusion = None
        if c.estimate_occlusion_map:
            self.occlusion = nn.Conv2d(self.hourglass.out_filters * c.reshape_depth, 1, kernel_size=7, padding=3)

    def sparse_motions(self, shape: tuple[int, ...], kp_driving: torch.Tensor, kp_source: torch.Tensor) -> torch.Tensor:
        """(B, K+1, d, h, w, 3) sampling grids: the identity, then each keypoint's translation."""
        b, _, d, h, w = shape
        identity = coordinate_grid(d, h, w, ref=kp_source)[None, None]  # (1, 1, d, h, w, 3)
        # (B, K, d, h, w, 3): where a driving point near keypoint k came from (translation only)
        per_kp = identity - kp_driving[:, :, None, None, None, :] + kp_source[:, :, None, None, None, :]
        return torch.cat([identity.expand(b, 1, d, h, w, 3), per_kp], dim=1)

    def forward(self, feature: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor) -> dict:
        """Keys: deformation (B, d, h, w, 3), mask (B, K+1, d, h, w), occlusion_map (B, 1, h, w) or None."""
        feature = F.relu(self.norm(self.compress(feature)))  # (B, 4, d, h, w)
        b, c, d, h, w = feature.shape
        k1 = self.config.num_kp + 1
        motions = self.sparse_motions(feature.shape, kp_driving, kp_source)  # (B, K+1, d, h, w, 3)
        repeated = feature[:, None].expand(b, k1, c, d, h, w).reshape(b * k1, c, d, h, w)
        deformed = F.grid_sample(repeated, motions.reshape(b * k1, d, h, w, 3), align_corners=False)
        deformed = deformed.view(b, k1, c, d, h, w)  # (B, K+1, 4, d, h, w)

        heat = (keypoint_gaussians(kp_driving, (d, h, w), KP_VARIANCE)
                - keypoint_gaussians(kp_source, (d, h, w), KP_VARIANCE))  # (B, K, d, h, w)
        heat = torch.cat([heat.new_zeros(b, 1, d, h, w), heat], dim=1)[:, :, None]  # (B, K+1, 1, d, h, w)
        x = torch.cat([heat, deformed], dim=2).view(b, -1, d, h, w)  # (B, (K+1)·5, d, h, w)

        prediction = self.hourglass(x)  # (B, 142, d, h, w)
        mask = F.softmax(self.mask(prediction), dim=1)  # (B, K+1, d, h, w)
        deformation = (motions.permute(0, 1, 5, 2, 3, 4) * mask[:, :, None]).sum(dim=1)  # (B, 3, d, h, w)
        out = {"mask": mask, "deformation": deformation.permute(0, 2, 3, 4, 1), "occlusion_map": None}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction.reshape(b, -1, h, w)))  # (B, 1, h, w)
        return out
