"""Blendshape targets: pose-free geometry, shapes move the right way, calibration, smoothing, real clips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from talkhead.features.blendshapes import (
    ARKIT_NAMES, INDEX, SPAN_FLOOR, UNMEASURED, VERSION, Calibration, calibrate, raw_measures, solve,
    smooth_targets,
)

# A synthetic face in the face frame (unit = outer-eye-corner distance, y down): the medians of a
# real speaker's mesh, right side given and mirrored to the left. Other landmarks stay at 0.
RIGHT_TO_LEFT = {
    33: 263, 133: 362, 160: 387, 144: 373, 159: 386, 145: 374, 158: 385, 153: 380, 468: 473,
    107: 336, 66: 296, 105: 334, 55: 285, 65: 295, 52: 282, 70: 300, 46: 276, 61: 291, 39: 269,
    181: 405, 81: 311, 178: 402, 78: 308, 117: 346, 129: 358,
}
RIGHT = {
    33: (-0.500, 0.000), 133: (-0.199, 0.022), 160: (-0.425, -0.041), 144: (-0.418, 0.039),
    159: (-0.369, -0.050), 145: (-0.365, 0.046), 158: (-0.313, -0.047), 153: (-0.309, 0.044),
    468: (-0.345, -0.007), 107: (-0.158, -0.324), 66: (-0.322, -0.343), 105: (-0.463, -0.337),
    55: (-0.142, -0.214), 65: (-0.312, -0.279), 52: (-0.439, -0.277), 70: (-0.645, -0.199),
    46: (-0.604, -0.170), 61: (-0.290, 0.825), 39: (-0.176, 0.712), 181: (-0.162, 0.945),
    81: (-0.130, 0.790), 178: (-0.130, 0.830), 78: (-0.263, 0.815), 117: (-0.611, 0.207),
    129: (-0.236, 0.444),
}
CENTRE = {0: 0.684, 13: 0.800, 14: 0.815, 17: 0.960, 152: 1.350, 2: 0.537}  # y at x = 0
LOWER_JAW = (14, 17, 152, 178, 402, 181, 405)  # lower lip and chin: they drop when the jaw opens
RIGHT_UPPER_LID, RIGHT_LOWER_LID = (160, 159, 158), (144, 145, 153)
SIZE, ORIGIN = 200.0, np.array([256.0, 256.0])  # pixels per face unit, where the face sits in a 512 crop


def face_units() -> np.ndarray:
    """(478, 3) synthetic face in face units."""
    pts = np.zeros((478, 3))
    for r, (x, y) in RIGHT.items():
        pts[r, :2] = x, y
        pts[RIGHT_TO_LEFT[r], :2] = -x, y
    for c, y in CENTRE.items():
        pts[c, :2] = 0.0, y
    return pts


def to_pixels(units: np.ndarray) -> np.ndarray:
    """(..., 478, 3) face units -> float32 pixels of a 512 crop (z scaled like x)."""
    out = units * SIZE
    out[..., :2] += ORIGIN
    return out.astype(np.float32)


def transform(points: np.ndarray, scale: float, degrees: float, shift: tuple[float, float]) -> np.ndarray:
    """Scale (x, y, z), rotate in the image plane about the origin and translate (x, y) landmarks."""
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    out = points.astype(np.float64) * scale
    out[..., :2] = out[..., :2] @ rot.T + np.asarray(shift)
    return out.astype(np.float32)


def test_names_and_constants():
    assert len(ARKIT_NAMES) == len(set(ARKIT_NAMES)) == 52
    assert ARKIT_NAMES[:2] == ("eyeBlinkLeft", "eyeLookDownLeft") and ARKIT_NAMES[-1] == "tongueOut"
    assert ARKIT_NAMES.index("jawOpen") == 17 and ARKIT_NAMES.index("browInnerUp") == 43
    assert SPAN_FLOOR.shape == (52,) and (SPAN_FLOOR > 0).all() and VERSION


@pytest.mark.parametrize("scale, degrees, shift", [(2.0, 20.0, (37.0, -55.0)), (0.5, -20.0, (300.0, 4.0)),
                                                   (1.0, 90.0, (0.0, 0.0))])
def test_raw_measures_ignore_scale_translation_and_roll(scale, degrees, shift):
    rng = np.random.default_rng(0)
    units = face_units() + rng.normal(0, 0.01, (478, 3))  # break the symmetry
    points = to_pixels(units)[None]  # (1, 478, 3)
    base = raw_measures(points)
    moved = raw_measures(transform(points, scale, degrees, shift))
    assert np.isfinite(base).all()
    np.testing.assert_allclose(moved, base, rtol=1e-4, atol=1e-4 * np.abs(base).max())
    unmeasured = [INDEX[n] for n in UNMEASURED]
    assert (base[:, unmeasured] == 0).all()


def test_opening_the_jaw_raises_jaw_open_and_not_blink():
    frames = []
    for drop in np.linspace(0.0, 0.2, 11):
        units = face_units()
        units[list(LOWER_JAW), 1] += drop
        frames.append(units)
    raw = raw_measures(to_pixels(np.stack(frames)))  # (11, 52)
    jaw, blink = INDEX["jawOpen"], [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]
    assert (np.diff(raw[:, jaw]) > 0).all()
    coeffs = solve(raw, calibrate(raw))
    assert coeffs[0, jaw] == 0 and coeffs[-1, jaw] == 1 and (np.diff(coeffs[:, jaw]) >= 0).all()
    assert np.ptp(raw[:, blink], axis=0).max() < 1e-6 and np.ptp(coeffs[:, blink], axis=0).max() == 0


def _lid_sequence(closures: np.ndarray, seed: int = 0) -> np.ndarray:
    """(T, 478, 3) pixels: open eyes with lid jitter, the right upper lid moved `closure` of the way down."""
    rng = np.random.default_rng(seed)
    frames = []
    for closure in closures:
        units = face_units()
        lids = list(RIGHT_UPPER_LID + RIGHT_LOWER_LID) + [RIGHT_TO_LEFT[i] for i in RIGHT_UPPER_LID]
        units[lids, 1] += rng.normal(0, 0.003, len(lids))
        up, lo = list(RIGHT_UPPER_LID), list(RIGHT_LOWER_LID)
        units[up, 1] += closure * (units[lo, 1] - units[up, 1])
        frames.append(units)
    return to_pixels(np.stack(frames))


def test_closing_the_right_eyelid_is_a_right_blink():
    closures = np.r_[np.zeros(30), [0.25, 0.5, 0.75, 1.0]]
    points = _lid_sequence(closures)
    left, right = INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]
    coeffs = solve(raw_measures(points), calibrate(raw_measures(points)))
    assert coeffs[-1, right] > 0.95 and coeffs[:30, right].max() < 0.3
    assert (np.diff(coeffs[30:, right]) >= 0).all() and coeffs[:, left].max() < 0.3
    # Calibrated on open eyes only, the span floor still makes a closed eye a full blink.
    open_only = calibrate(raw_measures(points[:30]))
    assert solve(raw_measures(points[-1:]), open_only)[0, right] > 0.95


def test_solve_keeps_nan_rows_and_range():
    points = _lid_sequence(np.r_[np.zeros(8), 1.0])
    points[3] = np.nan
    raw = raw_measures(points)
    assert np.isnan(raw[3]).all() and np.isfinite(np.delete(raw, 3, axis=0)).all()
    coeffs = solve(raw, calibrate(raw))
    assert coeffs.dtype == np.float32 and np.isnan(coeffs[3]).all()
    rest = np.delete(coeffs, 3, axis=0)
    assert rest.min() >= 0 and rest.max() <= 1
    with pytest.raises(ValueError, match="no frame"):
        calibrate(np.full((4, 52), np.nan))
    with pytest.raises(ValueError, match="478"):
        raw_measures(np.zeros((2, 468, 3)))


def test_calibration_round_trips_through_json():
    points = _lid_sequence(np.r_[np.zeros(10), 1.0])
    raw = raw_measures(points)
    cal = calibrate(raw)
    back = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_array_equal(back.neutral, cal.neutral)
    np.testing.assert_array_equal(back.span, cal.span)
    assert back.frames == cal.frames == 11
    np.testing.assert_array_equal(solve(raw, back), solve(raw, cal))
    with pytest.raises(ValueError, match="not"):
        Calibration.from_dict({**cal.to_dict(), "version": "geometric-0"})


def test_smooth_targets_identity_nan_and_fade():
    rng = np.random.default_rng(1)
    coeffs = rng.uniform(0, 1, (50, 52)).astype(np.float32)
    coeffs[[10, 11, 30]] = np.nan
    same = smooth_targets(coeffs, gamma=1.0, sigma=0.0, fade=0)
    np.testing.assert_array_equal(same, coeffs)
    out = smooth_targets(coeffs, gamma=0.5, sigma=2.0, fade=5)
    lost = np.isnan(coeffs).any(axis=1)
    assert np.isnan(out[lost]).all() and np.isfinite(out[~lost]).all()
    assert (out[0] == 0).all() and (out[-1] == 0).all() and out[~lost].max() <= 1
    assert np.nanstd(out[10:40], axis=0).mean() < np.nanstd(coeffs[10:40], axis=0).mean() / 2  # smoothed
    flat = np.full((20, 52), 0.25, np.float32)
    faded = smooth_targets(flat, gamma=0.5, sigma=3.0, fade=4)
    np.testing.assert_allclose(faded[:5, 0], [0, 0.125, 0.25, 0.375, 0.5], atol=1e-6)  # 0.25 ** 0.5 = 0.5
    np.testing.assert_allclose(faded[4:16], 0.5, atol=1e-6)
    with pytest.raises(ValueError):
        smooth_targets(flat, gamma=0.0, sigma=1.0, fade=0)


# --- real talking-face clips --------------------------------------------------------------------

def _clip(real_media, name: str, frames: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(T, 478, 3) face mesh of the first `frames` 25-fps frames at 512 px, and the 16 kHz audio."""
    from talkhead.faces.mediapipe_backend import FaceMesh
    from talkhead.media.decode import decode_audio, iter_frames_cfr

    path = real_media / "videos" / name
    mesh = FaceMesh()
    try:
        found = [mesh.landmarks(rgb) for rgb in iter_frames_cfr(path, 25, max_side=512, frames=frames)]
    finally:
        mesh.close()
    points = np.stack([p if p is not None else np.full((478, 3), np.nan, np.float32) for p in found])
    return points, decode_audio(path, 16000)


