"""The per-clip A/V offset: a known delay is measured with the documented sign; no evidence → uncertain."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.quality.av_offset import OffsetSettings, canonical_pairs, estimate_av_offset, window_curves


@pytest.mark.parametrize("delay", [0, 4, 10, -7])
def test_a_known_delay_is_measured_with_the_documented_sign(delay, synthetic_clip):
    points, audio = synthetic_clip(300, delay, seed=delay + 20)
    result = estimate_av_offset(points, audio)
    assert result.status == "measured", result.reason
    assert result.frames == delay and result.confidence >= OffsetSettings().min_z


def test_unrelated_audio_is_uncertain_not_an_offset(synthetic_clip):
    points, audio = synthetic_clip(300, 0, seed=3, related=False)
    result = estimate_av_offset(points, audio)
    assert result.status == "uncertain" and not result.measured, result


def test_a_peak_at_the_edge_of_the_search_is_refused(synthetic_clip):
    points, audio = synthetic_clip(300, 14, seed=5)
    result = estimate_av_offset(points, audio, settings=OffsetSettings(max_lag=15))
    assert result.status == "uncertain" and "edge" in result.reason


@pytest.mark.parametrize("case, words", [
    ("short", "too short"), ("silence", "too little speech"), ("no_mesh", "face mesh found"),
])
def test_missing_evidence_is_named(case, words, synthetic_clip):
    points, audio = synthetic_clip(300, 3, seed=7)
    voiced = np.ones(300, bool)
    if case == "short":
        points, audio = points[:70], audio[:70]
        voiced = voiced[:70]
    elif case == "silence":
        voiced[20:] = False
    else:
        points[:200] = np.nan
    result = estimate_av_offset(points, audio, voiced)
    assert result.status == "uncertain" and words in result.reason, result.reason


def _curves_one_fit_at_a_time(v, a, s):
    """The cross-fitted curves the slow, obvious way: one canonical fit per (lag, window)."""
    centre = np.arange(s.max_lag, len(v) - s.max_lag)
    blocks = np.array_split(centre, s.folds)
    curves = np.zeros((s.folds, 2 * s.max_lag + 1))
    for j, lag in enumerate(range(-s.max_lag, s.max_lag + 1)):
        for k, test in enumerate(blocks):
            fit = np.concatenate([b for i, b in enumerate(blocks) if i != k])
            wv, wa, _ = canonical_pairs(v[fit], a[fit + lag], s.ridge)
            curves[k, j] = np.corrcoef(v[test] @ wv[:, 0], a[test + lag] @ wa[:, 0])[0, 1]
    return curves


@pytest.mark.parametrize("frames, folds", [(90, 4), (157, 3), (300, 5)])
def test_all_fits_at_once_equal_one_fit_at_a_time(frames, folds):
    rng = np.random.default_rng(frames)
    v = rng.normal(size=(frames, 4))
    a = rng.normal(size=(frames, 12))
    a[:, 0] += np.roll(v[:, 0], 3)  # some real relation, so the curves are not all noise
    s = OffsetSettings(folds=folds)
    np.testing.assert_allclose(window_curves(v, a, s), _curves_one_fit_at_a_time(v, a, s), atol=1e-9)
