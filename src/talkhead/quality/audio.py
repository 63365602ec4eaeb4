"""Audio measures: loudness and voice activity (Silero VAD, whose model is bundled in its wheel)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SILENCE_DB = -120.0  # what digital silence reports (instead of -inf)


def loudness_db(samples: np.ndarray) -> float:
    """RMS level of float samples in [-1, 1], in dBFS (digital silence gives SILENCE_DB)."""
    if samples.size == 0:
        return SILENCE_DB
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(SILENCE_DB, 20.0 * np.log10(rms)) if rms > 0 else SILENCE_DB


@lru_cache(maxsize=1)
def _silero():
    from silero_vad import load_silero_vad

    return load_silero_vad(onnx=False)


def speech_segments(samples: np.ndarray, sample_rate: int, threshold: float = 0.5) -> list[tuple[float, float]]:
    """Speech intervals in seconds found by Silero VAD (16 kHz or 8 kHz input)."""
    import torch
    from silero_vad import get_speech_timestamps

    if samples.size < sample_rate // 10:
        return []
    with torch.inference_mode():
        stamps = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(samples, np.float32)), _silero(),
                                       sampling_rate=sample_rate, threshold=threshold)
    return [(s["start"] / sample_rate, s["end"] / sample_rate) for s in stamps]


def speech_fraction(segments: list[tuple[float, float]], duration_s: float) -> float:
    """Fraction of `duration_s` covered by speech segments."""
    if duration_s <= 0:
        return 0.0
    return float(min(1.0, sum(e - s for s, e in segments) / duration_s))


def voiced_frames(segments: list[tuple[float, float]], n_frames: int, fps: int) -> np.ndarray:
    """(n_frames,) bool: video frames whose centre lies inside a speech segment."""
    centres = (np.arange(n_frames) + 0.5) / fps
    voiced = np.zeros(n_frames, bool)
    for start, end in segments:
        voiced |= (centres >= start) & (centres < end)
    return voiced
