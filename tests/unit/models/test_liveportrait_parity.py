"""LivePortrait's motion extractor and keypoint transform against the reference implementation, under shared weights.

The fixture (tests/fixtures/parity/liveportrait_motion.npz) was written by
benchmarks/parity/liveportrait_motion.py running KwaiVGI/LivePortrait's own code with the seeded
weights of tests/parity/seeded.py; here talkhead's modules load the same seeded values strictly
(through the official file layout for the loader tests) and must reproduce its outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from talkhead.config_base import ConfigError
from talkhead.models.liveportrait.keypoints import headpose_degrees, rotation_matrix, transform_keypoints
from talkhead.models.liveportrait.motion_extractor import MotionExtractor
from talkhead.models.liveportrait.weights import CHECKPOINT_FILES, load_module, load_state
from tests.parity.seeded import seeded_state_dict

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "parity" / "liveportrait_motion.npz"
RTOL = 1e-4  # float32: relative to the largest magnitude of each output
OUTPUT_KEYS = ("kp", "pitch", "yaw", "roll", "t", "exp", "scale")


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return dict(data)


def assert_close(ours: torch.Tensor | np.ndarray, theirs: np.ndarray, name: str) -> None:
    """max |ours - theirs| ≤ RTOL · max |theirs|: relative to the largest magnitude of the reference output."""
    ours = np.asarray(ours, np.float64)
    theirs = np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, f"{name}: {ours.shape} vs {theirs.shape}"
    diff = np.abs(ours - theirs).max()
    scale = max(np.abs(theirs).max(), 1e-6)
    assert diff <= RTOL * scale, f"{name}: max abs diff {diff:.3g}, relative {diff / scale:.3g} > {RTOL}"


def test_motion_extractor_parity(ref):
    note = json.loads(str(ref["note"]))
    model = MotionExtractor()
    model.load_state_dict(seeded_state_dict(model.state_dict(), note["seed"], note["gain"]), strict=True)
    model.eval()
    x = torch.from_numpy(ref["images"].astype(np.float32) / 255.0).permute(0, 3, 1, 2)  # (N, 3, 256, 256)
    with torch.no_grad():
        out = model(x)
    for key in OUTPUT_KEYS:
        assert_close(out[key], ref[f"out_{key}"], key)
    degrees = {a: headpose_degrees(out[a]) for a in ("pitch", "yaw", "roll")}
    for a, d in degrees.items():
        assert_close(d, ref[f"deg_{a}"], f"degrees {a}")
    assert_close(rotation_matrix(degrees["pitch"], degrees["yaw"], degrees["roll"]), ref["rot"], "rotation")
    driving = transform_keypoints(out["kp"], out["pitch"], out["yaw"], out["roll"], out["scale"], out["t"], out["exp"])
    assert_close(driving, ref["kp_driving"], "kp_driving")


def test_transform_keypoints_parity(ref):
    tf = {k: torch.from_numpy(ref[f"tf_{k}"]) for k in ("kp", "pitch", "yaw", "roll", "scale", "t", "exp")}
    driving = transform_keypoints(tf["kp"], tf["pitch"], tf["yaw"], tf["roll"], tf["scale"], tf["t"], tf["exp"])
    assert_close(driving, ref["tf_kp_driving"], "tf_kp_driving")
    degrees = [headpose_degrees(tf[a]) for a in ("pitch", "yaw", "roll")]  # the same from degrees, (B,) or (B, 1)
    again = transform_keypoints(tf["kp"], *(d[:, None] for d in degrees), tf["scale"], tf["t"], tf["exp"])
    assert_close(again, ref["tf_kp_driving"], "tf_kp_driving from degrees")


def test_rotation_matrix_is_a_rotation():
    angles = torch.tensor([[10.0, -35.0, 60.0], [0.0, 0.0, 0.0]])
    rot = rotation_matrix(angles[:, 0], angles[:, 1], angles[:, 2])  # (2, 3, 3)
    assert torch.allclose(rot @ rot.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-6)
    assert torch.allclose(rot[1], torch.eye(3))


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.norm = torch.nn.BatchNorm1d(2)


def _write(directory: Path, name: str, state: dict, suffix: str = ".pth") -> Path:
    path = (directory / CHECKPOINT_FILES[name]).with_suffix(suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def test_load_state_reads_the_official_layout(tmp_path):
    state = seeded_state_dict(_Tiny().state_dict(), 1)
    _write(tmp_path, "motion_extractor", {f"module.{k}": v for k, v in state.items()})  # DataParallel keys
    _write(tmp_path, "warping_module", state, ".safetensors")
    stitching = {part: {f"module.{k}": v for k, v in state.items()}
                 for part in ("retarget_shoulder", "retarget_mouth", "retarget_eye")}
    _write(tmp_path, "stitching_retargeting_module", stitching)
    for name in ("motion_extractor", "warping_module"):
        loaded = load_state(tmp_path, name)
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[k], state[k]) for k in state)
        module = load_module(_Tiny(), tmp_path, name)
        assert not module.training and torch.equal(module.fc.weight, state["fc.weight"])
    whole = load_state(tmp_path, "stitching_retargeting_module")
    assert set(whole) == {f"{p}.{k}" for p in stitching for k in state}


def test_load_module_names_wrong_keys(tmp_path):
    state = seeded_state_dict(_Tiny().state_dict(), 1)
    state["fc.extra"] = torch.zeros(1)
    del state["norm.running_var"]
    _write(tmp_path, "motion_extractor", state)
    with pytest.raises(ConfigError, match=r"missing keys \(1\): norm.running_var.*unexpected keys \(1\): fc.extra"):
        load_module(_Tiny(), tmp_path, "motion_extractor")
    state = seeded_state_dict(_Tiny().state_dict(), 1) | {"fc.weight": torch.zeros(3, 3)}
    _write(tmp_path, "motion_extractor", state, ".safetensors")  # .safetensors wins over .pth
    with pytest.raises(ConfigError, match=r"wrong shapes.*fc.weight \(3, 3\) \(expected \(2, 3\)\)"):
        load_module(_Tiny(), tmp_path, "motion_extractor")


def test_missing_checkpoint_names_the_layout(tmp_path):
    with pytest.raises(ConfigError, match=r"base_models/spade_generator.pth.*official release layout"):
        load_state(tmp_path, "spade_generator")
