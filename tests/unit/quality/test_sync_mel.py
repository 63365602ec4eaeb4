"""The gate's per-frame log-mel (talkhead.quality.sync.audio_features) against torchaudio's MelSpectrogram.

tests/fixtures/sync_mel_torchaudio.npz holds what torchaudio 2.11.0 computed (MelSpectrogram, htk scale, the
settings documented in audio_features) for `reference_signal` at 16 kHz / 25 fps and 48 kHz / 30 fps, so the
NumPy implementation is checked against the library it replaced without that library installed.
"""

from pathlib import Path

import numpy as np
import pytest

from talkhead.quality.sync import N_MELS, audio_features

REFERENCE = Path(__file__).parents[2] / "fixtures" / "sync_mel_torchaudio.npz"


def reference_signal(sample_rate: int, seconds: float) -> np.ndarray:
    """A voiced-speech-like test signal with no random numbers: a gliding 110–220 Hz harmonic series
    under a 4 Hz syllable envelope, plus a 3 kHz burst, so every band carries energy that changes."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    f0 = 110.0 * (1.0 + t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 30))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t)
    burst = np.where((t > 0.3 * seconds) & (t < 0.4 * seconds), np.sin(2 * np.pi * 3000.0 * t), 0.0)
    return (0.2 * envelope * voiced + 0.1 * burst).astype(np.float32)


@pytest.mark.parametrize("sample_rate, fps, seconds", [(16000, 25, 1.0), (48000, 30, 0.6)])
def test_log_mel_equals_torchaudio(sample_rate, fps, seconds):
    expected = np.load(REFERENCE)[f"sr{sample_rate}_fps{fps}"]  # (frames, N_MELS) float32
    got = audio_features(reference_signal(sample_rate, seconds), sample_rate, fps, len(expected))
    assert got.shape == expected.shape == (int(seconds * fps), N_MELS)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)  # torchaudio rounds the power to float32


def test_short_and_silent_audio_give_finite_rows():
    assert np.isfinite(audio_features(np.zeros(300, np.float32), 16000, 25, 3)).all()  # shorter than the FFT
    feats = audio_features(np.zeros(16000, np.float32), 16000, 25, 30)  # 25 rows computed, padded to 30
    assert feats.shape == (30, N_MELS) and np.allclose(feats, np.log(1e-6), atol=1e-6)
