"""MicroAlbert: a small ALBERT-style text encoder, text → valence, arousal, dominance in [0, 1].

ALBERT's two savings (Lan et al. 2019, https://arxiv.org/abs/1909.11942) at a size that answers in a
millisecond on one CPU thread: factorised embeddings (tokens embed in `embed` dims, one linear map lifts
them to `hidden`) and one transformer layer whose parameters every depth step shares (`layers` passes of
the same block). Pre-norm blocks, learned positions, masked mean pooling, a linear head; the head's three
logits pass through a sigmoid, one per axis of talkhead.vocab.VAD_AXES. The attention is written out
(no fused kernels) so that the ONNX export (talkhead.export.microalbert_onnx) is the same arithmetic.

Its tokenizer is its own: a WordPiece vocabulary learned from the training text
(talkhead.models.microalbert_tokenizer), saved beside the weights as tokenizer.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from talkhead.models.checkpoint import IntSpec, load_model_folder
from talkhead.vocab import VAD_AXES

MODEL_FORMAT = "talkhead-microalbert-v1"
MAX_PARAMETERS = 5_000_000  # the student's budget (issue 24); `base` stays below it with an 8,000-token vocabulary


@dataclass(frozen=True)
class MicroAlbertSpec(IntSpec):
    """Architecture: embedding and hidden widths, depth (passes of the one shared layer), heads, FFN width,
    the longest token sequence (positions)."""

    embed: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    max_tokens: int


MICROALBERT_SIZES: dict[str, MicroAlbertSpec] = {
    "tiny": MicroAlbertSpec(embed=16, hidden=32, layers=2, heads=2, ffn=64, max_tokens=64),  # tests
    "small": MicroAlbertSpec(embed=64, hidden=128, layers=4, heads=4, ffn=256, max_tokens=64),  # the CPU demo
    "base": MicroAlbertSpec(embed=128, hidden=256, layers=6, heads=4, ffn=1024, max_tokens=128),  # ~1.9 M at 8k vocab
}


class SharedLayer(nn.Module):
    """One pre-norm transformer block (self-attention + GELU FFN), applied `layers` times with the same weights."""

    def __init__(self, hidden: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden {hidden} is not a multiple of heads {heads}")
        self.heads, self.head_dim = heads, hidden // heads
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.qkv, self.out = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
        self.ff1, self.ff2 = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x (B, L, H), bias (B, 1, 1, L) additive attention mask (0 or a large negative) → (B, L, H)."""
        b, n, h = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + bias, dim=-1)  # (B, heads, L, L)
        x = x + self.drop(self.out((att @ v).transpose(1, 2).reshape(b, n, h)))
        return x + self.drop(self.ff2(self.drop(F.gelu(self.ff1(self.norm2(x))))))


class MicroAlbert(nn.Module):
    """Token ids (B, L) + attention mask (B, L) → VAD logits (B, 3); `forward` applies the sigmoid."""

    def __init__(self, spec: MicroAlbertSpec, vocab_size: int, dropout: float = 0.1, teacher_dim: int = 0) -> None:
        super().__init__()
        self.spec, self.vocab_size = spec, vocab_size
        self.tokens = nn.Embedding(vocab_size, spec.embed, padding_idx=0)
        self.positions = nn.Embedding(spec.max_tokens, spec.embed)
        self.embed_norm = nn.LayerNorm(spec.embed)
        self.lift = nn.Linear(spec.embed, spec.hidden)  # the factorisation: V·E + E·H instead of V·H
        self.layer = SharedLayer(spec.hidden, spec.heads, spec.ffn, dropout)
        self.norm = nn.LayerNorm(spec.hidden)
        self.head = nn.Linear(spec.hidden, len(VAD_AXES))
        self.drop = nn.Dropout(dropout)
        # training only: maps the pooled state to the teacher's sentence embedding (representation distillation)
        self.teacher_head = nn.Linear(spec.hidden, teacher_dim) if teacher_dim else None

    def pooled(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids (B, L) int64, mask (B, L) 1 for tokens, 0 for padding → (B, H) masked mean of the last states."""
        n = ids.shape[1]
        pos = torch.arange(n, device=ids.device)
        x = self.drop(self.embed_norm(self.tokens(ids) + self.positions(pos)[None]))  # (B, L, E)
        x = self.lift(x)  # (B, L, H)
        m = mask.to(x.dtype)
        bias = ((1.0 - m) * -1e9)[:, None, None, :]  # (B, 1, 1, L)
        for _ in range(self.spec.layers):
            x = self.layer(x, bias)
        x = self.norm(x)
        return (x * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1.0)  # (B, H)

    def logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 3) logits of valence, arousal, dominance."""
        return self.head(self.pooled(ids, mask))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 3) valence, arousal, dominance in [0, 1]."""
        return torch.sigmoid(self.logits(ids, mask))


def parameter_count(model: MicroAlbert) -> int:
    """Parameters of the deployed student (the shared layer counted once, as ALBERT counts it; the training-only
    teacher head not counted)."""
    head = model.teacher_head
    return sum(p.numel() for p in model.parameters()) - (sum(p.numel() for p in head.parameters()) if head else 0)


def model_from_config(meta: dict) -> MicroAlbert:
    """The untrained architecture a config.json records."""
    return MicroAlbert(MicroAlbertSpec.from_dict(meta["spec"]), int(meta["vocab_size"]),
                       float(meta.get("dropout", 0.1)), int(meta.get("teacher_dim", 0)))


def load_model(model_dir: str | Path, device: str = "cpu") -> tuple[MicroAlbert, dict]:
    """(the model in eval mode, its config.json) of a data/models/microalbert folder."""
    return load_model_folder(model_dir, MODEL_FORMAT, "a MicroAlbert model", model_from_config, device)
