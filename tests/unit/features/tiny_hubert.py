"""A tiny random HuBERT / wav2vec2, speech-like audio, and the error of a lower compute precision on them.

tests/unit/features/test_hubert.py tests with these; benchmarks/hubert_precision.py records the same error
per machine for docs/features.md's precision table, so the test's bound and the documented numbers come
from one measurement. `python -c` children (oneDNN limited by ONEDNN_MAX_CPU_ISA, which is read once per
process) run `precision_error` through `in_child`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

from talkhead.features import hubert, precision

REPO = Path(__file__).resolve().parents[3]
# Tiny but real frontends: default conv_kernel/conv_stride (320× downsampling, 50 Hz) and positional conv.
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(16,) * 7)
KINDS = {"hubert": (HubertConfig, HubertModel), "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model)}
SECONDS, FRAMES, CHUNK_S = 3.0, 75, 1.0  # the precision measurement: 3 s at 25 fps, 1 s windows


def save_tiny(folder: Path, kind: str = "hubert", seed: int = 0, local: bool = False, **overrides) -> Path:
    """Save a tiny random checkpoint; `local` zeroes the attention output so every row sees only nearby audio."""
    config_cls, model_cls = KINDS[kind]
    torch.manual_seed(seed)
    model = model_cls(config_cls(**{**TINY, **overrides}))
    if local:
        with torch.no_grad():
            for layer in model.encoder.layers:
                layer.attention.out_proj.weight.zero_()
    model.save_pretrained(folder)
    return folder


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A chirp with a slow loudness envelope plus noise: non-stationary, so chunk statistics differ."""
    t = np.arange(int(seconds * 16000)) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t)
    noise = 0.05 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.3 * envelope * np.sin(2 * np.pi * (200 + 100 * t) * t) + noise).astype(np.float32)


def precision_error(ckpt: Path, dtype: str, force: bool = False) -> dict:
    """`dtype` features of the checkpoint on `speech_like(SECONDS)` against float32 ones: max and mean |error|,
    the max relative to the float32 features' largest magnitude (`max_rel`), their correlation `r`, that
    magnitude, and the dtypes computed in and returned. `force` computes in `dtype` even where
    talkhead.features.precision would not (bfloat16 on CPU runs in float32), to measure the kernels it avoids."""
    audio = speech_like(SECONDS)
    reference = hubert.encode(hubert.load_audio_encoder(str(ckpt)), audio, FRAMES, chunk_s=CHUNK_S)
    low = hubert.load_audio_encoder(str(ckpt), dtype=dtype)
    if force:
        low = dataclasses.replace(low, dtype=precision.DTYPES[dtype])
    out = hubert.encode(low, audio, FRAMES, chunk_s=CHUNK_S)
    a, b = out.astype(np.float64).ravel(), reference.astype(np.float64).ravel()
    err = np.abs(a - b)
    return {"max_abs": float(err.max()), "mean_abs": float(err.mean()), "max_rel": float(err.max() / np.abs(b).max()),
            "r": float(np.corrcoef(a, b)[0, 1]), "largest_magnitude": float(np.abs(b).max()),
            "compute_dtype": str(low.dtype).removeprefix("torch."), "output_dtype": str(out.dtype)}


def in_child(ckpt: Path, dtype: str, force: bool = False, isa: str | None = None, threads: int | None = None) -> dict:
    """`precision_error` in a fresh Python; `isa` sets ONEDNN_MAX_CPU_ISA there (None: oneDNN's default kernels,
    the variable removed), `threads` its torch threads."""
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    code = "from tests.unit.features.tiny_hubert import _child; _child()"
    proc = subprocess.run([sys.executable, "-c", code, str(ckpt), dtype, str(int(force)), str(threads or 0)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    if proc.returncode:
        raise RuntimeError(f"precision_error in a child (ONEDNN_MAX_CPU_ISA={isa}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def _child() -> None:
    """`in_child`'s other end: argv = checkpoint, dtype, force (0/1), threads (0: torch's default)."""
    ckpt, dtype, force, threads = sys.argv[1:5]
    if int(threads):
        torch.set_num_threads(int(threads))
    print(json.dumps(precision_error(Path(ckpt), dtype, force=bool(int(force)))))
