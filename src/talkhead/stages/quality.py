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
from talkhead.quality.audio import loudness_db, speech_fraction, speech_segments, voiced_frames
from talkhead.quality.av_offset import OffsetSettings, estimate_av_offset
from talkhead.quality.av_syncnet import measure_syncnet
from talkhead.quality.gate import av_verdict, judge
from talkhead.quality.shots import intact_runs, plan_intact_segments
from talkhead.quality.sync import audio_features
from talkhead.stages.common import pass_on, run_stage, stage_parser

log = logging.getLogger(__name__)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def segments(n_frames: int, cuts: list[int], fps: int, cfg: QualityConfig,
             damaged: list[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """Training segments [start, end) in frames: between cuts (cut_policy split), else the whole clip in pieces;
    never over a damaged frame."""
    return plan_intact_segments(n_frames, cuts if cfg.cut_policy == "split" else [], list(damaged), fps,
                                cfg.segment_min_s, max(cfg.segment_max_s, cfg.segment_min_s))


def damaged_frames(norm: dict[str, Any], faces: dict[str, Any]) -> list[tuple[int, int]]:
    """[first, end) frames built on a damaged video stream or missing their audio (faces + normalize records)."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted((int(a), int(b)) for a, b in [*faces.get("damaged_frames", []),
                                                      *norm.get("audio_damaged_frames", [])]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _segment_measures(n: int, cuts: list[int], fps: int, cfg: QualityConfig,
                      damaged: list[tuple[int, int]]) -> dict[str, Any]:
    pieces = segments(n, cuts, fps, cfg, damaged)
    return {"segments": len(pieces), "segment_frames": int(sum(b - a for a, b in pieces))}


def _integrity(norm: dict[str, Any], faces: dict[str, Any], damaged: list[tuple[int, int]], n: int) -> dict[str, Any]:
    """Stream-integrity measures: decode errors of both streams and the frames damage touches."""
    video, audio = faces.get("decode", {}), norm.get("audio_decode", {})
    bad = np.zeros(n, bool)
    for a, b in damaged:
        bad[a:b] = True
    return {"decode_errors": int(video.get("decode_errors", 0) + audio.get("decode_errors", 0)),
            "corrupt_frames": int(video.get("corrupt_frames", 0)), "audio_gaps": int(audio.get("gaps", 0)),
            "decoded_frames": video.get("decoded_frames"), "damaged_frames": int(bad.sum()),
            "damaged_ranges": [list(r) for r in damaged]}


def offset_settings(cfg: QualityConfig, fps: int) -> OffsetSettings:
    """The face-mesh offset measure's settings from the quality params."""
    return OffsetSettings(max_lag=cfg.av_max_lag, folds=cfg.av_folds, min_z=cfg.av_min_confidence,
                          min_voiced=int(round(cfg.av_min_speech_s * fps)))


def _av_measures(crop_dir: Path, samples: np.ndarray, rate: int, fps: int, run: tuple[int, int], segments: list,
                 cfg: QualityConfig) -> dict[str, Any]:
    """The A/V offset by the face-mesh measure (on the frames [run) free of damage) and, with weights, by SyncNet."""
    out: dict[str, Any] = {"av_method": "syncnet" if cfg.syncnet_path else "mesh"}
    lo, hi = run
    n = hi - lo
    if (crop_dir / "landmarks.npz").is_file():
        points = np.load(crop_dir / "landmarks.npz")["points"].astype(np.float32)[lo:hi]
        hop = rate // fps
        voiced = voiced_frames(segments, lo + n, fps)[lo:]
        offset = estimate_av_offset(points, audio_features(samples[lo * hop:hi * hop], rate, fps, n), voiced,
                                    offset_settings(cfg, fps))
        out.update(av_offset_frames=offset.frames, av_confidence=round(offset.confidence, 2),
                   av_status=offset.status, av_reason=offset.reason)
    if cfg.syncnet_path and (crop_dir / "crop.mp4").is_file():
        out.update(measure_syncnet(crop_dir / "crop.mp4", samples, fps, cfg.syncnet_path, cfg.syncnet_device,
                                   cfg.av_max_lag))
    return out


def measure(normalize_dir: Path, faces_dir: Path, crop_dir: Path, cfg: QualityConfig) -> tuple[dict, np.ndarray | None]:
    """All measures of one clip, and its audio samples (None without audio)."""
    norm = read_status(normalize_dir).details
    fps, n = int(norm["fps"]), int(norm["frames"])
    faces = _read_json(faces_dir / "faces.json")
    crop = _read_json(crop_dir / "crop.json")
    damaged = damaged_frames(norm, faces)
    m: dict[str, Any] = {
        "frames": n, "fps": fps, "duration_s": n / fps,
        "face_px": faces.get("face_px"), "face_frac": faces.get("face_frac"),
        "face_coverage": faces.get("face_coverage", 0.0), "detection_rate": faces.get("detection_rate", 0.0),
        "faces_max": faces.get("faces_max", 0), "multi_face_rate": faces.get("multi_face_rate", 0.0),
        "scene_cuts": len(faces.get("scene_cuts", [])), "blur": crop.get("blur"),
        **_segment_measures(n, faces.get("scene_cuts", []), fps, cfg, damaged), **_integrity(norm, faces, damaged, n),
        "has_audio": (normalize_dir / "audio.wav").is_file(), "audio_stream": norm.get("audio_stream"),
        "audio_streams": norm.get("audio_streams", []),
        "loudness_db": None, "speech_fraction": None, "av_method": None, "av_offset_frames": None,
        "av_confidence": None, "av_status": None, "av_reason": "",
    }
    if not m["has_audio"]:
        return m, None
    samples, rate = sf.read(normalize_dir / "audio.wav", dtype="float32")
    segments = speech_segments(samples, rate, cfg.vad_threshold)
    m["loudness_db"] = loudness_db(samples)
    m["speech_fraction"] = speech_fraction(segments, len(samples) / rate)
    if m["loudness_db"] >= cfg.silence_db:
        lo, hi = max(intact_runs(n, damaged), key=lambda r: r[1] - r[0], default=(0, 0))  # the longest intact run
        m.update(_av_measures(crop_dir, samples, rate, fps, (lo, hi), segments, cfg))
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
        m["av_shift_frames"] = av_verdict(m, cfg).shift if not reasons else 0
        if samples is not None:
            rate = int(upstream.details["sample_rate"])
            write_wav(tmp / "audio.wav", shift_audio(samples, m["av_shift_frames"], rate, m["fps"]), rate)
        verdict = "reject" if reasons else "accept"
        cuts = _read_json(faces_dir / "faces.json").get("scene_cuts", [])
        pieces = segments(m["frames"], cuts, m["fps"], cfg, [tuple(r) for r in m["damaged_ranges"]])
        write_json(tmp / "quality.json", {"clip": upstream.clip, "verdict": verdict, "reasons": reasons,
                                          "measures": m, "segments": pieces,
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
