"""FVD parity with StyleGAN-V's compute_fvd (benchmarks/parity/fvd.py made the fixtures).

The reference ran StyleGAN-V's metric loop and `compute_fvd` unchanged with a small TorchScript
network that has the call signature of its `i3d_torchscript.pt` (seeded weights, in the fixtures);
talkhead loads the same file with input_range `native` and StyleGAN-V's detector kwargs, cuts the
clips by its named protocol from the same seeded videos, and must give the same statistics and FVD
(tests/parity/compare.py, which benchmarks/parity_report.py measures for docs/evaluation.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from talkhead.eval.feature_nets import STYLEGANV_I3D_KWARGS, embed, fvd_clips, load_feature_net
from tests.parity.compare import fvd

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "parity"


def test_fvd_styleganv_parity():
    assert fvd("styleganv").failures() == []


def test_fvd_latentsync_parity():
    assert fvd("latentsync").failures() == []


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
