"""crisp_mouth: offline gate semantics, streaming chunk-invariance, calibration of streaming to offline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from talkhead.export.crisp import StreamingCrisp, calibrate_streaming, crisp_offline, crisp_streaming_np
from talkhead.models.arkit_channels import EXPRESSION_INDEX, LIPSYNC_INDEX

LIP = list(LIPSYNC_INDEX)
EXPR = list(EXPRESSION_INDEX)
CALIBRATION_EPS = 0.025  # measured 0.0186 mean |stream − offline| on the tracks below


def speech_like(rng: np.random.Generator, frames: int = 300) -> np.ndarray:
    """Smoothed random bursts (syllable-like) on the lipsync channels, slow drift elsewhere: (T, 52)."""
    x = gaussian_filter1d(rng.random((frames, 52)) * 0.3, 4, axis=0)
    envelope = np.zeros(frames)
    onsets = rng.random(frames) < 0.08
    envelope[onsets] = rng.uniform(0.3, 1.0, onsets.sum())
    envelope = gaussian_filter1d(envelope, 2.0) * 4
    for c in LIP:
        x[:, c] = np.clip(rng.uniform(0.2, 1.0) * envelope + 0.03 * rng.random(frames), 0, 1)
    return x


def test_offline_leaves_expression_channels():
    x = speech_like(np.random.default_rng(1))
    y = crisp_offline(x, sigma=1.0, threshold=0.25, scale=1.3)
    np.testing.assert_array_equal(y[:, EXPR], x[:, EXPR])
    assert not np.allclose(y[:, LIP], x[:, LIP])


def test_offline_gates_small_values_and_keeps_peaks():
    x = np.zeros((50, 52))
    x[:, LIP] = 0.02  # below 0.5 · threshold · peak = 0.1
    x[20, LIP] = 0.8  # the peak
    x[30, LIP] = 0.5  # above min(2 · threshold · peak, peak) = 0.4
    y = crisp_offline(x, sigma=0.0, threshold=0.25, scale=1.0)
    np.testing.assert_allclose(y[[0, 10, 40]][:, LIP], 0.0, atol=1e-12)
    np.testing.assert_allclose(y[20, LIP], 0.8)
    np.testing.assert_allclose(y[30, LIP], 0.5)
    assert 0.0 < crisp_offline(np.where(x == 0.5, 0.25, x), 0.0, 0.25, 1.0)[30, LIP[0]] < 0.25  # soft inside


def test_offline_sigma_zero_is_no_smoothing():
    x = np.zeros((40, 52))
    x[10, LIP] = 0.9  # an isolated one-frame spike survives unsmoothed
    y0 = crisp_offline(x, sigma=0.0, threshold=0.0, scale=1.0)
    np.testing.assert_allclose(y0[:, LIP], x[:, LIP])
    y1 = crisp_offline(x, sigma=2.0, threshold=0.0, scale=1.0)
    assert y1[10, LIP[0]] < 0.9 and y1[12, LIP[0]] > 0.0


def test_offline_scale_and_clip():
    x = speech_like(np.random.default_rng(2))
    y = crisp_offline(x, sigma=1.0, threshold=0.25, scale=3.0)
    assert y[:, LIP].max() <= 1.0 and y[:, LIP].min() >= 0.0


@pytest.mark.parametrize("chunk", [1, 7, 40])
def test_streaming_chunks_equal_one_call(chunk):
    torch.manual_seed(0)
    crisp = StreamingCrisp(alpha=0.4, edge0=0.05, edge1=0.4, scale=1.2)
    x = torch.rand(2, 123, 52)
    prev = torch.rand(2, 31)
    full, full_next = crisp(x, prev)
    state, outs = prev, []
    for start in range(0, x.shape[1], chunk):
        y, state = crisp(x[:, start:start + chunk], state)
        outs.append(y)
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(state, full_next, atol=1e-5, rtol=1e-5)


def test_streaming_matches_recurrence_and_numpy():
    crisp = StreamingCrisp(alpha=0.3, edge0=0.1, edge1=0.5, scale=1.0)
    x = torch.rand(1, 60, 52, dtype=torch.float64)
    prev = torch.zeros(1, 31, dtype=torch.float64)
    s, expected = prev, []
    for t in range(60):  # the plain recurrence of the notes
        s = 0.3 * x[:, t, LIP] + 0.7 * s
        expected.append(s)
    torch.testing.assert_close(crisp.ema(x[..., LIP], prev), torch.stack(expected, 1))
    y, nxt = crisp(x, prev)
    torch.testing.assert_close(nxt, expected[-1])
    np.testing.assert_allclose(y[0].numpy(), crisp_streaming_np(x[0].numpy(), 0.3, 0.1, 0.5, 1.0), atol=1e-10)
    torch.testing.assert_close(y[..., EXPR], x[..., EXPR])  # expression passes through


def test_streaming_long_sequence_is_stable():
    crisp = StreamingCrisp(alpha=0.05)
    y, nxt = crisp(torch.rand(1, 3000, 52), torch.rand(1, 31))
    assert torch.isfinite(y).all() and torch.isfinite(nxt).all()


def test_calibration_brings_stream_close_to_offline():
    rng = np.random.default_rng(0)
    tracks = [speech_like(rng) for _ in range(3)]
    sigma, threshold, scale = 1.0, 0.25, 1.0
    result = calibrate_streaming(tracks, sigma, threshold, scale)
    assert set(result) == {"alpha", "edge0", "edge1", "error"}
    assert 0.0 < result["alpha"] <= 1.0 and 0.0 <= result["edge0"] <= result["edge1"]

    def err(alpha, e0, e1):
        return np.mean([np.abs(crisp_streaming_np(t, alpha, e0, e1, scale)[:, LIP]
                               - crisp_offline(t, sigma, threshold, scale)[:, LIP]).mean() for t in tracks])

    measured = err(result["alpha"], result["edge0"], result["edge1"])
    assert measured == pytest.approx(result["error"], rel=1e-6)
    assert measured < CALIBRATION_EPS
    assert measured < 0.7 * err(0.5, 0.09, 0.36)  # clearly better than the notes' defaults
