"""HuBERT / wav2vec2 features on tiny random checkpoints: 2 rows per frame, chunking, layers, loading."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, HubertConfig, Wav2Vec2FeatureExtractor

from talkhead.features import hubert, hubert_batch, precision
from tests.unit.features.tiny_hubert import TINY, in_child, precision_error, save_tiny, speech_like


def _direct(encoder: hubert.AudioEncoder, samples: np.ndarray) -> tuple[torch.Tensor, ...]:
    """hidden_states of one plain model call, each (F, D)."""
    with torch.inference_mode():
        states = encoder.model(torch.from_numpy(samples)[None], output_hidden_states=True).hidden_states
    return tuple(s[0] for s in states)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A tiny HuBERT folder."""
    return save_tiny(tmp_path_factory.mktemp("hubert"))


@pytest.fixture(scope="module")
def encoder(ckpt) -> hubert.AudioEncoder:
    """The tiny HuBERT, loaded."""
    return hubert.load_audio_encoder(str(ckpt))


@pytest.mark.parametrize("frames", [1, 2, 7, 25, 51])
def test_two_float16_rows_per_video_frame(encoder, frames):
    out = hubert.encode(encoder, speech_like(frames / 25), frames)
    assert out.shape == (2 * frames, 2, 32) and out.dtype == np.float16
    assert np.isfinite(out).all()


@pytest.mark.parametrize("extra_s", [-0.5, -0.02, 0.3])
def test_short_or_long_audio_is_padded_or_trimmed_to_exact_length(encoder, extra_s):
    frames = 25
    out = hubert.encode(encoder, speech_like(1.0 + extra_s), frames)
    assert out.shape == (50, 2, 32)


def test_conv_frontend_gives_one_row_short_and_the_last_is_repeated(encoder):
    audio = speech_like(2.0)  # 50 frames: floor((32000 - 400) / 320) + 1 = 99 rows from the model
    assert len(_direct(encoder, audio)[0]) == 99
    out = hubert.encode(encoder, audio, 50)
    assert np.array_equal(out[99], out[98])
    longer = hubert.encode(encoder, speech_like(2.0 + 80 / 16000), 50)  # 80 more samples: a real 100th row
    assert not np.array_equal(longer[99], longer[98])


@pytest.mark.parametrize("kind, overrides", [
    ("hubert", {}),
    ("wav2vec2", {}),
    ("hubert", {"feat_extract_norm": "layer", "do_stable_layer_norm": True}),
])
def test_chunked_equals_one_pass_where_the_model_is_local(tmp_path, kind, overrides):
    # Attention off: every row depends on ≤ 64 frames around it, so chunks with 64 frames of context
    # must reproduce one full pass everywhere (this pins the stitching and the clip-wide GroupNorm).
    enc = hubert.load_audio_encoder(str(save_tiny(tmp_path, kind, local=True, **overrides)))
    audio = speech_like(7.0)
    one_pass = hubert._encode_rows(enc, audio, 350, [0, 1, 2], 10**6, 0, np.float32)
    chunked = hubert._encode_rows(enc, audio, 350, [0, 1, 2], 100, 64, np.float32)
    assert np.abs(one_pass - chunked).max() < 1e-4


@pytest.mark.parametrize("kind", ["hubert", "wav2vec2"])
def test_chunked_encode_is_close_to_one_pass(tmp_path, kind):
    enc = hubert.load_audio_encoder(str(save_tiny(tmp_path, kind)))
    audio = speech_like(7.0)
    one_pass = hubert.encode(enc, audio, 175).astype(np.float32)  # 7 s < 20 s: one window
    chunked = hubert.encode(enc, audio, 175, chunk_s=2.0, overlap_s=1.0).astype(np.float32)
    # full attention sees the whole clip in one pass, only its window when chunked; random tiny
    # models attend almost uniformly, so this is the worst case
    assert np.abs(one_pass - chunked).max() < 2e-2
    assert np.abs(one_pass).max() > 1.0


def test_one_window_is_exactly_a_direct_model_call(encoder):
    audio = speech_like(1.0)
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
        hubert.encode(encoder, speech_like(0.4), 10, layers=layers)


