"""Stage `quality`: every per-clip measure, the verdict with all failing reasons, and the aligned audio.

Reads data/normalize/{clip}/, data/faces/{clip}/ and data/crop/{clip}/; writes data/quality/{clip}/:
quality.json (measures, verdict, reasons, the thresholds used), audio.wav (the normalized audio,
shifted by the measured A/V offset when that is corrected) and status.json (ok = accepted).
A/V offset sign: positive = audio late, in video frames (see talkhead.quality.sync).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from talkhead.atomic import atomic_dir, write_json
from talkhead.config import QualityConfig
from talkhead.data.status import ClipStatus, read_status
from talkhead.media.encode import write_wav
from talkhead.quality.audio import loudness_db, speech_fraction, speech_segments
from talkhead.quality.gate import av_shift, judge
from talkhead.quality.shots import plan_segments
from talkhead.quality.sync import audio_features, estimate_offset, mouth_opening
from talkhead.stages.common import pass_on, run_stage, stage_parser

log = logging.getLogger(__name__)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def segments(n_frames: int, cuts: list[int], fps: int, cfg: QualityConfig) -> list[tuple[int, int]]:
    """Training segments [start, end) in frames: between cuts (cut_policy split), else the whole clip in pieces."""
    return plan_segments(n_frames, cuts if cfg.cut_policy == "split" else [], fps, cfg.segment_min_s,
                         max(cfg.segment_max_s, cfg.segment_min_s))


def _segment_measures(n: int, cuts: list[int], fps: int, cfg: QualityConfig) -> dict[str, Any]:
    pieces = segments(n, cuts, fps, cfg)
    return {"segments": len(pieces), "segment_frames": int(sum(b - a for a, b in pieces))}


def measure(normalize_dir: Path, faces_dir: Path, crop_dir: Path, cfg: QualityConfig) -> tuple[dict, np.ndarray | None]:
    """All measures of one clip, and its audio samples (None without audio)."""
    norm = read_status(normalize_dir).details
    fps, n = int(norm["fps"]), int(norm["frames"])
    faces = _read_json(faces_dir / "faces.json")
    crop = _read_json(crop_dir / "crop.json")
    m: dict[str, Any] = {
        "frames": n, "fps": fps, "duration_s": n / fps,
        "face_px": faces.get("face_px"), "face_frac": faces.get("face_frac"),
        "face_coverage": faces.get("face_coverage", 0.0), "detection_rate": faces.get("detection_rate", 0.0),
        "faces_max": faces.get("faces_max", 0), "multi_face_rate": faces.get("multi_face_rate", 0.0),
        "scene_cuts": len(faces.get("scene_cuts", [])), "blur": crop.get("blur"),
        **_segment_measures(n, faces.get("scene_cuts", []), fps, cfg),
        "has_audio": (normalize_dir / "audio.wav").is_file(),
        "loudness_db": None, "speech_fraction": None, "av_offset_frames": None, "av_confidence": 0.0,
    }
    if not m["has_audio"]:
        return m, None
    samples, rate = sf.read(normalize_dir / "audio.wav", dtype="float32")
    m["loudness_db"] = loudness_db(samples)
    m["speech_fraction"] = speech_fraction(speech_segments(samples, rate, cfg.vad_threshold), len(samples) / rate)
    if (crop_dir / "landmarks.npz").is_file() and m["loudness_db"] >= cfg.silence_db:
        mouth = mouth_opening(np.load(crop_dir / "landmarks.npz")["points"].astype(np.float32))
        offset = estimate_offset(mouth, audio_features(samples, rate, fps, n), cfg.av_max_lag)
        m["av_offset_frames"], m["av_confidence"] = offset.frames, round(offset.confidence, 4)
    return m, samples


def shift_audio(samples: np.ndarray, frames: int, rate: int, fps: int) -> np.ndarray:
    """Move audio `frames` video frames earlier (negative: later), keeping its length (silence fills)."""
    k = int(round(frames * rate / fps))
    if k == 0:
        return samples
    out = np.zeros_like(samples)
    if k > 0:
        out[:len(samples) - k] = samples[k:]
    else:
        out[-k:] = samples[:len(samples) + k]
    return out


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
        m["av_shift_frames"] = av_shift(m, cfg) if not reasons else 0
        if samples is not None:
            rate = int(upstream.details["sample_rate"])
            write_wav(tmp / "audio.wav", shift_audio(samples, m["av_shift_frames"], rate, m["fps"]), rate)
        verdict = "reject" if reasons else "accept"
        cuts = _read_json(faces_dir / "faces.json").get("scene_cuts", [])
        write_json(tmp / "quality.json", {"clip": upstream.clip, "verdict": verdict, "reasons": reasons,
                                          "measures": m, "segments": segments(m["frames"], cuts, m["fps"], cfg),
                                          "scene_cut_frames": cuts, "thresholds": dataclasses.asdict(cfg)})
        status = ClipStatus(upstream.clip, "quality", not reasons, reasons, "" if not reasons else
                            f"rejected: {', '.join(reasons)}", {**m, "verdict": verdict, "rejected_at": "quality"})
        status.write(tmp)
    return status


def _main(args: argparse.Namespace) -> str:
    cfg = QualityConfig.from_json(args.cfg)
    status = quality_clip(Path(args.normalize), Path(args.faces), Path(args.crop), Path(args.out), cfg)
    return one_line(status)


def one_line(status: ClipStatus) -> str:
    """`clip: accept|reject (reasons) — key measures`."""
    d = status.details
    verdict = "accept" if status.ok else f"reject ({', '.join(status.reasons)})"

    def fmt(key: str, spec: str) -> str:
        return format(d[key], spec) if d.get(key) is not None else "n/a"

    return (f"{status.clip}: {verdict} — face {fmt('face_px', '.0f')} px, sharpness {fmt('blur', '.0f')}, "
            f"speech {fmt('speech_fraction', '.0%')}, level {fmt('loudness_db', '.1f')} dB, "
            f"A/V offset {fmt('av_offset_frames', '+d')} frames (conf {fmt('av_confidence', '.2f')})")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.quality --normalize DIR --faces DIR --crop DIR --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.quality", __doc__.splitlines()[0])
    parser.add_argument("--normalize", required=True, help="data/normalize/{clip}")
    parser.add_argument("--faces", required=True, help="data/faces/{clip}")
    parser.add_argument("--crop", required=True, help="data/crop/{clip}")
    parser.add_argument("--out", required=True, help="output clip folder, data/quality/{clip}")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
