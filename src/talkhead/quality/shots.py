"""Streaming shot-boundary (scene-cut) detection, and planning of training segments between cuts.

`CutDetector` is fed RGB frames one at a time by a decode loop that someone else owns; it never
opens a file. The method follows PySceneDetect's ContentDetector + AdaptiveDetector (re-implemented
here: PySceneDetect pins an OpenCV that clashes with ours):

1. Each frame is downscaled with area averaging to about `downscale` px on its long side (64 by
   default: sensor and compression noise average away, and the rest is cheap) and converted to
   HSV (OpenCV 8-bit: H in [0, 180), S and V in [0, 256)). Every later frame is brought to the size
   of the first, so a stream whose frame size changes still compares like with like.
2. Content score of frame t >= 1 (frame 0 scores 0): the weighted mean over the channels of the
   mean absolute difference between frames t-1 and t, in 0..255 units. Default weights (H, S, V,
   edges) = (1, 1, 1, 0), as in ContentDetector; edges (Canny on V, dilated) can be weighted in,
   but the threshold below was calibrated without them. Two changes from ContentDetector, both
   against noise in dark and grey areas (a studio-black background made a still astronaut photo
   with sensor noise score up to 27 without them):
   - hue difference is circular (179 and 1 are 2 apart), scaled by 255/90 to 0..255, and counts
     in proportion to the pixel's chroma (S*V/255 = max-min of RGB) up to CHROMA_FULL = 8;
   - saturation difference counts in proportion to the pixel's value up to VALUE_FULL = 16.
3. Adaptive ratio of frame t: its score over the mean score of its W = `window` (2) neighbours on
   each side. A hard cut is an isolated spike (one frame changes everything, its neighbours are
   ordinary); camera motion, head motion and talking raise a run of scores together, so their
   ratio stays near 1 however large the scores get. Repeated frames (score ~0: CFR padding of a
   lower-rate source, e.g. 20 fps shown at 25) are skipped: they are neither cuts nor neighbours,
   otherwise their zeros would deflate the neighbour mean and inflate ratios.
4. Frame t starts a new shot when score >= `threshold` (27, ContentDetector's default value, here
   an absolute floor) AND ratio >= `ratio` (3, AdaptiveDetector's default). The floor stops tiny
   spikes in still footage (a blink among still frames can have ratio 5 at score 5); the ratio
   stops sustained motion (a shaking camera scoring 18-44 every frame). Deciding about a frame
   needs the W distinct frames after it, so decisions lag the input by W frames; `finish()`
   decides the last ones with the neighbours there are (and the first W with those after them).
5. `min_shot_s`: a candidate closer than that to the previously accepted cut is dropped (the
   first wins), so a flash frame or a double trigger gives one cut, not a tiny shot. Not applied from the
   start of the clip: a cut 3 frames in is kept (`plan_segments` then drops the 3-frame piece)
   rather than letting 3 frames of another shot leak into the next segment.

Calibration (defaults, frames decoded at 25 fps, max side 256; see tests/unit/quality/test_shots.py):
all 13 real fixture videos, one shot each, peak at 1.8-6.8 (talking heads), 13.6 (a close HDTF-style
address with head motion), 10.5 (a dancer) and 23.8 (a fast-moving bird, ratio only 1.5 there); the
demo clips peak at 3-7.5. Splices of 40 frames of one real talking-head video onto 40 of another
score 42-112 at the cut (median ~63), with ratios 12-111. Gradual transitions (a 12-frame
cross-fade scores ~5-15 per frame) spread the change over many frames and are by design not
reported as cuts.

Memory per frame is O(1) apart from the debugging arrays `scores` and `ratios` (one float each per
frame): the detector keeps one downscaled feature frame (64x64x4 float32 = 64 KiB) and 2W+1 scores.
"""

from __future__ import annotations

import math
from array import array
from collections import deque

import cv2
import numpy as np

