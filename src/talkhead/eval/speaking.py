"""Does a face video visibly speak its audio? The inner-lip gap against the loudness, frame by frame.

The measure issue 19 uses to tell a talking generator from a mouth that barely moves, on any video
with a face and an audio track (a real talking clip or `talkhead generate`'s output):

- **lip gap** per frame: the distance between the inner-lip midpoints of the MediaPipe face mesh
  (points 13 upper, 14 lower) divided by the distance between the outer eye corners (33, 263), so
  it does not depend on the face's size in the picture; NaN where no mesh was found;
- **loudness** per frame: the RMS level of the audio samples of that frame's 40 ms, in dB;
- `gap_std` and `gap_range` (95th − 5th percentile) of the gap: how much the mouth moves;
- `r_loudness`: the best Pearson r of the gap with the loudness over lags of ±`max_lag` frames
  (mouth[t + lag] against loudness[t]), and that lag: whether it moves with the speech.

Measured on the five real talking clips of ../shared/fixtures/real (docs/generate.md): gap std
0.046–0.069, range 0.14–0.22; r with the loudness −0.07 to 0.58 (median 0.15): real mouths move
plenty, but frame by frame they follow the level only loosely, so `r_loudness` tells a mouth
driven by the speech from one that is not only when taken over many clips. A still face has std ≈ 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from talkhead.eval.motion import MAX_LAG, best_lag_r  # MAX_LAG: ±3 frames, as the generator's evaluation

UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14  # face-mesh indices of the inner-lip midline
EYE_CORNERS = (33, 263)  # outer eye corners: the face's scale
FPS = 25
SAMPLE_RATE = 16000
SILENCE_DB = -100.0  # the level of an all-zero frame (log of 0 clamped)


def lip_gap(points: np.ndarray) -> np.ndarray:
    """(T, 478, ≥2) face mesh → (T,) inner-lip gap in eye-corner distances (NaN where the mesh is missing)."""
    p = np.asarray(points, np.float64)[:, :, :2]
    gap = np.linalg.norm(p[:, LOWER_INNER_LIP] - p[:, UPPER_INNER_LIP], axis=1)
    eyes = np.linalg.norm(p[:, EYE_CORNERS[1]] - p[:, EYE_CORNERS[0]], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(eyes > 1e-6, gap / eyes, np.nan)


def loudness_db(samples: np.ndarray, frames: int, rate: int = SAMPLE_RATE, fps: int = FPS) -> np.ndarray:
    """(n,) mono samples → (frames,) RMS level in dB of each video frame's samples (missing audio: SILENCE_DB)."""
    hop = rate // fps
    x = np.zeros(frames * hop, np.float64)
    n = min(len(samples), len(x))
    x[:n] = np.asarray(samples, np.float64)[:n]
    rms = np.sqrt((x.reshape(frames, hop) ** 2).mean(axis=1))
    return np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), SILENCE_DB)


def speaking_measures(gap: np.ndarray, loudness: np.ndarray, max_lag: int = MAX_LAG) -> dict[str, float | int]:
    """How much the (T,) lip gap moves and how well it follows the (T,) loudness (module docstring)."""
    gap, loudness = np.asarray(gap, np.float64), np.asarray(loudness, np.float64)
    n = min(len(gap), len(loudness))
    gap, loudness = gap[:n], loudness[:n]
    found = np.isfinite(gap)
    out: dict[str, float | int] = {"frames": int(n), "mesh_rate": float(found.mean()) if n else 0.0,
                                   "gap_mean": float("nan"), "gap_std": float("nan"), "gap_range": float("nan"),
                                   "r_loudness": float("nan"), "lag": 0}
    if found.sum() < 3:
        return out
    t = np.arange(n)
    filled = np.interp(t, t[found], gap[found])  # short mesh dropouts bridged so the lags stay aligned
    r, lag = best_lag_r(filled, loudness, max_lag)
    p5, p95 = np.percentile(gap[found], [5, 95])
    out.update(gap_mean=float(gap[found].mean()), gap_std=float(gap[found].std()), gap_range=float(p95 - p5),
               r_loudness=float(r), lag=int(lag))
    return out


def video_tracks(path: str | Path, audio: str | Path | None = None,
                 max_side: int = 720) -> tuple[np.ndarray, np.ndarray]:
    """(inner-lip gap (T,), loudness in dB (T,)) of a video file at 25 fps, with its own audio track (or the file
    `audio`). Frames are scaled to a long side of at most `max_side` before the mesh (the gap is a ratio, so the
    scale does not change it). Raises ValueError when there is no audio."""
    from talkhead.eval.landmarks import extract_landmarks
    from talkhead.media.decode import decode_audio, iter_frames_cfr

    points = extract_landmarks(iter_frames_cfr(path, FPS, max_side=max_side))  # (T, 478, 3)
    samples = decode_audio(audio or path, SAMPLE_RATE)
    if samples is None:
        raise ValueError(f"{audio or path}: no audio stream to measure the mouth against")
    return lip_gap(points), loudness_db(samples, len(points))


def measure_video(path: str | Path, audio: str | Path | None = None, max_side: int = 720) -> dict[str, float | int]:
    """The speaking measures of a video file (`video_tracks`, then `speaking_measures`)."""
    return speaking_measures(*video_tracks(path, audio, max_side))
