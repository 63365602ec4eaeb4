"""LivePortrait's implicit-keypoint geometry: head-pose bins → degrees, rotation matrices, Eqn. 2 of the paper.

Paper: https://arxiv.org/abs/2407.03168. The motion extractor predicts each Euler angle as 66 bins
of 3°; the angle is the softmax expectation of the bin index, times 3, minus 97.5 (bin centres
from -97.5° to 97.5°). The rotation is R = (Rz(roll) · Ry(yaw) · Rx(pitch))ᵀ, applied to row
vectors (`kp @ R`). Driving keypoints (Eqn. 2): x_d = s · (x_c R + δ) + t, where only tx, ty are
added: the reference drops tz (its transform_keypoint: "remove z, only apply tx ty").
"""

from __future__ import annotations

import math

import torch

NUM_BINS = 66  # head-pose bins per angle
BIN_DEGREES = 3.0  # width of one bin
BIN_OFFSET = 97.5  # degrees subtracted from the expectation (bin index 32.5 ↔ 0°)


def headpose_degrees(bins: torch.Tensor) -> torch.Tensor:
    """(B, 66) head-pose logits → (B,) angle in degrees (softmax expectation of the bin index)."""
    index = torch.arange(bins.shape[1], dtype=bins.dtype, device=bins.device)  # (66,)
    return (torch.softmax(bins, dim=1) * index).sum(dim=1) * BIN_DEGREES - BIN_OFFSET  # (B,)


def rotation_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Angles in degrees, (B,) or (B, 1) → (B, 3, 3) R = (Rz Ry Rx)ᵀ, for row vectors (`kp @ R`)."""
    x, y, z = (a.reshape(-1) * (math.pi / 180.0) for a in (pitch, yaw, roll))  # (B,) radians
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rot_x = torch.stack([one, zero, zero,
                         zero, x.cos(), -x.sin(),
                         zero, x.sin(), x.cos()], dim=1).reshape(-1, 3, 3)
    rot_y = torch.stack([y.cos(), zero, y.sin(),
                         zero, one, zero,
                         -y.sin(), zero, y.cos()], dim=1).reshape(-1, 3, 3)
    rot_z = torch.stack([z.cos(), -z.sin(), zero,
                         z.sin(), z.cos(), zero,
                         zero, zero, one], dim=1).reshape(-1, 3, 3)
    return (rot_z @ rot_y @ rot_x).transpose(1, 2)  # (B, 3, 3)


def transform_keypoints(kp: torch.Tensor, pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor,
                        scale: torch.Tensor, t: torch.Tensor, exp: torch.Tensor) -> torch.Tensor:
    """Canonical keypoints + pose + expression → driving keypoints (Eqn. 2), (B, 21, 3).

    kp, exp: (B, 21, 3) or (B, 63); pitch, yaw, roll: degrees, (B,) or (B, 1), or (B, 66) bin logits
    (converted with `headpose_degrees`); scale: (B, 1); t: (B, 3), of which only tx, ty are used.
    """
    batch = kp.shape[0]
    angles = [headpose_degrees(a) if a.ndim == 2 and a.shape[1] == NUM_BINS else a for a in (pitch, yaw, roll)]
    kp = kp.reshape(batch, -1, 3)  # (B, K, 3)
    moved = kp @ rotation_matrix(*angles) + exp.reshape(batch, -1, 3)  # (B, K, 3)
    moved = moved * scale.reshape(batch, 1, 1)
    shift = torch.zeros_like(t.reshape(batch, 3))
    shift[:, :2] = t.reshape(batch, 3)[:, :2]  # tz is not applied
    return moved + shift[:, None, :]  # (B, K, 3)
