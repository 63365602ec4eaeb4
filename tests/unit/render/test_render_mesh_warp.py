"""Mesh-warp rendering on the astronaut: identity at zero motion, a mouth that opens dark and where expected."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from talkhead.render.mouth import LOWER_INNER, UPPER_INNER

LUMA = np.array([0.299, 0.587, 0.114])


def test_zero_motion_change_gives_the_input(renderer, source, astronaut):
    motion = np.repeat(source.motion[None], 3, 0)
    for frame in renderer.render(source, motion):
        assert frame.shape == astronaut.shape and frame.dtype == np.uint8
        assert np.abs(frame.astype(int) - astronaut).max() <= 1


def test_first_frame_reference_ignores_identity_offsets(source, astronaut):
    from talkhead.render import make_renderer

    first = make_renderer("mesh_warp", exp_reference="first", blink="off")
    motion = np.repeat(source.motion[None] + 0.05, 2, 0)  # another identity, no change over time
    frames = [f.copy() for f in first.render(source, motion)]
    assert np.abs(frames[1].astype(int) - astronaut).max() <= 1


def _portrait_px(renderer, source, motion: np.ndarray) -> np.ndarray:
    """(T, 468, 2) mesh positions in portrait pixels for a motion."""
    crop = source.portrait.crop
    pts = renderer.frame_points(source, motion)[..., :2] / crop.scale
    return pts + np.array([crop.x0, crop.y0])


def test_opening_the_jaw_darkens_the_mouth_and_drops_the_lip(renderer, source, astronaut, open_jaw):
    motion = np.stack([source.motion, open_jaw(source.motion, 0.18)])
    frame = [f.copy() for f in renderer.render(source, motion)][1]
    pts = _portrait_px(renderer, source, motion)[1]
    ref = _portrait_px(renderer, source, motion[:1])[0]
    expected = pts[17, 1] - ref[17, 1]  # lower outer lip, pixels down
    assert expected > 6
    # where the lip drops, measured in the image: a patch of lower lip and chin is found `expected` lower
    cx, y17 = int(round(ref[17, 0])), int(round(ref[17, 1]))
    patch = astronaut[y17 - 4:y17 + 14, cx - 14:cx + 14]
    search = frame[y17 - 6:y17 + 40, cx - 14:cx + 14]
    score = cv2.matchTemplate(search, patch, cv2.TM_SQDIFF)
    measured = float(np.argmin(score[:, 0])) - 2
    assert abs(measured - expected) <= 1.5, (measured, expected)
    # the new opening (inside the inner lips, below the photo's own gap) is dark
    def lips(p: np.ndarray) -> np.ndarray:
        """A filled inner-lip polygon mask of the photo's size."""
        mask = np.zeros(astronaut.shape[:2], np.uint8)
        poly = np.concatenate([p[list(UPPER_INNER)], p[list(LOWER_INNER[::-1])]])
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
        return mask

    inside, old = lips(pts), lips(ref)
    new = inside.astype(bool) & ~cv2.dilate(old, np.ones((5, 5), np.uint8)).astype(bool)
    assert new.sum() > 40
    before, after = astronaut[new] @ LUMA, frame[new] @ LUMA
    assert after.mean() < before.mean() - 40, (before.mean(), after.mean())
    # and the eyes and brows did not move
    x0, x1 = int(ref[33, 0]) - 3, int(ref[263, 0]) + 4
    y0, y1 = int(ref[[70, 300], 1].min()) - 3, int(ref[[145, 374], 1].max()) + 3
    assert np.abs(frame[y0:y1, x0:x1].astype(int) - astronaut[y0:y1, x0:x1]).max() <= 2


def test_blink_closes_the_eyes(source, astronaut):
    from talkhead.render import make_renderer
    from talkhead.render.blink import blink_schedule

    blinking = make_renderer("mesh_warp", blink="schedule")
    closure = blink_schedule(100, 25)
    t = int(np.argmax(closure))
    assert closure[t] > 0.95
    frames = blinking.render(source, np.repeat(source.motion[None], 100, 0))
    frame = next(f for k, f in enumerate(frames) if k == t)
    eye = source.portrait.mesh[[159, 145]]  # right eye upper, lower lid
    x, y0, y1 = int(eye[:, 0].mean()), int(eye[0, 1]), int(np.ceil(eye[1, 1]))
    # the eye opening (dark iris under the lid) is covered by lighter lid skin
    assert (frame[y0:y1 + 1, x - 2:x + 3] @ LUMA).mean() > (astronaut[y0:y1 + 1, x - 2:x + 3] @ LUMA).mean() + 20


def test_head_pose_change_moves_the_face_not_the_background(renderer, source, astronaut):
    motion = np.repeat(source.motion[None].astype(np.float64), 2, 0)
    motion[1, 69] += 6.0  # roll 6° clockwise
    motion[1, 68] += 5.0
    frame = [f.copy() for f in renderer.render(source, motion)][1]
    crop = source.portrait.crop
    x0, y0 = int(crop.x0), int(crop.y0)
    x1, y1 = int(crop.x0 + crop.side) + 1, int(crop.y0 + crop.side) + 1
    outside = np.ones(astronaut.shape[:2], bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    np.testing.assert_array_equal(frame[outside], astronaut[outside])
    face = source.portrait.mesh[:468]
    fx0, fy0 = face[:, :2].min(0).astype(int)
    fx1, fy1 = face[:, :2].max(0).astype(int)
    assert np.abs(frame[fy0:fy1, fx0:fx1].astype(int) - astronaut[fy0:fy1, fx0:fx1]).mean() > 5


def test_render_rejects_bad_motion(renderer, source):
    with pytest.raises(ValueError, match="motion must be"):
        next(renderer.render(source, np.zeros((4, 69))))
    with pytest.raises(ValueError, match="NaN"):
        next(renderer.render(source, np.full((2, 70), np.nan)))
