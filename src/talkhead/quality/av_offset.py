"""The per-clip A/V offset: right, or honestly unknown.

Sign convention: a positive offset means the audio is LATE (it lags the picture) by that many
video frames; shifting the audio earlier by that many frames re-aligns it.

Method — no pretrained network, nothing learned outside the clip:

1. Features per video frame. Picture: the 40 lip-contour and 7 jaw points of the face mesh in
   the eye-corner frame (`talkhead.eval.landmarks.normalise`: translation, roll and scale removed),
   reduced to `dims` principal components. Sound: 20 log-mel bands (`audio_features`), reduced to
   `dims` components and stacked over ±`context` frames.
2. Cross-fitted canonical correlation at every lag in ±`max_lag`: the central frames are cut into
   `folds` contiguous windows; each window's curve comes from the first canonical pair (mouth ↔
   sound at t + lag) fitted on the OTHER windows and applied to its own frames. A relation the clip
   does not really contain does not survive being applied to frames it was not fitted on.
3. A null distribution from the same clip: the pooled curve computed with audio that cannot be in
   sync with the picture (the clip's own audio rolled by seconds, every other one time-reversed:
   the same spectrum and rhythm, no alignment). Confidence is the pooled peak's z-score against the
   null peaks: "confident" means "higher than unrelated audio of this very clip gets".
4. Honest refusals (`status = "uncertain"` with the reason): too few frames, too little speech, no
   mouth signal, a peak at the edge of the search window (the estimator failing, not a
   measurement), any window whose own peak is more than one frame from the pooled peak, or a peak
   that unrelated audio reaches too. The gate never shifts audio on an uncertain measure
   (`quality.av_uncertain` decides keep or reject).

Measured on the real fixtures (docs/qc.md): on clips of 3–8 s the evidence in face-mesh lip and jaw
motion is at the level of unrelated audio (held-out r ≈ 0.3 both), so such clips come out
uncertain, never wrongly shifted; the standard measure is SyncNet (`quality.syncnet_path`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import uniform_filter1d

from talkhead.eval.landmarks import MOUTH, normalise

JAW = (152, 148, 377, 176, 400, 149, 378)  # chin and lower jaw contour of the face mesh
FEATURE_POINTS = np.array(MOUTH.tolist() + list(JAW))  # (47,)


@dataclass(frozen=True)
class OffsetSettings:
    """Knobs of the per-clip measure (quality.av_* in params)."""

    max_lag: int = 15  # frames searched each way
    edge: int = 2  # a peak this close to ±max_lag is refused
    folds: int = 4  # independent windows (each measured with a model fitted on the others)
    dims: int = 4  # principal components per modality
    context: int = 1  # audio frames stacked each side
    trend: int = 25  # frames of the moving average removed from both feature streams
    ridge: float = 1.0  # CCA regularisation, relative to the mean variance
    nulls: int = 12  # unrelated-audio curves for the null distribution
    min_z: float = 3.0  # pooled peak's z-score against the null peaks
    min_frames: int = 50  # central frames (after removing ±max_lag) needed
    min_voiced: int = 40  # speech frames among them


@dataclass(frozen=True)
class Offset:
    """One clip's measure: the offset (None when it could not be taken), its confidence and status."""

    frames: int | None
    confidence: float  # z-score of the peak against the null peaks (0 when not measured)
    status: str  # "measured" | "uncertain"
    reason: str = ""  # why uncertain
    curve: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # held-out r at −max..max

    @property
    def measured(self) -> bool:
        """True when the offset may be acted on."""
        return self.status == "measured"


def mouth_features(points: np.ndarray) -> np.ndarray:
    """(T, 478, ≥2) face mesh → (T, 94) lip + jaw coordinates in eye-corner units, NaN rows where no mesh."""
    x = normalise(np.asarray(points, np.float64))[:, FEATURE_POINTS]  # (T, 47, 2)
    return x.reshape(len(x), -1)


def fill_gaps(x: np.ndarray) -> np.ndarray:
    """Interpolate NaN rows of (T, D) linearly in time."""
    bad = np.isnan(x).any(axis=1)
    if not bad.any():
        return x
    t = np.arange(len(x))
    return np.stack([np.interp(t, t[~bad], col[~bad]) for col in x.T], 1)


def detrend(x: np.ndarray, window: int) -> np.ndarray:
    """Subtract the moving average over `window` frames: head motion and level changes are not speech."""
    if window <= 1:
        return x
    return x - uniform_filter1d(x, size=window, axis=0, mode="nearest")


def _pca(x: np.ndarray, k: int) -> np.ndarray:
    """(T, D) → (T, k) principal-component scores, standardised."""
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    z = x @ vt[:k].T
    return z / (z.std(0) + 1e-9)


