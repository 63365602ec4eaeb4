"""HuBERT / wav2vec2 features of several clips in one padded forward pass (a shard job's `audio_hubert.batch_clips`).

In features (layer 3), beside talkhead.features.hubert, whose single-clip path (checks, frontend geometry, the
fixed-statistics GroupNorm hook, reading and writing a clip) it reuses.

The clips' waveforms are zero-padded at their end and passed with an attention mask; transformers 5 then keeps
padded frames out of attention and zeroes them before the positional convolution, and the conv frontend's frames
of a clip see only its samples. What it does not handle is a base model's first GroupNorm, which normalises over
the whole padded input: `_valid_stats_hook` gives each clip the statistics of its own unpadded part. Each result
then equals its own `hubert.encode` to float rounding (tests/unit/features/test_hubert.py). Clips longer than
`chunk_s` (chunked) and a lone clip take `hubert.encode`'s own path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from talkhead.config import AudioHubertConfig
from talkhead.features.hubert import (AudioEncoder, _check_checkpoint, _encode_rows, _fill_tail, _fixed_stats_hook,
                                      _frontend, _group_norm, _prepare, _read_clip, _write_clip)
from talkhead.features.precision import autocast


def _valid_stats(x: torch.Tensor, lengths: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-group (mean, biased var) of (B, C, P) `x` over each sample's first `lengths[b]` positions."""
    b, c, p = x.shape
    valid = (torch.arange(p, device=x.device)[None] < lengths.to(x.device)[:, None]).float()  # (B, P)
    y = x.float().reshape(b, groups, c // groups, p)  # (B, G, C / G, P)
    count = (lengths.to(x.device).float() * (c // groups))[:, None]  # (B, 1)
    mean = (y * valid[:, None, None]).sum((2, 3)) / count  # (B, G)
    var = (((y - mean[:, :, None, None]) * valid[:, None, None]) ** 2).sum((2, 3)) / count  # (B, G), two-pass
    return mean, var


def _valid_stats_hook(lengths: torch.Tensor):
    """A GroupNorm forward hook that normalises each sample of a padded batch with its own valid part's statistics
    (`lengths`: (B,) valid positions of the norm's input), as a pass over that sample alone would."""

    def hook(norm: torch.nn.GroupNorm, inputs: tuple[torch.Tensor], output: torch.Tensor) -> torch.Tensor:
        return _fixed_stats_hook(*_valid_stats(inputs[0], lengths, norm.num_groups))(norm, inputs, output)

    return hook


def _hidden_batch(encoder: AudioEncoder, x: torch.Tensor, mask: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """(B, n) right-padded waveforms and their (B, n) 0/1 mask -> (B, F, L, D) float32 CPU hidden states."""
    device = torch.device(encoder.device)
    with torch.inference_mode(), autocast(device, encoder.dtype):
        states = encoder.model(x.to(device), attention_mask=mask.to(device),
                               output_hidden_states=True).hidden_states  # N+1 × (B, F, D)
        return torch.stack([states[i] for i in layers], dim=2).float().cpu()  # (B, F, L, D)


def _encode_batch_rows(encoder: AudioEncoder, waves: Sequence[np.ndarray], n_rows: Sequence[int],
                       layers: Sequence[int], out_dtype: type = np.float16) -> list[np.ndarray]:
    """Normalised waveforms, each one window (not chunked) -> [(n_rows[i], L, D)]: one padded pass for all.

    Exact up to float rounding against `_encode_rows` on each: the conv frontend's frames of a clip see only its
    samples (padding is after them), the attention mask keeps padded frames out of attention (and transformers
    zeroes them before the positional convolution, as the convolution's own zero padding does), and a group-norm
    frontend's first GroupNorm gets each clip's own statistics (`_valid_stats_hook`)."""
    stride, field = _frontend(encoder.model.config)
    waves = [np.pad(w, (0, field - len(w))) if len(w) < field else w for w in waves]  # as _encode_rows
    lengths = torch.tensor([len(w) for w in waves])  # (B,) samples
    x = torch.zeros(len(waves), int(lengths.max()))  # (B, n) zero-padded at the end
    for i, w in enumerate(waves):
        x[i, :len(w)] = torch.from_numpy(np.ascontiguousarray(w, np.float32))
    mask = (torch.arange(x.shape[1])[None] < lengths[:, None]).long()  # (B, n)
    hook, frontend_norm = None, _group_norm(encoder.model)
    if frontend_norm is not None:
        conv, norm = frontend_norm
        hook = norm.register_forward_hook(_valid_stats_hook((lengths - conv.kernel_size[0]) // conv.stride[0] + 1))
    try:
        hidden = _hidden_batch(encoder, x, mask, layers)  # (B, F_max, L, D)
    finally:
        if hook is not None:
            hook.remove()
    outs = []
    for i, n in enumerate(lengths.tolist()):
        n_frames = (n - field) // stride + 1
        n_kept = min(n_rows[i], n_frames)
        out = np.empty((n_rows[i], *hidden.shape[2:]), out_dtype)  # (n_rows, L, D)
        out[:n_kept] = hidden[i, :n_kept].numpy()
        outs.append(_fill_tail(out, n_kept, n_frames))  # as _encode_rows
    return outs


def encode_batch(encoder: AudioEncoder, clips: Sequence[tuple[np.ndarray, int]], fps: int = 25,
                 sample_rate: int = 16000, layers: Sequence[int] | None = None, chunk_s: float = 20.0,
                 overlap_s: float = 1.0) -> list[np.ndarray]:
    """`encode` of several clips [(samples, n_video_frames)], the ones of one window (audio up to `chunk_s`) in
    one padded batch; each result equals its own `encode` to float rounding. Longer (chunked) clips, and a lone
    short one, are encoded on their own, exactly as `encode` does."""
    prepared = [_prepare(encoder, s, n, fps, sample_rate, layers, chunk_s, overlap_s) for s, n in clips]
    stride, field = _frontend(encoder.model.config)
    short = [i for i, (wave, n_rows, _, core, _) in enumerate(prepared)
             if min(n_rows, (max(len(wave), field) - field) // stride + 1) <= core]  # one window each
    outs: list[np.ndarray | None] = [None] * len(prepared)
    if len(short) > 1:
        chosen = prepared[short[0]][2]
        batched = _encode_batch_rows(encoder, [prepared[i][0] for i in short], [prepared[i][1] for i in short],
                                     chosen)
        for i, out in zip(short, batched):
            outs[i] = out
    for i, args in enumerate(prepared):
        if outs[i] is None:
            outs[i] = _encode_rows(encoder, *args)
    return outs


def audio_hubert_clips(quality_dirs: Sequence[Path], outs: Sequence[Path | None], cfg: AudioHubertConfig,
                       encoder: AudioEncoder) -> list[dict | None]:
    """Encode several accepted clips in one batch (`encode_batch`); write each clip whose `outs` entry is not None
    (a shard job encodes a fixed batch whole and writes only its unfinished clips); return their metadata."""
    _check_checkpoint(cfg)
    read = [_read_clip(q) for q in quality_dirs]  # [(measures, samples, rate)]
    rates = {rate for _, _, rate in read}
    if len(rates) != 1:
        raise ValueError(f"clips of one batch have different sample rates {sorted(rates)}")
    fps = {m["fps"] for m, _, _ in read}
    if len(fps) != 1:
        raise ValueError(f"clips of one batch have different frame rates {sorted(fps)}")
    hidden = encode_batch(encoder, [(samples, m["frames"]) for m, samples, _ in read], fps.pop(), rates.pop(),
                          cfg.layers or None, cfg.chunk_s, cfg.overlap_s)  # [(2T_i, L, D) float16]
    return [None if out is None else _write_clip(out, h, m, cfg, encoder)
            for out, h, (m, _, _) in zip(outs, hidden, read)]
