"""MoDA's motion generator: a multi-stream diffusion transformer over the 70-d motion sequence.

MoDA (https://arxiv.org/abs/2507.03256) generates LivePortrait-style motion (talkhead.features.motion)
from audio with a flow-matching DiT (talkhead.models.flow_matching). Four token streams:
  motion   N tokens, the noisy (normalised) motion being denoised
  audio    N tokens, one per video frame: log-mel (4 rows / frame) or multi-layer HuBERT (2 rows × L
           layers / frame, mixed by learned softmax layer weights)
  ref      1 token, the source face's motion
  prev     P tokens, the previous segment's last P frames of motion
pass through "four-stream" blocks (each stream its own weights, one joint attention over all
tokens, as in SD3's MMDiT, https://arxiv.org/abs/2403.03206), then "double-stream" blocks (motion |
the three conditions merged) and "single-stream" blocks (everything shares weights), as in Flux.
Rotary position embeddings over time (RoPE, https://arxiv.org/abs/2104.09864) on q and k, RMSNorm
qk-norm, and AdaLN-Zero modulation by the flow time and the emotion label (DiT,
https://arxiv.org/abs/2212.09748): gates start at zero, so every block is the identity at init.
Time layout for RoPE: ref at 0, prev at 1..P, motion and audio frame i both at P + 1 + i.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import torch
import torch.nn.functional as F
from torch import nn

from talkhead.models import flow_matching as fm
from talkhead.models.checkpoint import STATS_FILE, IntSpec, load_model_folder, load_motion_stats
from talkhead.models.layers import (TIME_FREQS, AudioStandardised, apply_rope, modulate, rope_angles,
                                     timestep_features, zero_init)
from talkhead.vocab import EMOTIONS, MOTION_DIM


MODEL_FORMAT = "talkhead-motion-dit-3"  # 2: motion as the residual to the reference; 3: audio standardised


@dataclass(frozen=True)
class MotionDiTSpec(IntSpec):
    """The architecture: width, heads and the number of four-, double- and single-stream blocks."""

    hidden: int = 128
    heads: int = 4
    four: int = 1  # four-stream blocks (motion | audio | ref | prev)
    double: int = 1  # double-stream blocks (motion | conditions)
    single: int = 2  # single-stream blocks (all tokens share weights)
    mlp_ratio: int = 2  # MLP width = mlp_ratio × hidden

    def __post_init__(self) -> None:
        if min(self.hidden, self.heads, self.mlp_ratio) < 1 or min(self.four, self.double, self.single) < 0:
            raise ValueError(f"bad motion DiT spec {self}")
        if self.hidden % self.heads or (self.hidden // self.heads) % 2:
            raise ValueError(f"hidden {self.hidden} must split into {self.heads} heads of even width (RoPE)")


MOTION_DIT_SIZES: dict[str, MotionDiTSpec] = {
    "tiny": MotionDiTSpec(hidden=16, heads=2, four=1, double=1, single=1, mlp_ratio=2),  # tests
    "small": MotionDiTSpec(hidden=128, heads=4, four=1, double=1, single=2, mlp_ratio=2),  # CPU demo
    "base": MotionDiTSpec(hidden=768, heads=12, four=3, double=6, single=12, mlp_ratio=4),  # MoDA's size
}


@dataclass
class MotionCond:
    """The conditions of one batch: audio features, reference and previous motion, emotion labels."""

    audio: torch.Tensor  # (B, rows·N, D) log-mel or (B, rows·N, L, D) HuBERT
    ref: torch.Tensor  # (B, 70) normalised
    prev: torch.Tensor  # (B, P, 70) normalised
    emotion: torch.Tensor  # (B,) long, 0..8
    drop_audio: torch.Tensor | None = None  # (B,) bool: use the learned null audio instead (CFG)


class StreamWeights(nn.Module):
    """One stream's weights in a block: AdaLN-Zero modulation, qkv with RMSNorm qk-norm, output, MLP."""

    def __init__(self, hidden: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.ada = nn.Linear(hidden, 6 * hidden)  # shift, scale, gate for attention and for the MLP
        zero_init(self.ada)
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.q_norm = nn.RMSNorm(self.head_dim, eps=1e-6)
        self.k_norm = nn.RMSNorm(self.head_dim, eps=1e-6)
        self.proj = nn.Linear(hidden, hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, mlp_ratio * hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(mlp_ratio * hidden, hidden))

    def qkv_heads(self, x: torch.Tensor, mod: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """x (B, n, H) → q, k, v (B, heads, n, hd), q and k RMS-normalised."""
        b, n, _ = x.shape
        qkv = self.qkv(modulate(self.norm1(x), mod[0], mod[1])).reshape(b, n, 3, self.heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, n, hd)
        return self.q_norm(q), self.k_norm(k), v


class MultiStreamBlock(nn.Module):
    """A DiT block whose tokens form `streams` groups with their own weights and one joint attention."""

    def __init__(self, hidden: int, heads: int, mlp_ratio: int, streams: int) -> None:
        super().__init__()
        self.streams = nn.ModuleList(StreamWeights(hidden, heads, mlp_ratio) for _ in range(streams))

    def forward(self, x: torch.Tensor, c: torch.Tensor, sizes: list[int],
                rope: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """x (B, n, H) split into len(sizes) streams, c (B, H), rope (cos, sin) (n, hd/2) → (B, n, H)."""
        if len(sizes) != len(self.streams) or sum(sizes) != x.shape[1]:
            raise ValueError(f"{x.shape[1]} tokens in streams {sizes}, block has {len(self.streams)} streams")
        parts = x.split(sizes, dim=1)
        mods = [s.ada(F.silu(c))[:, None].chunk(6, dim=-1) for s in self.streams]  # per stream 6 × (B, 1, H)
        qkv = [s.qkv_heads(p, m) for s, p, m in zip(self.streams, parts, mods)]
        q, k, v = (torch.cat([t[i] for t in qkv], dim=2) for i in range(3))  # (B, heads, n, hd)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        o = F.scaled_dot_product_attention(q, k, v)  # (B, heads, n, hd)
        o = o.transpose(1, 2).flatten(2).split(sizes, dim=1)  # streams of (B, n_i, H)
        out = []
        for s, p, m, oi in zip(self.streams, parts, mods, o):
            p = p + m[2] * s.proj(oi)
            p = p + m[5] * s.mlp(modulate(s.norm2(p), m[3], m[4]))
            out.append(p)
        return torch.cat(out, dim=1)


class MotionDiT(AudioStandardised):
    """Noisy motion (B, N, 70) + flow time + audio, reference, previous motion, emotion → velocity (B, N, 70)."""

    def __init__(self, spec: MotionDiTSpec, audio_dim: int, audio_rows: int, audio_layers: int = 0) -> None:
        super().__init__()
        h = spec.hidden
        self.spec, self.audio_dim, self.audio_rows, self.audio_layers = spec, audio_dim, audio_rows, audio_layers
        self.motion_in = nn.Linear(MOTION_DIM, h)
        self.prev_in = nn.Linear(MOTION_DIM, h)
        self.ref_in = nn.Linear(MOTION_DIM, h)
        if audio_layers:  # HuBERT: a learned softmax mix of the layers (uniform at init)
            self.layer_weights = nn.Parameter(torch.zeros(audio_layers))
        self.init_audio_stats(audio_dim, audio_layers)
        self.audio_in = nn.Sequential(nn.Linear(audio_rows * audio_dim, h), nn.GELU(approximate="tanh"),
                                      nn.Linear(h, h))
        self.audio_null = nn.Parameter(torch.randn(h) * 0.02)  # the "no audio" token of classifier-free guidance
        self.time_in = nn.Sequential(nn.Linear(TIME_FREQS, h), nn.SiLU(), nn.Linear(h, h))
        self.emotion = nn.Embedding(len(EMOTIONS), h)
        self.blocks = nn.ModuleList(
            [MultiStreamBlock(h, spec.heads, spec.mlp_ratio, 4) for _ in range(spec.four)]
            + [MultiStreamBlock(h, spec.heads, spec.mlp_ratio, 2) for _ in range(spec.double)]
            + [MultiStreamBlock(h, spec.heads, spec.mlp_ratio, 1) for _ in range(spec.single)])
        self.final_norm = nn.LayerNorm(h, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(h, 2 * h)
        self.out = nn.Linear(h, MOTION_DIM)
        zero_init(self.final_ada, self.out)  # AdaLN-Zero: the initial velocity is exactly 0

    def embed_audio(self, audio: torch.Tensor, frames: int) -> torch.Tensor:
        """(B, rows·N, D) or (B, rows·N, L, D) features → (B, N, H), one token per video frame."""
        audio = self.standardise_audio(audio)
        if self.audio_layers:
            audio = torch.einsum("bnld,l->bnd", audio, self.layer_weights.softmax(0))  # (B, rows·N, D)
        if audio.shape[1] != self.audio_rows * frames:
            raise ValueError(f"audio has {audio.shape[1]} rows for {frames} frames × {self.audio_rows}")
        x = audio.reshape(audio.shape[0], frames, self.audio_rows * audio.shape[-1])  # (B, N, rows·D)
        return self.audio_in(x)

    def stream_sizes(self, n: int, p: int) -> list[list[int]]:
        """Per block, the token counts of its streams; tokens are ordered [motion N | audio N | ref 1 | prev P]."""
        four, double, single = [n, n, 1, p], [n, n + 1 + p], [2 * n + 1 + p]
        return [four] * self.spec.four + [double] * self.spec.double + [single] * self.spec.single

    def positions(self, n: int, p: int, device: torch.device) -> torch.Tensor:
        """(2N + 1 + P,) RoPE time of each token: ref 0, prev 1..P, motion and audio frame i at P + 1 + i."""
        frames = torch.arange(n, device=device) + p + 1
        return torch.cat([frames, frames, torch.zeros(1, device=device, dtype=frames.dtype),
                          torch.arange(1, p + 1, device=device)])

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: MotionCond) -> torch.Tensor:
        """x (B, N, 70) at flow times t (B,) → the velocity (B, N, 70)."""
        b, n, _ = x.shape
        p = cond.prev.shape[1]
        audio = self.embed_audio(cond.audio, n)  # (B, N, H)
        if cond.drop_audio is not None:
            audio = torch.where(cond.drop_audio[:, None, None], self.audio_null.to(audio.dtype), audio)
        tokens = torch.cat([self.motion_in(x), audio, self.ref_in(cond.ref)[:, None],
                            self.prev_in(cond.prev)], dim=1)  # (B, 2N + 1 + P, H)
        c = self.time_in(timestep_features(t)) + self.emotion(cond.emotion)  # (B, H)
        rope = rope_angles(self.positions(n, p, x.device), self.spec.hidden // self.spec.heads)
        for block, sizes in zip(self.blocks, self.stream_sizes(n, p)):
            tokens = block(tokens, c, sizes, rope)
        shift, scale = self.final_ada(F.silu(c))[:, None].chunk(2, dim=-1)  # (B, 1, H) each
        return self.out(modulate(self.final_norm(tokens[:, :n]), shift, scale))  # (B, N, 70)


def _repeat(cond: MotionCond, drop: torch.Tensor) -> MotionCond:
    """The conditions twice along the batch, the second copy with `drop` as its audio mask."""
    keep = torch.zeros_like(drop)
    return MotionCond(torch.cat([cond.audio] * 2), torch.cat([cond.ref] * 2), torch.cat([cond.prev] * 2),
                      torch.cat([cond.emotion] * 2), torch.cat([keep, drop]))


def guided_velocity(model: MotionDiT, x: torch.Tensor, t: torch.Tensor, cond: MotionCond,
                    scale: float) -> torch.Tensor:
    """CFG on audio: v_u + scale·(v_c − v_u), v_u with the null audio; one pass when scale is 1 or 0."""
    drop = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    if scale == 1.0:
        return model(x, t, MotionCond(cond.audio, cond.ref, cond.prev, cond.emotion, ~drop))
    if scale == 0.0:
        return model(x, t, MotionCond(cond.audio, cond.ref, cond.prev, cond.emotion, drop))
    v_cond, v_uncond = model(torch.cat([x, x]), torch.cat([t, t]), _repeat(cond, drop)).chunk(2)
    return fm.guided(v_uncond, v_cond, scale)


@torch.no_grad()
def sample(model: MotionDiT, cond: MotionCond, frames: int, steps: int, scale: float, shift: float,
           generator: torch.Generator) -> torch.Tensor:
    """Euler-sample (B, frames, 70) normalised motion from noise drawn with `generator`."""
    b = cond.ref.shape[0]
    x0 = torch.randn(b, frames, MOTION_DIM, generator=generator).to(cond.ref.device)
    return fm.euler_sample(lambda x, t: guided_velocity(model, x, t, cond, scale), x0, steps, shift)


def model_from_config(meta: dict) -> MotionDiT:
    """An untrained MotionDiT with the architecture recorded in a config.json."""
    return MotionDiT(MotionDiTSpec.from_dict(meta["spec"]), int(meta["audio_dim"]), int(meta["audio_rows"]),
                     int(meta["audio_layers"]))


def load_model(model_dir: str | Path, device: str = "cpu") -> tuple[MotionDiT, dict, dict[str, np.ndarray]]:
    """(the model in eval mode, its config.json, its motion statistics) of a motion_dit folder."""
    model, meta = load_model_folder(model_dir, MODEL_FORMAT, "a motion DiT model", model_from_config, device)
    return model, meta, load_motion_stats(Path(model_dir) / STATS_FILE)
