"""DualForce attention: block-causal frame attention, its KV cache, and the tower and bridge blocks.

Every token of DualForce (a video patch or a structure token) belongs to one video frame. Training
attends with a block-causal mask (a token of frame t sees the tokens of frames ≤ t), as causal video
diffusion does (Diffusion Forcing, Chen et al., https://arxiv.org/abs/2407.01392; CausVid,
https://arxiv.org/abs/2412.07772). Because nothing a frame computes depends on a later frame,
inference can run frame by frame: a `KVCache` keeps each layer's keys and values of the frames
already generated, and a new frame attends to the cache plus itself — the same numbers a full
masked pass gives (tests/unit/models/test_video_df_cache.py checks this to 1e-4).

Blocks: a DiT block (Peebles & Xie, https://arxiv.org/abs/2212.09748) with per-frame AdaLN-Zero
modulation, self-attention with RMSNorm qk-norm and rotary time embeddings (RoPE,
https://arxiv.org/abs/2104.09864) over the frame index (relative time, so a sliding window may run
past the training length), per-frame audio cross-attention and an MLP; and the shallow-fusion
bridge: bidirectional video ↔ structure cross-attention with zero-initialised gates (MOVA's
dual-tower bridge, used only in the first K layers in DualForce).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from talkhead.models.layers import apply_rope, modulate, rope_angles, zero_init

Rope = tuple[torch.Tensor, torch.Tensor]  # (cos, sin), each (n, head_dim / 2)


def block_causal_mask(q_frames: torch.Tensor, k_frames: torch.Tensor) -> torch.Tensor:
    """(nq, nk) bool, True where query token (frame q_frames[i]) may attend key token (frame k_frames[j] ≤ it)."""
    return k_frames[None, :] <= q_frames[:, None]


class KVCache:
    """Keys, values and frame indices per attention site (tower layer or bridge direction) of committed frames.

    With `commit` False a forward pass reads the cache and adds nothing (the denoising steps of the
    frames being generated); with `commit` True it also stores the new frames' keys and values
    (the clean pass over a window's context frames).
    """

    def __init__(self) -> None:
        self.store: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.commit = False

    def extend(self, site: str, k: torch.Tensor, v: torch.Tensor,
               frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Cached ⊕ new keys, values (B, heads, n, hd) and frames (n,) of a site; stores the new ones if committing."""
        if site in self.store:
            ck, cv, cf = self.store[site]
            if ck.shape[0] != k.shape[0]:
                raise ValueError(f"KV cache {site}: batch {ck.shape[0]} cached, {k.shape[0]} given")
            k, v, frames = torch.cat([ck, k], 2), torch.cat([cv, v], 2), torch.cat([cf, frames])
        if self.commit:
            self.store[site] = (k, v, frames)
        return k, v, frames

    def frames(self) -> list[int]:
        """The distinct frame indices held (of any site)."""
        return sorted({int(i) for _, _, f in self.store.values() for i in f.tolist()})


def frame_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_frames: torch.Tensor,
                    k_frames: torch.Tensor) -> torch.Tensor:
    """Block-causal attention: q (B, h, nq, hd), k, v (B, h, nk, hd) → (B, h, nq, hd)."""
    mask = block_causal_mask(q_frames, k_frames)  # (nq, nk)
    if bool(mask.all()):
        return F.scaled_dot_product_attention(q, k, v)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def per_token(m: torch.Tensor, tokens_per_frame: int) -> torch.Tensor:
    """(B, T, D) per-frame values → (B, T·n, D), each frame's row repeated for its n tokens."""
    return m.repeat_interleave(tokens_per_frame, dim=1)


