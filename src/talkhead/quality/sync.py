"""Does this mouth move with this sound? The score that picks the speaking face among several.

Used by talkhead.faces.speaker (faces.speaker: active) to compare the faces in one clip with each
other: the face whose mouth the audio predicts best is the speaker. It is not the gate's A/V-offset
measure (talkhead.quality.av_offset): as an absolute offset estimate it was confidently wrong on real
in-sync clips (docs/qc.md), but as a comparison between two faces under the same audio it works
(the speaker 0.61 against the listener 0.25 on the real two-faces fixture).

Sign convention: a positive offset means the audio is LATE (it lags the picture) by that many
video frames; shifting the audio earlier by that many frames re-aligns it.

Method (classical, no learned scorer): the mouth-opening signal m[t] (inner-lip gap over the
eye-corner distance, from the face mesh) is predicted from the audio's log-mel bands at frame
t + lag with a ridge regression, fitted on one half of the clip and scored (Pearson r) on the
other half, both ways. Vowel openness is written in the spectrum, so this peaks far more sharply
than correlating with loudness alone, whose syllable rhythm makes every ~7th lag look alike. The
same central frames are compared at every lag, so edge effects do not favour small lags. The lag
with the best held-out r is the offset; confidence is that r minus the median over all lags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkhead.features.mel import stft_power
from talkhead.quality.av_offset import detrend

# Face-mesh indices: inner upper / lower lip (13, 14), outer eye corners (33, 263).
UPPER_LIP, LOWER_LIP, EYE_OUTER_R, EYE_OUTER_L = 13, 14, 33, 263
N_MELS = 20


@dataclass(frozen=True)
class Offset:
    """Result of the offset search."""

    frames: int | None  # None when there is too little signal to tell
    confidence: float
    scores: np.ndarray  # (2 * max_lag + 1,) held-out r at lags -max_lag..max_lag


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap divided by the outer-eye-corner distance, from (T, 478, 3) landmarks (NaN rows kept)."""
    gap = np.linalg.norm(landmarks[:, UPPER_LIP, :2] - landmarks[:, LOWER_LIP, :2], axis=1)
    eyes = np.linalg.norm(landmarks[:, EYE_OUTER_R, :2] - landmarks[:, EYE_OUTER_L, :2], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (gap / eyes).astype(np.float32)


def _htk_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def _htk_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def _htk_filterbank(n_fft: int, sample_rate: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangular filters on the HTK mel scale, unnormalised (peak 1)."""
    freqs = np.linspace(0.0, sample_rate // 2, n_fft // 2 + 1)
    edges = _htk_hz(np.linspace(_htk_mel(f_min), _htk_mel(f_max), n_mels + 2))
    slopes = edges[None, :] - freqs[:, None]  # (F, n_mels + 2)
    width = np.diff(edges)
    down = -slopes[:, :-2] / width[:-1]
    up = slopes[:, 2:] / width[1:]
    return np.maximum(0.0, np.minimum(down, up))


def audio_features(samples: np.ndarray, sample_rate: int, fps: int, n_frames: int) -> np.ndarray:
    """(n_frames, N_MELS) log-mel energies, one row per video frame (window centred on the frame).

    One frame per video frame: a periodic Hann window one frame long, zero-padded in the middle of an
    FFT of the next power of two ≥ 512, centred frames (reflect padding), power spectrum, 20 HTK-scale
    triangular bands from 80 Hz to 7.6 kHz, natural log with a floor of 1e-6 (the settings of
    torchaudio's MelSpectrogram with htk scale, computed here in NumPy so no audio library is needed).
    """
    hop = int(round(sample_rate / fps))
    n_fft = max(512, 1 << (2 * hop - 1).bit_length() >> 1)
    x = np.ascontiguousarray(samples, np.float32).reshape(-1)
    if len(x) <= n_fft // 2:  # too short to reflect: pad with silence first
        x = np.pad(x, (0, n_fft // 2 + 1 - len(x)))
    power = stft_power(x, n_fft, hop, hop)  # (frames, n_fft // 2 + 1)
    bank = _htk_filterbank(n_fft, sample_rate, N_MELS, 80.0, min(7600.0, sample_rate / 2))
    feats = np.log(power @ bank + 1e-6).astype(np.float32)[:n_frames]
    if len(feats) < n_frames:
        feats = np.pad(feats, ((0, n_frames - len(feats)), (0, 0)), mode="edge")
    return feats.astype(np.float64)


def _standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(0)) / (x.std(0) + 1e-9)


def _heldout_r(y: np.ndarray, x: np.ndarray, ridge: float) -> float:
    """Two-fold (first half / second half) ridge prediction of y (N,) from x (N, D); Pearson r of the predictions."""
    y, x = _standardise(y), _standardise(x)
    half = len(y) // 2
    pred = np.empty_like(y)
    for fit, test in ((slice(0, half), slice(half, None)), (slice(half, None), slice(0, half))):
        a = x[fit]
        w = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ y[fit])
        pred[test] = x[test] @ w
    if pred.std() < 1e-9:
        return 0.0
    return float(np.mean(_standardise(pred) * y))


def estimate_offset(mouth: np.ndarray, audio: np.ndarray, max_lag: int, trend_window: int = 11,
                    ridge: float = 10.0, min_frames: int = 40) -> Offset:
    """Lag (frames, + = audio late) at which `audio` (T, D) best predicts `mouth` (T,); NaN mouth frames are filled."""
    n = min(len(mouth), len(audio))
    mouth, audio = mouth[:n].astype(np.float64), audio[:n].astype(np.float64)
    valid = ~np.isnan(mouth)
    none = Offset(None, 0.0, np.zeros(2 * max_lag + 1, np.float32))
    if valid.sum() < max(min_frames, n // 2) or n - 2 * max_lag < min_frames:
        return none
    t = np.arange(n)
    mouth = detrend(np.interp(t, t[valid], mouth[valid]), trend_window)
    if mouth.std() < 1e-6:
        return none
    audio = detrend(audio, trend_window)
    centre = np.arange(max_lag, n - max_lag)
    scores = np.array([_heldout_r(mouth[centre], audio[centre + lag], ridge)
                       for lag in range(-max_lag, max_lag + 1)], np.float32)
    best = int(np.argmax(scores))
    return Offset(best - max_lag, float(scores[best] - np.median(scores)), scores)
