"""Shot-boundary detection: hard cuts found at the right frame; motion, talking and fades are not cuts."""

from __future__ import annotations

import csv
import itertools

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from talkhead.data.manifest import read_manifest, resolve_local_source
from talkhead.media.decode import iter_frames_cfr
from talkhead.quality.shots import CutDetector, plan_segments

FPS = 25
SIZE = 128


def _square(img: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Centre square crop resized to (size, size, 3) uint8."""
    h, w = img.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return cv2.resize(img[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)


IMAGES = {"astronaut": _square(skdata.astronaut()), "coffee": _square(skdata.coffee()),
          "chelsea": _square(skdata.chelsea())}


def _held(img: np.ndarray, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`img` held for n frames with sensor noise (sigma 3) and a jitter of up to 1 px; (n,) of (H, W, 3) uint8."""
    frames = []
    for _ in range(n):
        dx, dy = rng.uniform(-1.0, 1.0, size=2)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        moved = cv2.warpAffine(img, m, img.shape[1::-1], borderMode=cv2.BORDER_REFLECT_101)
        noisy = moved.astype(np.float32) + rng.normal(0.0, 3.0, size=img.shape)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return frames


def _detect(frames, fps: float = FPS, **kwargs) -> tuple[list[int], CutDetector]:
    det = CutDetector(fps, **kwargs)
    for frame in frames:
        det.update(frame)
    return det.finish(), det


# --- synthetic clips ----------------------------------------------------------------------------

def test_two_stills_give_one_cut_at_the_switch():
    rng = np.random.default_rng(0)
    frames = _held(IMAGES["astronaut"], 25, rng) + _held(IMAGES["coffee"], 25, rng)
    cuts, det = _detect(frames)
    assert cuts == [25]
    scores = det.scores
    assert scores.shape == (50,) and scores[0] == 0.0
    assert scores[25] > 40 and np.delete(scores, 25).max() < 20  # noise + 1 px jitter stay below 27


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 0.0), (1.0, 1.0, 1.0, 1.0)], ids=["hsv", "hsv+edges"])
def test_three_shots_give_two_cuts(weights):
    rng = np.random.default_rng(1)
    frames = (_held(IMAGES["coffee"], 15, rng) + _held(IMAGES["chelsea"], 30, rng)
              + _held(IMAGES["astronaut"], 20, rng))
    assert _detect(frames, weights=weights)[0] == [15, 45]


def test_violent_shake_is_not_a_cut_thanks_to_the_adaptive_ratio():
    """Shifts of up to 6 px every frame score 18-44, often over 27, but as a plateau, not a spike."""
    rng = np.random.default_rng(11)
    frames = []
    for _ in range(50):
        dx, dy = rng.uniform(-6.0, 6.0, size=2)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        frames.append(cv2.warpAffine(IMAGES["astronaut"], m, (SIZE, SIZE), borderMode=cv2.BORDER_REFLECT_101))
    cuts, det = _detect(frames)
    assert cuts == [] and (det.scores > 27).sum() >= 10 and np.nanmax(det.ratios) < 3
    assert len(_detect(frames, ratio=0.0)[0]) >= 3  # the threshold alone (ContentDetector) would cut


def test_pan_and_zoom_is_not_a_cut():
    big = cv2.resize(skdata.astronaut(), (320, 320), interpolation=cv2.INTER_AREA)  # (320, 320, 3)
    rng = np.random.default_rng(2)
    frames, x, y, side = [], 20.0, 30.0, 200.0
    for _ in range(75):
        x += rng.uniform(1.0, 2.0)  # pan right 1-2 px per frame
        y += rng.uniform(0.0, 1.0)
        side -= 0.8  # slow zoom in
        x0, y0 = int(round(x)), int(round(y))
        crop = big[y0:y0 + int(side), x0:x0 + int(side)]
        frames.append(cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR))
    cuts, det = _detect(frames)
    assert cuts == []
    assert det.scores.max() < 27


