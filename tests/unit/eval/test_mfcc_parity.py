"""The SyncNet MFCC front end (talkhead.eval.mfcc) against python_speech_features.mfcc, live.

syncnet_python computes `python_speech_features.mfcc(audio, 16000)` on the int16 samples of a 16 kHz
wav; talkhead reimplements it in NumPy (float32 output). Compared on synthetic signals (always) and on
the 16 kHz mono real recording in ../shared/fixtures/real (skipped when absent).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from python_speech_features import mfcc as psf_mfcc

from talkhead.eval.mfcc import syncnet_mfcc

REAL = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "real" / "audio" / "LatentSync__demo1_audio.wav"
RTOL = 1e-4


def _reference(samples: np.ndarray) -> np.ndarray:
    """(13, F): syncnet_python's `zip(*mfcc(audio, 16000))` stacked, on the int16 values it reads."""
    return np.stack([np.array(i) for i in zip(*psf_mfcc(samples, 16000))])


def _assert_parity(samples: np.ndarray, reference_input: np.ndarray) -> None:
    ours, ref = syncnet_mfcc(samples), _reference(reference_input)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    scale = np.abs(ref).max(axis=1, keepdims=True)  # per cepstrum: float32 rounding is relative to its range
    err = np.abs(ours.astype(np.float64) - ref)
    assert float((err / scale).max()) < RTOL, float((err / scale).max())
    assert np.allclose(ours, ref, rtol=RTOL, atol=RTOL * scale)


def _synthetic(kind: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(16000) / 16000
    if kind == "noise":
        x = 8000 * rng.standard_normal(16000)
    elif kind == "chirp":
        x = 12000 * np.sin(2 * np.pi * (80 * t + 3000 * t ** 2))
    elif kind == "silence_gaps":  # exact zeros: the eps branches (zero energy, empty filters)
        x = 6000 * rng.standard_normal(16000)
        x[2000:6000] = 0
    elif kind == "short":  # fewer samples than one 400-sample frame: one zero-padded frame
        x = 5000 * rng.standard_normal(300)
    elif kind == "odd_tail":  # a length that leaves a partial last frame
        x = 3000 * np.sin(2 * np.pi * 220 * np.arange(12345) / 16000) + 500 * rng.standard_normal(12345)
    else:
        raise ValueError(kind)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("kind", ["noise", "chirp", "silence_gaps", "short", "odd_tail"])
def test_mfcc_parity(kind):
    samples = _synthetic(kind)
    _assert_parity(samples, samples)


def test_mfcc_parity_float_input():
    """Float samples in [−1, 1) are scaled by 32768: the int16 values the reference reads."""
    samples = _synthetic("noise")
    _assert_parity(samples.astype(np.float32) / 32768.0, samples)


@pytest.mark.realdata
def test_mfcc_parity_real_speech():
    if not REAL.is_file():
        pytest.skip(f"{REAL} absent")
    import soundfile as sf

    samples, rate = sf.read(REAL, dtype="int16")
    assert rate == 16000 and samples.ndim == 1
    _assert_parity(samples, samples)


def test_mfcc_parity_with_the_syncnet_fixture():
    """The MFCC that syncnet_python's environment computed for the Sync-C/D parity audio (tests/fixtures/parity)."""
    ref = np.load(Path(__file__).resolve().parents[2] / "fixtures" / "parity" / "syncnet.npz")
    ours = syncnet_mfcc(ref["samples"])
    assert ours.shape == ref["mfcc"].shape
    assert float((np.abs(ours - ref["mfcc"]).max(1) / np.abs(ref["mfcc"]).max(1)).max()) < RTOL
