"""A small convolutional video VAE: one latent per frame, with causal temporal mixing at the bottleneck.

The per-frame encoder and decoder follow the KL autoencoder of latent diffusion (Rombach et al.,
https://arxiv.org/abs/2112.10752): strided convolutions, GroupNorm + SiLU residual blocks and a
diagonal-Gaussian bottleneck (Kingma & Welling, https://arxiv.org/abs/1312.6114), here kept small
and with the computation at reduced resolution (each level downsamples first, then runs its block).
What makes it a *video* autoencoder is a light temporal layer at the bottleneck of both halves, as in
video latent models that inflate an image VAE (e.g. https://arxiv.org/abs/2304.08818): a depthwise
causal convolution over frames followed by a 1×1 projection, added as a residual whose projection
starts at zero. Time is never strided, so a clip of T frames has exactly T latents (aligned 1:1
with the 25 fps crop); at initialisation every frame is encoded independently, and because the
mixing is causal (zero padding before frame 0), frame 0 is always encoded as if it were alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from talkhead.models.checkpoint import IntSpec

MODEL_FORMAT = "talkhead-video-vae-1"  # config.json `format` of a trained video VAE folder
MAX_MULT = 8  # channels double per level up to 8 × the first level's
TEMPORAL_KERNEL = 3  # frames seen by the causal temporal mixing (the current one and 2 before it)


@dataclass(frozen=True)
class VideoVAESpec(IntSpec):
    """The architecture: input size, downsampling levels, base channels and latent channels."""

    size: int = 64  # frames are size × size; latents are size / 2**levels wide
    levels: int = 3
    channels: int = 32  # channels of the first level, doubled per level (capped at MAX_MULT ×)
    latent_channels: int = 4

    def __post_init__(self) -> None:
        if self.levels < 1 or self.channels < 1 or self.latent_channels < 1:
            raise ValueError(f"video VAE spec needs levels, channels, latent_channels >= 1: {self}")
        if self.size % (2 ** self.levels):
            raise ValueError(f"video VAE size {self.size} is not a multiple of 2**levels = {2 ** self.levels}")

    @property
    def latent_size(self) -> int:
        """Height and width of the latent."""
        return self.size // 2 ** self.levels

    def level_channels(self) -> list[int]:
        """Channels of each level, from the finest to the coarsest."""
        return [self.channels * min(2 ** i, MAX_MULT) for i in range(self.levels)]


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups (a divisor of `channels`)."""
    return nn.GroupNorm(math.gcd(channels, 8), channels, eps=1e-6)


class ResBlock(nn.Module):
    """Two GroupNorm → SiLU → 3×3 conv layers with a residual (1×1 projection when channels change)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (N, C_out, H, W)
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class TemporalMix(nn.Module):
    """Residual causal depthwise convolution over frames, then a zero-initialised 1×1 projection."""

    def __init__(self, channels: int, kernel: int = TEMPORAL_KERNEL) -> None:
        super().__init__()
        self.kernel = kernel
        self.norm = _norm(channels)
        self.time = nn.Conv2d(channels, channels, (kernel, 1), groups=channels)  # over (T, h·w): time only
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)  # identity at init: frames start independent
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """(B·T, C, h, w) → the same, mixed over the T frames of each sequence (causally)."""
        n, c, h, w = x.shape
        y = self.norm(x).reshape(n // frames, frames, c, h * w).transpose(1, 2)  # (B, C, T, h·w)
        y = F.pad(y, (0, 0, self.kernel - 1, 0))  # zeros before frame 0: causal
        y = self.proj(F.silu(self.time(y)))  # (B, C, T, h·w)
        return x + y.transpose(1, 2).reshape(n, c, h, w)


class Encoder(nn.Module):
    """Frames → Gaussian moments (mean and log-variance stacked on channels), one per frame."""

    def __init__(self, spec: VideoVAESpec) -> None:
        super().__init__()
        chs = spec.level_channels()
        self.conv_in = nn.Conv2d(3, chs[0], 3, padding=1)
        self.down = nn.ModuleList()
        prev = chs[0]
        for c in chs:
            down = nn.Conv2d(prev, c, 3, stride=2, padding=1)
            self.down.append(nn.ModuleDict({"down": down, "block": ResBlock(c, c)}))
            prev = c
        self.mid = ResBlock(prev, prev)
        self.temporal = TemporalMix(prev)
        self.norm_out = _norm(prev)
        self.conv_out = nn.Conv2d(prev, 2 * spec.latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """(B·T, 3, H, W) → (B·T, 2·C, h, w)."""
        h = self.conv_in(x)
        for level in self.down:
            h = level["block"](level["down"](h))  # (B·T, C_i, H / 2^(i+1), W / 2^(i+1))
        h = self.temporal(self.mid(h), frames)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Latents → frames, one per latent; the mirror of the encoder (nearest upsampling + conv)."""

    def __init__(self, spec: VideoVAESpec) -> None:
        super().__init__()
        chs = spec.level_channels()[::-1]  # coarsest first
        self.conv_in = nn.Conv2d(spec.latent_channels, chs[0], 3, padding=1)
        self.temporal = TemporalMix(chs[0])
        self.mid = ResBlock(chs[0], chs[0])
        self.up = nn.ModuleList()
        for i, c in enumerate(chs):
            out = chs[i + 1] if i + 1 < len(chs) else chs[-1]
            self.up.append(nn.ModuleDict({"block": ResBlock(c, c), "up": nn.Conv2d(c, out, 3, padding=1)}))
        self.norm_out = _norm(chs[-1])
        self.conv_out = nn.Conv2d(chs[-1], 3, 3, padding=1)

    def forward(self, z: torch.Tensor, frames: int) -> torch.Tensor:
        """(B·T, C, h, w) → (B·T, 3, H, W)."""
        h = self.mid(self.temporal(self.conv_in(z), frames))
        for level in self.up:
            h = level["up"](F.interpolate(level["block"](h), scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


class VideoVAE(nn.Module):
    """The video autoencoder: (B, T, 3, H, W) in [-1, 1] ↔ diagonal-Gaussian latents (B, T, C, h, w)."""

    def __init__(self, spec: VideoVAESpec) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = Encoder(spec)
        self.decoder = Decoder(spec)
        # 1 / std of the posterior means on the training data, set after training (kept with the weights).
        self.register_buffer("scaling_factor", torch.ones(()))

    @property
    def temporal_context(self) -> int:
        """Frames before t that the latent of frame t depends on (what a streaming encoder must carry over)."""
        return self.encoder.temporal.kernel - 1

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3, H, W) → (mean, logvar), each (B, T, C, h, w)."""
        b, t = x.shape[:2]
        moments = self.encoder(x.flatten(0, 1), t)  # (B·T, 2C, h, w)
        mean, logvar = moments.unflatten(0, (b, t)).chunk(2, dim=2)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, T, C, h, w) → (B, T, 3, H, W)."""
        b, t = z.shape[:2]
        return self.decoder(z.flatten(0, 1), t).unflatten(0, (b, t))

    def forward(self, x: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction (B, T, 3, H, W), mean, logvar); decodes a posterior sample unless `sample` is False."""
        mean, logvar = self.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if sample else mean
        return self.decode(z), mean, logvar


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) ‖ N(0, 1)), averaged over every latent element."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