WEIGHTS = (1.0, 1.0, 1.0, 0.0)  # hue, saturation, value, edges (ContentDetector's defaults)
RATIO = 3.0  # adaptive threshold: score / mean score of the neighbours (AdaptiveDetector's default)
WINDOW = 2  # neighbours on each side used by the adaptive ratio (AdaptiveDetector's window_width)
HUE_SCALE = 255.0 / 90.0  # circular hue distance 0..90 -> 0..255, comparable with S and V
DUPLICATE = 1e-3  # a score at most this means "same frame again" (CFR padding of a lower-rate source)
CHROMA_FULL = 8.0  # chroma (0..255) from which a pixel's hue difference counts fully; below: in proportion
VALUE_FULL = 16.0  # value (0..255) from which a pixel's saturation difference counts fully; below: in proportion
_EPS = 1e-3  # floor of the neighbour mean: a spike among perfectly still frames has a huge ratio


class CutDetector:
    """Find hard cuts in a stream of RGB frames; call `update` per frame, then `finish` once.

    Args:
        fps: frame rate of the stream (only used to turn `min_shot_s` into frames).
        threshold: minimum content score (0..255 units) for a frame to start a new shot.
        min_shot_s: minimum distance between two reported cuts, in seconds.
        downscale: approximate long side in pixels of the frames that are compared.
        ratio: minimum adaptive ratio (score over the mean score of the neighbours).
        window: neighbours on each side used for the ratio; also the decision delay in frames.
        weights: weights of the hue, saturation, value and edge differences.
    """

    def __init__(self, fps: float, threshold: float = 27.0, min_shot_s: float = 0.5, downscale: int = 64, *,
                 ratio: float = RATIO, window: int = WINDOW,
                 weights: tuple[float, float, float, float] = WEIGHTS) -> None:
        if fps <= 0 or downscale < 8 or window < 1 or len(weights) != 4 or sum(abs(w) for w in weights) == 0:
            raise ValueError(f"bad CutDetector settings: fps={fps}, downscale={downscale}, window={window}, "
                             f"weights={weights}")
        self.fps = float(fps)
        self.threshold = float(threshold)
        self.ratio = float(ratio)
        self.window = int(window)
        self.downscale = int(downscale)
        self.weights = tuple(float(w) for w in weights)
        self.min_frames = max(1, int(math.ceil(min_shot_s * self.fps - 1e-9)))
        self._size: tuple[int, int] | None = None  # (width, height) of the compared frames
        self._prev: np.ndarray | None = None  # (h, w, 4 or 5) float32: H, S, V, chroma [, edges] of the last frame
        self._scores = array("d")  # one per frame; frame 0 scores 0
        self._ratios = array("d")  # one per frame; NaN for frame 0, repeated frames and undecided frames
        # (frame index, score) of the last 2W+1 distinct frames; the middle one is decided when it fills.
        self._recent: deque[tuple[int, float]] = deque(maxlen=2 * self.window + 1)
        self._distinct = 0  # distinct frames (score above DUPLICATE) seen, frame 0 excluded
        self._cuts: list[int] = []
        self._finished = False

    @property
    def scores(self) -> np.ndarray:
        """Content score of every frame seen so far, (n_frames,) float64 (frame 0 is 0)."""
        return np.frombuffer(self._scores, dtype=np.float64).copy() if self._scores else np.zeros(0)

    @property
    def ratios(self) -> np.ndarray:
        """Adaptive ratio of every frame decided so far, (n_frames,) float64 (NaN where none)."""
        return np.frombuffer(self._ratios, dtype=np.float64).copy() if self._ratios else np.zeros(0)

    @property
    def n_frames(self) -> int:
        """Frames given to `update` so far."""
        return len(self._scores)

    def compared_size(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) a frame of `width` × `height` is downscaled to before comparing (long side about `downscale`).

        A caller that can make small frames cheaply (talkhead.media.yuv.small_rgb) hands over frames of this
        size and the detector does not resize them."""
        scale = min(1.0, self.downscale / max(width, height))
        return max(1, int(round(width * scale))), max(1, int(round(height * scale)))

    def _features(self, rgb: np.ndarray) -> np.ndarray:
        """Downscaled H, S, V, chroma (+ edges) planes of one frame, (h, w, 4 or 5) float32."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {rgb.shape} {rgb.dtype}")
        if self._size is None:
            self._size = self.compared_size(rgb.shape[1], rgb.shape[0])
        # A frame of another size (a spliced stream) is brought to the first frame's size.
        small = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA) if rgb.shape[1::-1] != self._size else rgb
        hsv8 = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2HSV)  # (h, w, 3) uint8, H in [0, 180)
        hsv = hsv8.astype(np.float32)
        chroma = hsv[:, :, 1:2] * hsv[:, :, 2:3] * (1.0 / 255.0)  # (h, w, 1): max - min of R, G, B
        planes = [hsv, chroma]
        if self.weights[3]:
            v = np.ascontiguousarray(hsv8[:, :, 2])  # (h, w) uint8
            sigma = float(np.median(v))
            edges = cv2.Canny(v, int(max(0, 0.67 * sigma)), int(min(255, 1.33 * sigma)))
            edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))  # (h, w) uint8, 0 or 255
            planes.append(edges[:, :, None].astype(np.float32))
        return np.concatenate(planes, axis=2)  # (h, w, 4 or 5) float32: H, S, V, chroma [, edges]

    def _score(self, cur: np.ndarray, prev: np.ndarray) -> float:
        """Weighted mean absolute difference of two feature stacks (h, w, C), in 0..255 units."""
        diff = np.abs(cur - prev)  # (h, w, C)
        # Hue only counts where both frames have colour (chroma), saturation only where both are lit.
        hue_conf = np.clip(np.minimum(cur[:, :, 3], prev[:, :, 3]) * (1.0 / CHROMA_FULL), 0.0, 1.0)  # (h, w)
        sat_conf = np.clip(np.minimum(cur[:, :, 2], prev[:, :, 2]) * (1.0 / VALUE_FULL), 0.0, 1.0)  # (h, w)
        dh = diff[:, :, 0]
        dh = np.minimum(dh, 180.0 - dh) * HUE_SCALE  # circular hue distance, 0..255
        means = [float((dh * hue_conf).mean()), float((diff[:, :, 1] * sat_conf).mean()), float(diff[:, :, 2].mean())]
        means.append(float(diff[:, :, 4].mean()) if diff.shape[2] > 4 else 0.0)
        total = sum(abs(w) for w in self.weights)
        return sum(w * m for w, m in zip(self.weights, means)) / total

    def update(self, rgb: np.ndarray) -> None:
        """Add the next frame, (H, W, 3) uint8 RGB; decides about the frame `window` distinct frames back."""
        if self._finished:
            raise RuntimeError("CutDetector.update() after finish()")
        feats = self._features(rgb)
        t = len(self._scores)
        score = self._score(feats, self._prev) if self._prev is not None else 0.0
        self._scores.append(score)
        self._ratios.append(math.nan)
        self._prev = feats
        if t == 0 or score <= DUPLICATE:
            return  # frame 0 has nothing before it; a repeated frame (CFR padding) is neither cut nor neighbour
        self._recent.append((t, score))
        self._distinct += 1
        if self._distinct == self._recent.maxlen:  # first full window: decide its first half too
            for k in range(self.window + 1):
                self._decide(list(self._recent), k)
        elif self._distinct > self._recent.maxlen:
            self._decide(list(self._recent), self.window)

    def _decide(self, items: list[tuple[int, float]], k: int) -> None:
        """Decide about distinct frame `items[k]` given its neighbours up to `window` away on each side.

        A cut if its score and adaptive ratio pass and it is at least `min_shot_s` after the last cut.
        """
        t, s = items[k]
        neighbours = [score for _, score in items[max(0, k - self.window):k] + items[k + 1:k + 1 + self.window]]
        mean = sum(neighbours) / len(neighbours) if neighbours else 0.0
        ratio = s / max(mean, _EPS)
        self._ratios[t] = ratio
        if s < self.threshold or ratio < self.ratio:
            return
        if self._cuts and t - self._cuts[-1] < self.min_frames:
            return
        self._cuts.append(t)

    def finish(self) -> list[int]:
        """Decide the last frames and return the cuts: index of the first frame of each new shot (never 0)."""
        if not self._finished:
            self._finished = True
            items = list(self._recent)
            # Undecided: after the middle of a full window (decided by the last update), or all of a short clip.
            first = self.window + 1 if len(items) == self._recent.maxlen else 0
            for k in range(first, len(items)):
                self._decide(items, k)
        return list(self._cuts)


