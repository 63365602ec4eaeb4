"""The quality phase on one clip: every per-clip measure, the verdict with all failing reasons, the aligned audio.

In quality (layer 3), beside what it combines: the measures (talkhead.quality.measures) and the gate's verdict
(talkhead.quality.gate).

Reads data/normalize/{clip}/, data/faces/{clip}/ and data/crop/{clip}/; writes data/quality/{clip}/:
quality.json (measures, verdict, reasons, the thresholds used), audio.wav (the normalized audio,
shifted by the measured A/V offset when that is corrected) and status.json (ok = accepted).
A/V offset sign: positive = audio late, in video frames (see talkhead.quality.sync).
`one_line` is the verdict as one line of text: the stage's summary, and `talkhead qc`'s line per file.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from talkhead.atomic import atomic_dir, write_json
from talkhead.config import QualityConfig
from talkhead.data.status import ClipStatus, pass_on, read_status
from talkhead.media.encode import write_wav
from talkhead.quality.gate import av_verdict, judge
from talkhead.quality.measures import measure, read_json, segments, shift_audio

log = logging.getLogger(__name__)


def quality_clip(normalize_dir: Path, faces_dir: Path, crop_dir: Path, out: Path, cfg: QualityConfig) -> ClipStatus:
    """Measure and judge one clip, writing `out` atomically."""
    upstream = read_status(normalize_dir)
    with atomic_dir(out) as tmp:
        if not upstream.ok:
            status = pass_on(upstream, "quality", tmp)
            write_json(tmp / "quality.json", {"clip": upstream.clip, "verdict": "reject",
                                              "reasons": status.reasons, "measures": {}})
            return status
        m, samples = measure(normalize_dir, faces_dir, crop_dir, cfg)
        reasons = judge(m, cfg)
        m["av_shift_frames"] = av_verdict(m, cfg).shift if not reasons else 0
        if samples is not None:
            rate = int(upstream.details["sample_rate"])
            write_wav(tmp / "audio.wav", shift_audio(samples, m["av_shift_frames"], rate, m["fps"]), rate)
        verdict = "reject" if reasons else "accept"
        cuts = read_json(faces_dir / "faces.json").get("scene_cuts", [])
        pieces = segments(m["frames"], cuts, m["fps"], cfg, [tuple(r) for r in m["damaged_ranges"]])
        write_json(tmp / "quality.json", {"clip": upstream.clip, "verdict": verdict, "reasons": reasons,
                                          "measures": m, "segments": pieces,
                                          "scene_cut_frames": cuts, "thresholds": dataclasses.asdict(cfg)})
        status = ClipStatus(upstream.clip, "quality", not reasons, reasons, "" if not reasons else
                            f"rejected: {', '.join(reasons)}", {**m, "verdict": verdict, "rejected_at": "quality"})
        status.write(tmp)
    return status


def one_line(status: ClipStatus) -> str:
    """`clip: accept|reject (reasons) — key measures`."""
    d = status.details
    verdict = "accept" if status.ok else f"reject ({', '.join(status.reasons)})"

    def fmt(key: str, spec: str) -> str:
        return format(d[key], spec) if d.get(key) is not None else "n/a"

    return (f"{status.clip}: {verdict} — face {fmt('face_px', '.0f')} px, sharpness {fmt('blur', '.0f')}, "
            f"speech {fmt('speech_fraction', '.0%')}, level {fmt('loudness_db', '.1f')} dB, "
            f"A/V offset {_av_text(d)}")


def _av_text(d: dict[str, Any]) -> str:
    """`+3 frames (syncnet, conf 7.1)`, `+1 frames (measured, z 5.2)` or `uncertain (reason)`."""
    if d.get("av_method") == "syncnet" and d.get("av_offset_syncnet") is not None:
        return f"{d['av_offset_syncnet']:+d} frames (syncnet, conf {d['av_confidence_syncnet']:.2f})"
    if d.get("av_status") == "measured":
        return f"{d['av_offset_frames']:+d} frames (measured, z {d['av_confidence']:.1f})"
    if d.get("av_status") == "uncertain":
        return f"uncertain ({d.get('av_reason', '')})"
    return "n/a"
