"""LivePortrait's motion extractor M (https://arxiv.org/abs/2407.03168, §3.1): one image → its implicit keypoints.

From a 256² face crop (RGB in [0, 1]) a ConvNeXt V2 tiny trunk predicts, for K = 21 implicit
keypoints: the canonical keypoints x_c (identity-specific, pose-free), the head pose as 66 bin
logits per Euler angle (pitch, yaw, roll; `keypoints.headpose_degrees`), the expression
deformation δ, a scale s and a translation t. Driving keypoints follow Eqn. 2,
x_d = s · (x_c R + δ) + t (`keypoints.transform_keypoints`).

State-dict keys are those of `base_models/motion_extractor.pth`: the trunk and its seven linear
heads all sit under `detector.` (`detector.fc_kp`, `detector.fc_pitch`, …).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from talkhead.models.liveportrait.convnext import CONVNEXT_MODELS, ConvNeXtV2
from talkhead.models.liveportrait.keypoints import NUM_BINS

INPUT_SIZE = 256  # the crop side the released weights were trained on


@dataclass(frozen=True)
class MotionExtractorConfig:
    """models.yaml `motion_extractor_params` of the release."""

    backbone: str = "convnextv2_tiny"
    num_kp: int = 21  # implicit keypoints
    num_bins: int = NUM_BINS  # head-pose bins per angle


class MotionDetector(ConvNeXtV2):
    """The ConvNeXt V2 trunk with the keypoint, pose, expression, scale and translation heads."""

    def __init__(self, config: MotionExtractorConfig) -> None:
        super().__init__(CONVNEXT_MODELS[config.backbone])
        width = CONVNEXT_MODELS[config.backbone].dims[-1]
        self.fc_kp = nn.Linear(width, 3 * config.num_kp)
        self.fc_scale = nn.Linear(width, 1)
        self.fc_pitch = nn.Linear(width, config.num_bins)
        self.fc_yaw = nn.Linear(width, config.num_bins)
        self.fc_roll = nn.Linear(width, config.num_bins)
        self.fc_t = nn.Linear(width, 3)
        self.fc_exp = nn.Linear(width, 3 * config.num_kp)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.forward_features(x)  # (B, C)
        return {
            "pitch": self.fc_pitch(f),  # (B, 66) bin logits
            "yaw": self.fc_yaw(f),  # (B, 66)
            "roll": self.fc_roll(f),  # (B, 66)
            "t": self.fc_t(f),  # (B, 3)
            "exp": self.fc_exp(f),  # (B, 3K) expression deformation δ
            "scale": self.fc_scale(f),  # (B, 1)
            "kp": self.fc_kp(f),  # (B, 3K) canonical keypoints x_c
        }


class MotionExtractor(nn.Module):
    """M: (B, 3, H, W) RGB in [0, 1] → the raw head outputs kp, pitch, yaw, roll, t, exp, scale (the reference's)."""

    def __init__(self, config: MotionExtractorConfig | None = None) -> None:
        super().__init__()
        self.config = config or MotionExtractorConfig()
        if self.config.backbone not in CONVNEXT_MODELS:
            raise ValueError(f"unknown backbone '{self.config.backbone}'; expected one of {sorted(CONVNEXT_MODELS)}")
        self.detector = MotionDetector(self.config)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.detector(x)
