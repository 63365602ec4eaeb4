"""LivePortrait's one-frame render (F → W → G) and stitching MLPs against the reference, under shared weights.

The fixture (tests/fixtures/parity/liveportrait_render.npz) was written by
benchmarks/parity/liveportrait_render.py running KwaiVGI/LivePortrait's own code with the seeded
weights of tests/parity/seeded.py (spectral-norm vectors settled by the script's `settle_spectral`);
here talkhead's modules load the same values strictly and must reproduce its outputs. The fixture
also lists the reference networks' state-dict keys and shapes, which talkhead's must equal exactly.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from talkhead.models.liveportrait.appearance import AppearanceFeatureExtractor
from talkhead.models.liveportrait.keypoints import transform_keypoints
from talkhead.models.liveportrait.spade import SPADEDecoder
from talkhead.models.liveportrait.stitching import StitchingRetargeting
from talkhead.models.liveportrait.warping import WarpingNetwork
from tests.parity.seeded import seeded_state_dict

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "parity" / "liveportrait_render.npz"
RTOL = 1e-4  # float32: max abs difference relative to the output's largest magnitude


@functools.cache
def _script():
    """benchmarks/parity/liveportrait_render.py (its `settle_spectral`; the reference is imported only in main)."""
    spec = importlib.util.spec_from_file_location("liveportrait_render", ROOT / "benchmarks" / "parity" /
                                                  "liveportrait_render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return dict(data)


def _seeded(module: torch.nn.Module, note: dict) -> torch.nn.Module:
    """`module` with the fixture's seeded, spectral-norm-settled weights, loaded strictly; eval mode."""
    state = _script().settle_spectral(seeded_state_dict(module.state_dict(), note["seed"], note["gain"]),
                                      note["power_steps"])
    module.load_state_dict(state, strict=True)
    return module.eval()


def assert_close(ours: torch.Tensor | np.ndarray, theirs: np.ndarray, name: str, rtol: float = RTOL) -> float:
    """max |ours - theirs| ≤ rtol · max |theirs|; returns the relative difference."""
    ours = np.asarray(ours, np.float64)
    theirs = np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, f"{name}: {ours.shape} vs {theirs.shape}"
    diff = float(np.abs(ours - theirs).max())
    scale = max(float(np.abs(theirs).max()), 1e-6)
    assert diff <= rtol * scale, f"{name}: max abs diff {diff:.3g}, relative {diff / scale:.3g} > {rtol}"
    return diff / scale


def assert_subset(ours: torch.Tensor, ref: dict, name: str, axis: int) -> None:
    """A big output against the fixture's subset of entries and its float64 per-channel sums."""
    assert list(ours.shape) == json.loads(str(ref["note"]))["shapes"][name]
    assert_close(ours.reshape(-1)[torch.from_numpy(ref[f"{name}_index"])], ref[f"{name}_values"], name)
    sums = ours.double().sum(dim=tuple(d for d in range(ours.ndim) if d != axis))
    assert_close(sums, ref[f"{name}_sums"], f"{name} sums")


def _keys(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def test_state_dicts_match_the_release():
    with np.load(FIXTURE) as data:
        expected = json.loads(str(data["note"]))["state_dicts"]
    ours = {"appearance_feature_extractor": AppearanceFeatureExtractor(), "warping_module": WarpingNetwork(),
            "spade_generator": SPADEDecoder(), "stitching_retargeting_module": StitchingRetargeting()}
    for name, module in ours.items():
        assert _keys(module) == expected[name], name


def test_liveportrait_render_parity(ref):
    """image → F → feature_3d; keypoints → stitching → W (dense motion, occlusion) → G → the 512² frame."""
    note = json.loads(str(ref["note"]))
    x = torch.from_numpy(ref["image"].astype(np.float32) / 255.0).permute(2, 0, 1)[None]  # (1, 3, 256, 256)
    info = {side: {k: torch.from_numpy(ref[f"{side}_{k}"]) for k in ("kp", "pitch", "yaw", "roll", "exp", "scale",
                                                                     "t")} for side in ("src", "drv")}
    kp = {side: transform_keypoints(v["kp"], v["pitch"], v["yaw"], v["roll"], v["scale"], v["t"], v["exp"])
          for side, v in info.items()}
    assert_close(kp["src"], ref["kp_source"], "kp_source")
    assert_close(kp["drv"], ref["kp_driving"], "kp_driving")
    stitching = _seeded(StitchingRetargeting(), note)
    with torch.no_grad():
        stitched = stitching.stitch(kp["src"], kp["drv"])
        assert_close(stitched, ref["kp_stitched"], "kp_stitched")
        feature_3d = _seeded(AppearanceFeatureExtractor(), note)(x)
        assert_subset(feature_3d, ref, "feature_3d", 1)
        warp = _seeded(WarpingNetwork(), note)(feature_3d, kp_driving=stitched, kp_source=kp["src"])
        assert_subset(warp["deformation"], ref, "deformation", 4)
        assert_close(warp["occlusion_map"], ref["occlusion"], "occlusion")
        assert_subset(warp["out"], ref, "warped", 1)
        out = _seeded(SPADEDecoder(), note)(warp["out"])  # (1, 3, 512, 512)
        assert_subset(out, ref, "out", 1)


def test_stitching_parity(ref):
    note = json.loads(str(ref["note"]))
    model = _seeded(StitchingRetargeting(), note)
    kp_source, kp_driving = torch.from_numpy(ref["kp_source"]), torch.from_numpy(ref["kp_driving"])
    with torch.no_grad():
        assert_close(model.stitch(kp_source, kp_driving), ref["kp_stitched"], "kp_stitched")
        assert_close(model.retarget_eyes(kp_source, torch.from_numpy(ref["eye_ratio"])), ref["eye_delta"], "eye")
        assert_close(model.retarget_lip(kp_source, torch.from_numpy(ref["lip_ratio"])), ref["lip_delta"], "lip")
