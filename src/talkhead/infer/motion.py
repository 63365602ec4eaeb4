"""Motion for audio of any length with the MoDA-style motion DiT: segments, fusion, smoothing, lip modulation.

Long audio is generated as MoDA does (https://arxiv.org/abs/2507.03256), one segment at a time:
segments of n_pred frames (80) start every n_pred − overlap frames (overlap = n_prev = 16), the
last one aligned to the end of the audio. Segment k is conditioned on the n_prev fused frames just
before its start, which the previous segment already produced (its frames before the overlap); the
first segment on the reference motion repeated. Where two segments overlap, the output is a
linear cross-fade, the new segment's weight rising (j + 1) / (L + 1) over the L shared frames.
Only the (T, 70) output is kept, preallocated, so memory does not grow with the audio beyond it and
the input features; work is linear in the number of segments.

Post-processing, in normalised units (training-split statistics), then denormalised to raw motion:
- pose channels 63..69 (scale, t, pitch, yaw, roll): a constant-velocity Kalman filter and
  Rauch–Tung–Striebel smoother per channel (`kalman_smooth`);
- the lip keypoints (KEYPOINTS 10–15, exp dims 30..47): `modulate_lip`, our formula for MoDA's
  `modulate_lip(alpha, beta)` (the notes give the parameters, not the definition):
  lip ← lip + beta·(alpha − 1)·(lip − ref_lip), i.e. the deviation from the reference face is
  amplified `alpha` times and blended in with weight `beta` — an effective gain of
  1 + beta·(alpha − 1) (1.4 at alpha 5, beta 0.1). It is affine per dimension, so it gives the
  same result in raw and normalised units.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from talkhead.config import MotionDitConfig
from talkhead.features import motion as mo
from talkhead.models.checkpoint import deterministic
from talkhead.models.motion_dit import MotionCond, MotionDiT, sample
from talkhead.models.mouth_map import MOUTH_DIMS

log = logging.getLogger(__name__)

POSE = slice(63, 70)  # scale, tx, ty, tz, pitch, yaw, roll
LIP_KEYPOINTS = range(10, 16)  # lips 61, 291, 0, 17, 13, 14 in talkhead.features.motion.KEYPOINTS
LIP_DIMS = np.array([3 * k + a for k in LIP_KEYPOINTS for a in range(3)])  # (18,) exp dims 30..47


@dataclass(frozen=True)
class GenerateSettings:
    """Sampling and post-processing settings of one generation."""

    steps: int = 10
    cfg_scale: float = 1.2
    time_shift: float = 1.0
    kalman_process: float = 1e-3  # white-noise acceleration variance per frame² (normalised units)
    kalman_measurement: float = 1e-2  # measurement noise variance (normalised units)
    lip_alpha: float = 5.0
    lip_beta: float = 0.1
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: MotionDitConfig) -> GenerateSettings:
        """The settings of a motion_dit params section."""
        return cls(cfg.sample_steps, cfg.cfg_scale, cfg.time_shift, cfg.kalman_process, cfg.kalman_measurement,
                   cfg.lip_alpha, cfg.lip_beta, cfg.seed)


def segment_starts(frames: int, n_pred: int, overlap: int) -> list[int]:
    """First frame of every segment: every n_pred − overlap frames, the last one ending at `frames`."""
    if not 0 <= overlap < n_pred:
        raise ValueError(f"overlap {overlap} must be in [0, n_pred = {n_pred})")
    if frames <= n_pred:
        return [0]
    starts = list(range(0, frames - n_pred, n_pred - overlap))
    return starts + [frames - n_pred]


def crossfade(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """(L, C) linear cross-fade from `old` to `new`: the new weight rises (j + 1) / (L + 1)."""
    w = (np.arange(1, len(old) + 1, dtype=np.float32) / (len(old) + 1))[:, None]  # (L, 1)
    return (1.0 - w) * old + w * new


def generate_normalised(model: MotionDiT, audio: torch.Tensor, ref: np.ndarray, emotion: int, n_pred: int,
                        n_prev: int, settings: GenerateSettings, overlap: int | None = None) -> np.ndarray:
    """Audio features (rows·T, D[, L]) and the (70,) normalised reference → (T, 70) residual to the reference."""
    overlap = n_prev if overlap is None else overlap
    rows = model.audio_rows
    frames = audio.shape[0] // rows
    if frames < 1:
        raise ValueError(f"{audio.shape[0]} audio rows: less than one frame of {rows}")
    out = np.empty((frames, mo.DIM), np.float32)  # the only buffer that grows with the audio
    g = torch.Generator().manual_seed(settings.seed)
    device = next(model.parameters()).device
    ref_t = torch.as_tensor(ref, dtype=torch.float32)[None].to(device)  # (1, 70)
    emo = torch.tensor([emotion], device=device)
    end = 0  # frames already written
    for start in segment_starts(frames, n_pred, overlap):
        n = min(n_pred, frames - start)
        prev = np.zeros((n_prev, mo.DIM), np.float32)  # (P, 70): the first segment's, the reference itself
        have = out[max(0, start - n_prev):start]
        if len(have):
            prev[n_prev - len(have):] = have
        cond = MotionCond(audio[rows * start:rows * (start + n)][None].to(device), ref_t,
                          torch.from_numpy(prev)[None].to(device), emo)
        seg = sample(model, cond, n, settings.steps, settings.cfg_scale, settings.time_shift, g)[0].cpu().numpy()
        shared = end - start  # frames this segment shares with the previous one
        if shared > 0:
            out[start:end] = crossfade(out[start:end], seg[:shared])
        out[end:start + n] = seg[max(shared, 0):]
        end = start + n
    return out


def kalman_smooth(x: np.ndarray, process: float, measurement: float) -> np.ndarray:
    """(T, C) → (T, C): per channel, a constant-velocity Kalman filter + RTS smoother.

    State (position, velocity), one step per frame: F = [[1, 1], [0, 1]], process noise
    Q = process·[[1/3, 1/2], [1/2, 1]] (white-noise acceleration of variance `process` per frame²),
    measurement H = [1, 0] with variance `measurement`. Starts at the first value, velocity 0.
    """
    x = np.asarray(x, np.float64)
    t_len, c = x.shape
    f = np.array([[1.0, 1.0], [0.0, 1.0]])
    q = process * np.array([[1 / 3, 1 / 2], [1 / 2, 1.0]])
    s_pred, p_pred = np.zeros((t_len, c, 2)), np.zeros((t_len, c, 2, 2))
    s_filt, p_filt = np.zeros((t_len, c, 2)), np.zeros((t_len, c, 2, 2))
    s = np.stack([x[0], np.zeros(c)], axis=-1)  # (C, 2)
    p = np.broadcast_to(np.diag([measurement, 1.0]), (c, 2, 2)).copy()
    for t in range(t_len):
        if t:
            s, p = s @ f.T, f @ p @ f.T + q
        s_pred[t], p_pred[t] = s, p
        gain = p[:, :, 0] / (p[:, 0, 0] + measurement)[:, None]  # (C, 2)
        s = s + gain * (x[t] - s[:, 0])[:, None]
        p = p - gain[:, :, None] * p[:, None, 0, :]
        s_filt[t], p_filt[t] = s, p
    out = s_filt.copy()  # RTS backward pass (the smoothed mean needs no smoothed covariance)
    for t in range(t_len - 2, -1, -1):
        gain = p_filt[t] @ f.T @ np.linalg.inv(p_pred[t + 1])  # (C, 2, 2)
        out[t] = s_filt[t] + np.einsum("cij,cj->ci", gain, out[t + 1] - s_pred[t + 1])
    return out[:, :, 0].astype(np.float32)


def modulate_lip(motion: np.ndarray, ref: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """(T, 70) → (T, 70): lip dims ← lip + beta·(alpha − 1)·(lip − ref_lip) (gain 1 + beta·(alpha − 1))."""
    out = motion.copy()
    out[:, LIP_DIMS] += beta * (alpha - 1.0) * (motion[:, LIP_DIMS] - ref[LIP_DIMS])
    return out


def postprocess(motion: np.ndarray, ref: np.ndarray, settings: GenerateSettings,
                mouth: np.ndarray | None = None) -> np.ndarray:
    """Normalised (T, 70): Kalman-smoothed pose channels, the mouth dims replaced by `mouth` (T, 33) when
    given (a mouth driver's output, talkhead.models.mouth_map.MOUTH_DIMS), then lip modulation."""
    out = motion.copy()
    if len(out) > 1:
        out[:, POSE] = kalman_smooth(out[:, POSE], settings.kalman_process, settings.kalman_measurement)
    if mouth is not None:
        out[:, MOUTH_DIMS] = mouth
    return modulate_lip(out, ref, settings.lip_alpha, settings.lip_beta)


def generate_motion(model: MotionDiT, meta: dict, stats: dict[str, np.ndarray], audio: torch.Tensor,
                    ref_motion: np.ndarray, emotion: int = 8, settings: GenerateSettings | None = None,
                    mouth_delta: np.ndarray | None = None) -> np.ndarray:
    """Raw (T, 70) motion for audio features (rows·T, D[, L]) and the source face's raw (70,) motion.

    `meta` is the model's config.json (n_pred, n_prev, and the sampling defaults when `settings`
    is None); seeded and deterministic on CPU. `mouth_delta` (T, 33), raw units: a mouth driver's
    deviation of the mouth dims from the source face (talkhead.models.mouth_map.drive); when given,
    the mouth dims are the source face's plus it instead of the DiT's own, before lip modulation.
    """
    settings = settings or GenerateSettings(steps=int(meta["sample_steps"]), cfg_scale=float(meta["cfg_scale"]),
                                            time_shift=float(meta["time_shift"]))
    ref = mo.normalise(np.asarray(ref_motion, np.float32), stats).astype(np.float32)
    model.eval()
    with torch.random.fork_rng(devices=[]), deterministic():
        out = generate_normalised(model, audio, ref, emotion, int(meta["n_pred"]), int(meta["n_prev"]),
                                  settings) + ref  # residual → normalised motion
    mouth = None
    if mouth_delta is not None:
        if mouth_delta.shape != (len(out), len(MOUTH_DIMS)):
            raise ValueError(f"mouth track {mouth_delta.shape} for {len(out)} frames: expected ({len(out)}, "
                             f"{len(MOUTH_DIMS)})")
        mouth = ref[MOUTH_DIMS] + mouth_delta / stats["std"][MOUTH_DIMS]  # normalised units
    out = postprocess(out, ref, settings, mouth)
    log.info("motion: %d frames from %d segments", len(out),
             len(segment_starts(len(out), int(meta["n_pred"]), int(meta["n_prev"]))))
    return mo.denormalise(out, stats).astype(np.float32)
