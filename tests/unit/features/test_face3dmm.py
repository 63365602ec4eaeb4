"""Landmark 3DMM and FLAME import: pose, jaw and expression recovered from synthetic meshes; imports read back."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from talkhead.data.featurefile import read_features, write_features
from talkhead.features import face3dmm as f3
from talkhead.features.canonical import canonical_face
from talkhead.features.flame_import import UnsafePickleError, natural_key, read_flame_params
from talkhead.features.pose import matrix_from_euler
from talkhead.stages import face3dmm as stage
from talkhead.stages import face3dmm_basis as basis_stage

FACE = canonical_face().astype(np.float64)  # (478, 3)
LOWER = np.flatnonzero(FACE[:, 1] > 0.7)  # chin, lower lip and jaw line: moved by the synthetic jaw
TRUE_PIVOT = FACE[[234, 454]].mean(0) + np.array([0.0, 0.15, 0.2])  # not the model's pivot on purpose
C = np.diag([1.0, -1.0, -1.0])


def open_jaw(face: np.ndarray, angle: float) -> np.ndarray:
    """Rotate the lower face about TRUE_PIVOT by `angle` about canonical x (positive: chin down and back)."""
    c, s = np.cos(angle), np.sin(angle)
    rx = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    out = face.copy()
    out[LOWER] = (face[LOWER] - TRUE_PIVOT) @ rx.T + TRUE_PIVOT
    return out


def smile(face: np.ndarray, amount: float) -> np.ndarray:
    """Pull the mouth corners (61 right, 291 left) outwards and up, with a Gaussian falloff."""
    out = face.copy()
    for corner, side in ((61, -1.0), (291, 1.0)):
        w = np.exp(-((face - face[corner]) ** 2).sum(1) / (2 * 0.1 ** 2))  # (478,)
        out += amount * w[:, None] * np.array([0.08 * side, -0.06, 0.0])
    return out


def make_clip(seed: int, frames: int = 60, identity: float = 0.0):
    """(points (T, 478, 3) float32, found, euler (T, 3), jaw angles (T,)) of a synthetic speaking face."""
    rng = np.random.default_rng(seed)
    jaw = np.concatenate([np.zeros(frames // 3), np.linspace(0.0, 0.35, frames - frames // 3)])
    smiles = rng.uniform(0.0, 1.0, frames)
    euler = rng.uniform(-20, 20, (frames, 3))
    base = FACE * np.array([1.0 + identity, 1.0 - identity / 2, 1.0])  # a different identity per clip
    rot = matrix_from_euler(euler)
    points = np.stack([180.0 * smile(open_jaw(base, a), m) @ r.T + np.array([128.0, 140.0, 0.0])
                       for a, m, r in zip(jaw, smiles, rot)])
    found = np.ones(frames, np.uint8)
    found[[5, 40]] = 0
    return points.astype(np.float32), found, euler, jaw


def write_mesh(path, clip: str, points: np.ndarray, found: np.ndarray):
    """A face_mesh feature file as the face_mesh stage writes it."""
    meta = {"clip": clip, "modality": "face_mesh", "rate_hz": "25", "frames": len(points),
            "extractor": "synthetic", "version": "mesh-1", "checkpoint": ""}
    write_features(path, {"points": points, "found": found}, meta)
    return path


@pytest.fixture(scope="module")
def clips():
    """Three synthetic clips of three identities (the first is the canonical face itself)."""
    return [make_clip(seed, identity=0.04 * seed) for seed in range(3)]


@pytest.fixture(scope="module")
def basis(clips):
    """An 8-component basis fitted on the synthetic clips."""
    return f3.basis_from_clips(((f"c{i}", p, f) for i, (p, f, _, _) in enumerate(clips)), n_expression=8)


def test_global_pose_recovers_the_rotation_in_flame_axes(clips, basis):
    points, found, euler, _ = clips[0]  # the canonical identity: the similarity fit is exact
    params = f3.fit_clip(points, found, basis)
    expected = Rotation.from_matrix(C @ matrix_from_euler(euler) @ C).as_rotvec()
    assert params["global_pose"].shape == (len(points), 3) and params["global_pose"].dtype == np.float32
    np.testing.assert_allclose(params["global_pose"], expected, atol=1e-5)
    frontal = f3.global_pose(np.eye(3)[None])
    np.testing.assert_allclose(frontal, 0.0, atol=1e-12)


def test_jaw_pose_is_zero_at_rest_and_grows_with_the_opening(clips, basis):
    points, found, _, jaw = clips[1]
    params = f3.fit_clip(points, found, basis)
    measured = params["jaw_pose"]
    assert np.all(measured[:, 1:] == 0)
    rest, ramp = measured[jaw == 0, 0], measured[len(points) // 3:, 0]
    assert np.abs(rest).max() < 2e-3
    assert np.all(np.diff(ramp) > 0)
    assert 0.6 * jaw[-1] < measured[-1, 0] < 1.4 * jaw[-1]  # the angle, roughly (a different true pivot)
    np.testing.assert_array_equal(params["found"], found)


def test_basis_captures_the_expression_with_few_components(clips, basis):
    assert 2 <= basis.n_components <= 8
    assert sum(basis.explained_variance_ratio()[:3]) > 0.99
    np.testing.assert_allclose(basis.components @ basis.components.T, np.eye(basis.n_components), atol=1e-5)
    points, found, _, _ = clips[2]
    params = f3.fit_clip(points, found, basis)
    canon, _ = f3.canonical_mesh(points)
    full = f3.reconstruct(params["expression"], params["clip_shape"], basis)
    none = f3.reconstruct(params["expression"][:, :0], params["clip_shape"], basis)
    rms_full, rms_none = (np.sqrt(((r - canon) ** 2).sum(-1).mean()) for r in (full, none))
    assert rms_none > 0.005 and rms_full < 0.05 * rms_none


def test_basis_keeps_only_the_degrees_of_freedom_present(caplog):
    rng = np.random.default_rng(7)
    rot = matrix_from_euler(rng.uniform(-15, 15, (30, 3)))
    points = np.stack([200.0 * smile(FACE, m) @ r.T for m, r in zip(rng.uniform(0, 1, 30), rot)])
    with caplog.at_level("INFO"):
        basis = f3.basis_from_clips([("s", points.astype(np.float32), np.ones(30, np.uint8))], n_expression=50)
    assert basis.n_components == 1  # a smile alone is one linear direction
    assert "1 of the 50 requested" in caplog.text


def test_basis_is_deterministic_and_round_trips(tmp_path, clips, basis):
    again = f3.basis_from_clips(((f"c{i}", p, f) for i, (p, f, _, _) in enumerate(clips)), n_expression=8)
    basis.save(tmp_path / "a")
    again.save(tmp_path / "b")
    for name in (f3.BASIS_TENSORS, f3.BASIS_JSON):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    loaded = f3.Basis.load(tmp_path / "a")
    np.testing.assert_array_equal(loaded.components, basis.components)
    assert loaded.clips == ("c0", "c1", "c2") and loaded.frames == 3 * 58
    comps = loaded.components
    assert np.all(comps[np.arange(len(comps)), np.abs(comps).argmax(1)] > 0)  # sign-fixed


# --- import adapter -------------------------------------------------------------------------------

T = 12


def flame_codes(seed: int = 0, exp_dim: int = 50):
    """Random (exp (T, E), pose (T, 6), shape (T, 100)) codes as EMOCA/DECA would produce them."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(T, exp_dim)).astype(np.float32), rng.normal(size=(T, 6)).astype(np.float32) * 0.1,
            rng.normal(size=(T, 100)).astype(np.float32))


