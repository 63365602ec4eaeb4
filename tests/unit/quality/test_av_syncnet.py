"""The SyncNet gate path: the official architecture's weights from a file measure a clip; outputs named *_syncnet."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkhead.media.encode import VideoWriter
from talkhead.models.syncnet import SyncNetOfficial
from talkhead.quality.av_syncnet import measure_syncnet


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random weights in the syncnet_python state-dict layout (no real weights offline)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    torch.save(SyncNetOfficial().state_dict(), path)
    return path


def test_syncnet_measures_a_crop_video_with_its_own_names(tmp_path, weights):
    rng = np.random.default_rng(0)
    with VideoWriter(tmp_path / "crop.mp4", fps=25, size=(64, 64)) as writer:
        for _ in range(16):
            writer.write_frame(rng.integers(0, 255, (64, 64, 3), np.uint8))
    samples = rng.normal(0, 0.1, 16 * 640).astype(np.float32)
    got = measure_syncnet(tmp_path / "crop.mp4", samples, 25, str(weights), max_lag=3)
    assert set(got) == {"av_offset_syncnet", "av_confidence_syncnet", "sync_d_syncnet"}
    assert -3 <= got["av_offset_syncnet"] <= 3 and got["av_confidence_syncnet"] >= 0


def test_the_window_batch_changes_no_score(tmp_path, weights):
    """quality.syncnet_batch (windows per forward pass; larger on GPUs) gives the scores of syncnet_python's 20."""
    rng = np.random.default_rng(1)
    with VideoWriter(tmp_path / "crop.mp4", fps=25, size=(64, 64)) as writer:
        for _ in range(30):  # 25 windows: batches of 20 + 5, 7 × 3 + 4, one of 25
            writer.write_frame(rng.integers(0, 255, (64, 64, 3), np.uint8))
    samples = rng.normal(0, 0.1, 30 * 640).astype(np.float32)
    want = measure_syncnet(tmp_path / "crop.mp4", samples, 25, str(weights), max_lag=3)
    for batch in (7, 64):
        got = measure_syncnet(tmp_path / "crop.mp4", samples, 25, str(weights), max_lag=3, batch=batch)
        assert got["av_offset_syncnet"] == want["av_offset_syncnet"]
        assert got["av_confidence_syncnet"] == pytest.approx(want["av_confidence_syncnet"], abs=1e-3)
        assert got["sync_d_syncnet"] == pytest.approx(want["sync_d_syncnet"], abs=1e-3)


def test_syncnet_refuses_other_frame_rates(tmp_path, weights):
    with pytest.raises(ValueError, match="25 fps"):
        measure_syncnet(tmp_path / "crop.mp4", np.zeros(640, np.float32), 30, str(weights))
