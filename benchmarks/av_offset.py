"""How the A/V-offset measures do on cuts and shifted copies of real clips they were not tuned on.

    python benchmarks/av_offset.py [--out benchmarks/results/av_offset.json]

Each accepted real fixture clip (../shared/fixtures/real) goes once through talkhead's own
preprocessing (`qc_file`: normalize → faces → crop, 256 px crop), which gives its face mesh and its
16 kHz audio. Derived cases are then cut from those exactly: every `--step` seconds a cut of 3 s,
5 s or the whole clip, with the audio shifted by −10, −5, 0, +5, +10 frames (+ = audio late; the
shifted audio is the same recording from earlier or later, silence where there is none). Truth: the
original is in sync (0), a copy's offset is its shift.

Two measures are scored:
- `per_clip`: talkhead.quality.av_offset (the gate's first pass, what `talkhead qc` runs);
- `corpus`: talkhead.quality.av_corpus fitted on the OTHER speakers' whole clips (leave one speaker
  out, as the second pass's cross-fitting does) and applied to the cuts of the held-out one.
For each: the share of in-sync cases left alone (measured within ±1 or uncertain), the share of
shifted copies measured within ±1 of the truth, the share flagged out of sync (measured, or the
corpus model's `out_of_sync` within 3 frames of the truth), the number of wrong actions (a measured
offset beyond the tolerance and more than a frame from the truth, or an in-sync case called out of
sync), and how far the raw peak (confident or not) lands from the truth. Thresholds were chosen on the TUNE clips; the
VERIFY clips (including a blurred one the gate rejects as blurry, whose sync is still measurable)
are reported separately.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "fixtures" / "real" / "videos"
TUNE = {"face_2": "video-retalking__face_2", "face_4": "video-retalking__face_4",
        "katie": "SadTalker__ref_video_WDA_KatieHill_000"}
VERIFY = {"face_1": "video-retalking__face_1", "ani": "AniPortrait__head_pose_temp_pose_ref_video",
          "face_5_blurred": "DERIVED__video-retalking__face_5__gblur_sigma8"}
SHIFTS = (-10, -5, 0, 5, 10)
FPS, RATE, HOP = 25, 16000, 640
TOLERANCE = 2


def extract(name: str, work: Path) -> tuple[np.ndarray, np.ndarray]:
    """(face mesh (T, 478, 3), 16 kHz audio) of one fixture clip through the pipeline's stages."""
    from talkhead.config import load_params
    from talkhead.stages.qc_files import qc_file

    params = load_params(REPO / "params.yaml")
    params["crop"]["size"] = 256
    report, _ = qc_file(VIDEOS / f"{name}.mp4", work / name, params)
    clip = report["clip"]
    points = np.load(work / name / "crop" / clip / "landmarks.npz")["points"].astype(np.float32)
    audio, _ = sf.read(work / name / "normalize" / clip / "audio.wav", dtype="float32")
    return points, audio


def cases(points: np.ndarray, audio: np.ndarray, step_s: float):
    """(seconds, start, shift, points, audio) for every cut and shift."""
    total = len(points)
    for seconds in (3, 5, None):
        n = total if seconds is None else seconds * FPS
        if n > total:
            continue
        for start in range(0, total - n + 1, max(1, int(step_s * FPS))):
            for shift in SHIFTS:
                lo = (start - shift) * HOP
                cut = np.zeros(n * HOP, np.float32)
                a, b = max(lo, 0), min(lo + n * HOP, len(audio))
                if b > a:
                    cut[a - lo:b - lo] = audio[a:b]
                yield ("whole" if seconds is None else f"{seconds}s"), start, shift, points[start:start + n], cut


