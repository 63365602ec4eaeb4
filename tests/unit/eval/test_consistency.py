"""Long-sequence consistency measures: landmark-shape drift, first-frame PSNR and latent cosine, tables and plots."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.eval import consistency as cons


def _canon() -> np.ndarray:
    from talkhead.features.canonical import canonical_face
    from talkhead.features.motion import KEYPOINTS

    return canonical_face()[KEYPOINTS].astype(np.float64)  # (21, 3)


def _motion(n: int = 64, drift: float = 0.0, seed: int = 0) -> np.ndarray:
    """(n, 70) motion: a face shape with moving pose, its keypoints drifting linearly by `drift` per frame."""
    rng = np.random.default_rng(seed)
    shape = rng.normal(scale=0.02, size=63)
    direction = rng.normal(size=63)
    m = np.zeros((n, 70))
    m[:, :63] = shape + drift * np.arange(n)[:, None] * direction
    m[:, 63:] = rng.normal(size=(n, 7))  # pose and scale move freely
    return m


def test_shape_drift_ignores_translation_and_scale_but_sees_deformation():
    still = _motion()
    absolute = _canon() + still[:, :63].reshape(-1, 21, 3)  # (n, 21, 3) keypoints in the canonical face
    moved = still.copy()
    zoomed = absolute * np.linspace(1, 3, len(absolute))[:, None, None] + 5.0  # a zooming, shifting face
    moved[:, :63] = (zoomed - _canon()).reshape(len(absolute), 63)
    assert max(cons.landmark_shape_drift(moved, [16, 64]).values()) < 1e-9
    drifting = cons.landmark_shape_drift(_motion(drift=0.002), [16, 32, 64])
    assert drifting[16] < drifting[32] < drifting[64]


def test_first_frame_psnr_and_latent_cosine():
    rng = np.random.default_rng(1)
    first = rng.integers(0, 256, size=(8, 8, 3))
    frames = np.stack([np.clip(first + rng.normal(0, 1 + t, size=first.shape), 0, 255) for t in range(40)]).astype(
        np.uint8)
    frames[0] = first
    psnr = cons.first_frame_psnr(frames, [10, 40])
    assert psnr[10] > psnr[40] > 10
    z = np.ones((40, 4)) + np.linspace(0, 1, 40)[:, None] * np.array([1, -1, 0, 0])
    cos = cons.first_frame_latent_cos(z, [10, 40], tail=4)
    assert 1 >= cos[10] > cos[40]


def test_lengths_are_checked():
    with pytest.raises(ValueError, match="lengths"):
        cons.landmark_shape_drift(_motion(32), [64])
    with pytest.raises(ValueError, match="lengths"):
        cons.first_frame_psnr(np.zeros((32, 4, 4, 3), np.uint8), [8], tail=8)


def test_tables_metrics_and_plot(tmp_path):
    n, lengths = 64, [16, 32, 64]
    frames = np.zeros((n, 8, 8, 3), np.uint8)
    tables = [cons.consistency_table(_motion(n, d, s), frames, np.ones((n, 4)), lengths) for s, d in ((0, 0), (1, .02))]
    assert list(tables[0].columns) == ["length", *cons.COLUMNS] and tables[0]["length"].tolist() == lengths
    mean = cons.mean_table(tables)
    assert np.allclose(mean["landmark_shape_drift"], (tables[0]["landmark_shape_drift"] +
                                                      tables[1]["landmark_shape_drift"]) / 2, atol=1e-6)
    metrics = cons.drift_metrics(mean)
    assert set(metrics) >= {"landmark_shape_drift_16", "landmark_shape_drift_64", "first_frame_psnr_change"}
    assert metrics["landmark_shape_drift_change"] > 0 and metrics["first_frame_latent_cos_change"] == 0
    cons.plot_consistency(mean, tmp_path / "c.png", "test")
    assert (tmp_path / "c.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="no consistency"):
        cons.mean_table([])
