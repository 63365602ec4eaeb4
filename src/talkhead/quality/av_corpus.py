"""The corpus-level A/V sync model: one linear mouth ↔ sound model fitted on the corpus's own clips.

The per-clip measure (talkhead.quality.av_offset) has to learn the mouth–sound relation from the
clip itself, which a few seconds of speech cannot teach. A corpus can: like SyncNet, which was
trained on broadcast video assumed to be mostly in sync (Chung & Zisserman 2016, "Out of time",
https://www.robots.ox.ac.uk/~vgg/publications/2016/Chung16a/chung16a.pdf), this model is fitted on
the clips the first pass accepted, at zero offset, and then re-measures every clip's offset.

Model: regularised canonical correlation analysis between the lip + jaw mesh coordinates of a frame
(per clip centred and detrended) and the log-mel bands of ±`context` frames around it (per clip
standardised and detrended); the first `components` canonical pairs are kept. Cross-fitting: the
speakers are dealt into `folds` groups and a clip is measured only by a model fitted on the other
groups, so no clip — and no speaker — is scored by a model that saw it.

Clips out of sync would teach the model a smeared relation, so fitting is robust: a second round
refits each fold's model only on the clips the first round found near sync.

Measuring one clip uses the decision rule of the per-clip measure (talkhead.quality.av_offset.decide):
the clip is cut into windows of `window` frames, every window's peak must agree with the pooled
peak within one frame, and the pooled peak must stand out against the clip's own audio made
unrelated (rolled and reversed). We measured a self-trained neural SyncNet-style scorer
(talkhead.models.syncnet.SelfSyncNet) for this role too; on the five real fixture speakers,
trained on four and tested on the fifth, it found no offset within a frame (docs/qc.md), so the
linear model is the one used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkhead.quality.av_offset import (Offset, OffsetSettings, canonical_pairs, decide, detrend, fill_gaps,
                                        mouth_features, null_audio, stack_context)


TRUSTED_PEAK = 3  # frames: a clip whose peak is this close to zero may teach the next round (per-speaker bias ≤ 3)


@dataclass(frozen=True)
class CorpusSettings:
    """The corpus model's knobs (params section av_corpus)."""

    components: int = 2
    context: int = 2
    ridge: float = 1.0
    window: int = 50  # frames per agreement window
    trend: int = 25
    gross_margin: float = 0.1  # pooled-peak excess over every near-zero lag that marks a clip out of sync
    gross_spread: float = 1.5  # ... and that excess over the spread of the null peaks


@dataclass(frozen=True)
class SyncModel:
    """Canonical weights: mouth (dv, k), sound (da, k) and the canonical correlations (k,)."""

    mouth: np.ndarray
    sound: np.ndarray
    correlations: np.ndarray


def clip_features(points: np.ndarray, audio: np.ndarray, cs: CorpusSettings) -> tuple[np.ndarray, np.ndarray]:
    """Mouth (T, 94) and stacked sound (T, 20·(2c+1)) features of one clip, centred and detrended per clip."""
    n = min(len(points), len(audio))
    v = detrend(fill_gaps(mouth_features(np.asarray(points)[:n])), cs.trend)
    v = v - v.mean(0)
    a = detrend(np.asarray(audio, np.float64)[:n], cs.trend)
    a = (a - a.mean(0)) / (a.std(0) + 1e-9)
    return v, stack_context(a, cs.context)


def fit_sync_model(clips: list[tuple[np.ndarray, np.ndarray]], cs: CorpusSettings) -> SyncModel:
    """Fit the canonical pairs on (mouth, sound) feature pairs of in-sync clips, pooled."""
    v = np.concatenate([c[0] for c in clips])
    a = np.concatenate([c[1] for c in clips])
    return SyncModel(*canonical_pairs(v, a, cs.ridge, cs.components))


