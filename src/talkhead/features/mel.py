"""80-bin log-mel spectrogram at 100 Hz from 16 kHz audio — 4 mel frames per 25 fps video frame.

In features (layer 3), one module per modality; audio_mel_clip's own imports (config, data.featurefile,
data.status) are lower.

Settings: 25 ms Hann window (400 samples), 10 ms hop (160), 512-point FFT, power spectrum, 80
Slaney-normalised mel bands on the Slaney mel scale from 0 Hz to 8 kHz, natural log with a floor
of 1e-10 (−23.0), frames centred on their instants (reflect padding). The frame count is cut to
exactly 4 × video frames (the centred transform gives one more).

Two implementations compute the same numbers: torch.stft (`backend: torch`, e.g. to run beside
a model on a GPU) and NumPy (`auto` and `numpy`: 5 ms for 5 s of audio, and no torch import, which
costs ~0.8 s per process). They agree to ~1e-14 in power (identical after the float32 cast), so the
features do not depend on which one ran.

`audio_mel_clip` (the audio_mel phase on one clip) reads data/quality/{clip}/ (audio.wav, shifted when the gate
corrected an offset; quality.json for the frame count); writes data/features/{clip}/audio_mel.safetensors with
`mel` (4·T, 80) float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from talkhead.config import AudioMelConfig
from talkhead.data.featurefile import write_features
from talkhead.data.status import accepted_measures

VERSION = "logmel-1"
SAMPLE_RATE = 16000
N_FFT, WIN, HOP, N_MELS = 512, 400, 160, 80
F_MIN, F_MAX = 0.0, 8000.0
LOG_FLOOR = 1e-10


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, np.float64)
    mel = 3.0 * f / 200.0
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), 200.0 * m / 3.0)


def mel_filterbank() -> np.ndarray:
    """(N_FFT // 2 + 1, N_MELS) triangular filters, Slaney area normalisation."""
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), N_MELS + 2))
    lower = (freqs[:, None] - edges[None, :-2]) / (edges[1:-1] - edges[:-2])[None, :]
    upper = (edges[None, 2:] - freqs[:, None]) / (edges[2:] - edges[1:-1])[None, :]
    bank = np.maximum(0.0, np.minimum(lower, upper))
    return bank * (2.0 / (edges[2:] - edges[:-2]))[None, :]


def stft_power(samples: np.ndarray, n_fft: int, win: int, hop: int) -> np.ndarray:
    """(frames, n_fft // 2 + 1) power spectrum: centred frames (reflect padding, so len(samples) > n_fft // 2),
    a periodic Hann window of `win` samples zero-padded in the middle of the n_fft-point FFT (torch.stft's
    convention); computed 256 frames at a time so memory stays bounded on long recordings."""
    pad = n_fft // 2
    x = np.pad(np.asarray(samples).astype(np.float64), pad, mode="reflect")
    n_frames = 1 + (len(x) - n_fft) // hop
    window = np.zeros(n_fft)
    start = (n_fft - win) // 2
    window[start:start + win] = np.hanning(win + 1)[:-1]  # periodic Hann, as torch.hann_window
    power = np.empty((n_frames, n_fft // 2 + 1))
    for lo in range(0, n_frames, 256):
        idx = np.arange(n_fft)[None, :] + hop * np.arange(lo, min(lo + 256, n_frames))[:, None]
        power[lo:lo + len(idx)] = np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2
    return power


def _numpy_power(samples: np.ndarray) -> np.ndarray:
    """(frames, N_FFT // 2 + 1) power spectrum of the log-mel's settings."""
    return stft_power(samples, N_FFT, WIN, HOP)


def _torch_power(samples: np.ndarray) -> np.ndarray | None:
    """The same power spectrum via torch.stft; None when torch is unavailable."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency, but keep the NumPy path honest
        return None
    x = torch.from_numpy(samples.astype(np.float64))
    spec = torch.stft(x, N_FFT, hop_length=HOP, win_length=WIN, window=torch.hann_window(WIN, dtype=torch.float64),
                      center=True, pad_mode="reflect", return_complex=True)  # (F, frames)
    return (spec.abs() ** 2).T.numpy()


def log_mel(samples: np.ndarray, n_video_frames: int, fps: int = 25, backend: str = "auto") -> np.ndarray:
    """(n,) float 16 kHz audio -> (n_video_frames * 100 // fps, 80) float32 log-mel (4 per frame at 25 fps)."""
    if backend not in ("auto", "torch", "numpy"):
        raise ValueError(f"log_mel backend must be auto, torch or numpy, not {backend!r}")
    samples = np.asarray(samples, np.float32).reshape(-1)
    target = int(round(n_video_frames * 100 / fps))
    if len(samples) < N_FFT:  # too short for the reflect padding: pad with silence first
        samples = np.pad(samples, (0, N_FFT - len(samples)))
    power = _torch_power(samples) if backend == "torch" else _numpy_power(samples)
    if power is None:
        raise RuntimeError("log_mel: backend 'torch' requested but torch is not importable")
    mel = np.log(np.maximum(power @ mel_filterbank(), LOG_FLOOR))  # (frames, 80)
    if len(mel) < target:
        mel = np.pad(mel, ((0, target - len(mel)), (0, 0)), mode="edge")
    return mel[:target].astype(np.float32)


def frame_log_power(mel: np.ndarray, rows_per_frame: int = 4) -> np.ndarray:
    """(rows·T, 80) log-mel → (T,) log of the frame's mean over its rows of the summed mel power."""
    power = np.exp(np.asarray(mel, np.float64)).sum(axis=1)  # (rows·T,)
    return np.log(power[: len(power) // rows_per_frame * rows_per_frame].reshape(-1, rows_per_frame).mean(axis=1))


def speech_level(mel: np.ndarray, rows_per_frame: int = 4) -> float:
    """A recording's speaking level: the 95th percentile over frames of `frame_log_power` (natural-log power
    units, so a gain g on the samples adds 2·ln g); pauses and silence below it do not move it."""
    return float(np.percentile(frame_log_power(mel, rows_per_frame), 95))


def audio_mel_clip(quality_dir: Path, out: Path, cfg: AudioMelConfig) -> dict:
    """Compute and write the log-mel of one accepted clip; return its metadata."""
    m = accepted_measures(quality_dir)
    samples, rate = sf.read(quality_dir / "audio.wav", dtype="float32")
    if rate != SAMPLE_RATE:
        raise ValueError(f"{quality_dir / 'audio.wav'}: {rate} Hz, log-mel needs {SAMPLE_RATE}")
    feats = log_mel(samples, m["frames"], m["fps"], cfg.backend)  # (4T, 80)
    meta = {"clip": m["clip"], "modality": "audio_mel", "rate_hz": 100, "frames": m["frames"],
            "extractor": "log-mel", "version": VERSION, "checkpoint": ""}
    write_features(out, {"mel": feats}, meta)
    return meta
