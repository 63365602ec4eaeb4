"""V3 Face: audio → the 52 ARKit blendshapes at 25 fps, with a finite receptive field that streams exactly.

The network is a stack of un-padded ("valid") dilated temporal convolutions over video-frame time,
in the manner of the temporal convolutional networks of Bai et al. (https://arxiv.org/abs/1803.01271)
and of audio-driven face models such as VOCA (https://arxiv.org/abs/1905.03079): output frame t
depends only on the audio rows and conditioning of frames [t − context, t + lookahead]. There is no
recurrence and no normalisation over time (LayerNorm acts per frame), so a stream chopped into
chunks with `context` frames before and `lookahead` after each gives exactly the one-pass output.

Two branches follow the V3 Face notes (talkhead.models.arkit_channels): the lipsync branch (with the
shared audio front-end and the emotion embedding) predicts the 31 speech-driven channels and is
trained first; the expression branch predicts the 21 eye / brow / nose channels, reading the lipsync
features only through `.detach()`, and is trained second with the lipsync branch frozen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from talkhead.models.arkit_channels import EXPRESSION_INDEX, LIPSYNC_INDEX
from talkhead.models.checkpoint import IntSpec, load_model_folder
from talkhead.vocab import AUDIO_KEYS, EMOTIONS, ROWS_PER_FRAME

N_CHANNELS = 52
MODEL_FORMAT = "talkhead-v3face-1"  # config.json `format` of a V3 Face phase folder


@dataclass(frozen=True)
class V3FaceSpec(IntSpec):
    """The architecture: widths, depth, kernel and dilation pattern of both branches."""

    hidden: int = 64  # width of the front-end and the lipsync branch
    layers: int = 4  # residual temporal conv blocks per branch
    kernel: int = 3  # temporal kernel (frames)
    dilation_cycle: int = 2  # block i has dilation 2 ** (i % dilation_cycle)
    expr_hidden: int = 32  # width of the expression branch

    def __post_init__(self) -> None:
        if min(self.hidden, self.layers, self.kernel, self.dilation_cycle, self.expr_hidden) < 1:
            raise ValueError(f"V3 Face spec fields must be >= 1: {self}")

    def dilations(self) -> list[int]:
        """The dilation of every block."""
        return [2 ** (i % self.dilation_cycle) for i in range(self.layers)]

    @property
    def receptive_field(self) -> int:
        """Frames besides the output frame that one output depends on (context + lookahead)."""
        return sum((self.kernel - 1) * d for d in self.dilations())


V3FACE_SIZES: dict[str, V3FaceSpec] = {
    "tiny": V3FaceSpec(hidden=8, layers=2, kernel=3, dilation_cycle=1, expr_hidden=8),  # tests
    "small": V3FaceSpec(hidden=64, layers=4, kernel=3, dilation_cycle=2, expr_hidden=32),  # CPU demo, 12 frames
    "base": V3FaceSpec(hidden=256, layers=8, kernel=3, dilation_cycle=4, expr_hidden=128),  # cluster, 60 frames
}


def audio_features(batch_tensor: torch.Tensor, modality: str) -> torch.Tensor:
    """A packed audio tensor → (B, rows·T, D): log-mel as is, HuBERT (B, 2T, L, D) averaged over layers."""
    if modality not in AUDIO_KEYS:
        raise ValueError(f"unknown audio modality {modality!r} (one of {', '.join(AUDIO_KEYS)})")
    x = batch_tensor.float()
    if modality == "audio_hubert" and x.dim() == 4:
        x = x.mean(dim=2)  # (B, 2T, D)
    return x


def audio_rows(modality: str) -> int:
    """Audio rows per video frame of a modality (4 for log-mel, 2 for HuBERT)."""
    return ROWS_PER_FRAME[modality]


class EmotionCond(nn.Module):
    """The per-frame conditioning vector: an embedding of the clip's emotion label (9 classes)."""

    def __init__(self, cond_dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(EMOTIONS), cond_dim)

    def cond(self, labels: torch.Tensor, frames: int) -> torch.Tensor:
        """(B,) label ids → (B, T, cond_dim), the same vector at every frame."""
        e = self.embed(labels)  # (B, D)
        return e[:, None, :].expand(-1, frames, -1)  # (B, T, D)


class TemporalBlock(nn.Module):
    """Pre-norm residual block: a valid dilated conv over time, GELU, 1×1 projection; trims `past`/`future`."""

    def __init__(self, width: int, kernel: int, dilation: int, past: int, future: int) -> None:
        super().__init__()
        if past + future != (kernel - 1) * dilation:
            raise ValueError(f"block trims {past}+{future} frames, its conv removes {(kernel - 1) * dilation}")
        self.past, self.future = past, future
        self.norm = nn.LayerNorm(width)
        self.conv = nn.Conv1d(width, width, kernel, dilation=dilation)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) → (B, T − past − future, C)."""
        h = self.conv(self.norm(x).transpose(1, 2)).transpose(1, 2)  # (B, T', C)
        return x[:, self.past:x.shape[1] - self.future] + self.proj(F.gelu(h))


def _split_lookahead(spec: V3FaceSpec, lookahead: int) -> list[tuple[int, int]]:
    """(past, future) frames trimmed by each block: the look-ahead is spent in the first blocks."""
    left, out = lookahead, []
    for d in spec.dilations():
        span = (spec.kernel - 1) * d
        future = min(left, span)
        left -= future
        out.append((span - future, future))
    return out


def _blocks(spec: V3FaceSpec, width: int, trims: list[tuple[int, int]]) -> nn.ModuleList:
    """One branch's stack of temporal blocks."""
    return nn.ModuleList(TemporalBlock(width, spec.kernel, d, p, f) for d, (p, f) in zip(spec.dilations(), trims))


