"""crisp_mouth: the lipsync sharpening filter of V3 Face, offline and streaming.

The V3 Face notes name two forms of one filter on the 31 lipsync channels (`LIPSYNC_INDEX`):

* offline (`infer.py --crisp`): Gaussian pre-smoothing over time, then a soft-threshold gate
  relative to each channel's maximum over the utterance, then a gain. It needs the whole utterance.
* streaming (baked into the ONNX graph): a causal EMA whose state is an input and an output, an
  absolute smoothstep gate, the same gain. `calibrate_streaming` fits its α/edge0/edge1 to the
  offline filter on real tracks.

The notes give the offline flags (sigma, threshold, scale) but not the gate formula; the definition
used here is, per lipsync channel with utterance maximum m (after smoothing):

    e0 = 0.5 · threshold · m,   e1 = min(2 · threshold · m, m)
    gate = smoothstep((x − e0) / (e1 − e0)),   smoothstep(u) = 3u² − 2u³ on clamp(u, 0, 1)
    out = clip(x · gate · scale, 0, 1)

so values below half the threshold vanish, values above twice the threshold (or the peak) pass.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import minimize
from scipy.signal import lfilter
from torch import nn

from talkhead.models.arkit_channels import EXPRESSION_INDEX, LIPSYNC_INDEX

log = logging.getLogger(__name__)

N_CHANNELS = 52
N_LIPSYNC = len(LIPSYNC_INDEX)
_MIN_WIDTH = 1e-6  # smallest gate width; equal edges become a (near) step


def _smoothstep_np(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def offline_gate_edges(peak: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The offline gate's edges (e0, e1) from each channel's utterance maximum."""
    peak = np.maximum(peak, 0.0)
    return 0.5 * threshold * peak, np.minimum(2.0 * threshold * peak, peak)