def stack_context(x: np.ndarray, context: int) -> np.ndarray:
    """(T, D) → (T, D·(2c+1)): each row with its ±context neighbours (edges repeated)."""
    if context == 0:
        return x
    padded = np.pad(x, ((context, context), (0, 0)), mode="edge")
    return np.concatenate([padded[k:k + len(x)] for k in range(2 * context + 1)], 1)


def canonical_pairs(v: np.ndarray, a: np.ndarray, ridge: float,
                    k: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first `k` regularised canonical pairs of (N, dv) and (N, da): weights (dv, k), (da, k), correlations (k,)."""
    v, a = v - v.mean(0), a - a.mean(0)
    cvv, caa, cva = v.T @ v / len(v), a.T @ a / len(a), v.T @ a / len(v)
    cvv += ridge * np.trace(cvv) / len(cvv) * np.eye(len(cvv))
    caa += ridge * np.trace(caa) / len(caa) * np.eye(len(caa))
    lv, la = np.linalg.cholesky(cvv), np.linalg.cholesky(caa)
    m = np.linalg.solve(lv, np.linalg.solve(la, cva.T).T)  # Lv⁻¹ Cva La⁻ᵀ
    u, corr, wt = np.linalg.svd(m)
    return np.linalg.solve(lv.T, u[:, :k]), np.linalg.solve(la.T, wt[:k].T), corr[:k]


def _moments(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Raw moments of paired rows x (..., N, dx), y (..., N, dy): Σx, Σy, Σxxᵀ, Σyyᵀ, Σxyᵀ."""
    xt, yt = np.swapaxes(x, -1, -2), np.swapaxes(y, -1, -2)
    return x.sum(-2), y.sum(-2), xt @ x, yt @ y, xt @ y


def _centred(n: np.ndarray | int, sx: np.ndarray, sy: np.ndarray, sxy: np.ndarray) -> np.ndarray:
    """Σ (x − x̄)(y − ȳ)ᵀ from raw moments of n rows."""
    n = np.asarray(n, np.float64)[..., None, None]
    return sxy - sx[..., :, None] * sy[..., None, :] / n


def _first_pair(cvv: np.ndarray, caa: np.ndarray, cva: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights (..., dv), (..., da) of the first regularised canonical pair of stacked covariances
    (..., dv, dv), (..., da, da), (..., dv, da): `canonical_pairs` for many fits at once."""
    def regularised(c: np.ndarray) -> np.ndarray:
        d = c.shape[-1]
        return c + (ridge * np.trace(c, axis1=-2, axis2=-1) / d)[..., None, None] * np.eye(d)

    lv, la = np.linalg.cholesky(regularised(cvv)), np.linalg.cholesky(regularised(caa))
    m = np.linalg.solve(lv, np.swapaxes(np.linalg.solve(la, np.swapaxes(cva, -1, -2)), -1, -2))  # Lv⁻¹ Cva La⁻ᵀ
    u, _, wt = np.linalg.svd(m)
    wv = np.linalg.solve(np.swapaxes(lv, -1, -2), u[..., :, :1])[..., 0]
    wa = np.linalg.solve(np.swapaxes(la, -1, -2), np.swapaxes(wt[..., :1, :], -1, -2))[..., 0]
    return wv, wa


def window_curves(v: np.ndarray, a: np.ndarray, s: OffsetSettings) -> np.ndarray:
    """(folds, 2·max_lag+1) cross-fitted canonical correlation of mouth v (T, dv) and sound a (T, da).

    The central frames are cut into `folds` contiguous windows; each window's curve uses the first
    canonical pair fitted on the other windows at the same lag, applied to its own frames.
    Every (lag, window) fit is done at once from per-window moments (fit = all windows − own).
    """
    lag_max = s.max_lag
    centre = np.arange(lag_max, len(v) - lag_max)
    lags = np.arange(-lag_max, lag_max + 1)
    blocks = np.array_split(centre, s.folds)
    # per window k: moments of v[frames] and a[frames + lag] for every lag → (L, F, …)
    per = [_moments(np.broadcast_to(v[b], (len(lags), len(b), v.shape[1])), a[b[None, :] + lags[:, None]])
           for b in blocks]
    sv, sa, svv, saa, sva = (np.stack([p[i] for p in per], 1) for i in range(5))  # (L, F, …)
    n_test = np.array([len(b) for b in blocks], np.float64)  # (F,)
    n_fit = n_test.sum() - n_test
    fit = [m.sum(1, keepdims=True) - m for m in (sv, sa, svv, saa, sva)]
    cvv = _centred(n_fit, fit[0], fit[0], fit[2]) / n_fit[:, None, None]
    caa = _centred(n_fit, fit[1], fit[1], fit[3]) / n_fit[:, None, None]
    cva = _centred(n_fit, fit[0], fit[1], fit[4]) / n_fit[:, None, None]
    wv, wa = _first_pair(cvv, caa, cva, s.ridge)  # (L, F, dv), (L, F, da)
    # Pearson r of the projections on each window's own frames, from its centred moments
    xy = np.einsum("lfi,lfij,lfj->lf", wv, _centred(n_test, sv, sa, sva), wa)
    xx = np.einsum("lfi,lfij,lfj->lf", wv, _centred(n_test, sv, sv, svv), wv)
    yy = np.einsum("lfi,lfij,lfj->lf", wa, _centred(n_test, sa, sa, saa), wa)
    norm = np.sqrt(np.clip(xx, 0, None) * np.clip(yy, 0, None))
    r = np.divide(xy, norm, out=np.zeros_like(xy), where=norm > 1e-12)
    return r.T  # (F, L)


def null_audio(a: np.ndarray, k: int, n_nulls: int) -> np.ndarray:
    """The k-th unrelated version of (T, D) audio: rolled by a fraction of the clip, every other one reversed."""
    step = max(1, len(a) * (k + 1) // (n_nulls + 1))
    rolled = np.roll(a, step, axis=0)
    return rolled[::-1] if k % 2 else rolled


def decide(curves: np.ndarray, null_peaks: np.ndarray, s: OffsetSettings) -> Offset:
    """The verdict on (W, 2L+1) window curves: the pooled peak, if every window and the null test agree."""
    pooled = curves.mean(0)
    best = int(np.argmax(pooled))
    frames = best - s.max_lag
    z = float((pooled[best] - null_peaks.mean()) / (null_peaks.std() + 1e-9))
    picks = curves.argmax(1) - s.max_lag
    curve = pooled.astype(np.float32)
    if abs(frames) > s.max_lag - s.edge:
        return Offset(frames, z, "uncertain", f"peak at {frames:+d}, the edge of the ±{s.max_lag} search", curve)
    if np.any(np.abs(picks - frames) > 1):
        listed = " ".join(f"{p:+d}" for p in picks)
        return Offset(frames, z, "uncertain", f"windows disagree: {listed} (pooled {frames:+d})", curve)
    if z < s.min_z:
        return Offset(frames, z, "uncertain", f"no clear peak: z {z:.1f} < {s.min_z:g} against unrelated audio", curve)
    return Offset(frames, z, "measured", "", curve)


def _prepare(points: np.ndarray, audio: np.ndarray, s: OffsetSettings) -> tuple[np.ndarray, np.ndarray]:
    """Mouth (T, dims) and stacked sound (T, dims·(2c+1)) features."""
    v = _pca(detrend(fill_gaps(mouth_features(points)), s.trend), s.dims)
    a = stack_context(_pca(detrend(np.asarray(audio, np.float64), s.trend), s.dims), s.context)
    return v, a


def estimate_av_offset(points: np.ndarray, audio: np.ndarray, voiced: np.ndarray | None = None,
                       settings: OffsetSettings | None = None) -> Offset:
    """The A/V offset of one clip from its face mesh (T, 478, ≥2) and per-frame audio features (T, D).

    `voiced` (T,) bool marks speech frames (voice activity); None counts every frame as speech.
    """
    s = settings or OffsetSettings()
    n = min(len(points), len(audio))
    points, audio = np.asarray(points)[:n], np.asarray(audio)[:n]
    central = n - 2 * s.max_lag
    if central < s.min_frames:
        return Offset(None, 0.0, "uncertain", f"too short to measure: {n} frames, need "
                                              f"{s.min_frames + 2 * s.max_lag}")
    found = ~np.isnan(mouth_features(points)).any(axis=1)
    if found.mean() < 0.5:
        return Offset(None, 0.0, "uncertain", f"face mesh found in only {found.mean():.0%} of frames")
    speech = int(np.sum(voiced[s.max_lag:n - s.max_lag])) if voiced is not None else central
    if speech < s.min_voiced:
        return Offset(None, 0.0, "uncertain", f"too little speech: {speech} voiced frames, need {s.min_voiced}")
    v, a = _prepare(points, audio, s)
    if np.allclose(v.std(0), 0) or np.allclose(a.std(0), 0):
        return Offset(None, 0.0, "uncertain", "no mouth or sound variation")
    curves = window_curves(v, a, s)
    nulls = np.array([window_curves(v, null_audio(a, k, s.nulls), s).mean(0).max() for k in range(s.nulls)])
    return decide(curves, nulls, s)
