"""The mouth map: ridge fit of the motion's mouth dims on the lipsync blendshapes, per-clip centred; apply; files."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.models.arkit_channels import LIPSYNC_INDEX
from talkhead.models.mouth_map import (MOUTH_DIMS, fit_mouth_map, load_mouth_map, mouth_delta, save_mouth_map)

W_TRUE = np.random.default_rng(7).normal(scale=0.3, size=(31, 33))


def _clip(seed: int, frames: int = 120, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(blendshapes (T, 52), motion (T, 70)): the mouth dims are W_TRUE of the lipsync channels plus a per-clip
    offset (the speaker's identity) that the per-clip centring must remove."""
    rng = np.random.default_rng(seed)
    b = np.clip(np.cumsum(rng.normal(scale=0.05, size=(frames, 52)), 0) + 0.3, 0, 1).astype(np.float32)
    motion = rng.normal(size=(frames, 70)).astype(np.float32)
    motion[:, MOUTH_DIMS] = b[:, LIPSYNC_INDEX] @ W_TRUE + rng.normal(scale=2.0, size=33)  # offset per clip
    motion[:, MOUTH_DIMS] += rng.normal(scale=noise, size=(frames, 33))
    return b, motion


def test_fit_recovers_a_linear_map_despite_per_clip_offsets():
    fitted = fit_mouth_map([_clip(1), _clip(2), _clip(3)], [_clip(4)], ridge=1e-6)
    assert fitted["weight"].shape == (31, 33)
    assert np.abs(fitted["weight"] - W_TRUE).max() < 1e-2
    assert fitted["r2_train"][0] > 0.999 and fitted["r2_held_out"][0] > 0.999


def test_noise_lowers_the_held_out_fit_and_no_held_out_clips_means_no_figure():
    noisy = fit_mouth_map([_clip(s, noise=0.2) for s in (1, 2, 3)], [_clip(4, noise=0.2)])
    assert 0.3 < noisy["r2_held_out"][0] < noisy["r2_train"][0] < 0.9  # signal std 0.3, noise 0.2: R² ≈ 0.7
    assert "r2_held_out" not in fit_mouth_map([_clip(1)])
    with pytest.raises(ValueError, match="no training clips"):
        fit_mouth_map([])


def test_delta_is_zero_at_rest_and_linear_in_the_blendshapes():
    b, _ = _clip(5, frames=10)
    rest = b[0]
    d = mouth_delta(b, rest, W_TRUE.astype(np.float32))
    assert d.shape == (10, 33)
    assert np.allclose(d[0], 0.0)
    assert np.allclose(d[3], (b[3, LIPSYNC_INDEX] - rest[list(LIPSYNC_INDEX)]) @ W_TRUE, atol=1e-5)


def test_saved_map_round_trips_and_a_wrong_shape_is_refused(tmp_path):
    fitted = fit_mouth_map([_clip(1), _clip(2)], [_clip(3)])
    save_mouth_map(tmp_path / "m.safetensors", fitted)
    back = load_mouth_map(tmp_path / "m.safetensors")
    assert np.array_equal(back["weight"], fitted["weight"]) and set(back) == set(fitted)
    save_mouth_map(tmp_path / "bad.safetensors", {"weight": np.zeros((31, 18), np.float32)})
    with pytest.raises(ValueError, match=r"\(31, 18\)"):
        load_mouth_map(tmp_path / "bad.safetensors")
