"""HuBERT / wav2vec2 hidden states at 50 Hz from 16 kHz audio: 2 rows per 25 fps video frame.

In features (layer 3), one module per modality; audio_hubert_clip's own imports (config, data.featurefile,
data.status) are lower.

HuBERT (https://arxiv.org/abs/2106.07447) and wav2vec 2.0 (https://arxiv.org/abs/2006.11477) share a
convolutional frontend (kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2) that turns 16 kHz audio
into one frame per 320 samples (20 ms). Each frame sees 400 samples (25 ms), so row j covers
[20j, 20j + 25) ms and a wav of T/25 s (640·T samples) gives floor((640T − 400)/320) + 1 = 2T − 1
rows, not 2T. Rows 2k and 2k+1 (centred at 40k + 12.5 and 40k + 32.5 ms) fall inside video frame
k; `encode` repeats the last row (or trims) so the output has exactly 2 × n_video_frames rows.

Layers: `hidden_states` has N + 1 entries: index 0 is the frontend's projection (plus the
positional convolution) that enters the transformer, 1..N are the outputs of the N transformer
layers. The default keeps 1..N (MoDA stacks all 12 of a base model); index 0 is excluded because
it is a local acoustic feature, not a contextual one. With transformers 5, the last entry of a
stable-layer-norm (large) model is taken before the encoder's final LayerNorm, as the model
returns it.

Long audio runs in chunks: each chunk's core (`chunk_s`) is encoded with `overlap_s` of context on
each side and only the core rows are kept, so memory stays bounded. Windows start on whole frames
(multiples of 320 samples), so the convolutional frontend sees exactly the samples of a full
pass. Base models normalise the first conv layer with a GroupNorm over the whole input; a cheap
pass over that one layer first computes the whole clip's statistics and every chunk uses them, so
the frontend's output equals a full pass. The context is at least half the positional
convolution (64 frames = 1.28 s for base/large models), so positional embeddings match too. What
remains is attention: a kept row attends to its window, not the whole clip; with a second of
context on each side this changes rows by little (~1e-2 on tiny random models, whose attention is
nearly uniform; real models attend mostly locally). One window (audio up to chunk_s) is exactly a
direct `model(x)` call.

`audio_hubert_clip` (the audio_hubert phase on one clip) reads data/quality/{clip}/audio.wav and quality.json;
writes data/features/{clip}/audio_hubert.safetensors with `hidden` (2·T, L, D) float16 (L the kept layers). The
checkpoint (`audio_hubert.checkpoint`, a local folder or a hub id already in the local cache) is recorded in the
metadata with a hash of its weights, so features from different weights are never mixed up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from talkhead.config import AudioHubertConfig, ConfigError
from talkhead.data.featurefile import write_features
from talkhead.data.status import accepted_measures
from talkhead.features.precision import autocast, compute_dtype

log = logging.getLogger(__name__)

VERSION = "hubert-1"
SAMPLE_RATE = 16000
FEATURE_RATE = 50  # Hz: 16 kHz / the frontend's total stride of 320
MODELS = {"hubert": "HubertModel", "wav2vec2": "Wav2Vec2Model"}  # config model_type -> transformers class
# Config fields that change the outputs without changing any weight shape; hashed with the weights.
_ARCH_KEYS = ("num_attention_heads", "hidden_act", "feat_extract_activation", "feat_extract_norm",
              "do_stable_layer_norm", "layer_norm_eps", "conv_kernel", "conv_stride", "num_conv_pos_embeddings")
_HUB_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_.-]+)?$")


@dataclass(frozen=True)
class AudioEncoder:
    """A loaded HuBERT / wav2vec2 model with what `encode` needs to feed it."""

    model: torch.nn.Module
    name: str  # the config's model_type: "hubert" or "wav2vec2"
    normalize: bool  # zero-mean / unit-variance the waveform first
    device: str
    dtype: torch.dtype  # compute precision (autocast when not float32)
    identity: str  # "<checkpoint>@<12 hex of sha256(weights, arch, normalize)>"


def _resolve(name_or_path: str) -> tuple[str, bool]:
    """(the string to pass to from_pretrained, whether it is a local folder); raises for a bad path."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json: not a HuBERT/wav2vec2 save_pretrained folder")
        return str(path), True
    if path.exists():
        raise FileNotFoundError(f"{path} is a file: expected a save_pretrained folder or a hub id")
    if not _HUB_ID.match(name_or_path) or name_or_path.startswith((".", "~")):
        raise FileNotFoundError(f"checkpoint folder not found: {path}")
    return name_or_path, False


