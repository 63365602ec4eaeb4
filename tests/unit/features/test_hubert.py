"""HuBERT / wav2vec2 features on tiny random checkpoints: 2 rows per frame, chunking, layers, loading."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    BertConfig, HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model,
)

from talkhead.features import hubert, precision

# Tiny but real frontends: default conv_kernel/conv_stride (320× downsampling, 50 Hz) and positional conv.
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(16,) * 7)
KINDS = {"hubert": (HubertConfig, HubertModel), "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model)}


def _save(folder: Path, kind: str = "hubert", seed: int = 0, local: bool = False, **overrides) -> Path:
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


def _speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A chirp with a slow loudness envelope plus noise: non-stationary, so chunk statistics differ."""
    t = np.arange(int(seconds * 16000)) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t)
    noise = 0.05 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.3 * envelope * np.sin(2 * np.pi * (200 + 100 * t) * t) + noise).astype(np.float32)


def _direct(encoder: hubert.AudioEncoder, samples: np.ndarray) -> tuple[torch.Tensor, ...]:
    """hidden_states of one plain model call, each (F, D)."""
    with torch.inference_mode():
        states = encoder.model(torch.from_numpy(samples)[None], output_hidden_states=True).hidden_states
    return tuple(s[0] for s in states)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A tiny HuBERT folder."""
    return _save(tmp_path_factory.mktemp("hubert"))


@pytest.fixture(scope="module")
def encoder(ckpt) -> hubert.AudioEncoder:
    """The tiny HuBERT, loaded."""
    return hubert.load_audio_encoder(str(ckpt))


@pytest.mark.parametrize("frames", [1, 2, 7, 25, 51])
def test_two_float16_rows_per_video_frame(encoder, frames):
    out = hubert.encode(encoder, _speech_like(frames / 25), frames)
    assert out.shape == (2 * frames, 2, 32) and out.dtype == np.float16
    assert np.isfinite(out).all()


@pytest.mark.parametrize("extra_s", [-0.5, -0.02, 0.3])
def test_short_or_long_audio_is_padded_or_trimmed_to_exact_length(encoder, extra_s):
    frames = 25
    out = hubert.encode(encoder, _speech_like(1.0 + extra_s), frames)
    assert out.shape == (50, 2, 32)


def test_conv_frontend_gives_one_row_short_and_the_last_is_repeated(encoder):
    audio = _speech_like(2.0)  # 50 frames: floor((32000 - 400) / 320) + 1 = 99 rows from the model
    assert len(_direct(encoder, audio)[0]) == 99
    out = hubert.encode(encoder, audio, 50)
    assert np.array_equal(out[99], out[98])
    longer = hubert.encode(encoder, _speech_like(2.0 + 80 / 16000), 50)  # 80 more samples: a real 100th row
    assert not np.array_equal(longer[99], longer[98])


@pytest.mark.parametrize("kind, overrides", [
    ("hubert", {}),
    ("wav2vec2", {}),
    ("hubert", {"feat_extract_norm": "layer", "do_stable_layer_norm": True}),
])
def test_chunked_equals_one_pass_where_the_model_is_local(tmp_path, kind, overrides):
    # Attention off: every row depends on ≤ 64 frames around it, so chunks with 64 frames of context
    # must reproduce one full pass everywhere (this pins the stitching and the clip-wide GroupNorm).
    enc = hubert.load_audio_encoder(str(_save(tmp_path, kind, local=True, **overrides)))
    audio = _speech_like(7.0)
    one_pass = hubert._encode_rows(enc, audio, 350, [0, 1, 2], 10**6, 0, np.float32)
    chunked = hubert._encode_rows(enc, audio, 350, [0, 1, 2], 100, 64, np.float32)
    assert np.abs(one_pass - chunked).max() < 1e-4


@pytest.mark.parametrize("kind", ["hubert", "wav2vec2"])
def test_chunked_encode_is_close_to_one_pass(tmp_path, kind):
    enc = hubert.load_audio_encoder(str(_save(tmp_path, kind)))
    audio = _speech_like(7.0)
    one_pass = hubert.encode(enc, audio, 175).astype(np.float32)  # 7 s < 20 s: one window
    chunked = hubert.encode(enc, audio, 175, chunk_s=2.0, overlap_s=1.0).astype(np.float32)
    # full attention sees the whole clip in one pass, only its window when chunked; random tiny
    # models attend almost uniformly, so this is the worst case
    assert np.abs(one_pass - chunked).max() < 2e-2
    assert np.abs(one_pass).max() > 1.0


def test_one_window_is_exactly_a_direct_model_call(encoder):
    audio = _speech_like(1.0)
    states = _direct(encoder, audio)  # 3 × (49, 32)
    out = hubert.encode(encoder, audio, 25, layers=[0, 2])
    assert np.array_equal(out[:49, 0], states[0].numpy().astype(np.float16))
    assert np.array_equal(out[:49, 1], states[2].numpy().astype(np.float16))
    default = hubert.encode(encoder, audio, 25)  # transformer layers 1..N
    expected = torch.stack(states[1:], dim=1).numpy().astype(np.float16)  # (49, 2, 32)
    assert np.array_equal(default[:49], expected)


@pytest.mark.parametrize("layers", [[3], [-1], []])
def test_bad_layers_raise(encoder, layers):
    with pytest.raises(ValueError, match="layers"):
        hubert.encode(encoder, _speech_like(0.4), 10, layers=layers)


@pytest.mark.parametrize("kwargs, message", [
    ({"sample_rate": 44100}, "16000 Hz"), ({"fps": 30}, "25 fps"), ({"chunk_s": 0.0}, "chunk_s"),
])
def test_bad_arguments_raise(encoder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        hubert.encode(encoder, _speech_like(0.4), 10, **kwargs)
    with pytest.raises(ValueError, match="mono"):
        hubert.encode(encoder, np.zeros((6400, 2), np.float32), 10)


def test_missing_or_unusable_checkpoints_name_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        hubert.load_audio_encoder(str(missing))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(empty))):
        hubert.load_audio_encoder(str(empty))
    no_weights = tmp_path / "config-only"
    HubertConfig(**TINY).save_pretrained(no_weights)
    with pytest.raises(ValueError, match=re.escape(str(no_weights))):
        hubert.load_audio_encoder(str(no_weights))
    bert = tmp_path / "bert"
    BertConfig().save_pretrained(bert)
    with pytest.raises(ValueError, match="model_type 'bert'"):
        hubert.load_audio_encoder(str(bert))
    with pytest.raises(ValueError, match="dtype"):
        hubert.load_audio_encoder(str(empty), dtype="int8")


def test_two_runs_are_bit_identical(ckpt, encoder):
    audio = _speech_like(3.0)
    first = hubert.encode(encoder, audio, 75, chunk_s=1.0)
    again = hubert.encode(hubert.load_audio_encoder(str(ckpt)), audio, 75, chunk_s=1.0)
    assert np.array_equal(first, again)


def test_identity_follows_the_weights_not_the_folder(tmp_path, ckpt, encoder):
    same = hubert.load_audio_encoder(str(_save(tmp_path / "copy")))  # same seed: same weights
    other = hubert.load_audio_encoder(str(_save(tmp_path / "other", seed=1)))
    digest = encoder.identity.rsplit("@", 1)[1]
    assert encoder.identity.startswith(str(ckpt)) and len(digest) == 12
    assert same.identity.rsplit("@", 1)[1] == digest
    assert other.identity.rsplit("@", 1)[1] != digest
    Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(tmp_path / "copy")
    assert hubert.load_audio_encoder(str(tmp_path / "copy")).identity.rsplit("@", 1)[1] != digest


@pytest.mark.parametrize("extractor, stable, expected", [
    (None, False, False), (None, True, True), (True, False, True), (False, True, False),
])
def test_normalize_comes_from_the_feature_extractor_config(tmp_path, extractor, stable, expected):
    folder = _save(tmp_path, "wav2vec2", feat_extract_norm="layer" if stable else "group", do_stable_layer_norm=stable)
    if extractor is not None:
        Wav2Vec2FeatureExtractor(do_normalize=extractor).save_pretrained(folder)
    enc = hubert.load_audio_encoder(str(folder))
    assert enc.normalize is expected and enc.name == "wav2vec2"
    seen = []
    handle = enc.model.register_forward_pre_hook(lambda module, args: seen.append(args[0][0].numpy()))
    audio = _speech_like(1.0) + 0.2
    hubert.encode(enc, audio, 25)
    handle.remove()
    if expected:  # zero mean, unit variance over the clip
        assert abs(seen[0].mean()) < 1e-5 and abs(seen[0].std() - 1.0) < 1e-3
    else:
        assert np.array_equal(seen[0], audio)


def _close_to(out: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(max |out − reference| relative to the reference's largest magnitude, correlation)."""
    out, reference = out.astype(np.float64).ravel(), reference.astype(np.float64).ravel()
    return float(np.abs(out - reference).max() / np.abs(reference).max()), float(np.corrcoef(out, reference)[0, 1])