class Heads(nn.Module):
    """Projection to heads with RMSNorm qk-norm: (B, n, D_in) → (B, heads, n, hd)."""

    def __init__(self, d_in: int, width: int, heads: int, norm: bool) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.proj = nn.Linear(d_in, width)
        self.norm = nn.RMSNorm(self.head_dim, eps=1e-6) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, D_in) → (B, heads, n, hd)."""
        b, n, _ = x.shape
        return self.norm(self.proj(x).reshape(b, n, self.heads, self.head_dim).transpose(1, 2))


class TowerBlock(nn.Module):
    """One DiT layer of a tower: per-frame AdaLN-Zero, block-causal (cached) self-attention, audio cross-attention,
    MLP."""

    def __init__(self, hidden: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.ada = nn.Linear(hidden, 6 * hidden)  # shift, scale, gate for attention and for the MLP
        zero_init(self.ada)
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.norm3 = nn.LayerNorm(hidden, eps=1e-6)
        self.q, self.k, self.v = Heads(hidden, hidden, heads, True), Heads(hidden, hidden, heads, True), \
            Heads(hidden, hidden, heads, False)
        self.proj = nn.Linear(hidden, hidden)
        self.audio_q, self.audio_k = Heads(hidden, hidden, heads, True), Heads(hidden, hidden, heads, True)
        self.audio_v = Heads(hidden, hidden, heads, False)
        self.audio_proj = nn.Linear(hidden, hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, mlp_ratio * hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(mlp_ratio * hidden, hidden))

    def forward(self, x: torch.Tensor, c: torch.Tensor, audio: torch.Tensor, frames: torch.Tensor, rope: Rope,
                cache: KVCache | None, site: str) -> torch.Tensor:
        """x (B, T·n, H), c (B, T, H), audio (B·T, A, H), frames (T·n,) → (B, T·n, H)."""
        b, tokens, h = x.shape
        n = tokens // c.shape[1]
        mod = per_token(self.ada(F.silu(c)), n).chunk(6, dim=-1)  # 6 × (B, T·n, H)
        y = modulate(self.norm1(x), mod[0], mod[1])
        q, k, v = apply_rope(self.q(y), *rope), apply_rope(self.k(y), *rope), self.v(y)  # (B, heads, T·n, hd)
        k_frames = frames
        if cache is not None:
            k, v, k_frames = cache.extend(site, k, v, frames)
        o = frame_attention(q, k, v, frames, k_frames).transpose(1, 2).reshape(b, tokens, h)
        x = x + mod[2] * self.proj(o)
        # audio cross-attention, frame-local: the n tokens of frame t see the A audio tokens of frame t
        y = self.norm3(x).reshape(b * c.shape[1], n, h)  # (B·T, n, H)
        o = F.scaled_dot_product_attention(self.audio_q(y), self.audio_k(audio), self.audio_v(audio))
        x = x + self.audio_proj(o.transpose(1, 2).reshape(b, tokens, h))
        return x + mod[5] * self.mlp(modulate(self.norm2(x), mod[3], mod[4]))


class Bridge(nn.Module):
    """Shallow-fusion bridge layer: video ← structure and structure ← video block-causal cross-attention, gated."""

    def __init__(self, video_hidden: int, struct_hidden: int, heads: int) -> None:
        super().__init__()
        width = struct_hidden  # the bridge attends at the structure tower's width
        self.heads, self.head_dim = heads, width // heads
        self.norm_v, self.norm_s = nn.LayerNorm(video_hidden, eps=1e-6), nn.LayerNorm(struct_hidden, eps=1e-6)
        self.v_q, self.v_k, self.v_v = (Heads(video_hidden, width, heads, norm) for norm in (True, True, False))
        self.s_q, self.s_k, self.s_v = (Heads(struct_hidden, width, heads, norm) for norm in (True, True, False))
        self.to_video, self.to_struct = nn.Linear(width, video_hidden), nn.Linear(width, struct_hidden)
        self.gate_v = nn.Parameter(torch.zeros(video_hidden))  # gates start closed: the towers start independent
        self.gate_s = nn.Parameter(torch.zeros(struct_hidden))

    def forward(self, hv: torch.Tensor, hs: torch.Tensor, fv: torch.Tensor, fs: torch.Tensor,
                cache: KVCache | None, site: str) -> tuple[torch.Tensor, torch.Tensor]:
        """hv (B, Nv, Hv), hs (B, Ns, Hs) with frames fv (Nv,), fs (Ns,) → both updated from the pre-bridge states."""
        yv, ys = self.norm_v(hv), self.norm_s(hs)
        rope_v, rope_s = time_rope(fv, self.head_dim), time_rope(fs, self.head_dim)
        kv_v = apply_rope(self.v_k(yv), *rope_v), self.v_v(yv)  # video keys/values (B, heads, Nv, hd)
        kv_s = apply_rope(self.s_k(ys), *rope_s), self.s_v(ys)
        kfv, kfs = fv, fs
        if cache is not None:
            *kv_v, kfv = cache.extend(f"{site}.video", *kv_v, fv)
            *kv_s, kfs = cache.extend(f"{site}.struct", *kv_s, fs)
        ov = frame_attention(apply_rope(self.v_q(yv), *rope_v), *kv_s, fv, kfs)  # video ← structure
        os_ = frame_attention(apply_rope(self.s_q(ys), *rope_s), *kv_v, fs, kfv)  # structure ← video
        ov = ov.transpose(1, 2).flatten(2)  # (B, Nv, width)
        os_ = os_.transpose(1, 2).flatten(2)  # (B, Ns, width)
        return hv + self.gate_v * self.to_video(ov), hs + self.gate_s * self.to_struct(os_)


def time_rope(frames: torch.Tensor, head_dim: int) -> Rope:
    """RoPE angles over the frame index of each token."""
    return rope_angles(frames, head_dim)