def _wants_normalize(name: str, local: bool, config) -> bool:
    """do_normalize from the checkpoint's preprocessor_config.json, else the architecture's default.

    The default follows how fairseq trained them: base models (group-norm frontend) on the raw
    waveform, large ones (layer-norm frontend) on the normalised waveform.
    """
    from transformers import Wav2Vec2FeatureExtractor

    try:
        fe, _ = Wav2Vec2FeatureExtractor.get_feature_extractor_dict(name, local_files_only=local)
    except (OSError, ValueError):  # no preprocessor_config.json
        fe = {}
    if "do_normalize" in fe:
        return bool(fe["do_normalize"])
    return getattr(config, "feat_extract_norm", "group") == "layer"


def _digest(model: torch.nn.Module, normalize: bool) -> str:
    """12 hex digits of sha256 over the weights, the shape-free architecture fields and `normalize`."""
    h = hashlib.sha256()
    arch = {k: getattr(model.config, k, None) for k in _ARCH_KEYS}
    h.update(json.dumps({"model_type": model.config.model_type, "normalize": normalize, **arch},
                        sort_keys=True, default=str).encode())
    for key, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:12]


def load_audio_encoder(name_or_path: str, device: str = "cpu", dtype: str = "float32") -> AudioEncoder:
    """A HuBERT or wav2vec2 checkpoint (save_pretrained folder or hub id) in eval mode on `device`.

    The class comes from the config's model_type (MODELS). A folder is read with local_files_only; a
    hub id goes through the Hugging Face cache (HF_HUB_OFFLINE=1 keeps it offline). `normalize` is
    the checkpoint's preprocessor_config.json do_normalize when present (see _wants_normalize).
    Weights stay float32; `dtype` float16/bfloat16 is applied with autocast in `encode`, where it is
    safe (talkhead.features.precision: bfloat16 on CPU computes in float32). Raises
    FileNotFoundError (missing folder, no config.json) or ValueError (unreadable config or weights,
    another model_type, unknown dtype), each naming the checkpoint.
    """
    import transformers

    compute = compute_dtype(dtype, device, "audio_hubert")
    name, local = _resolve(name_or_path)
    try:
        config = transformers.AutoConfig.from_pretrained(name, local_files_only=local)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the config of audio checkpoint {name_or_path!r}: {exc}") from exc
    if config.model_type not in MODELS:
        raise ValueError(f"{name_or_path}: model_type {config.model_type!r} is not one of {sorted(MODELS)}")
    cls = getattr(transformers, MODELS[config.model_type])
    try:
        model = cls.from_pretrained(name, config=config, local_files_only=local, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load the weights of audio checkpoint {name_or_path!r}: {exc}") from exc
    normalize = _wants_normalize(name, local, config)
    identity = f"{name_or_path}@{_digest(model, normalize)}"
    model = model.eval().to(device)  # weights stay float32; lower precision runs under autocast
    log.info("audio encoder %s (%s, normalize=%s) on %s/%s", identity, config.model_type, normalize, device,
             str(compute).removeprefix("torch."))
    return AudioEncoder(model, config.model_type, normalize, device, compute, identity)


def _frontend(config) -> tuple[int, int]:
    """(total stride, receptive field) of the convolutional frontend, in samples: (320, 400) for base/large."""
    stride, field = 1, 1
    for kernel, step in zip(config.conv_kernel, config.conv_stride):
        field += (kernel - 1) * stride
        stride *= step
    return stride, field


def _windows(n_rows: int, n_frames: int, core: int, context: int) -> list[tuple[int, int, int, int]]:
    """[(w0, w1, a, b)]: run frames [w0, w1) and keep rows [a, b); cores tile [0, n_rows) evenly."""
    n_chunks = max(1, math.ceil(n_rows / core))
    if n_chunks == 1:  # one pass over the whole signal
        return [(0, n_frames, 0, n_rows)]
    core = math.ceil(n_rows / n_chunks)  # even chunks, no 1-frame tail
    out = []
    for a in range(0, n_rows, core):
        b = min(a + core, n_rows)
        out.append((max(0, a - context), min(n_frames, b + context), a, b))
    return out


def _hidden(encoder: AudioEncoder, wave: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """(n,) float32 waveform -> (F, L, D) float32 CPU hidden states of one model pass."""
    device = torch.device(encoder.device)
    x = wave.to(device)[None]  # (1, n)
    with torch.inference_mode(), autocast(device, encoder.dtype):
        states = encoder.model(x, output_hidden_states=True).hidden_states  # N+1 × (1, F, D)
        return torch.stack([states[i][0] for i in layers], dim=1).float().cpu()  # (F, L, D)


def _group_norm(model: torch.nn.Module) -> tuple[torch.nn.Conv1d, torch.nn.GroupNorm] | None:
    """The frontend's first conv and its GroupNorm (base models), or None (layer-norm frontends)."""
    first = model.feature_extractor.conv_layers[0]
    norm = getattr(first, "layer_norm", None)
    return (first.conv, norm) if isinstance(norm, torch.nn.GroupNorm) else None


def _clip_stats(encoder: AudioEncoder, conv: torch.nn.Conv1d, groups: int, samples: torch.Tensor,
                chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group (mean, biased var) of the first conv's output over the whole clip, `chunk` outputs at a time."""
    kernel, step = conv.kernel_size[0], conv.stride[0]
    n_out = (len(samples) - kernel) // step + 1
    sums = torch.zeros(2, groups, dtype=torch.float64)  # (sum, sum of squares) per group
    device = torch.device(encoder.device)
    with torch.inference_mode(), autocast(device, encoder.dtype):
        for p0 in range(0, n_out, chunk):
            p1 = min(p0 + chunk, n_out)
            y = conv(samples[p0 * step:(p1 - 1) * step + kernel].to(device)[None, None])[0]  # (C, p1 - p0)
            y = y.double().reshape(groups, -1)  # (G, C / G * (p1 - p0))
            sums += torch.stack([y.sum(1), (y * y).sum(1)]).cpu()
    mean = sums[0] / (n_out * conv.out_channels // groups)
    return mean, (sums[1] / (n_out * conv.out_channels // groups) - mean * mean).clamp_min(0.0)


def _fixed_stats_hook(mean: torch.Tensor, var: torch.Tensor):
    """A GroupNorm forward hook that normalises with the given per-group statistics instead of its input's:
    `mean`, `var` (G,) for every sample, or (B, G) one row per sample of the batch."""

    def hook(norm: torch.nn.GroupNorm, inputs: tuple[torch.Tensor], output: torch.Tensor) -> torch.Tensor:
        x = inputs[0].float()  # (B, C, P)
        per_channel = norm.num_channels // norm.num_groups
        m, v = (t.to(x.device, torch.float32).reshape(-1, norm.num_groups).repeat_interleave(per_channel, dim=1)
                [:, :, None] for t in (mean, var))  # (1 or B, C, 1)
        y = (x - m) * torch.rsqrt(v + norm.eps) * norm.weight.float()[None, :, None] + norm.bias.float()[None, :, None]
        return y.to(output.dtype)

    return hook


def _encode_rows(encoder: AudioEncoder, wave: np.ndarray, n_rows: int, layers: Sequence[int], core: int,
                 context: int, out_dtype: type = np.float16) -> np.ndarray:
    """(n,) normalised waveform -> (n_rows, L, D) rows stitched from chunk cores; short audio repeats its last row."""
    stride, field = _frontend(encoder.model.config)
    if len(wave) < field:  # shorter than one frame: zero-pad to one
        wave = np.pad(wave, (0, field - len(wave)))
    n_frames = (len(wave) - field) // stride + 1  # rows the frontend gives for the whole signal
    n_kept = min(n_rows, n_frames)
    samples = torch.from_numpy(np.ascontiguousarray(wave, np.float32))  # (n,)
    windows = _windows(n_kept, n_frames, core, context)
    hook, frontend_norm = None, _group_norm(encoder.model)
    if len(windows) > 1 and frontend_norm is not None:  # every chunk normalised with the whole clip's statistics
        conv, norm = frontend_norm
        stats = _clip_stats(encoder, conv, norm.num_groups, samples, core * stride // conv.stride[0])
        hook = norm.register_forward_hook(_fixed_stats_hook(*stats))
    out = None
    try:
        for w0, w1, a, b in windows:
            s1 = len(wave) if w1 == n_frames else (w1 - 1) * stride + field  # last window: every sample, as a full pass
            rows = _hidden(encoder, samples[w0 * stride:s1], layers)  # (w1 - w0, L, D)
            if rows.shape[0] != w1 - w0:
                raise RuntimeError(f"expected {w1 - w0} frames from {s1 - w0 * stride} samples, got {rows.shape[0]}")
            if out is None:
                out = np.empty((n_rows, *rows.shape[1:]), out_dtype)  # (n_rows, L, D)
            out[a:b] = rows[a - w0:b - w0].numpy()
    finally:
        if hook is not None:
            hook.remove()
    return _fill_tail(out, n_kept, n_frames)


def _fill_tail(out: np.ndarray, n_kept: int, n_frames: int) -> np.ndarray:
    """(n_rows, L, D) rows of which the first n_kept are encoded: audio a little short of the video (2T − 1 rows)
    repeats its last row; a larger mismatch between the n_frames the audio gives and n_rows is logged."""
    out[n_kept:] = out[n_kept - 1]
    if abs(n_frames - len(out)) > 2:
        log.warning("audio gives %d rows at 50 Hz for %d wanted: padded or trimmed", n_frames, len(out))
    return out


def _check_layers(layers: Sequence[int] | None, n_layers: int) -> list[int]:
    """The hidden-state indices to keep: 1..N by default; each must be in 0..N."""
    chosen = list(range(1, n_layers + 1)) if layers is None else [int(i) for i in layers]
    bad = [i for i in chosen if not 0 <= i <= n_layers]
    if not chosen or bad:
        raise ValueError(f"layers must be non-empty indices in 0..{n_layers} (0 = pre-transformer), got {layers}")
    return chosen


def encode(encoder: AudioEncoder, samples: np.ndarray, n_video_frames: int, fps: int = 25,
           sample_rate: int = 16000, layers: Sequence[int] | None = None, chunk_s: float = 20.0,
           overlap_s: float = 1.0) -> np.ndarray:
    """(n,) float32 16 kHz audio -> (2 * n_video_frames, L, D) float16 hidden states at 50 Hz.

    `layers` index the model's hidden_states (0 = input to the transformer, 1..N = its layers);
    None keeps 1..N. Rows are fitted to exactly 2 × n_video_frames: a wav of n_video_frames/25 s
    gives 2T − 1 rows (module docstring) and the last is repeated; longer audio is trimmed. Audio
    longer than `chunk_s` is encoded in chunks with max(`overlap_s`, positional-conv reach) of context.
    """
    return _encode_rows(encoder, *_prepare(encoder, samples, n_video_frames, fps, sample_rate, layers, chunk_s,
                                           overlap_s))


def _prepare(encoder: AudioEncoder, samples: np.ndarray, n_video_frames: int, fps: int, sample_rate: int,
             layers: Sequence[int] | None, chunk_s: float, overlap_s: float
             ) -> tuple[np.ndarray, int, list[int], int, int]:
    """`encode`'s arguments checked -> (normalised float32 waveform, rows wanted, layers, core, context frames)."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"audio must be {SAMPLE_RATE} Hz for HuBERT/wav2vec2, got {sample_rate}")
    if 2 * fps != FEATURE_RATE:
        raise ValueError(f"features are {FEATURE_RATE} Hz = 2 rows per frame only at 25 fps, got fps={fps}")
    if n_video_frames < 1 or chunk_s <= 0 or overlap_s < 0:
        raise ValueError(f"need n_video_frames >= 1, chunk_s > 0, overlap_s >= 0; got "
                         f"{n_video_frames}, {chunk_s}, {overlap_s}")
    wave = np.asarray(samples, np.float64)
    if wave.ndim != 1:
        raise ValueError(f"expected mono (n,) samples, got shape {wave.shape}")
    if encoder.normalize:  # over the whole clip, so every chunk sees the same scaling
        wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7) if len(wave) else wave
    chosen = _check_layers(layers, encoder.model.config.num_hidden_layers)
    stride, _ = _frontend(encoder.model.config)
    if SAMPLE_RATE / stride != FEATURE_RATE:
        raise ValueError(f"{encoder.identity}: frontend stride {stride} does not give {FEATURE_RATE} Hz")
    core = max(1, round(chunk_s * FEATURE_RATE))
    pos_half = getattr(encoder.model.config, "num_conv_pos_embeddings", 0) // 2  # positional conv reach, frames
    context = max(round(overlap_s * FEATURE_RATE), pos_half)
    return wave.astype(np.float32), 2 * n_video_frames, chosen, core, context


def audio_hubert_clip(quality_dir: Path, out: Path, cfg: AudioHubertConfig, encoder=None) -> dict:
    """Encode one accepted clip (loading the encoder unless one is given); return its metadata."""
    _check_checkpoint(cfg)
    m, samples, rate = _read_clip(quality_dir)
    encoder = encoder or load_audio_encoder(cfg.checkpoint, cfg.device, cfg.dtype)
    hidden = encode(encoder, samples, m["frames"], m["fps"], rate, cfg.layers or None, cfg.chunk_s,
                    cfg.overlap_s)  # (2T, L, D) float16
    return _write_clip(out, hidden, m, cfg, encoder)


def _check_checkpoint(cfg: AudioHubertConfig) -> None:
    if not cfg.checkpoint:
        raise ConfigError("audio_hubert.checkpoint is empty: set it to a HuBERT/wav2vec2 folder or hub id")


def _read_clip(quality_dir: Path) -> tuple[dict, np.ndarray, int]:
    """(accepted measures, (n,) float32 samples, sample rate) of one clip."""
    m = accepted_measures(quality_dir)
    samples, rate = sf.read(quality_dir / "audio.wav", dtype="float32")
    return m, samples, rate


def _write_clip(out: Path, hidden: np.ndarray, m: dict, cfg: AudioHubertConfig, encoder: AudioEncoder) -> dict:
    meta = {"clip": m["clip"], "modality": "audio_hubert", "rate_hz": 50, "frames": m["frames"],
            "extractor": encoder.name, "version": VERSION, "checkpoint": encoder.identity,
            "layers": ",".join(map(str, cfg.layers)) or "all"}
    write_features(out, {"hidden": hidden}, meta)
    return {**meta, "shape": hidden.shape}
