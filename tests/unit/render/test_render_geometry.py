"""Keypoint spreading, posing and blink schedules: exact identities on the packaged canonical face."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.features.canonical import canonical_face
from talkhead.features.motion import KEYPOINTS
from talkhead.features.pose import matrix_from_euler
from talkhead.render import blink
from talkhead.render.deform import FaceModel, Limits, keypoint_slot
from talkhead.render.mouth import LOWER_INNER, UPPER_INNER


@pytest.fixture(scope="module")
def model() -> FaceModel:
    """The canonical face placed at 60 px per unit around (200, 150), turned a little."""
    rot = matrix_from_euler(np.array([[-8.0, 5.0, 3.0]]))[0]
    points = 60.0 * canonical_face().astype(np.float64) @ rot.T + np.array([200.0, 150.0, 0.0])
    return FaceModel.from_points(points)


def test_weights_keep_keypoints_and_anchors(model):
    w = model.weights
    np.testing.assert_allclose(w[KEYPOINTS], np.eye(21))
    assert np.abs(w[[10, 151, 1, 4, 33, 133, 263, 362]]).max() == 0  # rigid anchors stay


def test_lower_lip_keypoint_does_not_drag_the_upper_lip(model):
    lip = keypoint_slot(14)
    upper, lower = list(UPPER_INNER[2:-2]), list(LOWER_INNER[2:-2])
    assert np.abs(model.weights[upper, lip]).max() < 0.12
    assert model.weights[lower, lip].min() > 0.4


def test_mouth_keypoints_do_not_move_the_eyes(model):
    mouth = [keypoint_slot(k) for k in (13, 14, 17, 152, 0, 61, 291)]
    eyes = [160, 158, 144, 153, 385, 387, 373, 380]
    assert np.abs(model.weights[np.ix_(eyes, mouth)]).max() < 1e-6


def test_zero_change_projects_to_the_mesh(model):
    pose = np.array([[60.0, 10.0, 20.0, 0.0, -8.0, 5.0, 3.0]] * 2)
    canon = model.deform(np.zeros((2, 21, 3)))
    xy = model.project(canon, pose, pose[0])
    np.testing.assert_allclose(xy[..., :2], np.repeat(model.points[None, :, :2], 2, 0), atol=1e-3)


def test_pose_change_is_bounded(model):
    ref = np.array([60.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    pose = np.array([[120.0, 500.0, 0.0, 0.0, 0.0, 0.0, 90.0]])  # double size, far shift, 90° roll
    limits = Limits(angle_deg=10.0, scale=0.1, shift=0.2)
    xy = model.project(model.deform(np.zeros((1, 21, 3))), pose, ref, limits)[0, :, :2]
    rest = model.points[:, :2]
    scale = np.linalg.norm(xy[263] - xy[33]) / np.linalg.norm(rest[263] - rest[33])
    assert scale == pytest.approx(1.1, abs=1e-3)
    eye_axis = xy[263] - xy[33]
    rest_axis = rest[263] - rest[33]
    turn = np.degrees(np.arctan2(eye_axis[1], eye_axis[0]) - np.arctan2(rest_axis[1], rest_axis[0]))
    assert turn == pytest.approx(10.0, abs=0.5)


def test_blink_schedule_is_natural_and_reproducible():
    closure = blink.blink_schedule(25 * 60, 25, seed=3)
    np.testing.assert_array_equal(closure, blink.blink_schedule(25 * 60, 25, seed=3))
    starts = np.flatnonzero((closure[1:] > 0.5) & (closure[:-1] <= 0.5))
    assert 10 <= len(starts) <= 25  # 11-24 blinks a minute
    assert np.diff(starts).min() >= 2.5 * 25 - 2
    assert closure.max() == pytest.approx(1.0) and closure.min() == 0.0
    assert blink.blink_schedule(0, 25).shape == (0,)


def test_has_blinks_reads_the_eyelid_keypoints():
    motion = np.zeros((100, 70))
    assert not blink.has_blinks(motion)
    opening = blink.eye_opening(motion)[0]
    delta = blink.apply_blinks(np.zeros((100, 21, 3)), blink.blink_schedule(100, 25), opening)
    motion[:, :63] = delta.reshape(100, 63)
    assert blink.has_blinks(motion)
    assert blink.eye_opening(motion).min() < 0.05 * opening.min()


def test_a_closing_lid_keypoint_brings_the_whole_lid_edge_down(model):
    from talkhead.render.deform import EYE_R

    upper, lower, corners = EYE_R
    canon = model.canon
    delta = np.zeros((1, 21, 3))
    delta[0, keypoint_slot(159), 1] = canon[145, 1] - canon[159, 1]  # the upper lid keypoint onto the lower
    closed = model.deform(delta)[0]
    lo = [corners[0], *lower, corners[1]]
    order = np.argsort(canon[lo, 0])
    target = np.interp(canon[list(upper), 0], canon[lo, 0][order], canon[lo, 1][order])
    # exact for the contour points; 159 itself lands on 145, a hair off the contour's interpolation
    np.testing.assert_allclose(closed[list(upper), 1], target, atol=2e-3)
    others = [k for k, i in enumerate(upper) if i != 159]
    np.testing.assert_allclose(closed[list(upper), 1][others], target[others], atol=1e-6)
    np.testing.assert_allclose(closed[list(lower)], canon[list(lower)])  # the lower lid stays


def test_keep_apart_stops_lids_and_lips_from_crossing(model):
    from talkhead.render.deform import keep_apart

    canon = model.canon
    delta = np.zeros((2, 21, 3))
    delta[:, keypoint_slot(159), 1] = [0.5, 3.0]  # × the gap: half closed, then far past the lower lid
    delta[:, keypoint_slot(159), 1] *= canon[145, 1] - canon[159, 1]
    out = keep_apart(delta, canon, ((159, 145),))
    np.testing.assert_array_equal(out[0], delta[0])  # within the gap: untouched
    gap_left = (canon[145, 1] - canon[159, 1]) - (out[1, keypoint_slot(159), 1] - out[1, keypoint_slot(145), 1])
    assert gap_left == pytest.approx(0.04 * (canon[145, 1] - canon[159, 1]))
