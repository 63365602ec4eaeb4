"""Log-mel: 4 rows per video frame, the same numbers from torch and NumPy, energy in the right band."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.features import mel


def _tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * mel.SAMPLE_RATE)) / mel.SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("frames", [1, 2, 49, 50, 125])
def test_four_rows_per_video_frame(frames):
    audio = _tone(300.0, frames / 25)
    assert mel.log_mel(audio, frames).shape == (4 * frames, 80)


def test_torch_and_numpy_paths_agree():
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(16000 * 2)).astype(np.float32)
    a, b = mel.log_mel(audio, 50, backend="torch"), mel.log_mel(audio, 50, backend="numpy")
    assert np.abs(a - b).max() < 1e-4
    with pytest.raises(ValueError, match="backend"):
        mel.log_mel(audio, 50, backend="librosa")


def test_a_tone_lights_its_band_and_silence_sits_at_the_floor():
    low, high = mel.log_mel(_tone(250.0, 1.0), 25), mel.log_mel(_tone(3000.0, 1.0), 25)
    assert low[10:90].mean(0).argmax() < high[10:90].mean(0).argmax()
    centre = mel.mel_filterbank()[:, high[10:90].mean(0).argmax()]
    peak_hz = centre.argmax() * mel.SAMPLE_RATE / mel.N_FFT
    assert abs(peak_hz - 3000.0) < 250.0
    silent = mel.log_mel(np.zeros(16000, np.float32), 25)
    assert np.allclose(silent, np.log(mel.LOG_FLOOR))
