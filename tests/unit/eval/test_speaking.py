"""The speaking measure: the inner-lip gap in eye-corner units, the loudness per frame, and how they move together."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.eval.speaking import (EYE_CORNERS, LOWER_INNER_LIP, SILENCE_DB, UPPER_INNER_LIP, lip_gap, loudness_db,
                                    speaking_measures)


def _mesh(gaps: np.ndarray, eye_distance: float) -> np.ndarray:
    """(T, 478, 3) points: eye corners `eye_distance` apart, inner lips `gap × eye_distance` apart."""
    pts = np.zeros((len(gaps), 478, 3), np.float32)
    pts[:, EYE_CORNERS[0], 0], pts[:, EYE_CORNERS[1], 0] = 100.0, 100.0 + eye_distance
    pts[:, UPPER_INNER_LIP, 1] = 200.0
    pts[:, LOWER_INNER_LIP, 1] = 200.0 + gaps * eye_distance
    return pts


@pytest.mark.parametrize("eye_distance", [40.0, 400.0])
def test_the_gap_is_in_eye_corner_units_whatever_the_face_size(eye_distance):
    gaps = np.array([0.0, 0.05, 0.2])
    np.testing.assert_allclose(lip_gap(_mesh(gaps, eye_distance)), gaps, atol=1e-5)


def test_a_missing_mesh_is_nan():
    pts = _mesh(np.full(4, 0.1), 50.0)
    pts[2] = np.nan
    gap = lip_gap(pts)
    assert np.isnan(gap[2]) and np.isfinite(gap[[0, 1, 3]]).all()


def test_loudness_per_frame_in_db():
    rate, fps = 16000, 25
    hop = rate // fps
    samples = np.concatenate([np.full(hop, 0.1), np.zeros(hop), np.full(hop // 2, 1.0)])  # 2.5 frames
    db = loudness_db(samples, 4, rate, fps)
    np.testing.assert_allclose(db[0], -20.0, atol=1e-6)  # RMS 0.1
    assert db[1] == SILENCE_DB and db[3] == SILENCE_DB  # silence; no audio left for the last frame
    np.testing.assert_allclose(db[2], 20 * np.log10(np.sqrt(0.5)), atol=1e-6)  # half a frame at 1.0


def test_a_mouth_that_follows_the_speech_two_frames_late():
    rng = np.random.default_rng(0)
    loud = np.convolve(rng.normal(size=200), np.ones(5) / 5, mode="same")  # a speech-like level, (200,)
    gap = 0.1 + 0.05 * np.roll(loud, 2)  # the mouth opens with the level, 2 frames later
    gap[[50, 51]] = np.nan  # a mesh dropout
    m = speaking_measures(gap, loud)
    assert m["lag"] == 2 and m["r_loudness"] > 0.95 and m["mesh_rate"] == 0.99
    assert m["gap_std"] == pytest.approx(np.nanstd(gap)) and m["gap_range"] > 0


def test_a_still_mouth_has_no_movement_and_no_correlation():
    loud = np.random.default_rng(1).normal(size=100)
    m = speaking_measures(np.full(100, 0.08), loud)
    assert m["gap_std"] < 1e-12 and m["gap_range"] < 1e-12 and np.isnan(m["r_loudness"])


def test_no_mesh_at_all_gives_nan_measures_not_an_error():
    m = speaking_measures(np.full(30, np.nan), np.zeros(30))
    assert m["mesh_rate"] == 0.0 and np.isnan(m["gap_std"]) and np.isnan(m["r_loudness"])
