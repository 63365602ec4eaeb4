"""The audio-driven deformation field of GaussianTalker: triplane features per Gaussian, attention to the frame's
audio and expression, per-Gaussian offsets of position, rotation, scale and opacity.

Cho et al. 2024 (https://arxiv.org/abs/2404.16012), §3.2-3.3: each canonical Gaussian queries a
triplane (three axis-aligned feature planes, Chan et al. 2022, https://arxiv.org/abs/2112.07945) at
its position; the features attend (cross-attention) to tokens of the frame's audio and of its
expression, and small heads predict Δμ, Δq, Δs, Δo. Here the audio tokens come from a short
window of log-mel frames (`audio_mel`, 4 rows per video frame) through a 1-D conv encoder, and the
expression token from the 21 **expression** blendshapes of the features issue (eyes, brows, nose —
talkhead.models.arkit_channels.EXPRESSION_INDEX; real values, never dummies). The 31 lip-sync
channels are deliberately NOT inputs: if the mouth blendshapes drove the deformation, the mouth
would follow them and the model would never learn it from audio — new speech has no mouth
blendshapes. The heads start at zero, so the fine stage starts from the coarse stage's static head.
The triplane query depends only on the canonical positions, so at inference it is computed once
(`query`) and reused for every frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from talkhead.models.arkit_channels import EXPRESSION_INDEX

MEL_ROWS_PER_FRAME, MEL_BINS = 4, 80
N_EXPRESSION = len(EXPRESSION_INDEX)


@dataclass(frozen=True)
class DeformSpec:
    """Sizes of the deformation field."""

    plane_res: int = 32  # triplane resolution per axis
    plane_dim: int = 16  # feature channels per plane
    dim: int = 64  # attention width
    heads: int = 4
    audio_context: int = 2  # video frames of audio on each side of the current one

    @property
    def mel_rows(self) -> int:
        """Mel rows in one frame's audio window."""
        return (2 * self.audio_context + 1) * MEL_ROWS_PER_FRAME

    def to_dict(self) -> dict:
        """JSON-able sizes."""
        return asdict(self)


class Triplane(nn.Module):
    """Three learned feature planes (xy, xz, yz) sampled bilinearly at points in [-1, 1]³; features concatenated."""

    def __init__(self, res: int, dim: int) -> None:
        super().__init__()
        self.planes = nn.Parameter(torch.empty(3, dim, res, res).uniform_(-0.1, 0.1))

    def forward(self, xyz: torch.Tensor) -> torch.Tensor:
        """(N, 3) normalised points → (N, 3·dim) features."""
        pairs = torch.stack([xyz[:, [0, 1]], xyz[:, [0, 2]], xyz[:, [1, 2]]])[:, None]  # (3, 1, N, 2)
        f = F.grid_sample(self.planes, pairs, mode="bilinear", align_corners=True)  # (3, dim, 1, N)
        return f[:, :, 0].permute(2, 0, 1).reshape(xyz.shape[0], -1)


class AudioEncoder(nn.Module):
    """A log-mel window (B, rows, 80) → audio tokens (B, rows / 4, dim): 1-D convs over time, one token per frame."""

    def __init__(self, dim: int, rows: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(MEL_BINS, dim, 3, padding=1), nn.GELU(),
                                 nn.Conv1d(dim, dim, MEL_ROWS_PER_FRAME, stride=MEL_ROWS_PER_FRAME), nn.GELU())
        self.pos = nn.Parameter(torch.zeros(rows // MEL_ROWS_PER_FRAME, dim))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, rows, 80) → (B, rows/4, dim)."""
        return self.net(mel.transpose(1, 2)).transpose(1, 2) + self.pos


@dataclass
class Deltas:
    """Per-Gaussian offsets for one frame."""

    means: torch.Tensor  # (N, 3) canonical units
    quats: torch.Tensor  # (N, 4) added to the canonical quaternion
    log_scales: torch.Tensor  # (N, 3)
    opacity_logits: torch.Tensor  # (N,)


class DeformationField(nn.Module):
    """Triplane features of each Gaussian attend to one frame's audio and expression tokens → Deltas."""

    def __init__(self, spec: DeformSpec, lo: torch.Tensor, hi: torch.Tensor) -> None:
        super().__init__()
        self.spec = spec
        self.register_buffer("lo", lo.float().clone())  # (3,) box that maps canonical points to [-1, 1]
        self.register_buffer("hi", hi.float().clone())
        self.triplane = Triplane(spec.plane_res, spec.plane_dim)
        self.point = nn.Sequential(nn.Linear(3 * spec.plane_dim, spec.dim), nn.GELU(), nn.Linear(spec.dim, spec.dim))
        self.audio = AudioEncoder(spec.dim, spec.mel_rows)
        self.expression = nn.Linear(N_EXPRESSION, spec.dim)
        self.attn = nn.MultiheadAttention(spec.dim, spec.heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(2 * spec.dim, spec.dim), nn.GELU())
        self.head = nn.Linear(spec.dim, 11)  # Δμ 3 | Δq 4 | Δlog s 3 | Δo 1
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def query(self, means: torch.Tensor) -> torch.Tensor:
        """(N, 3) canonical positions → (N, dim) point features (constant per scene: cache at inference)."""
        xyz = (2 * (means - self.lo) / (self.hi - self.lo) - 1).clamp(-1, 1)
        return self.point(self.triplane(xyz))

    def tokens(self, mel: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """(B, rows, 80) mel windows + (B, 21) expression → (B, rows/4 + 1, dim) condition tokens."""
        return torch.cat([self.audio(mel), self.expression(expression)[:, None]], 1)

    def deform(self, features: torch.Tensor, tokens: torch.Tensor) -> Deltas:
        """(N, dim) point features attend to (1, L, dim) tokens of one frame → its Deltas."""
        att, _ = self.attn(features[None], tokens, tokens, need_weights=False)  # (1, N, dim)
        out = self.head(self.mlp(torch.cat([features, att[0]], -1)))  # (N, 11)
        return Deltas(out[:, :3], out[:, 3:7], out[:, 7:10], out[:, 10])

    def forward(self, means: torch.Tensor, mel: torch.Tensor, expression: torch.Tensor) -> Deltas:
        """(N, 3) canonical means, (rows, 80) mel window, (21,) expression → Deltas of that frame."""
        return self.deform(self.query(means), self.tokens(mel[None], expression[None]))


def mel_window(mel: torch.Tensor, frame: int, context: int) -> torch.Tensor:
    """The (2·context + 1)·4 mel rows around video frame `frame` of a (4T, 80) track, edges repeated."""
    rows = mel.shape[0]
    start = (frame - context) * MEL_ROWS_PER_FRAME
    idx = torch.arange(start, start + (2 * context + 1) * MEL_ROWS_PER_FRAME).clamp(0, rows - 1)
    return mel[idx]
