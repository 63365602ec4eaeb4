"""Every per-clip measure the quality gate judges: faces, blur, segments, stream integrity, loudness, speech,
and the A/V offset (face-mesh measure, or SyncNet with weights).

Reads what the earlier phases recorded (data/normalize/{clip}/, data/faces/{clip}/, data/crop/{clip}/); the
verdict is talkhead.quality.gate's. A/V offset sign: positive = audio late, in video frames (talkhead.quality.sync).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from talkhead.config import QualityConfig
from talkhead.data.status import read_status
from talkhead.quality.audio import loudness_db, speech_fraction, speech_segments, voiced_frames
from talkhead.quality.av_offset import OffsetSettings, estimate_av_offset
from talkhead.quality.av_syncnet import measure_syncnet
from talkhead.quality.shots import intact_runs, plan_intact_segments
from talkhead.quality.sync import audio_features


def read_json(path: Path) -> dict[str, Any]:
    """A phase's JSON record; {} when the file is absent."""
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
                                   cfg.av_max_lag, cfg.syncnet_batch))
    return out


def measure(normalize_dir: Path, faces_dir: Path, crop_dir: Path, cfg: QualityConfig) -> tuple[dict, np.ndarray | None]:
    """All measures of one clip, and its audio samples (None without audio)."""
    norm = read_status(normalize_dir).details
    fps, n = int(norm["fps"]), int(norm["frames"])
    faces = read_json(faces_dir / "faces.json")
    crop = read_json(crop_dir / "crop.json")
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
