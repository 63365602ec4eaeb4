"""The MFCC front end of the published SyncNet: python_speech_features.mfcc with its defaults, in NumPy.

SyncNet (Chung & Zisserman 2016, https://www.robots.ox.ac.uk/~vgg/publications/2016/Chung16a/chung16a.pdf)
as released in joonson/syncnet_python computes `python_speech_features.mfcc(audio, 16000)` on the
int16 samples of a 16 kHz mono wav. The weights were trained on exactly those numbers, so this
module reproduces that function rather than using the project's log-mel:

pre-emphasis 0.97 (first sample kept); 25 ms frames (400 samples) every 10 ms (160), the last
frame zero-padded (frames = 1 + ceil((n − 400) / 160)); rectangular window; 512-point power
spectrum |FFT|² / 512; 26 triangular filters on the HTK mel scale (2595 log10(1 + f/700)) from
0 to 8 kHz with FFT-bin edges floor(513 · f / 16000); natural log (zeros become float eps);
orthonormal DCT-II keeping 13 cepstra; sinusoidal lifter 1 + 11 sin(πn / 22); then cepstrum 0
is replaced by the log of the frame's total power. Input scale matters (cepstrum 0 and the energy
shift by log of the scale²): int16 samples are used as they are, float samples in [−1, 1) are
scaled by 32768 to the int16 values the original reads.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import dct

SAMPLE_RATE, WIN, HOP, NFFT, N_FILT, N_CEP, LIFTER, PREEMPH = 16000, 400, 160, 512, 26, 13, 22, 0.97
EPS = np.finfo(float).eps


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def filterbank() -> np.ndarray:
    """(26, 257) triangular filters with integer FFT-bin edges, as python_speech_features.get_filterbanks."""
    mels = np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), N_FILT + 2)
    bins = np.floor((NFFT + 1) * _mel_to_hz(mels) / SAMPLE_RATE)
    bank = np.zeros((N_FILT, NFFT // 2 + 1))
    for j in range(N_FILT):
        lo, mid, hi = int(bins[j]), int(bins[j + 1]), int(bins[j + 2])
        for i in range(lo, mid):
            bank[j, i] = (i - bins[j]) / (bins[j + 1] - bins[j])
        for i in range(mid, hi):
            bank[j, i] = (bins[j + 2] - i) / (bins[j + 2] - bins[j + 1])
    return bank


def _frames(signal: np.ndarray) -> np.ndarray:
    """(F, 400) frames, the tail zero-padded to a whole frame."""
    n = len(signal)
    count = 1 if n <= WIN else 1 + int(math.ceil((n - WIN) / HOP))
    padded = np.concatenate([signal, np.zeros((count - 1) * HOP + WIN - n)])
    idx = np.arange(WIN)[None, :] + HOP * np.arange(count)[:, None]
    return padded[idx]


def syncnet_mfcc(samples: np.ndarray) -> np.ndarray:
    """(n,) 16 kHz mono audio (int16, or float in [−1, 1)) -> (13, F) MFCC, F = 1 + ceil((n − 400) / 160)."""
    samples = np.asarray(samples).reshape(-1)
    x = samples.astype(np.float64)
    if not np.issubdtype(samples.dtype, np.integer):
        x = x * 32768.0  # float samples -> the int16 values syncnet_python reads
    x = np.append(x[:1], x[1:] - PREEMPH * x[:-1])  # pre-emphasis
    power = np.abs(np.fft.rfft(_frames(x), NFFT)) ** 2 / NFFT  # (F, 257)
    energy = power.sum(1)
    energy = np.where(energy == 0, EPS, energy)
    feat = power @ filterbank().T  # (F, 26)
    feat = np.log(np.where(feat == 0, EPS, feat))
    cep = dct(feat, type=2, axis=1, norm="ortho")[:, :N_CEP]  # (F, 13)
    cep *= 1.0 + (LIFTER / 2.0) * np.sin(np.pi * np.arange(N_CEP) / LIFTER)
    cep[:, 0] = np.log(energy)
    return cep.T.astype(np.float32)  # (13, F)
