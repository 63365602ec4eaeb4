"""Canonical Gaussians: quaternion algebra, posing by a head pose, initialisation and density control."""

from __future__ import annotations

import math

import pytest
import torch

from talkhead.gaussians.raster_torch import quat_to_rotmat
from talkhead.gaussians.scene import (GaussianScene, densify_and_prune, pose_gaussians, quat_multiply,
                                      rotmat_to_quat, shell_points)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_rotmat_to_quat_inverts_quat_to_rotmat():
    q = torch.nn.functional.normalize(torch.randn(64, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    q = torch.where(q[:, :1] < 0, -q, q)
    assert torch.allclose(rotmat_to_quat(quat_to_rotmat(q)), q, atol=1e-5)


def test_quaternion_product_composes_rotations():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    assert torch.allclose(quat_to_rotmat(quat_multiply(a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1,
                                                                                                      keepdim=True))),
                          quat_to_rotmat(a) @ quat_to_rotmat(b), atol=1e-5)


def test_pose_maps_canonical_points_like_the_head_pose():
    scene = GaussianScene.from_mesh(torch.randn(20, 3), torch.rand(20, 3), shell=0)
    c = math.cos(0.3)
    R = torch.tensor([[c, 0, math.sin(0.3)], [0, 1, 0], [-math.sin(0.3), 0, c]])
    t, s = torch.tensor([100.0, 120.0, 5.0]), torch.tensor(40.0)
    posed = pose_gaussians(scene.canonical(), R, t, s, factor=0.5)
    assert torch.allclose(posed.means, 0.5 * (s * scene.means @ R.T + t), atol=1e-4)
    assert torch.allclose(posed.scales, 0.5 * 40 * torch.exp(scene.log_scales))
    assert torch.allclose(quat_to_rotmat(posed.quats), R.expand(20, 3, 3), atol=1e-5)  # canonical quats are identity


def test_from_mesh_adds_a_faint_skull_shell_behind_the_face():
    pts = shell_points(200, torch.Generator().manual_seed(0))
    assert pts.shape == (200, 3) and bool((pts[:, 2] >= 0.75 - 1e-6).all())  # back half, away from the camera
    scene = GaussianScene.from_mesh(torch.zeros(10, 3) + torch.arange(10.0)[:, None] * 0.1, torch.rand(10, 3), 200)
    op = torch.sigmoid(scene.opacity_logits)
    assert len(scene) == 210 and bool((op[:10] > 0.7).all()) and bool((op[10:] < 0.2).all())
    with pytest.raises(ValueError):
        GaussianScene.from_mesh(torch.zeros(10, 2), torch.zeros(10, 2), 0)


def test_densify_clones_small_splits_large_and_prunes_transparent():
    n = 6
    t = {"means": torch.arange(n * 3, dtype=torch.float32).reshape(n, 3), "log_scales": torch.full((n, 3), -4.0),
         "quats": torch.tensor([1.0, 0, 0, 0]).repeat(n, 1), "opacity_logits": torch.zeros(n),
         "color_logits": torch.zeros(n, 3)}
    t["log_scales"][1] = math.log(0.2)  # large → split
    t["opacity_logits"][5] = -10.0  # transparent → pruned
    scene = GaussianScene(t)
    grad = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    new, counts = densify_and_prune(scene, grad, 0.5, split_scale=0.05, min_opacity=0.005, max_scale=1.0,
                                    max_gaussians=100, seed=0)
    assert counts == {"cloned": 1, "split": 1, "pruned": 1, "gaussians": 6 + 1 + 2 - 1 - 1}
    split_scales = torch.exp(new.log_scales).amax(1)
    assert int((split_scales - 0.2 / 1.6).abs().lt(1e-5).sum()) == 2  # two children at the parent's scale / 1.6
    capped, counts = densify_and_prune(scene, grad, 0.5, 0.05, 0.005, 1.0, max_gaussians=7, seed=0)
    assert counts["cloned"] + counts["split"] == 1  # only one grows within the budget


def test_the_workflow_trains_the_chosen_or_the_first_accepted_train_speaker():
    from types import SimpleNamespace

    from talkhead.data.manifest import speaker_key
    from talkhead.gaussians.speakers import rule_speakers, speaker_files

    speaker_of = {"a0": "ann", "b0": "bob", "c0": "cat"}
    split_of = {"a0": "val", "b0": "train", "c0": "train"}
    assert rule_speakers([], ["c0", "b0", "a0"], speaker_of, split_of) == ["bob"]
    assert rule_speakers([], ["a0"], speaker_of, split_of) == ["ann"]  # no accepted train clip: the first clip
    assert rule_speakers(["cat"], ["a0"], speaker_of, split_of) == ["cat"]
    rows = {c: SimpleNamespace(speaker=s) for c, s in speaker_of.items()}
    files = speaker_files(lambda: ["c0", "b0"], rows, split_of, [], "metrics.json")
    assert files(None) == [f"data/models/gaussians/{speaker_key('bob')}/metrics.json"]
    with pytest.raises(ValueError):
        rule_speakers([], [], speaker_of, split_of)