def test_cross_fade_is_at_most_one_cut():
    rng = np.random.default_rng(3)
    a, b = IMAGES["astronaut"].astype(np.float32), IMAGES["chelsea"].astype(np.float32)
    fade = [np.clip((1 - k / 13) * a + (k / 13) * b + rng.normal(0, 3.0, a.shape), 0, 255).astype(np.uint8)
            for k in range(1, 13)]  # 12 blended frames
    frames = _held(IMAGES["astronaut"], 20, rng) + fade + _held(IMAGES["chelsea"], 20, rng)
    cuts, det = _detect(frames)
    assert len(cuts) <= 1
    # What it gives: no cut. Each fade step moves 1/13 of the way (scores ~3-9, a plateau, not a
    # spike), so neither the threshold nor the adaptive ratio fires; gradual transitions are not
    # reported (plan_segments then keeps the fade inside one segment).
    assert cuts == []
    assert det.scores[20:33].max() < 27


def test_a_cut_after_a_cut_closer_than_min_shot_is_dropped():
    rng = np.random.default_rng(4)
    frames = (_held(IMAGES["astronaut"], 20, rng) + _held(IMAGES["coffee"], 5, rng)
              + _held(IMAGES["chelsea"], 25, rng))
    assert _detect(frames)[0] == [20]  # 25 is 0.2 s after 20 (min_shot_s 0.5)
    assert _detect(frames, min_shot_s=0.1)[0] == [20, 25]


def test_cut_near_the_start_and_end_are_kept():
    rng = np.random.default_rng(5)
    frames = _held(IMAGES["coffee"], 3, rng) + _held(IMAGES["astronaut"], 30, rng) + _held(IMAGES["chelsea"], 2, rng)
    assert _detect(frames)[0] == [3, 33]


def test_repeated_frames_from_cfr_padding_do_not_matter():
    """A 20 fps source resampled to 25 fps repeats every 4th frame (score exactly 0)."""
    rng = np.random.default_rng(6)
    src = _held(IMAGES["astronaut"], 24, rng) + _held(IMAGES["coffee"], 24, rng)
    frames = [src[int(k * 20 / 25)] for k in range(60)]
    want = next(k for k in range(60) if int(k * 20 / 25) == 24)
    cuts, det = _detect(frames)
    assert cuts == [want]
    assert (det.scores == 0).sum() >= 10 and np.isnan(det.ratios[det.scores == 0]).all()


def test_a_frame_of_another_size_is_compared_at_the_first_size():
    rng = np.random.default_rng(7)
    frames = _held(IMAGES["astronaut"], 20, rng) + [cv2.resize(f, (200, 150)) for f in _held(IMAGES["coffee"], 20, rng)]
    assert _detect(frames)[0] == [20]


def test_streaming_decisions_and_misuse():
    rng = np.random.default_rng(8)
    det = CutDetector(FPS)
    assert det.finish() == [] and det.scores.shape == (0,)
    det = CutDetector(FPS)
    frames = _held(IMAGES["astronaut"], 10, rng) + _held(IMAGES["coffee"], 10, rng)
    for frame in frames[:13]:
        det.update(frame)
    assert det._cuts == [10]  # decided `window` (2) frames later, while streaming
    for frame in frames[13:]:
        det.update(frame)
    assert det.finish() == [10] and det.finish() == [10]
    with pytest.raises(RuntimeError):
        det.update(frames[0])
    with pytest.raises(ValueError):
        CutDetector(FPS).update(frames[0][:, :, 0])
    with pytest.raises(ValueError):
        CutDetector(0)
    # Two frames, different: the second starts a new shot.
    assert _detect([IMAGES["astronaut"], IMAGES["coffee"]])[0] == [1]


