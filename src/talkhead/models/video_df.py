"""DualForce: a 3D-aware autoregressive video model — a video DiT and a structure DiT joined by a shallow bridge.

The user's plan (DualForce, built on MOVA's dual-tower DiT, https://github.com/OpenMOSS/MOVA, and Wan's
video DiT, https://arxiv.org/abs/2503.20314):
  video tower      a DiT over per-frame video latents, patch (1, 2, 2) (no temporal downsampling);
                   input per frame = noisy latent (C) ⊕ mask (C/4, ≥ 1) ⊕ first-frame latent (C) —
                   Wan's 16 + 4 + 16 layout scaled to the VAE's C; the mask is 1 on frames given clean.
  structure tower  a DiT over the per-frame 70-d motion (talkhead.features.motion, the "implicit 3D
                   structure latents"), one token per frame, same depth; input = noisy motion ⊕ mask ⊕
                   the first frame's motion.
  bridge           bidirectional video ↔ structure cross-attention in the first K layers only
                   (shallow fusion), zero-initialised gates (talkhead.models.video_df_attention.Bridge).
  conditioning     diffusion forcing: every frame has its own flow time in each tower; each tower's
                   per-frame AdaLN gets DualAdaLN(σ_video, σ_struct) = MLP_v(σ_v) + MLP_s(σ_s);
                   audio (log-mel or HuBERT) by frame-local cross-attention, a learned null token for CFG.
Flow convention of talkhead.models.flow_matching: t = 0 noise, t = 1 data, σ = 1 − t.
Attention is block-causal (a frame sees frames ≤ it), so the KV cache reproduces full attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from talkhead.models.checkpoint import STATS_FILE, IntSpec, load_model_folder, load_motion_stats
from talkhead.models.layers import TIME_FREQS, AudioStandardised, modulate, timestep_features, zero_init
from talkhead.models.video_df_attention import Bridge, KVCache, TowerBlock, per_token, time_rope
from talkhead.vocab import MOTION_DIM

MODEL_FORMAT = "talkhead-dualforce-1"  # structure = normalised motion − the normalised first frame's
PATCH = 2  # spatial patch; time is not patched (one latent frame per video frame)
LIP_CHANNELS = list(range(30, 48))  # motion channels of the 6 lip keypoints (mesh 61, 291, 0, 17, 13, 14) × xyz


@dataclass(frozen=True)
class DualForceSpec(IntSpec):
    """The architecture: tower widths, heads, depth (both towers) and MLP ratio."""

    video_hidden: int = 64
    struct_hidden: int = 32
    heads: int = 2
    depth: int = 4
    mlp_ratio: int = 2
    audio_context: int = 2  # video frames of audio each side of a frame that its cross-attention sees

    def __post_init__(self) -> None:
        if min(self.video_hidden, self.struct_hidden, self.heads, self.depth, self.mlp_ratio) < 1 \
                or self.audio_context < 0:
            raise ValueError(f"bad DualForce spec {self}")
        for width in (self.video_hidden, self.struct_hidden):
            if width % self.heads or (width // self.heads) % 2:
                raise ValueError(f"width {width} must split into {self.heads} heads of even width (RoPE)")


DUALFORCE_SIZES: dict[str, DualForceSpec] = {
    "tiny": DualForceSpec(video_hidden=32, struct_hidden=16, heads=2, depth=2, mlp_ratio=2),  # unit tests, CI
    "small": DualForceSpec(video_hidden=64, struct_hidden=32, heads=2, depth=4, mlp_ratio=2),  # CPU demo
    "base": DualForceSpec(video_hidden=1024, struct_hidden=512, heads=16, depth=16, mlp_ratio=4),  # ~0.4 B, 1 GPU
    "large": DualForceSpec(video_hidden=1536, struct_hidden=1536, heads=12, depth=20, mlp_ratio=4),  # ~2 B, the notes'
}


@dataclass
class DFCond:
    """The conditions: first-frame latent and motion, audio features from frame `audio_start`, CFG drop mask."""

    ref_latent: torch.Tensor  # (B, C, h, w)
    ref_struct: torch.Tensor  # (B, 70) normalised
    audio: torch.Tensor  # (B, rows·F, D) log-mel or (B, rows·F, L, D) HuBERT, rows of frames audio_start…
    audio_start: int = 0  # absolute frame index of the audio's first row
    drop_audio: torch.Tensor | None = None  # (B,) bool: the null audio instead (classifier-free guidance)

    def repeat(self, drop: torch.Tensor) -> DFCond:
        """Twice along the batch: first copy with audio, the second with `drop` as its audio mask (CFG)."""
        keep = torch.zeros_like(drop)
        return DFCond(torch.cat([self.ref_latent] * 2), torch.cat([self.ref_struct] * 2),
                      torch.cat([self.audio] * 2), self.audio_start, torch.cat([keep, drop]))


def sincos_2d(h: int, w: int, dim: int, device: torch.device) -> torch.Tensor:
    """(h·w, dim) fixed 2-D sine-cosine position embedding of a patch grid (MAE / DiT)."""
    quarter = dim // 4
    freqs = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float32, device=device) / max(quarter, 1))
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                            torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    parts = [f(a.reshape(-1, 1) * freqs) for a in (ys, xs) for f in (torch.sin, torch.cos)]
    out = torch.cat(parts, dim=1)  # (h·w, 4·quarter)
    return F.pad(out, (0, dim - out.shape[1]))


class DualTime(nn.Module):
    """DualAdaLN conditioning of one tower: per-frame c = MLP_v(σ_video) + MLP_s(σ_struct)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.video = nn.Sequential(nn.Linear(TIME_FREQS, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.struct = nn.Sequential(nn.Linear(TIME_FREQS, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, tv: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
        """tv, ts (B, T) flow times → (B, T, H)."""
        b, t = tv.shape
        fv = timestep_features(tv.reshape(-1)).reshape(b, t, -1)
        fs = timestep_features(ts.reshape(-1)).reshape(b, t, -1)
        return self.video(fv) + self.struct(fs)


class AudioTokens(nn.Module):
    """Standardised audio → per-frame tokens: the rows of frames t − a … t + a (zero outside), or the null token."""

    def __init__(self, audio_dim: int, audio_rows: int, audio_layers: int, hidden: int, context: int) -> None:
        super().__init__()
        self.rows, self.layers, self.context = audio_rows, audio_layers, context
        if audio_layers:  # HuBERT: learned softmax mix of the layers (uniform at init)
            self.layer_weights = nn.Parameter(torch.zeros(audio_layers))
        self.proj = nn.Sequential(nn.Linear(audio_dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, hidden))
        self.pos = nn.Parameter(torch.randn(audio_rows * (2 * context + 1), hidden) * 0.02)
        self.null = nn.Parameter(torch.randn(hidden) * 0.02)

    def forward(self, audio: torch.Tensor, cond: DFCond, start: int, frames: int) -> torch.Tensor:
        """Tokens (B·T, A, H) of frames start … start + T − 1 (absolute indices) of standardised `audio`."""
        if self.layers:
            audio = torch.einsum("bnld,l->bnd", audio, self.layer_weights.softmax(0))  # (B, rows·F, D)
        b, r = audio.shape[0], self.rows
        lo = (start - self.context - cond.audio_start) * r  # first needed row, relative to the audio
        hi = (start + frames + self.context - cond.audio_start) * r
        first, last = min(max(lo, 0), audio.shape[1]), min(max(hi, 0), audio.shape[1])
        x = self.proj(audio[:, first:last])  # (B, rows', H)
        before = min(max(0, -lo), hi - lo)
        x = F.pad(x, (0, 0, before, hi - lo - before - x.shape[1]))  # zero tokens outside the audio
        x = x.unfold(1, r * (2 * self.context + 1), r).transpose(2, 3)  # (B, T, A, H)
        x = x + self.pos
        if cond.drop_audio is not None:
            x = torch.where(cond.drop_audio[:, None, None, None], self.null.to(x.dtype), x)
        return x.reshape(b * frames, -1, x.shape[-1])


class DualForce(AudioStandardised):
    """Noisy video latents (B, T, C, h, w) + motion (B, T, 70) at per-frame times → both velocities."""

    def __init__(self, spec: DualForceSpec, latent_channels: int, latent_size: int, audio_dim: int, audio_rows: int,
                 audio_layers: int = 0, bridge_layers: int = 2) -> None:
        super().__init__()
        if not 0 <= bridge_layers <= spec.depth:
            raise ValueError(f"bridge_layers {bridge_layers} must be in 0..depth {spec.depth}")
        if latent_size % PATCH:
            raise ValueError(f"latent size {latent_size} is not a multiple of the patch {PATCH}")
        hv, hs, c = spec.video_hidden, spec.struct_hidden, latent_channels
        self.spec, self.bridge_layers = spec, bridge_layers
        self.latent_channels, self.latent_size, self.mask_channels = c, latent_size, max(1, c // 4)
        self.audio_dim, self.audio_rows, self.audio_layers = audio_dim, audio_rows, audio_layers
        self.video_in = nn.Linear((2 * c + self.mask_channels) * PATCH * PATCH, hv)
        self.struct_in = nn.Linear(2 * MOTION_DIM + 1, hs)
        self.time_v, self.time_s = DualTime(hv), DualTime(hs)
        self.audio_v = AudioTokens(audio_dim, audio_rows, audio_layers, hv, spec.audio_context)
        self.audio_s = AudioTokens(audio_dim, audio_rows, audio_layers, hs, spec.audio_context)
        self.init_audio_stats(audio_dim, audio_layers)  # the training split's statistics, set_audio_stats
        self.video = nn.ModuleList(TowerBlock(hv, spec.heads, spec.mlp_ratio) for _ in range(spec.depth))
        self.struct = nn.ModuleList(TowerBlock(hs, spec.heads, spec.mlp_ratio) for _ in range(spec.depth))
        self.bridges = nn.ModuleList(Bridge(hv, hs, spec.heads) for _ in range(bridge_layers))
        self.final_v, self.final_s = nn.Linear(hv, 2 * hv), nn.Linear(hs, 2 * hs)
        self.out_v, self.out_s = nn.Linear(hv, c * PATCH * PATCH), nn.Linear(hs, MOTION_DIM)
        zero_init(self.final_v, self.final_s, self.out_v, self.out_s)  # AdaLN-Zero: initial velocity 0

    @property
    def tokens_per_frame(self) -> int:
        """Video patches per frame."""
        return (self.latent_size // PATCH) ** 2

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C', h, w) → (B, T·n, C'·p·p)."""
        b, t, c, h, w = x.shape
        x = x.reshape(b, t, c, h // PATCH, PATCH, w // PATCH, PATCH).permute(0, 1, 3, 5, 2, 4, 6)
        return x.reshape(b, t * (h // PATCH) * (w // PATCH), c * PATCH * PATCH)

    def unpatchify(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """(B, T·n, C·p·p) → (B, T, C, h, w)."""
        b, g, c = x.shape[0], self.latent_size // PATCH, self.latent_channels
        x = x.reshape(b, frames, g, g, c, PATCH, PATCH).permute(0, 1, 4, 2, 5, 3, 6)
        return x.reshape(b, frames, c, self.latent_size, self.latent_size)

    def _embed(self, xv: torch.Tensor, xs: torch.Tensor, clean: torch.Tensor,
               cond: DFCond) -> tuple[torch.Tensor, torch.Tensor]:
        """Input tokens: video (B, T·n, Hv) with the 2-D position embedding, structure (B, T, Hs)."""
        b, t, c, h, w = xv.shape
        mask = clean[:, :, None, None, None].expand(b, t, self.mask_channels, h, w)
        ref = cond.ref_latent[:, None].expand(b, t, c, h, w)
        hv = self.video_in(self.patchify(torch.cat([xv, mask.to(xv.dtype), ref], dim=2)))  # (B, T·n, Hv)
        pos = sincos_2d(h // PATCH, w // PATCH, self.spec.video_hidden, xv.device)  # (n, Hv)
        hv = hv + pos.repeat(t, 1)
        ref_s = cond.ref_struct[:, None].expand(b, t, MOTION_DIM)
        hs = self.struct_in(torch.cat([xs, clean[..., None].to(xs.dtype), ref_s], dim=-1))  # (B, T, Hs)
        return hv, hs

    def forward(self, xv: torch.Tensor, xs: torch.Tensor, tv: torch.Tensor, ts: torch.Tensor, cond: DFCond,
                cache: KVCache | None = None, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """xv (B, T, C, h, w), xs (B, T, 70) at times tv, ts (B, T) of frames start… → velocities of the same shapes.

        A frame with t = 1 in both towers is given clean (its mask channel is 1). With `cache`, earlier
        frames' keys and values come from the cache (block-causal attention over cache ⊕ these frames).
        """
        b, t = xv.shape[:2]
        if xs.shape[:2] != (b, t) or tv.shape != (b, t) or ts.shape != (b, t):
            raise ValueError(f"video {tuple(xv.shape)}, structure {tuple(xs.shape)}, times {tuple(tv.shape)} / "
                             f"{tuple(ts.shape)} disagree on (B, T)")
        n = self.tokens_per_frame
        clean = ((tv >= 1) & (ts >= 1)).float()  # (B, T)
        hv, hs = self._embed(xv, xs, clean, cond)
        cv, cs = self.time_v(tv, ts), self.time_s(tv, ts)  # (B, T, Hv), (B, T, Hs)
        audio = self.standardise_audio(cond.audio)  # (B, rows·F, D) or (B, rows·F, L, D)
        av, as_ = self.audio_v(audio, cond, start, t), self.audio_s(audio, cond, start, t)  # (B·T, A, H)
        fs = torch.arange(start, start + t, device=xv.device)  # (T,) frame of each structure token
        fv = fs.repeat_interleave(n)  # (T·n,)
        rope_v = time_rope(fv, self.spec.video_hidden // self.spec.heads)
        rope_s = time_rope(fs, self.spec.struct_hidden // self.spec.heads)
        for i in range(self.spec.depth):
            hv = self.video[i](hv, cv, av, fv, rope_v, cache, f"video{i}")
            hs = self.struct[i](hs, cs, as_, fs, rope_s, cache, f"struct{i}")
            if i < self.bridge_layers:  # shallow fusion: the towers exchange information early only
                hv, hs = self.bridges[i](hv, hs, fv, fs, cache, f"bridge{i}")
        shift, scale = per_token(self.final_v(F.silu(cv)), n).chunk(2, dim=-1)
        vv = self.unpatchify(self.out_v(modulate(F.layer_norm(hv, hv.shape[-1:], eps=1e-6), shift, scale)), t)
        shift, scale = self.final_s(F.silu(cs)).chunk(2, dim=-1)
        vs = self.out_s(modulate(F.layer_norm(hs, hs.shape[-1:], eps=1e-6), shift, scale))
        return vv, vs


def model_from_config(meta: dict) -> DualForce:
    """An untrained DualForce with the architecture recorded in a config.json."""
    return DualForce(DualForceSpec.from_dict(meta["spec"]), int(meta["latent_channels"]), int(meta["latent_size"]),
                     int(meta["audio_dim"]), int(meta["audio_rows"]), int(meta["audio_layers"]),
                     int(meta["bridge_layers"]))


def load_model(model_dir: str | Path, device: str = "cpu") -> tuple[DualForce, dict, dict[str, np.ndarray]]:
    """(the model in eval mode, its config.json, its motion statistics) of a dualforce folder."""
    model, meta = load_model_folder(model_dir, MODEL_FORMAT, "a DualForce model", model_from_config, device)
    return model, meta, load_motion_stats(Path(model_dir) / STATS_FILE)


def build_on_meta(size: str, latent_channels: int = 16, latent_size: int = 32, audio_dim: int = 1024,
                  audio_rows: int = 2, audio_layers: int = 0, bridge_layers: int = 4) -> DualForce:
    """A registered size built on the meta device (no memory): the cluster sizes' shapes and parameter counts.

    Defaults are the notes' setting: a 16-channel video VAE at 256 px / 8 = 32 latents, HuBERT-large audio.
    """
    if size not in DUALFORCE_SIZES:
        raise ValueError(f"unknown DualForce size {size!r} (one of {sorted(DUALFORCE_SIZES)})")
    spec = DUALFORCE_SIZES[size]
    with torch.device("meta"):
        return DualForce(spec, latent_channels, latent_size, audio_dim, audio_rows, audio_layers,
                         min(bridge_layers, spec.depth))


def humanise(count: int) -> str:
    """A parameter count as e.g. '1.23 B' or '412.5 M'."""
    if count >= 1e9:
        return f"{count / 1e9:.2f} B"
    return f"{count / 1e6:.1f} M" if count >= 1e6 else f"{count / 1e3:.1f} K"

