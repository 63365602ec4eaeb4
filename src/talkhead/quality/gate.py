"""The accept/reject gate: per-clip measures + thresholds → verdict and every failing reason.

Every reason that applies is listed (not just the first), so rejected.csv tells the whole story.
Scene cuts reject a clip only under `cut_policy: reject`; under `split` they bound its training
segments instead, and a clip left without any segment of `segment_min_s` is `too_short`.
Measures that could not be taken (None) never trigger a reason by themselves: a clip without audio
is rejected as `no_audio`, not also as `silent_audio`.
"""

from __future__ import annotations

from typing import Any

from talkhead.config import QualityConfig


def _below(value: float | None, limit: float) -> bool:
    return value is not None and value < limit


def judge(m: dict[str, Any], cfg: QualityConfig) -> list[str]:
    """Reason codes (in vocabulary order) for the measures `m` of one clip; [] means accept."""
    reasons = []
    if m["frames"] < round(cfg.min_duration_s * m["fps"]) or m.get("segment_frames", m["frames"]) == 0:
        reasons.append("too_short")
    if not m["has_audio"]:
        reasons.append("no_audio")
    else:
        if _below(m["loudness_db"], cfg.silence_db):
            reasons.append("silent_audio")
        if _below(m["speech_fraction"], cfg.min_speech_fraction):
            reasons.append("no_speech")
    if m["face_coverage"] < cfg.min_face_coverage:
        reasons.append("no_face")
    else:
        if _below(m["face_px"], cfg.min_face_px) or _below(m["face_frac"], cfg.min_face_frac):
            reasons.append("face_too_small")
        if cfg.multiple_faces == "reject" and m["multi_face_rate"] > cfg.max_multi_face_rate:
            reasons.append("multiple_faces")
        if _below(m["blur"], cfg.min_blur):
            reasons.append("blurry")
    if av_out_of_sync(m, cfg):
        reasons.append("av_offset")
    if cfg.cut_policy == "reject" and m["scene_cuts"] > cfg.max_scene_cuts:
        reasons.append("scene_cut")
    return reasons


def av_shift(m: dict[str, Any], cfg: QualityConfig) -> int:
    """Frames to shift the audio earlier by (0 = leave it): a confident, out-of-tolerance offset, if correcting."""
    offset = m.get("av_offset_frames")
    if not cfg.av_correct or offset is None or m["av_confidence"] < cfg.av_min_confidence:
        return 0
    return int(offset) if abs(offset) > cfg.av_tolerance else 0


def av_out_of_sync(m: dict[str, Any], cfg: QualityConfig) -> bool:
    """A confident offset beyond tolerance that is not being corrected."""
    offset = m.get("av_offset_frames")
    if offset is None or m["av_confidence"] < cfg.av_min_confidence or abs(offset) <= cfg.av_tolerance:
        return False
    return not cfg.av_correct