def test_float16_on_cpu_runs_close_to_float32(ckpt, encoder):
    audio = _speech_like(3.0)
    reference = hubert.encode(encoder, audio, 75, chunk_s=1.0)
    low = hubert.load_audio_encoder(str(ckpt), dtype="float16")
    assert low.dtype == torch.float16
    out = hubert.encode(low, audio, 75, chunk_s=1.0)
    relative, r = _close_to(out, reference)
    assert out.dtype == np.float16 and relative < 0.02 and r > 0.999, (relative, r)


def test_bfloat16_on_cpu_computes_in_float32_and_says_so(ckpt, encoder, caplog, monkeypatch):
    audio = _speech_like(3.0)
    monkeypatch.setattr(precision, "_warned", set())  # the warning comes once per process
    with caplog.at_level("WARNING"):
        low = hubert.load_audio_encoder(str(ckpt), dtype="bfloat16")
    assert low.dtype == torch.float32
    assert any("bfloat16 on CPU computes in float32" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(hubert.encode(low, audio, 75, chunk_s=1.0),
                                  hubert.encode(encoder, audio, 75, chunk_s=1.0))


_FLOAT16_IN_A_CHILD = """
import sys, numpy as np
from talkhead.features import hubert
audio = np.load(sys.argv[2])
ref = hubert.encode(hubert.load_audio_encoder(sys.argv[1]), audio, 75, chunk_s=1.0).astype(np.float64)
out = hubert.encode(hubert.load_audio_encoder(sys.argv[1], dtype="float16"), audio, 75, chunk_s=1.0).astype(np.float64)
print(np.abs(out - ref).max() / np.abs(ref).max(), np.corrcoef(out.ravel(), ref.ravel())[0, 1])
"""


def test_float16_is_close_on_the_older_cpu_kernels_too(ckpt, tmp_path):
    """oneDNN limited to AVX-512 (no AMX) — how a machine without AMX runs; `make test` on an AMX machine
    covers both kernel families this way, one without it runs the same kernels twice."""
    import os
    import subprocess
    import sys

    np.save(tmp_path / "audio.npy", _speech_like(3.0))
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}
    proc = subprocess.run([sys.executable, "-c", _FLOAT16_IN_A_CHILD, str(ckpt), str(tmp_path / "audio.npy")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    relative, r = map(float, proc.stdout.split()[-2:])
    assert relative < 0.02 and r > 0.999, (relative, r)


def test_windows_tile_the_rows_with_context():
    windows = hubert._windows(n_rows=349, n_frames=349, core=100, context=64)
    assert [(a, b) for _, _, a, b in windows] == [(0, 88), (88, 176), (176, 264), (264, 349)]
    for w0, w1, a, b in windows:
        assert w0 == max(0, a - 64) and w1 == min(349, b + 64)
    assert hubert._windows(n_rows=50, n_frames=60, core=100, context=64) == [(0, 60, 0, 50)]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_cuda_matches_cpu(ckpt, encoder, dtype):
    audio = _speech_like(3.0)
    reference = hubert.encode(encoder, audio, 75, chunk_s=1.0).astype(np.float32)
    out = hubert.encode(hubert.load_audio_encoder(str(ckpt), "cuda", dtype), audio, 75, chunk_s=1.0)
    assert out.shape == reference.shape and np.abs(out.astype(np.float32) - reference).max() < 0.25