def plan_segments(n_frames: int, cuts: list[int], fps: float, min_s: float, max_s: float) -> list[tuple[int, int]]:
    """Split [0, n_frames) into training segments that never span a cut.

    1. The cuts (index of the first frame of each new shot, as from `CutDetector.finish`) split the
       clip into shots [0, c1), [c1, c2), ..., [ck, n_frames); cuts at 0, at or past n_frames, and
       duplicates are ignored, and the order does not matter.
    2. A shot longer than `max_s` is split into k = ceil(len / max_len) pieces of near-equal length
       (they differ by at most one frame), each at most `max_s`; such pieces are always longer
       than max_s / 2.
    3. Pieces shorter than `min_s` are dropped: a short shot (say the few frames before a cut
       near the start) gives nothing, and so does a clip shorter than `min_s`.

    In frames, max_len = floor(max_s * fps) (at least 1) and min_len = ceil(min_s * fps), so every
    piece lasts at most `max_s` and at least `min_s` seconds. Returns (start, end_exclusive) frame
    pairs in order; a frame belongs to at most one segment. Raises ValueError for fps <= 0,
    max_s <= 0 or min_s > max_s.
    """
    if n_frames <= 0:
        return []
    if fps <= 0 or max_s <= 0 or min_s > max_s:
        raise ValueError(f"bad segment settings: fps={fps}, min_s={min_s}, max_s={max_s}")
    max_len = max(1, int(math.floor(max_s * fps + 1e-9)))
    min_len = max(0, int(math.ceil(min_s * fps - 1e-9)))
    bounds = [0, *sorted({int(c) for c in cuts if 0 < int(c) < n_frames}), n_frames]
    out: list[tuple[int, int]] = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        length = end - start
        pieces = max(1, math.ceil(length / max_len))
        edges = [start + (length * i) // pieces for i in range(pieces + 1)]
        out.extend((a, b) for a, b in zip(edges[:-1], edges[1:]) if b - a >= max(min_len, 1))
    return out


def intact_runs(n_frames: int, damaged: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[0, n_frames) without the damaged [first, end) ranges, as (start, end_exclusive) runs in order."""
    runs, at = [], 0
    for a, b in sorted((max(0, int(a)), min(n_frames, int(b))) for a, b in damaged):
        if a > at:
            runs.append((at, a))
        at = max(at, b)
    if at < n_frames:
        runs.append((at, n_frames))
    return runs


def plan_intact_segments(n_frames: int, cuts: list[int], damaged: list[tuple[int, int]], fps: float,
                         min_s: float, max_s: float) -> list[tuple[int, int]]:
    """`plan_segments` inside each intact run: segments never span a cut nor touch a damaged frame."""
    out: list[tuple[int, int]] = []
    for start, end in intact_runs(n_frames, damaged):
        inner = [c - start for c in cuts if start < c < end]
        out.extend((start + a, start + b) for a, b in plan_segments(end - start, inner, fps, min_s, max_s))
    return out