class V3Face(nn.Module):
    """Audio (+ emotion cond) → 52 ARKit blendshapes in [0, 1]: lipsync branch and expression branch."""

    def __init__(self, spec: V3FaceSpec, audio_dim: int, audio_rows: int, cond_dim: int, lookahead: int) -> None:
        super().__init__()
        if not 0 <= lookahead <= spec.receptive_field:
            raise ValueError(f"lookahead {lookahead} outside the receptive field 0..{spec.receptive_field} of {spec}")
        self.spec, self.audio_dim, self.audio_rows, self.cond_dim = spec, audio_dim, audio_rows, cond_dim
        self.lookahead = int(lookahead)
        self.context = spec.receptive_field - self.lookahead  # past video frames an output depends on
        trims = _split_lookahead(spec, self.lookahead)
        # lipsync branch (and everything it reads): emotion embedding, front-end, blocks, head
        self.emotion = EmotionCond(cond_dim)
        self.frontend = nn.Linear(audio_rows * audio_dim + cond_dim, spec.hidden)
        self.frontend_norm = nn.LayerNorm(spec.hidden)
        self.lipsync = _blocks(spec, spec.hidden, trims)
        self.lipsync_head = nn.Linear(spec.hidden, len(LIPSYNC_INDEX))
        # expression branch: reads the front-end, cond and lipsync features detached
        self.expression_in = nn.Linear(spec.hidden + cond_dim, spec.expr_hidden)
        self.expression = _blocks(spec, spec.expr_hidden, trims)
        self.expression_head = nn.Linear(spec.expr_hidden + spec.hidden, len(EXPRESSION_INDEX))
        order = torch.argsort(torch.tensor(LIPSYNC_INDEX + EXPRESSION_INDEX))  # [lip, expr] → ARKit order
        self.register_buffer("order", order, persistent=False)
        self.lipsync_frozen = False

    def lipsync_modules(self) -> list[nn.Module]:
        """The modules the lipsync output depends on."""
        return [self.emotion, self.frontend, self.frontend_norm, self.lipsync, self.lipsync_head]

    def expression_parameters(self) -> list[nn.Parameter]:
        """The parameters of the expression branch only."""
        mods = (self.expression_in, self.expression, self.expression_head)
        return [p for m in mods for p in m.parameters()]

    def freeze_lipsync(self) -> None:
        """Stop gradients to the lipsync branch (and what it reads) and put it in eval mode."""
        for m in self.lipsync_modules():
            m.requires_grad_(False)
            m.eval()
        self.lipsync_frozen = True

    def train(self, mode: bool = True) -> V3Face:
        """Set train/eval mode, keeping a frozen lipsync branch in eval mode."""
        super().train(mode)
        if self.lipsync_frozen:
            for m in self.lipsync_modules():
                m.eval()
        return self

    def forward_valid(self, audio: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """audio (B, rows·(P+T+L), D), cond (B, P+T+L, C) → (B, T, 52): only frames with their whole field."""
        b, frames = cond.shape[:2]
        if audio.shape[1] != self.audio_rows * frames:
            raise ValueError(f"audio has {audio.shape[1]} rows for {frames} frames × {self.audio_rows}")
        if frames <= self.context + self.lookahead:
            raise ValueError(f"{frames} frames: need more than context {self.context} + lookahead {self.lookahead}")
        x = audio.reshape(b, frames, self.audio_rows * audio.shape[-1])  # (B, P+T+L, rows·D)
        h = self.frontend_norm(self.frontend(torch.cat([x, cond], dim=-1)))  # (B, P+T+L, H)
        lip = h
        for block in self.lipsync:
            lip = block(lip)  # → (B, T, H)
        e = self.expression_in(torch.cat([h.detach(), cond.detach()], dim=-1))  # (B, P+T+L, He)
        for block in self.expression:
            e = block(e)  # → (B, T, He)
        lip_out = torch.sigmoid(self.lipsync_head(lip))  # (B, T, 31)
        expr_out = torch.sigmoid(self.expression_head(torch.cat([e, lip.detach()], dim=-1)))  # (B, T, 21)
        return torch.cat([lip_out, expr_out], dim=-1).index_select(-1, self.order)  # (B, T, 52)

    def forward(self, audio: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """audio (B, rows·T, D), cond (B, T, C) → (B, T, 52), zero-padding `context` before and `lookahead` after."""
        p, la, r = self.context, self.lookahead, self.audio_rows
        audio = F.pad(audio, (0, 0, r * p, r * la))  # (B, rows·(P+T+L), D)
        cond = F.pad(cond, (0, 0, p, la))  # (B, P+T+L, C)
        return self.forward_valid(audio, cond)


def model_from_config(meta: dict) -> V3Face:
    """An untrained V3Face with the architecture recorded in a config.json."""
    return V3Face(V3FaceSpec.from_dict(meta["spec"]), int(meta["audio_dim"]), int(meta["audio_rows"]),
                  int(meta["cond_dim"]), int(meta["lookahead"]))


def load_model(model_dir: str | Path, device: str = "cpu") -> V3Face:
    """The V3 Face model of a phase folder (config.json + best.safetensors), in eval mode."""
    return load_model_folder(model_dir, MODEL_FORMAT, "a V3 Face model", model_from_config, device)[0]
