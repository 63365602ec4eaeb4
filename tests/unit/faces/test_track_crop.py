"""Identity tracking, gap filling, smoothing and the stable crop on hand-made tracks."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.faces.crop import box_in_crop, crop_windows, cut_window
from talkhead.faces.track import IdentityTracker, fill_track, iou, smooth_track
from talkhead.faces.types import Detection


def _det(x0, y0, side, score=0.9):
    return Detection(np.array([x0, y0, x0 + side, y0 + side], np.float32), score, np.zeros((5, 2), np.float32))


def test_iou():
    a = np.array([0, 0, 10, 10.0])
    assert iou(a, a) == 1.0 and iou(a, a + 20) == 0.0
    assert iou(a, np.array([5, 0, 15, 10.0])) == pytest.approx(1 / 3)


def test_tracker_keeps_identity_and_counts_only_significant_faces():
    tracker = IdentityTracker(min_rel_size=0.5)
    tracker.update(0, [_det(100, 100, 80), _det(10, 10, 20)])  # tiny background face: not counted
    # A bigger face appears elsewhere; the track stays on the face that continues it.
    chosen = tracker.update(5, [_det(300, 100, 100), _det(102, 101, 80)])
    assert chosen.box[0] == 102
    result = tracker.result()
    assert list(result.counts) == [1, 2] and list(result.frames) == [0, 5]


def test_fill_track_interpolates_short_gaps_only():
    tracker = IdentityTracker()
    for f, det in [(0, [_det(0, 0, 10)]), (5, [_det(10, 0, 10)]), (10, []), (15, []), (20, []),
                   (25, [_det(50, 0, 10)])]:
        tracker.update(f, det)
    boxes = fill_track(30, tracker.result(), max_gap=5)
    assert boxes[3, 0] == pytest.approx(6.0)  # linear between frames 0 and 5
    assert np.isnan(boxes[12, 0])  # 5 → 25 is longer than max_gap
    assert not np.isnan(boxes[29, 0])  # held after the last probe for up to max_gap frames


def test_smoothing_removes_jitter_within_runs():
    rng = np.random.default_rng(0)
    boxes = (np.tile(np.array([100, 100, 200, 200], np.float32), (100, 1))
             + rng.normal(0, 3, (100, 4)).astype(np.float32))
    boxes[50] = np.nan
    smooth = smooth_track(boxes, sigma=3)
    assert np.isnan(smooth[50, 0])
    assert np.nanstd(np.diff(smooth[:50, 0])) < 0.3 * np.nanstd(np.diff(boxes[:50, 0]))


def test_crop_windows_are_constant_size_smooth_and_inside_the_frame():
    t = np.arange(100)
    cx = 320 + 40 * np.sin(t / 15) + np.random.default_rng(1).normal(0, 4, 100)  # head sway + detector noise
    boxes = np.stack([cx - 60, np.full(100, 180.0), cx + 60, np.full(100, 300.0)], 1).astype(np.float32)
    boxes[40:45] = np.nan
    win = crop_windows(boxes, (640, 480), scale=1.8, sigma=10)
    assert win.shape == (100, 3) and np.ptp(win[:, 2]) == 0 and win[0, 2] == pytest.approx(216, abs=1)
    assert np.abs(np.diff(win[:, 0], 2)).max() < 1.0  # no frame-to-frame jitter
    assert (win[:, 0] - win[:, 2] / 2 >= 0).all() and (win[:, 0] + win[:, 2] / 2 <= 640).all()


def test_crop_side_is_capped_by_the_frame():
    boxes = np.tile(np.array([10, 10, 250, 250], np.float32), (5, 1))
    win = crop_windows(boxes, (256, 256), scale=1.8, sigma=0)
    assert win[0, 2] == 256 and tuple(win[0, :2]) == (128, 128)


def test_crop_without_face_is_an_error():
    with pytest.raises(ValueError, match="no face"):
        crop_windows(np.full((5, 4), np.nan, np.float32), (64, 64), 1.8, 1)


def test_cut_window_and_box_mapping():
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[50:150, 100:200] = 255
    window = np.array([150, 100, 100], np.float32)
    out = cut_window(frame, window, 64)
    assert out.shape == (64, 64, 3) and out.mean() > 250
    mapped = box_in_crop(np.array([125, 75, 175, 125], np.float32), window, 64)
    assert np.allclose(mapped, [16, 16, 48, 48])