def score(rows: list[dict]) -> dict:
    """Shares for one group of cases (`out_of_sync` counts as flagged when its value is within 3 of the truth)."""
    in_sync = [r for r in rows if r["shift"] == 0]
    shifted = [r for r in rows if r["shift"] != 0]

    def exact(r: dict) -> bool:
        return r["status"] == "measured" and abs(r["offset"] - r["shift"]) <= 1

    def flagged(r: dict) -> bool:
        return exact(r) or (r["status"] == "out_of_sync" and abs(r["offset"] - r["shift"]) <= 3)

    raw = [abs(r["offset"] - r["shift"]) for r in rows if r["offset"] is not None]
    wrong = [r for r in rows if (r["status"] == "measured" and abs(r["offset"]) > TOLERANCE
                                 and abs(r["offset"] - r["shift"]) > 1)
             or (r["status"] == "out_of_sync" and (r["shift"] == 0 or abs(r["offset"] - r["shift"]) > 3))]
    return {
        "cases": len(rows),
        "in_sync_left_alone": float(np.mean([r["status"] == "uncertain" or (r["status"] == "measured"
                                                                            and abs(r["offset"]) <= 1)
                                             for r in in_sync])),
        "shifted_measured_within_1": float(np.mean([exact(r) for r in shifted])),
        "shifted_flagged_out_of_sync": float(np.mean([flagged(r) for r in shifted])),
        "shifted_10_flagged": float(np.mean([flagged(r) for r in shifted if abs(r["shift"]) == 10])),
        "measured": sum(r["status"] == "measured" for r in rows),
        "out_of_sync": sum(r["status"] == "out_of_sync" for r in rows),
        "wrong_actions": len(wrong),
        "raw_peak_within_1": float(np.mean([d <= 1 for d in raw])) if raw else None,
        "raw_peak_within_3": float(np.mean([d <= 3 for d in raw])) if raw else None,
    }


def main() -> int:
    """Extract, measure every case with both measures, write the JSON."""
    from talkhead.quality.audio import speech_segments, voiced_frames
    from talkhead.quality.av_corpus import CorpusSettings, clip_features, fit_sync_model, measure_clip
    from talkhead.quality.av_offset import OffsetSettings, estimate_av_offset
    from talkhead.quality.sync import audio_features

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/av_offset.json"))
    parser.add_argument("--step", type=float, default=0.5, help="seconds between cut starts")
    args = parser.parse_args()
    if not VIDEOS.is_dir():
        sys.exit(f"{VIDEOS} not found: this benchmark needs the real fixtures")
    clips = {**TUNE, **VERIFY}
    with tempfile.TemporaryDirectory() as tmp:
        data = {key: extract(name, Path(tmp)) for key, name in clips.items()}
    settings, cs = OffsetSettings(), CorpusSettings()
    mel = {k: audio_features(a, RATE, FPS, len(p)) for k, (p, a) in data.items()}
    whole = {k: clip_features(p, mel[k], cs) for k, (p, _) in data.items()}
    rows, t0 = [], time.perf_counter()
    for key, (points, audio) in data.items():
        model = fit_sync_model([whole[k] for k in data if k != key and k != "face_5_blurred"], cs)
        for length, start, shift, pts, cut in cases(points, audio, args.step):
            feats = audio_features(cut, RATE, FPS, len(pts))
            voiced = voiced_frames(speech_segments(cut, RATE), len(pts), FPS)
            first = estimate_av_offset(pts, feats, voiced, settings)
            second = measure_clip(model, *clip_features(pts, feats, cs), settings, cs, TOLERANCE)
            for measure, o in (("per_clip", first), ("corpus", second)):
                rows.append({"clip": key, "length": length, "start": start, "shift": shift, "measure": measure,
                             "offset": o.frames, "status": o.status, "confidence": round(o.confidence, 2)})
        print(f"{key}: {sum(r['clip'] == key for r in rows) // 2} cases", flush=True)
    result = {"settings": {"per_clip": settings.__dict__, "corpus": cs.__dict__}, "tune": list(TUNE),
              "verify": list(VERIFY), "seconds": round(time.perf_counter() - t0, 1), "results": {}}
    for measure in ("per_clip", "corpus"):
        for split, keys in (("tune", TUNE), ("verify", VERIFY)):
            for length in ("3s", "5s", "whole"):
                group = [r for r in rows if r["measure"] == measure and r["clip"] in keys and r["length"] == length]
                if group:
                    result["results"][f"{measure}/{split}/{length}"] = score(group)
    result["corpus_peaks_in_sync"] = {k: sorted({r["offset"] for r in rows if r["clip"] == k and r["shift"] == 0
                                                         and r["measure"] == "corpus" and r["offset"] is not None})
                                              for k in clips}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for key, value in result["results"].items():
        print(key, json.dumps(value))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
