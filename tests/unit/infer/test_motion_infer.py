"""Long-audio motion generation: segment fusion, bounded memory, Kalman smoothing, lip modulation, determinism."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from talkhead.infer import motion as im
from talkhead.models.motion_dit import MOTION_DIT_SIZES, MotionDiT


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

def _model(seed: int = 1) -> MotionDiT:
    """A tiny model whose AdaLN-Zero layers are randomised, so it outputs something other than its noise."""
    torch.manual_seed(0)
    model = MotionDiT(MOTION_DIT_SIZES["tiny"], 80, 4)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ada" in name or name.startswith("out."):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model.eval()


class FakeSampler:
    """Stands in for `sample`: segment k is the constant k; records each call's frames and previous motion."""

    def __init__(self, keep_prev: bool = True) -> None:
        self.calls: list[tuple[int, np.ndarray | None]] = []
        self.keep_prev = keep_prev

    def __call__(self, model, cond, frames, steps, scale, shift, generator) -> torch.Tensor:
        self.calls.append((frames, cond.prev[0].numpy().copy() if self.keep_prev else None))
        return torch.full((1, frames, 70), float(len(self.calls) - 1))


def test_segments_of_200_frames_fuse_continuously(monkeypatch):
    fake = FakeSampler()
    monkeypatch.setattr(im, "sample", fake)
    assert im.segment_starts(200, 80, 16) == [0, 64, 120]
    ref = np.full(70, -1.0, np.float32)
    out = im.generate_normalised(_model(), torch.zeros(800, 80), ref, 8, 80, 16, im.GenerateSettings())
    assert out.shape == (200, 70) and [f for f, _ in fake.calls] == [80, 80, 80]
    col = out[:, 0]
    assert np.all(col[:64] == 0) and np.all(col[80:120] == 1) and np.all(col[160:] == 2)
    assert np.all(np.diff(col) >= 0) and np.abs(np.diff(col)).max() <= 1 / 17 + 1e-6  # linear ramps, no jump
    assert np.all(fake.calls[0][1] == 0)  # the first segment's previous motion: the reference (zero residual)
    assert np.array_equal(fake.calls[1][1], out[48:64]) and np.array_equal(fake.calls[2][1][:, 0], col[104:120])


@pytest.mark.parametrize("frames", [50, 200, 1000, 4000])
def test_work_is_linear_and_segments_bounded(monkeypatch, frames):
    fake = FakeSampler()
    monkeypatch.setattr(im, "sample", fake)
    im.generate_normalised(_model(), torch.zeros(4 * frames, 80), np.zeros(70, np.float32), 8, 80, 16,
                           im.GenerateSettings())
    expected = 1 if frames <= 80 else int(np.ceil((frames - 80) / 64)) + 1
    assert len(fake.calls) == expected
    assert max(f for f, _ in fake.calls) == min(frames, 80)  # every call is one segment, whatever the length


def test_memory_beyond_the_output_does_not_grow_with_length(monkeypatch):
    monkeypatch.setattr(im, "sample", FakeSampler(keep_prev=False))
    extra = []
    for frames in (1_000, 20_000):
        audio = torch.zeros(4 * frames, 80)
        tracemalloc.start()
        im.generate_normalised(_model(), audio, np.zeros(70, np.float32), 8, 80, 16, im.GenerateSettings())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        extra.append(peak - frames * 70 * 4)  # beyond the (T, 70) float32 output
    assert extra[1] < extra[0] + 256 * 1024, extra  # 312 segments of 22 kB each would add 7 MB


def test_real_model_generates_200_frames():
    model = _model()
    audio = torch.randn(800, 80, generator=torch.Generator().manual_seed(0)) - 5
    out = im.generate_normalised(model, audio, np.zeros(70, np.float32), 4, 80, 16, im.GenerateSettings(steps=2))
    assert out.shape == (200, 70) and np.isfinite(out).all()


def test_kalman_smoother_reduces_noise_on_a_sine():
    rng = np.random.default_rng(0)
    t = np.arange(500)
    clean = np.stack([np.sin(2 * np.pi * t / 60), 0.5 * np.cos(2 * np.pi * t / 90)], axis=1)  # (T, 2)
    noisy = clean + rng.normal(0, 0.1, clean.shape)
    smooth = im.kalman_smooth(noisy, 1e-3, 1e-2)
    rmse = lambda x: float(np.sqrt(np.mean((x - clean) ** 2)))  # noqa: E731
    assert smooth.shape == noisy.shape and rmse(smooth) < 0.5 * rmse(noisy)


def test_lip_modulation_amplifies_only_the_lip_dims():
    rng = np.random.default_rng(0)
    ref, motion = rng.normal(size=70).astype(np.float32), rng.normal(size=(10, 70)).astype(np.float32)
    out = im.modulate_lip(motion, ref, alpha=5.0, beta=0.1)
    lips = im.LIP_DIMS
    assert list(lips) == list(range(30, 48))
    np.testing.assert_allclose(out[:, lips] - ref[lips], 1.4 * (motion[:, lips] - ref[lips]), rtol=1e-5, atol=1e-6)
    others = np.setdiff1d(np.arange(70), lips)
    assert np.array_equal(out[:, others], motion[:, others])


def test_generate_motion_is_deterministic_and_raw():
    model, g = _model(), torch.Generator().manual_seed(0)
    stats = {"mean": np.linspace(0, 5, 70).astype(np.float32), "std": np.full(70, 2.0, np.float32)}
    meta = {"n_pred": 32, "n_prev": 8, "sample_steps": 3, "cfg_scale": 1.2, "time_shift": 1.0}
    audio, ref = torch.randn(4 * 90, 80, generator=g) - 5, stats["mean"] + 1.0
    a = im.generate_motion(model, meta, stats, audio, ref, 4)
    b = im.generate_motion(model, meta, stats, audio, ref, 4)
    c = im.generate_motion(model, meta, stats, audio, ref, 4, im.GenerateSettings(steps=3, seed=1))
    assert a.shape == (90, 70) and a.dtype == np.float32 and np.array_equal(a, b) and not np.array_equal(a, c)
