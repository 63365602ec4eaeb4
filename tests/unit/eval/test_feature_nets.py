"""FID / FVD through tiny TorchScript networks saved to disk and loaded by the same code path as real ones."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn as nn

from talkhead.eval.feature_nets import fid_inception, fvd_i3d, load_feature_net, prepare_images, SPECS


class _Probe(nn.Module):
    """Features that expose the input: per-channel mean, global min and max, H and W (and T)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = [d for d in range(2, x.dim())]
        size = torch.tensor(list(x.shape[2:]), dtype=x.dtype).expand(x.shape[0], x.dim() - 2)
        lo = x.flatten(1).amin(1, keepdim=True)
        hi = x.flatten(1).amax(1, keepdim=True)
        return torch.cat([x.mean(dims), lo, hi, size], dim=1)


class _TinyInception(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 5, stride=4)

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        y = torch.relu(self.conv(x / 255.0)).mean((2, 3))  # (N, 6)
        return y if return_features else y.sum(1, keepdim=True)


class _TinyI3D(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 5, (3, 7, 7), stride=(1, 4, 4))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.relu(self.conv(x)).mean((2, 3, 4))  # (N, 5)
        return y, y.sum(1)


def _save(module: nn.Module, path) -> str:
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(module), str(path))
    return str(path)


def _frames(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.uniform(0.2, 0.8, size=(n, 3, 40, 48)) + shift, 0, 1).astype(np.float32)


def test_frames_are_resized_and_mapped_to_the_range_the_net_expects(tmp_path):
    net = load_feature_net(_save(_Probe(), tmp_path / "probe.pt"), "inception")
    x = prepare_images(np.full((2, 3, 20, 30), 128, np.uint8), net.spec)
    assert x.shape == (2, 3, 299, 299) and torch.allclose(x, torch.full_like(x, 128.0))  # uint8 range kept
    sym = load_feature_net(tmp_path / "probe.pt", "inception", input_range="symmetric")
    feats = sym.module(prepare_images(np.full((1, 3, 8, 8), 0.75, np.float32), sym.spec))
    assert feats[0].tolist() == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.5, 299, 299])  # 0.75 -> 2·0.75 − 1
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        prepare_images(np.full((1, 3, 8, 8), 200.0, np.float32), net.spec)  # float 0..255 is ambiguous


def test_fid_is_zero_for_identical_sets_and_grows_with_a_shift(tmp_path):
    net = load_feature_net(_save(_TinyInception(), tmp_path / "inception.pt"), "inception",
                           call_kwargs={"return_features": True})
    real = _frames(12, 0)
    assert fid_inception(real, real.copy(), net, batch_size=5) == pytest.approx(0.0, abs=1e-8)
    uint8 = (real * 255).round().astype(np.uint8)
    assert fid_inception(uint8, uint8, net) == pytest.approx(0.0, abs=1e-8)
    near, far = fid_inception(real, _frames(12, 1), net), fid_inception(real, _frames(12, 1, shift=0.3), net)
    assert 0 < near < far
    with pytest.raises(ValueError, match="at least 2"):
        fid_inception(real[:1], real, net)


def test_fvd_batches_clips_checks_length_and_warns_on_few_clips(tmp_path, caplog):
    net = load_feature_net(_save(_TinyI3D(), tmp_path / "i3d.pt"), "i3d", min_frames=4)
    assert net.spec.size == SPECS["i3d"].size == 224
    clips = np.stack([_frames(4, s) for s in range(6)]).transpose(0, 2, 1, 3, 4)  # (6, 3, 4, 40, 48)
    with caplog.at_level(logging.WARNING, logger="talkhead.eval.feature_nets"):
        same = fvd_i3d(clips, clips.copy(), net, batch_size=4)
    assert same == pytest.approx(0.0, abs=1e-8) and "unreliable" in caplog.text
    assert fvd_i3d(clips, np.clip(clips + 0.3, 0, 1), net) > 0
    with pytest.raises(ValueError, match="at least 4"):
        fvd_i3d(clips[:, :, :3], clips[:, :, :3], net)
    with pytest.raises(ValueError, match="needs an inception"):
        fid_inception(clips[:, :, 0], clips[:, :, 0], net)


def test_missing_or_unreadable_networks_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="inception feature network not found"):
        load_feature_net(tmp_path / "nope.pt", "inception")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torchscript archive")
    with pytest.raises(ValueError, match="not a TorchScript file"):
        load_feature_net(bad, "i3d")
    with pytest.raises(ValueError, match="kind must be one of"):
        load_feature_net(bad, "clip")