def model_curves(model: SyncModel, v: np.ndarray, a: np.ndarray, max_lag: int, window: int) -> np.ndarray:
    """(W, 2·max_lag+1) correlation of the canonical projections per window of central frames and lag."""
    pv, pa = v @ model.mouth, a @ model.sound  # (T, k) each
    weights = model.correlations / model.correlations.sum()
    centre = np.arange(max_lag, len(v) - max_lag)
    windows = np.array_split(centre, max(1, len(centre) // window))
    curves = np.zeros((len(windows), 2 * max_lag + 1))
    for i, w in enumerate(windows):
        x = pv[w] - pv[w].mean(0)
        for j, lag in enumerate(range(-max_lag, max_lag + 1)):
            y = pa[w + lag] - pa[w + lag].mean(0)
            norm = np.sqrt((x * x).sum(0) * (y * y).sum(0)) + 1e-12
            curves[i, j] = float(weights @ ((x * y).sum(0) / norm))
    return curves


def measure_clip(model: SyncModel, v: np.ndarray, a: np.ndarray, s: OffsetSettings, cs: CorpusSettings,
                 tolerance: int = 2) -> Offset:
    """A clip's offset under the corpus model: `measured` by the per-clip measure's rules, else perhaps `out_of_sync`.

    `out_of_sync` is the gross-offset rule: the pooled peak lies beyond ±`tolerance`, not at the edge
    of the search, every window's own peak is within 3 frames of it, and it stands at least
    `cs.gross_margin` — and `cs.gross_spread` times the spread of the null peaks — above every lag
    within ±`tolerance`. It
    says the clip is out of sync without vouching for the value (the model's per-speaker bias is up
    to ±3 frames, docs/qc.md), so the gate rejects such a clip and never shifts it by that value.
    """
    if len(v) - 2 * s.max_lag < s.min_frames:
        return Offset(None, 0.0, "uncertain", f"too short to measure: {len(v)} frames")
    curves = model_curves(model, v, a, s.max_lag, cs.window)
    nulls = np.array([model_curves(model, v, null_audio(a, k, s.nulls), s.max_lag, cs.window).mean(0).max()
                      for k in range(s.nulls)])
    result = decide(curves, nulls, s)
    if result.measured or result.frames is None or abs(result.frames) <= tolerance:
        return result
    pooled = curves.mean(0)
    near_zero = pooled[s.max_lag - tolerance:s.max_lag + tolerance + 1].max()
    margin = float(pooled[result.frames + s.max_lag] - near_zero)
    spread = float(nulls.std()) + 1e-9  # how much unrelated audio moves the peak: low-SNR clips move it a lot
    windows_agree = bool(np.all(np.abs(curves.argmax(1) - s.max_lag - result.frames) <= 3))
    if (abs(result.frames) <= s.max_lag - s.edge and windows_agree and margin >= cs.gross_margin
            and margin >= cs.gross_spread * spread):
        return Offset(result.frames, result.confidence, "out_of_sync",
                      f"peak {result.frames:+d} stands {margin:.2f} above every lag within ±{tolerance}", result.curve)
    return result


def speaker_folds(speakers: list[str], folds: int) -> dict[str, int]:
    """Deal the sorted distinct speakers into `folds` groups (stable for the same speaker set)."""
    ordered = sorted(set(speakers))
    return {spk: i % folds for i, spk in enumerate(ordered)}


def cross_fit(features: dict[str, tuple[np.ndarray, np.ndarray]], speakers: dict[str, str], folds: int,
              s: OffsetSettings, cs: CorpusSettings, tolerance: int = 2,
              rounds: int = 2) -> dict[str, tuple[int, Offset]]:
    """Every clip measured by the model fitted on the other speaker folds: {clip: (fold, Offset)}.

    Round one fits on every clip; each later round fits only on the clips the previous round found
    near sync (a peak within `TRUSTED_PEAK` frames), so clips that are out of sync do not teach the model.
    """
    fold_of = speaker_folds(list(speakers.values()), folds)
    trusted = set(features)
    out: dict[str, tuple[int, Offset]] = {}
    for _ in range(max(1, rounds)):
        out = {}
        for f in sorted(set(fold_of.values())):
            train = [features[c] for c in features if fold_of[speakers[c]] != f and c in trusted]
            test = [c for c in features if fold_of[speakers[c]] == f]
            if not train or not test:
                continue
            model = fit_sync_model(train, cs)
            for clip in test:
                out[clip] = (f, measure_clip(model, *features[clip], s, cs, tolerance))
        near = {c for c, (_, o) in out.items() if o.frames is not None and abs(o.frames) <= TRUSTED_PEAK}
        if len({fold_of[speakers[c]] for c in near}) < 2:
            break  # too few clips look in sync to refit on without leaving a fold untrained
        trusted = near
    return out