def crisp_offline(blendshapes: np.ndarray, sigma: float, threshold: float, scale: float) -> np.ndarray:
    """Offline crisp_mouth on the lipsync channels of (T, 52) blendshapes (formula: module docstring)."""
    x = np.asarray(blendshapes, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != N_CHANNELS:
        raise ValueError(f"blendshapes must be (T, {N_CHANNELS}), got {x.shape}")
    out = x.copy()
    lip = x[:, LIPSYNC_INDEX]  # (T, 31)
    if sigma > 0:
        lip = gaussian_filter1d(lip, sigma, axis=0, mode="nearest")
    e0, e1 = offline_gate_edges(lip.max(axis=0), threshold)  # (31,) each
    width = np.maximum(e1 - e0, _MIN_WIDTH)
    gate = _smoothstep_np((lip - e0) / width)
    out[:, LIPSYNC_INDEX] = np.clip(lip * gate * scale, 0.0, 1.0)
    return out.astype(np.asarray(blendshapes).dtype, copy=False)


def _gate_width(edge0: float, edge1: float) -> float:
    return max(float(edge1) - float(edge0), _MIN_WIDTH)


class StreamingCrisp(nn.Module):
    """Causal, stateful crisp_mouth: EMA + absolute smoothstep gate + gain on the 31 lipsync channels.

    The EMA s_t = α x_t + (1 − α) s_{t−1} is computed without a loop over T as an exact
    lower-triangular matmul, s = W x + (1 − α)^(t+1) s_{−1} with W[t, k] = α (1 − α)^(t−k) for
    k ≤ t. Only non-negative powers appear (no division by vanishing powers), so it is stable for
    any T; cost is O(T²) per call, small for streaming chunks (a 60 s utterance at 25 fps is a
    1500×1500 matrix). It traces with a dynamic T.
    """

    def __init__(self, alpha: float = 0.5, edge0: float = 0.09, edge1: float = 0.36, scale: float = 1.0):
        super().__init__()
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha, self.edge0, self.edge1, self.scale = float(alpha), float(edge0), float(edge1), float(scale)
        lip = torch.tensor(LIPSYNC_INDEX, dtype=torch.long)
        other = torch.tensor(EXPRESSION_INDEX, dtype=torch.long)
        self.register_buffer("lip_index", lip, persistent=False)
        self.register_buffer("other_index", other, persistent=False)
        # cat([lipsync, others], -1).index_select(-1, unpermute) puts every channel back in place
        self.register_buffer("unpermute", torch.argsort(torch.cat([lip, other])), persistent=False)

    def ema(self, lip: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """EMA over time of (B, T, 31) from state (B, 31); returns all smoothed frames (B, T, 31)."""
        decay = 1.0 - self.alpha
        t = torch.arange(lip.shape[1], device=lip.device, dtype=lip.dtype)  # (T,)
        lag = t.unsqueeze(1) - t.unsqueeze(0)  # (T, T)
        weights = torch.where(lag >= 0, self.alpha * torch.pow(decay, lag.clamp(min=0.0)), torch.zeros_like(lag))
        carry = torch.pow(decay, t + 1.0).unsqueeze(-1)  # (T, 1)
        return torch.matmul(weights, lip) + carry * prev.unsqueeze(1)  # (B, T, 31)

    def forward(self, x: torch.Tensor, prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, 52), prev (B, 31) → y (B, T, 52), next state (B, 31); zeros start a stream."""
        smoothed = self.ema(x.index_select(-1, self.lip_index), prev)  # (B, T, 31)
        u = ((smoothed - self.edge0) / _gate_width(self.edge0, self.edge1)).clamp(0.0, 1.0)
        gate = u * u * (3.0 - 2.0 * u)
        crisped = (smoothed * gate * self.scale).clamp(0.0, 1.0)
        y = torch.cat([crisped, x.index_select(-1, self.other_index)], dim=-1).index_select(-1, self.unpermute)
        return y, smoothed[:, -1, :]


def crisp_streaming_np(blendshapes: np.ndarray, alpha: float, edge0: float, edge1: float,
                       scale: float) -> np.ndarray:
    """NumPy twin of StreamingCrisp from a zero state, on one (T, 52) track (used for calibration)."""
    out = np.asarray(blendshapes, dtype=np.float64).copy()
    out[:, LIPSYNC_INDEX] = _stream_lip(out[:, LIPSYNC_INDEX], alpha, edge0, edge1, scale)
    return out


def _ema_np(lip: np.ndarray, alpha: float) -> np.ndarray:
    return lfilter([alpha], [1.0, alpha - 1.0], lip, axis=0)


def _stream_lip(lip: np.ndarray, alpha: float, edge0: float, edge1: float, scale: float,
                smoothed: np.ndarray | None = None) -> np.ndarray:
    s = _ema_np(lip, alpha) if smoothed is None else smoothed
    gate = _smoothstep_np((s - edge0) / _gate_width(edge0, edge1))
    return np.clip(s * gate * scale, 0.0, 1.0)


def calibrate_streaming(tracks: list[np.ndarray], sigma: float, threshold: float, scale: float,
                        alphas: np.ndarray | None = None, n_edges: int = 16) -> dict[str, float]:
    """Fit (alpha, edge0, edge1) of the streaming filter to the offline one on real (T, 52) tracks.

    Minimises the mean |stream − offline| over the lipsync channels of all frames (each stream
    starts from a zero state, as a deployed stream does): a grid over α and the edges (spanning
    0..the largest lipsync value of the tracks), then Nelder–Mead from the best grid point.
    Returns alpha, edge0, edge1 and error (the mean absolute difference at the optimum).
    """
    if not tracks:
        raise ValueError("calibrate_streaming needs at least one track")
    lips = [np.asarray(t, dtype=np.float64)[:, LIPSYNC_INDEX] for t in tracks]
    targets = [crisp_offline(np.asarray(t, dtype=np.float64), sigma, threshold, scale)[:, LIPSYNC_INDEX]
               for t in tracks]
    n_values = sum(t.size for t in targets)
    top = max(float(lip.max()) for lip in lips) or 1.0
    alphas = np.linspace(0.05, 1.0, 20) if alphas is None else np.asarray(alphas, dtype=np.float64)
    edges = np.linspace(0.0, top, n_edges)

    def error(alpha: float, e0: float, e1: float, smoothed: list[np.ndarray] | None = None) -> float:
        if smoothed is None:
            smoothed = [_ema_np(lip, alpha) for lip in lips]
        total = sum(np.abs(_stream_lip(lip, alpha, e0, e1, scale, s) - target).sum()
                    for lip, s, target in zip(lips, smoothed, targets))
        return float(total / n_values)

    best = (np.inf, 1.0, 0.0, 0.0)
    for alpha in alphas:
        smoothed = [_ema_np(lip, alpha) for lip in lips]
        for i, e0 in enumerate(edges):
            for e1 in edges[i:]:
                err = error(float(alpha), float(e0), float(e1), smoothed)
                if err < best[0]:
                    best = (err, float(alpha), float(e0), float(e1))
    log.info("calibration grid best: err=%.5f alpha=%.3f edge0=%.3f edge1=%.3f", *best)

    def objective(p: np.ndarray) -> float:
        alpha, e0, e1 = float(p[0]), float(p[1]), float(p[2])
        if not 0.0 < alpha <= 1.0 or e0 < 0.0 or e1 < e0:
            return 1e9  # outside the parameters' domain
        return error(alpha, e0, e1)

    step = edges[1] - edges[0] if len(edges) > 1 else 0.1
    start = np.array(best[1:])
    simplex = np.stack([start, start + [-0.5 * (alphas[1] - alphas[0]) if len(alphas) > 1 else -0.05, 0, 0],
                        start + [0, 0.5 * step, 0.5 * step], start + [0, 0, 0.5 * step]])
    res = minimize(objective, start, method="Nelder-Mead",
                   options={"initial_simplex": simplex, "xatol": 1e-4, "fatol": 1e-7, "maxiter": 400})
    if res.fun < best[0]:
        best = (float(res.fun), float(res.x[0]), float(res.x[1]), float(res.x[2]))
    log.info("calibration refined: err=%.5f alpha=%.3f edge0=%.3f edge1=%.3f", *best)
    return {"alpha": best[1], "edge0": best[2], "edge1": best[3], "error": best[0]}
