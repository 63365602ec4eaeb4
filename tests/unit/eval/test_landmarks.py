"""LMD: exact identities on landmark arrays, invariance to the face's position, and on rendered frames."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.eval.landmarks import EYE_OUTER_L, EYE_OUTER_R, MOUTH, lmd, lmd_from_videos, normalise


def _mesh(frames: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mesh = rng.uniform(50, 200, size=(frames, 478, 3))
    mesh[:, EYE_OUTER_R, :2], mesh[:, EYE_OUTER_L, :2] = (100.0, 100.0), (180.0, 100.0)  # eye distance 80 px
    return mesh


def test_identical_landmarks_give_zero():
    mesh = _mesh()
    assert lmd(mesh, mesh.copy()) == 0.0


def test_a_known_mouth_offset_gives_its_length_in_eye_distances():
    gt = _mesh()
    gen = gt.copy()
    gen[:, MOUTH, 0] += 12.0  # 3-4-5: every lip point moves 20 px = 0.25 eye distances
    gen[:, MOUTH, 1] += 16.0
    assert lmd(gen, gt) == pytest.approx(0.25, rel=1e-12)
    gen[:, 0:5, :] += 50.0  # points outside the mouth do not count (0 is a lip point: keep it equal)
    gen[:, 0] = gt[:, 0] + [12.0, 16.0, 0.0]
    assert lmd(gen, gt) == pytest.approx(0.25, rel=1e-12)


def test_translation_rotation_and_scale_of_the_whole_face_do_not_change_lmd():
    gt = _mesh()
    theta = np.deg2rad(20)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    moved = gt.copy()
    moved[..., :2] = 1.7 * gt[..., :2] @ rot.T + [30.0, -12.0]
    assert np.allclose(normalise(moved), normalise(gt))
    assert lmd(moved, gt) == pytest.approx(0.0, abs=1e-12)
    assert normalise(gt)[0, EYE_OUTER_L].tolist() == pytest.approx([0.5, 0.0])  # eye corners at (±0.5, 0)


def test_frames_without_a_mesh_are_left_out():
    gt, gen = _mesh(), _mesh()
    gen[:, MOUTH] = gt[:, MOUTH]
    gen[1] = np.nan
    assert lmd(gen, gt) == pytest.approx(0.0, abs=1e-12)
    gen[:] = np.nan
    assert np.isnan(lmd(gen, gt))
    with pytest.raises(ValueError, match="differ in shape"):
        lmd(gt[:2], gt)


def test_lmd_from_rendered_frames_sees_the_mouth_not_the_head_pose():
    from talkhead.demo.portrait import PortraitAnimator

    face = PortraitAnimator(256)
    closed = [face.render(0.0) for _ in range(3)]
    opened = [face.render(1.0) for _ in range(3)]
    moved = [face.render(0.0, tx=12, ty=-8, roll_deg=5, scale=0.9) for _ in range(3)]
    assert lmd_from_videos(closed, closed) == 0.0  # the same frames through the same tracker
    mouth, pose = lmd_from_videos(opened, closed), lmd_from_videos(moved, closed)
    assert mouth > 0.01 and pose < 0.4 * mouth  # measured: 0.027 and 0.005
