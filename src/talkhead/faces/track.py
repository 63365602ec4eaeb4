"""One identity track from detections on a stride: pick the face, fill gaps, smooth the box.

Detection runs every `stride` frames (the probes). At each probe the faces at least
`min_rel_size` × the largest are counted (so a poster in the background does not count), and
the face that continues the track (highest IoU with the last chosen box, else the largest) is
chosen. Boxes between probes are interpolated linearly; gaps longer than `max_gap` frames stay
empty (NaN). The filled track is then smoothed with a Gaussian over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from talkhead.faces.types import Detection


@dataclass
class ProbeResult:
    """What detection found at the probe frames of a clip."""

    frames: np.ndarray  # (P,) int frame index of each probe
    chosen: list[Detection | None]  # (P,) the track's face at each probe, None when none
    counts: np.ndarray  # (P,) int number of significant faces at each probe


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two xyxy boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def significant(detections: list[Detection], min_rel_size: float) -> list[Detection]:
    """The faces at least `min_rel_size` × the largest one's size (a poster in the background is not)."""
    if not detections:
        return []
    largest = max(d.size for d in detections)
    return [d for d in detections if d.size >= min_rel_size * largest]


class IdentityTracker:
    """Feed the detections of each probe frame in order; `result()` gives the ProbeResult."""

    def __init__(self, min_rel_size: float = 0.5, min_iou: float = 0.2) -> None:
        self.min_rel_size = min_rel_size
        self.min_iou = min_iou
        self._frames: list[int] = []
        self._chosen: list[Detection | None] = []
        self._counts: list[int] = []
        self.last: Detection | None = None  # the most recent chosen face

    def update(self, frame: int, detections: list[Detection]) -> Detection | None:
        """Record probe `frame`; return the chosen face (or None)."""
        chosen = None
        faces = significant(detections, self.min_rel_size)
        if faces:
            chosen = max(faces, key=lambda d: d.size)
            if self.last is not None:
                best = max(faces, key=lambda d: iou(d.box, self.last.box))
                if iou(best.box, self.last.box) >= self.min_iou:
                    chosen = best
            self.last = chosen
        self._frames.append(frame)
        self._chosen.append(chosen)
        self._counts.append(len(faces))
        return chosen

    def result(self) -> ProbeResult:
        """Everything recorded so far."""
        return ProbeResult(np.array(self._frames, int), list(self._chosen), np.array(self._counts, int))


def fill_track(n_frames: int, probes: ProbeResult, max_gap: int) -> np.ndarray:
    """(T, 4) float32 boxes at every frame: probes' boxes, linear in between, NaN across long gaps."""
    boxes = np.full((n_frames, 4), np.nan, np.float32)
    hits = [(f, d.box) for f, d in zip(probes.frames, probes.chosen) if d is not None and f < n_frames]
    for (f0, b0), (f1, b1) in zip(hits, hits[1:]):
        if f1 - f0 <= max_gap:
            w = np.linspace(0.0, 1.0, f1 - f0 + 1, dtype=np.float32)[:, None]
            boxes[f0:f1 + 1] = (1 - w) * b0 + w * b1
    for f, b in hits:
        boxes[f] = b
    if hits:  # hold the first and last box up to max_gap frames beyond the probes (the stride's tail)
        f_first, b_first = hits[0]
        f_last, b_last = hits[-1]
        boxes[max(0, f_first - max_gap):f_first] = b_first
        boxes[f_last + 1:min(n_frames, f_last + 1 + max_gap)] = b_last
    return boxes


def _runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges where `valid` is True."""
    edges = np.diff(np.concatenate([[0], valid.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def smooth_track(boxes: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smooth each continuous run of valid boxes over time (sigma in frames)."""
    out = boxes.copy()
    if sigma <= 0:
        return out
    for start, end in _runs(~np.isnan(boxes[:, 0])):
        out[start:end] = gaussian_filter1d(boxes[start:end], sigma, axis=0, mode="nearest")
    return out
