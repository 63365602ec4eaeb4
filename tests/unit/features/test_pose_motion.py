"""Canonical face, head pose (similarity fit) and MoDA motion: exact recoveries on synthetic meshes, stages."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from talkhead.data.featurefile import read_features, write_features
from talkhead.features import canonical, motion, pose
from talkhead.stages import head_pose as head_pose_stage
from talkhead.stages import motion as motion_stage
from talkhead.stages import motion_stats as motion_stats_stage

LOWER = [14, 17, 152, 172, 397, 178, 402, 181, 405]  # lower lip, chin, jaw: they drop when the jaw opens


def place(face: np.ndarray, euler: tuple[float, float, float], scale: float, shift: tuple[float, float, float]):
    """(478, 3) canonical points → crop pixels under pitch, yaw, roll (degrees), scale and translation."""
    rot = pose.matrix_from_euler(np.array([euler]))[0]
    return (scale * face @ rot.T + np.asarray(shift)).astype(np.float32)


def test_canonical_face_is_symmetric_and_framed():
    face = canonical.canonical_face().astype(np.float64)
    pairs = canonical.mirror_pairs(face)
    assert (pairs[pairs] == np.arange(len(face))).all()  # an involution
    np.testing.assert_allclose(face[:, 0], -face[pairs, 0], atol=1e-6)
    np.testing.assert_allclose(face[:, 1:], face[pairs, 1:], atol=1e-6)
    np.testing.assert_allclose(face[[33, 263]], [[-0.5, 0, 0], [0.5, 0, 0]], atol=1e-6)
    assert face[152, 1] > 1.0 and abs(face[152, 2]) < 1e-6  # chin below, on the x-y plane
    assert face[1, 2] < -0.3  # the nose tip is nearer the camera than the eye corners
    assert set(pairs[pose.RIGID]) == set(pose.RIGID)  # the rigid set is left/right symmetric


def test_canonical_file_matches_a_rebuild():
    np.testing.assert_allclose(canonical.build(), canonical.canonical_face(), atol=1e-4)


@pytest.mark.parametrize("euler", [(0, 0, 0), (10, -25, 5), (-20, 30, -15), (5, 60, 30)])
def test_fit_recovers_a_known_similarity(euler):
    face = canonical.canonical_face()
    points = place(face, euler, 180.0, (256.0, 240.0, 12.0))[None]
    fit = pose.fit_pose(points)
    np.testing.assert_allclose(fit.euler()[0], euler, atol=1e-3)
    np.testing.assert_allclose(fit.scale, [180.0], rtol=1e-5)
    np.testing.assert_allclose(fit.translation[0], [256.0, 240.0, 12.0], atol=1e-2)
    assert fit.residual[0] < 1e-5
    np.testing.assert_allclose(fit.to_canonical(points)[0], face, atol=1e-4)


def test_angle_conventions_match_the_docs():
    face = canonical.canonical_face()
    down = place(face, (20, 0, 0), 1.0, (0, 0, 0))  # pitch > 0: chin away, forehead nearer
    assert down[152, 2] > 0 > down[10, 2]
    left = place(face, (0, 20, 0), 1.0, (0, 0, 0))  # yaw > 0: nose towards the image's left
    assert left[1, 0] < 0
    cw = place(face, (0, 0, 20), 1.0, (0, 0, 0))  # roll > 0: the image-right eye goes down
    assert cw[263, 1] > cw[33, 1]
    # the same rotation as scipy's intrinsic-free "zyx" composition Rz·Ry·Rx
    ref = Rotation.from_euler("ZYX", [20, -10, 5], degrees=True).as_matrix()
    np.testing.assert_allclose(pose.matrix_from_euler(np.array([[5, -10, 20]]))[0], ref, atol=1e-12)


def test_pose_ignores_the_mouth():
    face = canonical.canonical_face().copy()
    talking = face.copy()
    talking[LOWER, 1] += 0.25  # a wide-open jaw moves no rigid landmark
    fit = pose.fit_pose(np.stack([place(face, (8, -12, 4), 150, (200, 210, 0)),
                                  place(talking, (8, -12, 4), 150, (200, 210, 0))]))
    np.testing.assert_allclose(fit.euler()[0], fit.euler()[1], atol=1e-4)


def test_fit_refuses_missing_landmarks():
    points = place(canonical.canonical_face(), (0, 0, 0), 100, (0, 0, 0))[None].copy()
    points[0, pose.RIGID[0]] = np.nan
    with pytest.raises(ValueError, match="finite"):
        pose.fit_pose(points)


def test_motion_layout_and_values():
    face = canonical.canonical_face()
    talking = face.copy()
    talking[152, 1] += 0.2  # the chin drops by 0.2 canonical units
    points = np.stack([place(face, (5, 10, -3), 170, (250, 260, 5)), place(talking, (5, 10, -3), 170, (250, 260, 5))])
    m = motion.motion_from_pose(points, pose.fit_pose(points))
    assert m.shape == (2, 70) and m.dtype == np.float32 and len(motion.NAMES) == 70
    assert len(set(motion.KEYPOINTS)) == motion.N_KEYPOINTS == 21
    np.testing.assert_allclose(m[0, :63], 0, atol=1e-4)  # the neutral face has no deformation
    chin_y = 3 * list(motion.KEYPOINTS).index(152) + 1
    assert m[1, chin_y] == pytest.approx(0.2, abs=1e-4)
    np.testing.assert_allclose(np.delete(m[1, :63], chin_y), 0, atol=1e-4)
    np.testing.assert_allclose(m[:, 63], 170, rtol=1e-5)
    np.testing.assert_allclose(m[:, 64:67], [[250, 260, 5]] * 2, atol=1e-2)
    np.testing.assert_allclose(m[:, 67:], [[5, 10, -3]] * 2, atol=1e-3)


def test_motion_stats_and_normalisation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(3, 2, (40, 70)), rng.normal(3, 2, (60, 70))
    a[:, 5] = b[:, 5] = 7.0  # a constant dimension: std floored, not zero
    stats = motion.motion_stats([a, b])
    both = np.concatenate([a, b])
    np.testing.assert_allclose(stats["mean"], both.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.delete(stats["std"], 5), np.delete(both.std(0), 5), rtol=1e-4)
    assert stats["std"][5] == pytest.approx(motion.STD_FLOOR) and stats["frames"][0] == 100
    z = motion.normalise(both, stats)
    np.testing.assert_allclose(np.delete(z.std(0), 5), 1, rtol=1e-3)
    np.testing.assert_allclose(motion.denormalise(z, stats), both, atol=1e-5)
    with pytest.raises(ValueError):
        motion.motion_stats([])


def _mesh_file(path, clip: str, frames: int, seed: int):
    rng = np.random.default_rng(seed)
    face = canonical.canonical_face()
    eulers = rng.uniform(-15, 15, (frames, 3))
    points = np.stack([place(face, tuple(e), 150, (256, 256, 0)) for e in eulers])
    points[:, LOWER, 1] += rng.uniform(0, 20, (frames, 1))  # the jaw opens and closes
    meta = {"clip": clip, "modality": "face_mesh", "rate_hz": 25, "frames": frames, "extractor": "test",
            "version": "t", "checkpoint": ""}
    write_features(path, {"points": points, "found": np.ones(frames, np.uint8)}, meta)
    return eulers


def test_stages_end_to_end_and_bit_identical(tmp_path):
    eulers = _mesh_file(tmp_path / "mesh.safetensors", "c1", 30, 0)
    out = tmp_path / "run1"
    for run in ("run1", "run2"):
        d = tmp_path / run
        assert head_pose_stage.main(["--mesh", str(tmp_path / "mesh.safetensors"), "--out", str(d / "pose.st")]) == 0
        assert motion_stage.main(["--mesh", str(tmp_path / "mesh.safetensors"), "--pose", str(d / "pose.st"),
                                  "--out", str(d / "motion.st")]) == 0
        assert motion_stats_stage.main(["--out", str(d / "stats.st"), str(d / "motion.st")]) == 0
    for name in ("pose.st", "motion.st", "stats.st"):
        assert (tmp_path / "run1" / name).read_bytes() == (tmp_path / "run2" / name).read_bytes()
    tensors, meta = read_features(out / "pose.st")
    assert meta["modality"] == "head_pose" and meta["clip"] == "c1"
    np.testing.assert_allclose(tensors["euler"], eulers, atol=1e-2)
    m, mmeta = read_features(out / "motion.st")
    assert m["motion"].shape == (30, 70) and mmeta["names"].split(",") == list(motion.NAMES)
    s, smeta = read_features(out / "stats.st")
    assert smeta["clips"] == "c1" and smeta["splits"] == "train" and s["mean"].shape == (70,)


def test_motion_stage_refuses_another_clips_pose(tmp_path):
    _mesh_file(tmp_path / "a.st", "a", 10, 0)
    _mesh_file(tmp_path / "b.st", "b", 10, 1)
    assert head_pose_stage.main(["--mesh", str(tmp_path / "b.st"), "--out", str(tmp_path / "pose_b.st")]) == 0
    with pytest.raises(ValueError, match="does not belong"):
        motion.motion_clip(tmp_path / "a.st", tmp_path / "pose_b.st", tmp_path / "m.st")
