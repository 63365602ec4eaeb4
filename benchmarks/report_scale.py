"""The dataset report at corpus scale: data/report/index.html for 100,000 clips, its time and size.

    python benchmarks/report_scale.py [--clips 100000] [--out benchmarks/results/report_scale.json]

A data root in the pipeline's layout is synthesised in a temp folder: a manifest of N clips over
N / 40 speakers (train/val/test), each pre-gate phase's shard indices (200 clips a shard) with
~1 % lost per phase, and the gate's measures.csv with measures drawn from plausible ranges and
~30 % of the clips rejected for one or two of the gate's reasons (every reason present). Each
rejected clip has a normalize folder whose video.json points at one of 12 short real mp4 files
written here (the report decodes only the sampled ones; accepted clips' folders are never read,
so they are not written). The Data Docs summaries, a metrics table and training curves are there
too, as after `make demo`.

Timed: `talkhead.report.page.write_report` in-process (what the `report` rule runs, less the
interpreter start), and the page's size. Target (issue 21): < 60 s and < 20 MB at 100,000 clips.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARD = 200
TIME_TARGET_S, SIZE_TARGET_MB = 60.0, 20.0
REASONS = ("no_face", "face_too_small", "blurry", "too_short", "no_speech", "silent_audio", "av_offset",
           "av_uncertain", "multiple_faces", "scene_cut", "corrupt_stream", "unreadable", "no_audio", "stage_error",
           "unavailable")


def _write_csv(path: Path, columns: list[str], rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(rows)


def _videos(folder: Path, count: int) -> list[Path]:
    """`count` 2 s, 25 fps, 320×240 mp4 files of moving gradients (H.264)."""
    from talkhead.media.encode import VideoWriter

    paths = []
    y, x = np.mgrid[0:240, 0:320]
    for k in range(count):
        path = folder / f"source{k:02d}.mp4"
        with VideoWriter(path, 25, (320, 240)) as writer:
            for t in range(50):
                frame = ((x + 4 * t + 20 * k) % 256).astype(np.uint8)
                writer.write_frame(np.stack([frame, (y + 7 * k) % 256, 255 - frame], axis=-1).astype(np.uint8))
        paths.append(path)
    return paths


def synthesise(root: Path, clips: int, seed: int = 0) -> Path:
    """A data root of `clips` clips in the pipeline's layout; returns the manifest path."""
    from talkhead.media.clip_video import ClipVideo

    rng = np.random.default_rng(seed)
    data = root / "data"
    ids = [f"clip{k:06d}" for k in range(clips)]
    speakers = [f"spk{k // 40:05d}" for k in range(clips)]
    splits = np.where(rng.random(clips) < 0.9, "train", np.where(rng.random(clips) < 0.5, "val", "test"))
    manifest = root / "manifest.csv"
    _write_csv(manifest, ["clip_id", "source", "start", "end", "speaker", "split", "emotion"],
               ((c, f"{c}.mp4", 0, 8, s, sp, "neutral") for c, s, sp in zip(ids, speakers, splits)))
    alive = np.ones(clips, bool)
    for phase in ("ingest", "normalize", "faces", "crop"):
        alive &= rng.random(clips) > 0.01
        for start in range(0, clips, SHARD):
            _write_csv(data / phase / "_shards" / f"shard{start // SHARD:05d}.csv", ["clip", "ok", "reasons", "digest"],
                       ((ids[k], int(alive[k]), "", "") for k in range(start, min(start + SHARD, clips))))
    rejected = ~alive | (rng.random(clips) < 0.28)
    first = rng.integers(0, len(REASONS), clips)
    second = np.where(rng.random(clips) < 0.2, rng.integers(0, len(REASONS), clips), -1)
    reasons = ["|".join(dict.fromkeys(REASONS[i] for i in (a, b) if i >= 0)) if r else ""
               for r, a, b in zip(rejected, first, second)]
    columns = ["clip", "speaker", "split", "emotion", "verdict", "reasons", "duration_s", "frames", "face_px",
               "face_frac", "detection_rate", "face_coverage", "faces_max", "multi_face_rate", "blur", "has_audio",
               "audio_stream", "loudness_db", "speech_fraction", "scene_cuts", "av_offset_frames", "av_confidence",
               "av_reason", "decode_errors", "corrupt_frames", "audio_gaps"]
    measures = zip(ids, speakers, splits, ["neutral"] * clips, np.where(rejected, "reject", "accept"), reasons,
                   rng.uniform(3, 15, clips).round(2), rng.integers(75, 375, clips),
                   rng.normal(180, 50, clips).round(1), rng.uniform(0.1, 0.6, clips).round(3),
                   rng.uniform(0.5, 1, clips).round(3), rng.uniform(0.5, 1, clips).round(3),
                   rng.integers(0, 3, clips), rng.uniform(0, 0.2, clips).round(3), rng.lognormal(3, 1, clips).round(2),
                   [True] * clips, [0] * clips, rng.normal(-24, 6, clips).round(2), rng.uniform(0, 1, clips).round(3),
                   rng.poisson(0.3, clips), rng.integers(-8, 9, clips), rng.uniform(0, 8, clips).round(2), [""] * clips,
                   [0] * clips, [0] * clips, [0] * clips)
    _write_csv(data / "qc" / "measures.csv", columns, measures)
    sources = _videos(root / "media", 12)
    for k in np.flatnonzero(rejected & alive):
        ClipVideo(source=str(sources[k % len(sources)]), fps=25, start=0.0, end=2.0, frames=50, width=320,
                  height=240).write(data / "normalize" / ids[k])
    expectations = [{"suite": "all_clips", "expectation": f"expect_{k}", "column": "clip", "success": k != 3,
                     "unexpected_count": 0 if k != 3 else 12, "examples": [] if k != 3 else ids[:5]} for k in range(40)]
    for site in ("qc/report", "dataset/report"):
        (data / site).mkdir(parents=True, exist_ok=True)
        (data / site / "validation.json").write_text(json.dumps(
            {"success": False, "expectations": expectations, "failed": [e for e in expectations if not e["success"]],
             "suites": {"all_clips": {"success": False, "rows": clips, "expectations": 40}},
             "modalities": {m: dict.fromkeys(("tensors", "aligned", "rate_ok", "finite", "in_range"), clips)
                            for m in ("audio_mel", "face_mesh", "motion")}}))
    (data / "eval").mkdir(parents=True, exist_ok=True)
    (data / "eval" / "metrics.tsv").write_text("source\tmetric\tvalue\n" + "".join(
        f"eval/m{k}\t{v}.val_l1_{c}\t{rng.random():.4f}\n"
        for k in range(3) for v in ("model", "baseline") for c in "abc"))
    for name in ("motion_dit", "dualforce"):
        _write_csv(data / "models" / name / "metrics.csv", ["epoch", "train_loss", "val_l1"],
                   ((e, 1 / e, 1.2 / e) for e in range(1, 201)))
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/report_scale.json"))
    args = parser.parse_args(argv)
    from talkhead.config import QualityConfig, ReportConfig, load_schema
    from talkhead.report.page import write_report

    with tempfile.TemporaryDirectory(prefix="report_scale_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        manifest = synthesise(root, args.clips)
        built = time.perf_counter() - t0
        defaults = {k: v["default"] for k, v in load_schema()["properties"]["report"]["properties"].items()}
        cfg = ReportConfig.from_dict(defaults)
        t0 = time.perf_counter()
        curves = [root / "data" / "models" / name / "metrics.csv" for name in ("motion_dit", "dualforce")]
        record = write_report(root / "data", manifest, root / "data" / "report", cfg,
                              asdict(QualityConfig.from_dict({})), params=[], curves=curves)
        seconds = time.perf_counter() - t0
        page = root / "data" / "report" / "index.html"
        size_mb = page.stat().st_size / 1e6
        thumbs = page.read_text(encoding="utf-8").count("data:image/jpeg")
    result = {
        "clips": args.clips, "speakers": -(-args.clips // 40), "report_s": round(seconds, 2),
        "page_mb": round(size_mb, 3), "thumbnails": thumbs, "reasons": len(record["rejections"]),
        "thumbnails_per_reason": cfg.thumbnails_per_reason, "accepted": record["funnel"]["accepted"],
        "synthesis_s": round(built, 1), "meets_target": seconds < TIME_TARGET_S and size_mb < SIZE_TARGET_MB,
        "target": f"< {TIME_TARGET_S:.0f} s and < {SIZE_TARGET_MB:.0f} MB",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "date": time.strftime("%Y-%m-%d"),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