def check_imported(tensors, exp, pose, shape):
    """The imported tensors equal the codes that were written."""
    np.testing.assert_array_equal(tensors["expression"], exp)
    np.testing.assert_array_equal(tensors["global_pose"], pose[:, :3])
    np.testing.assert_array_equal(tensors["jaw_pose"], pose[:, 3:])
    np.testing.assert_array_equal(tensors["clip_shape_coefficients"], shape)


def test_import_emoca_folders_in_natural_order(tmp_path):
    exp, pose, shape = flame_codes()
    for i in range(T):  # unpadded names: "10_000" sorts after "9_000" only with the natural order
        d = tmp_path / "clipA" / f"{i}_000"
        d.mkdir(parents=True)
        np.save(d / "exp.npy", exp[i])
        np.save(d / "pose.npy", pose[i][None])  # with EMOCA's batch axis of one
        np.save(d / "shape.npy", shape[i])
    got = read_flame_params(tmp_path, "clipA", T)
    assert got.layout == "emoca" and got.extractor == "flame-import-emoca"
    check_imported(got.tensors, exp, pose, np.median(shape, axis=0))
    assert sorted(["f10", "f9", "f1"], key=natural_key) == ["f1", "f9", "f10"]


def test_import_npz_with_split_poses(tmp_path):
    exp, pose, shape = flame_codes(1, exp_dim=100)
    np.savez(tmp_path / "clipB.npz", exp=exp, global_pose=pose[:, :3], jaw_pose=pose[:, 3:], shape=shape[0])
    got = read_flame_params(tmp_path, "clipB", T)
    assert got.layout == "npz"
    check_imported(got.tensors, exp, pose, shape[0])


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_import_pickled_codedict(tmp_path, protocol):
    exp, pose, shape = flame_codes(2)
    codedict = {"exp": [e[None] for e in exp], "pose": pose, "shape": shape[:1], "cam": np.zeros((T, 3))}
    (tmp_path / "clipC.pkl").write_bytes(pickle.dumps(codedict, protocol=protocol))
    got = read_flame_params(tmp_path, "clipC", T)
    assert got.layout == "pkl"
    check_imported(got.tensors, exp, pose, shape[0])


