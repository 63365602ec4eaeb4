"""FVD parity with StyleGAN-V's compute_fvd (benchmarks/parity/fvd.py made the fixtures).

The reference ran StyleGAN-V's metric loop and `compute_fvd` unchanged with a small TorchScript
network that has the call signature of its `i3d_torchscript.pt` (seeded weights, in the fixtures);
talkhead loads the same file with input_range `native` and StyleGAN-V's detector kwargs, cuts the
clips by its named protocol from the same seeded videos, and must give the same statistics and FVD.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from talkhead.eval.feature_nets import STYLEGANV_I3D_KWARGS, embed, fvd_clips, fvd_videos, load_feature_net
from talkhead.eval.frechet import feature_stats

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "parity"
RTOL = 1e-4


def _script():
    spec = importlib.util.spec_from_file_location("fvd_parity", ROOT / "benchmarks" / "parity" / "fvd.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _check(protocol: str) -> None:
    ref, script = np.load(FIXTURES / f"fvd_{protocol}.npz"), _script()
    real, fake = script.videos(protocol, "real"), script.videos(protocol, "fake")
    assert script.videos_sha256(real) == str(ref["real_sha256"])
    assert script.videos_sha256(fake) == str(ref["fake_sha256"])
    net = load_feature_net(FIXTURES / "fvd_i3d_standin.pt", "i3d", input_range="native",
                           call_kwargs=STYLEGANV_I3D_KWARGS)
    assert net.sha256 == str(ref["net_sha256"])
    clips = [torch.cat([fvd_clips(v, protocol) for v in side]) for side in (real, fake)]
    assert [len(c) for c in clips] == [int(ref["clips_real"]), int(ref["clips_fake"])]
    for c, name in zip(clips, ("real", "fake")):
        mu, sigma = feature_stats(embed(net, c, 8), ddof=0)
        assert _rel(mu, ref[f"mu_{name}"]) < RTOL and _rel(sigma, ref[f"sigma_{name}"]) < RTOL
    value = fvd_videos(real, fake, net, protocol)
    assert abs(value - float(ref["fvd"])) / float(ref["fvd"]) < RTOL, (value, float(ref["fvd"]))


def test_fvd_styleganv_parity():
    _check("styleganv")


def test_fvd_latentsync_parity():
    _check("latentsync")


def test_fvd_latentsync_takes_frames_20_to_35_of_long_enough_videos():
    video = np.arange(40)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    clips = fvd_clips(video, "latentsync")
    assert clips.shape == (1, 3, 16, 2, 2) and clips[0, 0, :, 0, 0].tolist() == list(range(20, 36))
    assert len(fvd_clips(video[:35], "latentsync")) == 0
    assert fvd_clips(video, "styleganv")[:, 0, 0, 0, 0].tolist() == [0, 16]  # two whole windows, the tail dropped


def test_fvd_native_input_rejects_float_frames():
    net = load_feature_net(FIXTURES / "fvd_i3d_standin.pt", "i3d", input_range="native",
                           call_kwargs=STYLEGANV_I3D_KWARGS)
    with pytest.raises(ValueError, match="uint8"):
        embed(net, torch.zeros(2, 3, 16, 8, 8), 2)
