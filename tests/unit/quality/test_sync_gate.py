"""A/V offset on synthetic signals with a known delay, loudness/VAD, sharpness and the gate's reasons."""

from __future__ import annotations

import numpy as np
import pytest

from talkhead.config import QualityConfig
from talkhead.quality.measures import segments
from talkhead.quality.audio import SILENCE_DB, loudness_db, speech_fraction
from talkhead.quality.blur import face_sharpness
from talkhead.quality.gate import av_shift, judge
from talkhead.quality.sync import estimate_offset, mouth_opening


def _vowels(n_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A mouth-opening track and (n, 8) 'spectral' features that encode it (plus noise)."""
    rng = np.random.default_rng(seed)
    open_ = np.convolve(rng.random(n_frames) > 0.6, np.ones(3) / 3, mode="same")  # syllable-like bursts
    mix = rng.normal(size=(1, 8))
    feats = open_[:, None] * mix + 0.3 * rng.normal(size=(n_frames, 8))
    return open_.astype(np.float32), feats


@pytest.mark.parametrize("delay", [0, 4, 10, -7])
def test_offset_recovers_a_known_delay_with_the_documented_sign(delay):
    mouth, feats = _vowels(150)
    audio = np.roll(feats, delay, axis=0)  # audio shown `delay` frames later than the mouth: + = audio late
    result = estimate_offset(mouth, audio, max_lag=15)
    assert result.frames == delay and result.confidence > 0.3


def test_offset_is_unknown_without_mouth_signal():
    _, feats = _vowels(150)
    assert estimate_offset(np.full(150, np.nan, np.float32), feats, 15).frames is None
    assert estimate_offset(np.zeros(150, np.float32), feats, 15).frames is None


def test_mouth_opening_is_scale_free():
    lm = np.zeros((2, 478, 3), np.float32)
    lm[:, 33, 0], lm[:, 263, 0] = 0, 100  # eye corners 100 px apart
    lm[:, 14, 1] = 20  # lips 20 px apart
    assert np.allclose(mouth_opening(lm), 0.2) and np.allclose(mouth_opening(lm * 3), 0.2)


def test_loudness_and_speech_fraction():
    assert loudness_db(np.zeros(1000, np.float32)) == SILENCE_DB
    assert loudness_db(np.full(1000, 0.1, np.float32)) == pytest.approx(-20.0)
    assert speech_fraction([(0.0, 1.0), (2.0, 2.5)], 5.0) == pytest.approx(0.3)


def test_sharpness_drops_with_blur_but_not_with_contrast():
    import cv2

    rng = np.random.default_rng(0)
    sharp = (rng.random((128, 128, 3)) * 255).astype(np.uint8)
    sharp = cv2.GaussianBlur(sharp, (0, 0), 1.0)
    box = np.array([0, 0, 128, 128], np.float32)
    dim = (sharp * 0.4).astype(np.uint8)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4.0)
    assert face_sharpness(dim, box) == pytest.approx(face_sharpness(sharp, box), rel=0.2)
    assert face_sharpness(blurred, box) < 0.2 * face_sharpness(sharp, box)


GOOD = {"frames": 100, "fps": 25, "has_audio": True, "loudness_db": -25.0, "speech_fraction": 0.8,
        "face_coverage": 1.0, "face_px": 250.0, "face_frac": 0.5, "multi_face_rate": 0.0, "blur": 8.0,
        "av_method": "mesh", "av_offset_frames": 1, "av_confidence": 5.0, "av_status": "measured", "scene_cuts": 0}


@pytest.mark.parametrize("change, reasons", [
    ({}, []),
    ({"frames": 30}, ["too_short"]),
    ({"has_audio": False, "loudness_db": None, "speech_fraction": None}, ["no_audio"]),
    ({"loudness_db": -120.0, "speech_fraction": 0.0}, ["silent_audio", "no_speech"]),
    ({"face_coverage": 0.1}, ["no_face"]),
    ({"face_px": 60.0, "face_frac": 0.1}, ["face_too_small"]),
    ({"multi_face_rate": 0.9}, ["multiple_faces"]),
    ({"blur": 1.0}, ["blurry"]),
    ({"scene_cuts": 2}, []),  # the default cut_policy is split: cuts bound segments, they do not reject
    ({"scene_cuts": 2, "segment_frames": 0}, ["too_short"]),
    ({"frames": 30, "blur": 1.0, "speech_fraction": 0.0}, ["too_short", "no_speech", "blurry"]),
])
def test_gate_lists_every_failing_reason(change, reasons):
    assert judge({**GOOD, **change}, QualityConfig.from_dict({})) == reasons


def test_a_measured_offset_is_corrected_or_rejected_by_params():
    late = {**GOOD, "av_offset_frames": 10}
    correct = QualityConfig.from_dict({"av_correct": True})
    strict = QualityConfig.from_dict({"av_correct": False})
    assert judge(late, correct) == [] and av_shift(late, correct) == 10
    assert judge(late, strict) == ["av_offset"] and av_shift(late, strict) == 0
    within = {**GOOD, "av_offset_frames": 2}  # av_tolerance 2: in sync
    assert judge(within, strict) == [] and av_shift(within, correct) == 0


@pytest.mark.parametrize("policy, reasons", [("keep", []), ("reject", ["av_uncertain"])])
def test_an_uncertain_offset_is_never_acted_on(policy, reasons):
    cfg = QualityConfig.from_dict({"av_uncertain": policy})
    unsure = {**GOOD, "av_offset_frames": 10, "av_status": "uncertain"}
    assert judge(unsure, cfg) == reasons and av_shift(unsure, cfg) == 0
    # without speech the offset is no reason of its own: no_speech says it
    quiet = {**unsure, "speech_fraction": 0.0}
    assert judge(quiet, cfg) == ["no_speech"]
    assert judge({**unsure, "has_audio": False, "loudness_db": None, "speech_fraction": None}, cfg) == ["no_audio"]


@pytest.mark.parametrize("offset, conf, reasons, shift", [
    (4, 7.5, [], 4),  # confident, |offset| <= 6: kept and shifted to zero
    (1, 7.5, [], 1),
    (0, 7.5, [], 0),
    (9, 7.5, ["av_offset"], 0),  # confident but beyond syncnet_max_offset
    (9, 1.2, [], 0),  # not confident: uncertain, kept (av_uncertain: keep) and never shifted
])
def test_syncnet_applies_the_latentsync_rule(offset, conf, reasons, shift):
    cfg = QualityConfig.from_dict({"syncnet_path": "syncnet_v2.model"})
    m = {**GOOD, "av_method": "syncnet", "av_offset_syncnet": offset, "av_confidence_syncnet": conf,
         "av_status": "uncertain"}  # the face-mesh measure is overruled by SyncNet
    assert judge(m, cfg) == reasons and av_shift(m, cfg) == shift


def test_cut_policy_reject_keeps_clips_whole():
    strict = QualityConfig.from_dict({"cut_policy": "reject", "max_scene_cuts": 1})
    assert judge({**GOOD, "scene_cuts": 2}, strict) == ["scene_cut"]
    assert judge({**GOOD, "scene_cuts": 1}, strict) == []


def test_segments_follow_the_cut_policy():
    split = QualityConfig.from_dict({"segment_min_s": 1.0, "segment_max_s": 4.0})
    whole = QualityConfig.from_dict({"cut_policy": "reject", "segment_min_s": 1.0, "segment_max_s": 4.0})
    # 10 s at 25 fps, a cut at 3 s and one 10 frames before the end
    assert segments(250, [75, 240], 25, split) == [(0, 75), (75, 157), (157, 240)]
    assert segments(250, [75, 240], 25, whole) == [(0, 83), (83, 166), (166, 250)]
    assert segments(20, [], 25, split) == []  # shorter than segment_min_s: nothing to train on