@pytest.fixture(scope="module")
def talking(real_media):
    """A frontal speaker who talks and does not blink (video-retalking face_2, 100 frames)."""
    return _clip(real_media, "video-retalking__face_2.mp4", 100)


def _best_lagged_r(jaw: np.ndarray, loud: np.ndarray, max_lag: int = 3) -> tuple[float, int]:
    """Highest Pearson r of jaw[t] with loud[t + lag] over |lag| <= max_lag, and that lag."""
    best = (-1.0, 0)
    for lag in range(-max_lag, max_lag + 1):
        a, b = (jaw[: len(jaw) - lag], loud[lag:]) if lag >= 0 else (jaw[-lag:], loud[: len(loud) + lag])
        best = max(best, (float(np.corrcoef(a, b)[0, 1]), lag))
    return best


@pytest.mark.realdata
def test_real_jaw_open_follows_loudness(talking):
    points, audio = talking
    assert np.isfinite(points).all()  # the mesh holds on every frame
    coeffs = solve(raw_measures(points), calibrate(raw_measures(points)))  # (100, 52)
    assert coeffs.min() >= 0 and coeffs.max() <= 1 and np.isfinite(coeffs).all()
    hop = 640  # 40 ms at 16 kHz = one video frame at 25 fps
    audio = np.pad(audio, (0, max(0, hop * len(coeffs) - len(audio))))
    rms = np.sqrt(np.mean(audio[: hop * len(coeffs)].reshape(len(coeffs), hop) ** 2, axis=1))  # (100,)
    r, lag = _best_lagged_r(coeffs[:, INDEX["jawOpen"]], rms)
    assert r > 0.25, (r, lag)
    # This speaker does not blink in these 4 s (eye aspect ratio never drops below 0.2): no false blink.
    blinks = coeffs[:, [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]]
    assert blinks.max() < 0.5
    # A real mesh frame is as pose-free as the synthetic one.
    frame = points[:1]
    np.testing.assert_allclose(raw_measures(transform(frame, 2.0, 20.0, (40.0, -30.0))), raw_measures(frame),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.realdata
def test_real_blink_is_seen_by_both_eyes(real_media):
    points, _ = _clip(real_media, "AniPortrait__head_pose_temp_pose_ref_video.mp4", 40)
    coeffs = solve(raw_measures(points), calibrate(raw_measures(points)))  # (40, 52)
    left = coeffs[:, INDEX["eyeBlinkLeft"]] > 0.5
    right = coeffs[:, INDEX["eyeBlinkRight"]] > 0.5
    assert left.any() and right.any() and (left & right).any()  # she blinks once, near 0.2-0.35 s
    assert left.mean() < 0.3 and right.mean() < 0.3  # the blink is brief, the eyes are open otherwise