def test_pickle_written_by_numpy_1_loads(tmp_path):
    exp, pose, _ = flame_codes(4)
    data = pickle.dumps({"exp": exp, "pose": pose}, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in data  # numpy 1.x names its array reconstructor so
    (tmp_path / "clipF.pkl").write_bytes(data)
    np.testing.assert_array_equal(read_flame_params(tmp_path, "clipF", T).tensors["expression"], exp)


@pytest.mark.parametrize("payload", [b"cos\nsystem\n(S'true'\ntR.", pickle.dumps({"exp": os.system})])
def test_pickle_with_a_foreign_global_is_refused(tmp_path, payload):
    (tmp_path / "clipD.pkl").write_bytes(payload)
    with pytest.raises(UnsafePickleError, match="system"):
        read_flame_params(tmp_path, "clipD", T)


def test_frame_count_mismatch_and_ambiguity_raise(tmp_path):
    exp, pose, _ = flame_codes()
    np.savez(tmp_path / "clipE.npz", exp=exp, pose=pose)
    with pytest.raises(ValueError, match=f"{T} frames .* {T + 1}-frame"):
        read_flame_params(tmp_path, "clipE", T + 1)
    (tmp_path / "clipE.pkl").write_bytes(pickle.dumps({"exp": exp, "pose": pose}))
    with pytest.raises(ValueError, match="several"):
        read_flame_params(tmp_path, "clipE", T)
    with pytest.raises(FileNotFoundError):
        read_flame_params(tmp_path, "nope", T)


# --- stages ---------------------------------------------------------------------------------------


def test_stages_end_to_end_are_byte_identical(tmp_path, clips):
    meshes = [str(write_mesh(tmp_path / f"c{i}" / "face_mesh.safetensors", f"c{i}", p, f))
              for i, (p, f, _, _) in enumerate(clips)]
    cfg = json.dumps({"n_expression": 6})
    for out, order in (("b1", meshes), ("b2", meshes[::-1])):  # the argument order does not matter
        assert basis_stage.main(["--out", str(tmp_path / out), "--cfg", cfg, *order]) == 0
    for name in (f3.BASIS_TENSORS, f3.BASIS_JSON):
        assert (tmp_path / "b1" / name).read_bytes() == (tmp_path / "b2" / name).read_bytes()
    assert json.loads((tmp_path / "b1" / f3.BASIS_JSON).read_text())["clips"] == ["c0", "c1", "c2"]
    outs = [tmp_path / f"f{i}.safetensors" for i in range(2)]
    for out in outs:
        assert stage.main(["--mesh", meshes[0], "--basis", str(tmp_path / "b1"), "--out", str(out), "--cfg", cfg]) == 0
    assert outs[0].read_bytes() == outs[1].read_bytes()
    tensors, meta = read_features(outs[0])
    assert meta["modality"] == "face3dmm" and meta["extractor"] == "landmark-3dmm" and meta["clip"] == "c0"
    assert meta["checkpoint"] == f3.checkpoint_id(tmp_path / "b1") and meta["rate_hz"] == "25"
    assert tensors["expression"].shape == (60, int(meta["n_expression"])) and tensors["clip_shape"].shape == (468, 3)


def test_import_stage_end_to_end(tmp_path, clips):
    points, found, _, _ = clips[0]
    mesh = str(write_mesh(tmp_path / "face_mesh.safetensors", "c0", points, found))
    rng = np.random.default_rng(3)
    exp, pose = rng.normal(size=(60, 50)).astype(np.float32), rng.normal(size=(60, 6)).astype(np.float32)
    (tmp_path / "imp").mkdir()
    np.savez(tmp_path / "imp" / "c0.npz", exp=exp, pose=pose)
    cfg = json.dumps({"backend": "import", "import_dir": str(tmp_path / "imp")})
    outs = [tmp_path / f"f{i}.safetensors" for i in range(2)]
    for out in outs:
        assert stage.main(["--mesh", mesh, "--out", str(out), "--cfg", cfg]) == 0
    assert outs[0].read_bytes() == outs[1].read_bytes()
    tensors, meta = read_features(outs[0])
    assert meta["extractor"] == "flame-import-npz" and meta["n_expression"] == "50"
    np.testing.assert_array_equal(tensors["expression"], exp)
    np.testing.assert_array_equal(tensors["found"], found)
    no_dir = json.dumps({"backend": "import"})
    assert stage.main(["--mesh", mesh, "--out", str(tmp_path / "x.safetensors"), "--cfg", no_dir]) == 2
