"""Face-mesh modality: lost frames are interpolated and flagged, smoothing is optional, bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.features.mesh import fill_and_smooth


def test_gaps_are_interpolated_and_flagged():
    t = np.arange(10, dtype=np.float32)
    points = np.repeat(t[:, None, None], 478, axis=1).repeat(3, axis=2)  # every coordinate = frame index
    points[[0, 4, 5]] = np.nan
    filled, found = fill_and_smooth(points, sigma=0.0)
    assert found.tolist() == [False, True, True, True, False, False, True, True, True, True]
    assert filled[4, 0, 0] == pytest.approx(4.0) and filled[5, 7, 2] == pytest.approx(5.0)
    assert filled[0, 0, 0] == pytest.approx(1.0)  # held at the ends
    smooth, _ = fill_and_smooth(points, sigma=1.0)
    assert not np.isnan(smooth).any() and np.abs(smooth - filled).max() < 1.0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="no frame"):
        fill_and_smooth(np.full((3, 478, 3), np.nan, np.float32), 0.0)
    with pytest.raises(ValueError, match="478"):
        fill_and_smooth(np.zeros((3, 468, 3), np.float32), 0.0)
