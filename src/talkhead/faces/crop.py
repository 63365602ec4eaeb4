"""The stable square crop: one side length per clip, a heavily smoothed centre, never outside the frame.

A constant side (a multiple of the clip's median face size) means no zoom pumping; a centre
smoothed over ~half a second means no frame-to-frame jitter. The window is kept inside the frame
(the side is capped by the frame's short side), so no padding is ever invented.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """(T, D) with NaN rows replaced by linear interpolation between valid rows (held at the ends)."""
    t = np.arange(len(values))
    valid = ~np.isnan(values[:, 0])
    return np.stack([np.interp(t, t[valid], values[valid, d]) for d in range(values.shape[1])], axis=1)


def crop_windows(boxes: np.ndarray, frame_size: tuple[int, int], scale: float, sigma: float) -> np.ndarray:
    """(T, 3) float32 crop windows (centre x, centre y, side) for a track of (T, 4) boxes (NaN = no face).

    `frame_size` is (width, height). Raises ValueError if the track has no face at all.
    """
    valid = ~np.isnan(boxes[:, 0])
    if not valid.any():
        raise ValueError("the track has no face to crop around")
    w, h = frame_size
    sizes = np.sqrt((boxes[valid, 2] - boxes[valid, 0]) * (boxes[valid, 3] - boxes[valid, 1]))
    side = float(min(scale * np.median(sizes), w, h))
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    centres = _fill_gaps(centres)
    if sigma > 0:
        centres = gaussian_filter1d(centres, sigma, axis=0, mode="nearest")
    half = side / 2
    centres[:, 0] = np.clip(centres[:, 0], half, w - half)
    centres[:, 1] = np.clip(centres[:, 1], half, h - half)
    return np.concatenate([centres, np.full((len(boxes), 1), side)], axis=1).astype(np.float32)


def cut_window(rgb: np.ndarray, window: np.ndarray, out_size: int) -> np.ndarray:
    """Crop the (cx, cy, side) window from an (H, W, 3) frame and resize it to (out_size, out_size, 3)."""
    cx, cy, side = (float(v) for v in window)
    x0 = int(round(cx - side / 2))
    y0 = int(round(cy - side / 2))
    s = int(round(side))
    x0 = min(max(x0, 0), rgb.shape[1] - s)
    y0 = min(max(y0, 0), rgb.shape[0] - s)
    patch = rgb[y0:y0 + s, x0:x0 + s]
    interp = cv2.INTER_AREA if s > out_size else cv2.INTER_CUBIC
    return cv2.resize(patch, (out_size, out_size), interpolation=interp)


def box_in_crop(box: np.ndarray, window: np.ndarray, out_size: int) -> np.ndarray:
    """The (4,) xyxy face box of the frame mapped into the (out_size)² crop's pixel coordinates."""
    cx, cy, side = window
    scale = out_size / side
    return np.array([(box[0] - (cx - side / 2)) * scale, (box[1] - (cy - side / 2)) * scale,
                     (box[2] - (cx - side / 2)) * scale, (box[3] - (cy - side / 2)) * scale], np.float32)