def test_frames_are_compared_at_the_downscaled_size_whatever_their_size():
    """update() stays cheap on large frames because it compares them at ~`downscale` px (its speed is in
    benchmarks/preprocess.py, not timed here)."""
    rng = np.random.default_rng(9)
    for shape in ((512, 512), (1080, 1920), (700, 500)):
        det = CutDetector(FPS)
        for _ in range(3):
            det.update(rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
        compared = det._prev.shape[:2]
        assert max(compared) == det.downscale, (shape, compared)
        assert (compared[1], compared[0]) == det.compared_size(shape[1], shape[0])


# --- plan_segments ------------------------------------------------------------------------------

def test_plan_short_clip_without_cuts_is_one_segment():
    assert plan_segments(75, [], 25, min_s=1.0, max_s=10.0) == [(0, 75)]


def test_plan_long_clip_is_split_evenly_under_max():
    segs = plan_segments(1000, [], 25, min_s=1.0, max_s=10.0)  # 40 s -> 4 x 250 frames
    assert segs == [(0, 250), (250, 500), (500, 750), (750, 1000)]
    segs = plan_segments(1010, [], 25, min_s=1.0, max_s=10.0)  # 40.4 s -> 5 pieces of 202
    assert len(segs) == 5 and {b - a for a, b in segs} == {202}
    segs = plan_segments(1003, [], 25, min_s=1.0, max_s=10.0)  # lengths differ by at most one frame
    assert segs[0][0] == 0 and segs[-1][1] == 1003
    assert all(b1 == a2 for (_, b1), (a2, _) in zip(segs, segs[1:]))
    assert {b - a for a, b in segs} <= {200, 201} and max(b - a for a, b in segs) <= 250


def test_plan_drops_pieces_under_min():
    # Shots: [0, 10) 0.4 s dropped, [10, 100) kept, [100, 120) 0.8 s dropped.
    assert plan_segments(120, [10, 100], 25, min_s=1.0, max_s=10.0) == [(10, 100)]
    assert plan_segments(20, [], 25, min_s=1.0, max_s=10.0) == []


def test_plan_cuts_at_the_boundaries_and_duplicates_are_ignored():
    assert plan_segments(100, [0, 100, 150], 25, min_s=1.0, max_s=10.0) == [(0, 100)]
    assert plan_segments(100, [50, 50], 25, min_s=1.0, max_s=10.0) == [(0, 50), (50, 100)]
    assert plan_segments(100, [99], 25, min_s=1.0, max_s=10.0) == [(0, 99)]  # 1-frame last shot dropped
    assert plan_segments(0, [], 25, min_s=1.0, max_s=10.0) == []
    with pytest.raises(ValueError):
        plan_segments(100, [], 25, min_s=5.0, max_s=2.0)


def test_plan_from_detected_cuts():
    rng = np.random.default_rng(10)
    frames = _held(IMAGES["astronaut"], 30, rng) + _held(IMAGES["coffee"], 60, rng)
    cuts, det = _detect(frames)
    assert plan_segments(det.n_frames, cuts, FPS, min_s=1.0, max_s=2.0) == [(0, 30), (30, 60), (60, 90)]


# --- real data ----------------------------------------------------------------------------------

def _real_videos(real_media):
    with (real_media / "expected.csv").open() as fh:
        return [real_media / r["file"] for r in csv.DictReader(fh)]


@pytest.mark.realdata
def test_real_videos_have_no_cuts(real_media):
    """Every fixture video is one continuous shot (talking heads, a dancer, a bird): no cut in any."""
    found, peak = {}, {}
    for path in _real_videos(real_media):
        cuts, det = _detect(iter_frames_cfr(path, fps=25, max_side=256))
        found[path.name] = cuts
        peak[path.name] = round(float(det.scores.max()), 1)
    assert all(cuts == [] for cuts in found.values()), (found, peak)
    assert len(found) >= 10


@pytest.mark.realdata
def test_real_splice_of_two_speakers_is_one_cut(real_media):
    videos = real_media / "videos"
    a = list(itertools.islice(iter_frames_cfr(videos / "video-retalking__face_1.mp4", fps=25, max_side=256), 40))
    b = list(itertools.islice(iter_frames_cfr(videos / "SadTalker__ref_video_WDA_KatieHill_000.mp4", fps=25,
                                              max_side=256), 40))
    cuts, det = _detect(a + b)
    assert len(cuts) == 1 and abs(cuts[0] - 40) <= 1, cuts
    assert det.scores[cuts[0]] > 40


def test_demo_clips_have_no_cuts(demo_dataset):
    found = {}
    for row in read_manifest(demo_dataset):
        cuts, _ = _detect(iter_frames_cfr(resolve_local_source(row, demo_dataset), fps=25))
        found[row.clip_id] = cuts
    assert "demo_s0_c0" in found  # the speaking clip (plus the silent-face and cat negatives)
    assert all(cuts == [] for cuts in found.values()), found
