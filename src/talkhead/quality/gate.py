"""The accept/reject gate: per-clip measures + thresholds → verdict and every failing reason.

Every reason that applies is listed (not just the first), so rejected.csv tells the whole story.
Scene cuts reject a clip only under `cut_policy: reject`; under `split` they bound its training
segments instead, and a clip left without any segment of `segment_min_s` is `too_short`.
A damaged stream (decode errors, concealed frames, audio gaps: `damaged_frames`) is cut to its intact
part — the training segments skip every damaged frame — and is `corrupt_stream` only when no
segment of `segment_min_s` is left (or with `cut_policy: reject`, where clips stay whole).
Measures that could not be taken (None) never trigger a reason by themselves: a clip without audio
is rejected as `no_audio`, not also as `silent_audio`, and an uncertain A/V offset only counts
(`av_uncertain`) on a clip whose audio holds speech.

A/V offset (docs/qc.md): with the official SyncNet weights (`av_method: syncnet`) LatentSync's
rule applies — confidence ≥ `syncnet_min_confidence` and |offset| ≤ `syncnet_max_offset` is kept
and shifted to zero, a confident larger offset is `av_offset`. Without them the face-mesh measure
decides: only a `measured` offset beyond `av_tolerance` is acted on (shifted, or `av_offset` with
`av_correct: false`). An uncertain measure is never acted on; `av_uncertain` decides keep or reject.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from talkhead.config import QualityConfig


@dataclass(frozen=True)
class AvVerdict:
    """What the gate does about a clip's A/V offset: shift the audio by `shift` frames, or a reason."""

    shift: int = 0
    reason: str | None = None
    uncertain: bool = False


def _below(value: float | None, limit: float) -> bool:
    return value is not None and value < limit


def _has_speech(m: dict[str, Any], cfg: QualityConfig) -> bool:
    return bool(m["has_audio"]) and not _below(m["loudness_db"], cfg.silence_db) and not _below(
        m["speech_fraction"], cfg.min_speech_fraction)


def _act(offset: int, tolerance: int, cfg: QualityConfig) -> AvVerdict:
    """A trusted offset: leave it within tolerance, else shift (av_correct) or reject."""
    if abs(offset) <= tolerance:
        return AvVerdict()
    return AvVerdict(shift=offset) if cfg.av_correct else AvVerdict(reason="av_offset")


def av_verdict(m: dict[str, Any], cfg: QualityConfig) -> AvVerdict:
    """The gate's A/V decision for the measures `m` of one clip."""
    if not _has_speech(m, cfg):
        return AvVerdict()
    if m.get("av_method") == "syncnet":
        offset, conf = m.get("av_offset_syncnet"), m.get("av_confidence_syncnet")
        if offset is not None and conf is not None and conf >= cfg.syncnet_min_confidence:
            if abs(offset) > cfg.syncnet_max_offset:
                return AvVerdict(reason="av_offset")
            # LatentSync shifts every kept clip to offset zero; without correction, tolerance applies
            return _act(int(offset), 0 if cfg.av_correct else cfg.av_tolerance, cfg)
    elif m.get("av_status") == "measured" and m.get("av_offset_frames") is not None:
        return _act(int(m["av_offset_frames"]), cfg.av_tolerance, cfg)
    return AvVerdict(reason="av_uncertain" if cfg.av_uncertain == "reject" else None, uncertain=True)


def judge(m: dict[str, Any], cfg: QualityConfig) -> list[str]:
    """Reason codes (in vocabulary order) for the measures `m` of one clip; [] means accept."""
    reasons = []
    damaged = m.get("damaged_frames", 0) > 0
    no_segment = m.get("segment_frames", m["frames"]) == 0
    if m["frames"] < round(cfg.min_duration_s * m["fps"]) or (no_segment and not damaged):
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
    av = av_verdict(m, cfg)
    if av.reason:
        reasons.append(av.reason)
    if cfg.cut_policy == "reject" and m["scene_cuts"] > cfg.max_scene_cuts:
        reasons.append("scene_cut")
    if damaged and (no_segment or cfg.cut_policy == "reject"):  # nothing intact to keep, or clips must stay whole
        reasons.append("corrupt_stream")
    return reasons


def av_shift(m: dict[str, Any], cfg: QualityConfig) -> int:
    """Frames to shift the audio earlier by (0 = leave it)."""
    return av_verdict(m, cfg).shift
