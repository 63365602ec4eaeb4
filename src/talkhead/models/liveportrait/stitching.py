"""LivePortrait's stitching module S and its eye and lip retargeting modules R: small MLPs on keypoints.

LivePortrait (https://arxiv.org/abs/2407.03168), §3.2. Stitching takes the source and driving
keypoints (2 × 21 × 3 = 126 values) and predicts an offset of the driving keypoints plus a shared
(tx, ty) shift, so that the animated crop lines up with the shoulders when it is pasted back into
the full image. The eye (lip) retargeting MLP takes the source keypoints and the eye (lip)
close ratios and predicts a keypoint offset that opens or closes the eyes (lips).

The release stores the three MLPs in one file as state dicts `retarget_shoulder` (stitching),
`retarget_mouth` (lip) and `retarget_eye` (eye); `StitchingRetargeting` names its MLPs the same
way, so the flattened file (talkhead.models.liveportrait.weights.load_state) loads into it strictly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass(frozen=True)
class MLPConfig:
    """Sizes of one stitching/retargeting MLP (models.yaml `stitching_retargeting_module_params`)."""

    input_size: int
    hidden_sizes: tuple[int, ...]
    output_size: int


STITCHING = MLPConfig(126, (128, 128, 64), 65)  # (21·3)·2 → 21·3 + (tx, ty)
LIP = MLPConfig(65, (128, 128, 64), 63)  # 21·3 + 2 lip ratios → 21·3
EYE = MLPConfig(66, (256, 256, 128, 128, 64), 63)  # 21·3 + 3 eye ratios → 21·3


class RetargetingMLP(nn.Module):
    """Linear → ReLU → … → Linear (keys `mlp.0`, `mlp.2`, …)."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        sizes = (config.input_size, *config.hidden_sizes)
        layers: list[nn.Module] = []
        for cin, cout in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(cin, cout), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], config.output_size))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class StitchingRetargeting(nn.Module):
    """S and the two R: the stitching, lip and eye MLPs under the release's names, with their arithmetic."""

    def __init__(self) -> None:
        super().__init__()
        self.retarget_shoulder = RetargetingMLP(STITCHING)
        self.retarget_mouth = RetargetingMLP(LIP)
        self.retarget_eye = RetargetingMLP(EYE)

    def stitch(self, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
        """(B, K, 3) source and driving keypoints → the stitched driving keypoints (B, K, 3)."""
        b, k = kp_source.shape[:2]
        delta = self.retarget_shoulder(torch.cat([kp_source.reshape(b, -1), kp_driving.reshape(b, -1)], dim=1))
        out = kp_driving + delta[:, : 3 * k].reshape(b, k, 3)  # (B, 65) → expression offset …
        shift = torch.zeros_like(out)
        shift[..., :2] = delta[:, None, 3 * k: 3 * k + 2]  # … and one (tx, ty) for all keypoints
        return out + shift

    def retarget_eyes(self, kp_source: torch.Tensor, eye_ratio: torch.Tensor) -> torch.Tensor:
        """(B, K, 3) source keypoints + (B, 3) eye close ratios → (B, K, 3) keypoint offset."""
        b, k = kp_source.shape[:2]
        return self.retarget_eye(torch.cat([kp_source.reshape(b, -1), eye_ratio], dim=1)).reshape(b, k, 3)

    def retarget_lip(self, kp_source: torch.Tensor, lip_ratio: torch.Tensor) -> torch.Tensor:
        """(B, K, 3) source keypoints + (B, 2) lip close ratios → (B, K, 3) keypoint offset."""
        b, k = kp_source.shape[:2]
        return self.retarget_mouth(torch.cat([kp_source.reshape(b, -1), lip_ratio], dim=1)).reshape(b, k, 3)