@pytest.mark.parametrize("kwargs, message", [
    ({"sample_rate": 44100}, "16000 Hz"), ({"fps": 30}, "25 fps"), ({"chunk_s": 0.0}, "chunk_s"),
])
def test_bad_arguments_raise(encoder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        hubert.encode(encoder, speech_like(0.4), 10, **kwargs)
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
    audio = speech_like(3.0)
    first = hubert.encode(encoder, audio, 75, chunk_s=1.0)
    again = hubert.encode(hubert.load_audio_encoder(str(ckpt)), audio, 75, chunk_s=1.0)
    assert np.array_equal(first, again)


def test_identity_follows_the_weights_not_the_folder(tmp_path, ckpt, encoder):
    same = hubert.load_audio_encoder(str(save_tiny(tmp_path / "copy")))  # same seed: same weights
    other = hubert.load_audio_encoder(str(save_tiny(tmp_path / "other", seed=1)))
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
    folder = save_tiny(tmp_path, "wav2vec2", feat_extract_norm="layer" if stable else "group",
                       do_stable_layer_norm=stable)
    if extractor is not None:
        Wav2Vec2FeatureExtractor(do_normalize=extractor).save_pretrained(folder)
    enc = hubert.load_audio_encoder(str(folder))
    assert enc.normalize is expected and enc.name == "wav2vec2"
    seen = []
    handle = enc.model.register_forward_pre_hook(lambda module, args: seen.append(args[0][0].numpy()))
    audio = speech_like(1.0) + 0.2
    hubert.encode(enc, audio, 25)
    handle.remove()
    if expected:  # zero mean, unit variance over the clip
        assert abs(seen[0].mean()) < 1e-5 and abs(seen[0].std() - 1.0) < 1e-3
    else:
        assert np.array_equal(seen[0], audio)


def test_float16_on_cpu_runs_close_to_float32(ckpt):
    err = precision_error(ckpt, "float16")
    assert err["compute_dtype"] == "float16" and err["output_dtype"] == "float16", err
    assert err["max_rel"] < 0.02 and err["r"] > 0.999, err


def test_bfloat16_on_cpu_computes_in_float32_and_says_so(ckpt, encoder, caplog, monkeypatch):
    audio = speech_like(3.0)
    monkeypatch.setattr(precision, "_warned", set())  # the warning comes once per process
    with caplog.at_level("WARNING"):
        low = hubert.load_audio_encoder(str(ckpt), dtype="bfloat16")
    assert low.dtype == torch.float32
    assert any("bfloat16 on CPU computes in float32" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(hubert.encode(low, audio, 75, chunk_s=1.0),
                                  hubert.encode(encoder, audio, 75, chunk_s=1.0))


def test_float16_is_close_on_the_older_cpu_kernels_too(ckpt):
    """oneDNN limited to AVX-512 (no AMX) — how a machine without AMX runs; `make test` on an AMX machine
    covers both kernel families this way, one without it runs the same kernels twice."""
    err = in_child(ckpt, "float16", isa="AVX512_CORE")
    assert err["compute_dtype"] == "float16" and err["max_rel"] < 0.02 and err["r"] > 0.999, err


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
    audio = speech_like(3.0)
    reference = hubert.encode(encoder, audio, 75, chunk_s=1.0).astype(np.float32)
    out = hubert.encode(hubert.load_audio_encoder(str(ckpt), "cuda", dtype), audio, 75, chunk_s=1.0)
    assert out.shape == reference.shape and np.abs(out.astype(np.float32) - reference).max() < 0.25


# --- several clips in one padded batch (a shard job's audio_hubert.batch_clips) --------------------------------

BATCH_FRAMES = (13, 50, 31, 7, 90)  # different lengths; 90 frames = 3.6 s > chunk_s: chunked, on its own
# Stored float16 values are 2^-10 of their magnitude apart, so float32 rounding (the padded pass sums attention
# over more, masked, keys) may move a value to the neighbouring float16: one step, bounded by 2^-10 · scale. We
# allow two steps (2^-9 · scale ≈ 2e-3 relative); measured ≤ 3.3e-4 · scale (float32 before storage: ≤ 5e-6).
F16_TOL = 2.0 ** -9


def _batch_clips() -> list[tuple[np.ndarray, int]]:
    return [(speech_like(f / 25 + 0.013 * i, seed=i), f) for i, f in enumerate(BATCH_FRAMES)]


@pytest.mark.parametrize("kind, overrides", [
    ("hubert", {}),  # group-norm frontend: each clip's own GroupNorm statistics
    ("wav2vec2", {}),
    ("hubert", {"feat_extract_norm": "layer", "do_stable_layer_norm": True}),  # large: layer norms, normalize
])
def test_a_padded_batch_equals_each_clip_on_its_own(tmp_path, kind, overrides):
    enc = hubert.load_audio_encoder(str(save_tiny(tmp_path, kind, **overrides)))
    clips = _batch_clips()
    batched = hubert_batch.encode_batch(enc, clips, chunk_s=3.0)
    alone = [hubert.encode(enc, samples, frames, chunk_s=3.0) for samples, frames in clips]
    for out, ref, (_, frames) in zip(batched, alone, clips):
        assert out.shape == ref.shape == (2 * frames, 2, 32) and out.dtype == np.float16
        scale = np.abs(ref.astype(np.float32)).max()
        assert np.abs(out.astype(np.float32) - ref.astype(np.float32)).max() <= F16_TOL * scale
    assert np.array_equal(batched[-1], alone[-1])  # the chunked clip is encoded alone: the same bytes
    # Before float16 storage the padded pass agrees to float32 rounding (all layers, incl. the frontend's 0).
    waves = [hubert._prepare(enc, s, f, 25, 16000, None, 3.0, 1.0)[0] for s, f in clips[:4]]
    rows = hubert_batch._encode_batch_rows(enc, waves, [2 * f for _, f in clips[:4]], [0, 1, 2], np.float32)
    for out, wave, (_, frames) in zip(rows, waves, clips):
        assert np.abs(out - hubert._encode_rows(enc, wave, 2 * frames, [0, 1, 2], 10**6, 0, np.float32)).max() < 1e-4


def test_a_batch_without_per_clip_group_norm_statistics_would_differ(tmp_path, monkeypatch):
    # Why the hook: the group-norm frontend normalises over the whole (padded) input otherwise.
    enc = hubert.load_audio_encoder(str(save_tiny(tmp_path)))
    clips = _batch_clips()[:2]
    monkeypatch.setattr(hubert_batch, "_valid_stats_hook", lambda lengths: lambda norm, inputs, output: output)
    short = hubert_batch.encode_batch(enc, clips)[0].astype(np.float32)
    assert np.abs(short - hubert.encode(enc, *clips[0]).astype(np.float32)).max() > 0.1


def test_a_lone_clip_in_a_batch_is_encoded_exactly_as_on_its_own(encoder):
    samples, frames = _batch_clips()[1]
    alone = hubert.encode(encoder, samples, frames)
    assert np.array_equal(hubert_batch.encode_batch(encoder, [(samples, frames)])[0], alone)
