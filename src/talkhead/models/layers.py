"""Building blocks the two DiTs share (the motion DiT of MoDA and DualForce's towers).

Rotary position embeddings (RoFormer, https://arxiv.org/abs/2104.09864), DiT's sinusoidal time features and
AdaLN-Zero conditioning (Peebles & Xie, https://arxiv.org/abs/2212.09748), and the audio standardisation both
generators apply to their input features. One definition each; the model files compose them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

TIME_FREQS = 256  # width of the sinusoidal flow-time features


def rope_angles(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin), each (n, head_dim / 2), of the rotary embedding at integer `positions` (n,)."""
    inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device) / head_dim)
    ang = positions.to(torch.float64)[:, None] * inv[None, :]  # (n, hd/2)
    return ang.cos().float(), ang.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of x (…, n, hd) by the angles of each position."""
    x1, x2 = x[..., 0::2], x[..., 1::2]  # (…, n, hd/2)
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


def timestep_features(t: torch.Tensor, dim: int = TIME_FREQS) -> torch.Tensor:
    """Sinusoidal features (B, dim) of flow times t (B,) in [0, 1] (scaled by 1000, as DiT's steps)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = 1000.0 * t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([args.cos(), args.sin()], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """AdaLN: x (B, n, H) · (1 + scale) + shift; shift and scale broadcast to x ((B, 1, H) per sample,
    (B, n, H) per token)."""
    return x * (1 + scale) + shift


def zero_init(*layers: nn.Linear) -> None:
    """AdaLN-Zero: weights and biases of the modulation and output layers start at 0, so a new block is the
    identity and a new model's output (the velocity) is exactly 0."""
    for layer in layers:
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)


def parameter_count(model: nn.Module) -> int:
    """Number of parameters of a model (works on the meta device)."""
    return sum(p.numel() for p in model.parameters())


class AudioStandardised(nn.Module):
    """Audio features standardised per dimension with the training split's mean and std (buffers saved with the
    weights; identity until set_audio_stats). Not a per-frame LayerNorm: a louder frame is the same log-mel plus a
    constant, which such a normalisation divides out, and loudness is what a mouth follows most."""

    def init_audio_stats(self, audio_dim: int, audio_layers: int) -> None:
        """Register the (D,) — or (L, D) for multi-layer HuBERT — mean and std buffers."""
        shape = (audio_layers, audio_dim) if audio_layers else (audio_dim,)
        self.register_buffer("audio_mean", torch.zeros(shape))
        self.register_buffer("audio_std", torch.ones(shape))

    def set_audio_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-dimension mean and std ((D,) or (L, D)) of the training audio features; std is floored at 1e-3."""
        if mean.shape != self.audio_mean.shape or std.shape != self.audio_std.shape:
            raise ValueError(f"audio stats {tuple(mean.shape)}/{tuple(std.shape)}, model expects "
                             f"{tuple(self.audio_mean.shape)}")
        self.audio_mean.copy_(mean)
        self.audio_std.copy_(std.clamp_min(1e-3))

    def standardise_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """(…, D) or (…, L, D) features → standardised float32."""
        return (audio.float() - self.audio_mean) / self.audio_std
