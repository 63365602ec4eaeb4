"""Fixtures of the quality tests. Synthetic talking clips with a known A/V offset: a face mesh whose lips and jaw
open with a signal that also drives the audio features, `delay` frames later (+ = audio late)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from talkhead.quality.av_offset import FEATURE_POINTS


def openness(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(T,) syllable-like mouth opening: smoothed random bursts with pauses."""
    bursts = (rng.random(n_frames) > 0.55).astype(np.float64)
    bursts[rng.random(n_frames) > 0.9] = 0.0
    return gaussian_filter1d(bursts, 1.2)


def clip(n_frames: int, delay: int, seed: int = 0, noise: float = 0.3, mix: np.ndarray | None = None,
         related: bool = True, samples: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(mesh (T, 478, 3), audio features (T, 20)) with the audio `delay` frames late; unrelated audio if not `related`.

    With `samples`, the audio comes as 16 kHz samples instead (noise whose loudness follows the opening).
    """
    rng = np.random.default_rng(seed)
    pad = abs(delay) + 1
    o = openness(n_frames + 2 * pad, rng)
    base = rng.normal(0, 30, (478, 3)).astype(np.float64) + np.array([256.0, 256.0, 0.0])
    base[33], base[263] = (200.0, 200.0, 0.0), (312.0, 200.0, 0.0)  # outer eye corners, level
    move = np.zeros((478, 3))
    move[FEATURE_POINTS, 1] = rng.uniform(5, 25, len(FEATURE_POINTS))  # lips and jaw open downwards
    mouth_o = o[pad:pad + n_frames]
    points = base[None] + mouth_o[:, None, None] * move[None] + rng.normal(0, 0.3, (n_frames, 478, 3))
    audio_o = o[pad - delay:pad - delay + n_frames] if related else openness(n_frames, rng)
    if samples:
        envelope = np.repeat(0.02 + 0.3 * audio_o, 640)  # 640 samples a frame at 25 fps, 16 kHz
        return points.astype(np.float32), (envelope * rng.normal(size=len(envelope))).astype(np.float32)
    mix = rng.normal(size=20) if mix is None else mix
    audio = audio_o[:, None] * mix[None] + noise * rng.normal(size=(n_frames, 20))
    return points.astype(np.float32), audio


@pytest.fixture(scope="session")
def synthetic_clip():
    """The `clip` maker above, for tests."""
    return clip
