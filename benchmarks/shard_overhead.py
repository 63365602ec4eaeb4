"""Per-clip overhead of a shard job: wall time per clip beyond its per-frame work, at shard size 200.

    python benchmarks/shard_overhead.py [--clips 200] [--out benchmarks/results/shard_overhead.json]

A manifest of N cuts of real talking-head videos (../shared/fixtures/real/videos, the five short
real speakers; without ../shared, the demo clips) at varying start points and lengths (2–4 s) is
run through the pre-gate phases, each as one shard job (`python -m talkhead.stages.shard`, the
command the workflow runs) pinned to one CPU core, with the project's params.yaml. Per phase:

- every clip's time comes from the job's log (`[i/N] <phase> <clip>: … in X s`), its frames from
  its cut (25 fps); a least-squares fit `seconds = intercept + per_frame[source] × frames +
  per_skipped × frames before the cut's start` (a cut is decoded from the keyframe before it) over
  the N clips splits a clip's time into per-frame work and a fixed per-clip part (the intercept).
  The per-frame cost has one slope per source video: sources differ in resolution and in how
  often a face is re-detected, and one shared slope would push that difference into the intercept;
- the job's own cost outside the clips (interpreter start, imports, model loading, reading the
  manifest, writing the index) is the job's wall time minus the clips' summed times, shared by N;
  the first clip's time beyond what the fit predicts for it (the models a phase loads lazily, on
  its first clip) counts there too, and that clip is left out of the fit.

Per-clip overhead = intercept + job cost / N. Target (issue 18): < 0.3 s per clip per phase at 200.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
from preprocess import REAL_SPEAKERS, SHARED_VIDEOS  # noqa: E402

from talkhead.config import section_config  # noqa: E402
from talkhead.media.probe import probe  # noqa: E402

PRE_GATE = ("ingest", "normalize", "faces", "crop", "quality")
TARGET_S = 0.3
LENGTHS_S = (2.0, 2.5, 3.0, 4.0)
CLIP_LOG = re.compile(r"\[\d+/\d+\] (\w+) (\S+): .* in ([0-9.]+) s$")


def sources(tmp: Path) -> list[Path]:
    """The real speakers' videos, or (no ../shared) the demo clips made here."""
    real = [SHARED_VIDEOS / name for name in REAL_SPEAKERS if (SHARED_VIDEOS / name).is_file()]
    if real:
        return real
    subprocess.run([sys.executable, "-m", "talkhead.cli", "demo-data", "--out", str(tmp / "demo")], check=True)
    return sorted(p for p in (tmp / "demo").glob("demo_s*_c*.mp4"))


def write_manifest(path: Path, videos: list[Path], n: int) -> None:
    """N cuts: clip i of video i mod V, length LENGTHS_S[i mod 4], start stepping through the video."""
    durations = [probe(v)["duration_s"] for v in videos]
    rows = ["clip_id,source,start,end,speaker,split,emotion"]
    for i in range(n):
        v = i % len(videos)
        length = min(LENGTHS_S[(i // len(videos)) % len(LENGTHS_S)], durations[v])
        room = max(0.0, durations[v] - length)
        start = round((i * 0.37) % room, 2) if room > 0 else 0.0
        rows.append(f"bench_{i:03d},{videos[v]},{start},{start + length:.2f},spk{v},train,neutral")
    path.write_text("\n".join(rows) + "\n")


def run_phase(phase: str, manifest: Path, data: Path, cfg: str, n: int) -> tuple[float, dict[str, float], str]:
    """One shard job of `phase` on one core: (wall seconds, clip → its logged seconds, stderr)."""
    cmd = [sys.executable, "-m", "talkhead.stages.shard", phase, "--manifest", str(manifest), "--shard",
           "shard00000", "--shard-size", str(n), "--data", str(data), "--index",
           str(data / phase / "_shards" / "shard00000.csv"), "--cfg", cfg]
    one = {min(os.sched_getaffinity(0))}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=lambda: os.sched_setaffinity(0, one))
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{phase} failed:\n{proc.stderr[-3000:]}")
    clips = {m.group(2): float(m.group(3)) for line in proc.stderr.splitlines() if (m := CLIP_LOG.search(line))}
    return wall, clips, proc.stderr


def manifest_frames(manifest: Path) -> dict[str, tuple[int, int, str]]:
    """clip → (its frames, the frames before its start at 25 fps, its source), from the manifest's cut."""
    import csv

    with manifest.open(newline="") as fh:
        return {r["clip_id"]: (round((float(r["end"]) - float(r["start"])) * 25), round(float(r["start"]) * 25),
                               r["source"]) for r in csv.DictReader(fh)}


def fit_overhead(cuts: list[tuple[int, int, str]], seconds: np.ndarray) -> tuple[float, dict[str, float], float]:
    """Least squares `seconds = intercept + per_frame[source] · frames + per_skipped · frames before the start`
    over clips `cuts` (frames, frames before the start, source); → (intercept, source → per_frame, per_skipped)."""
    names = sorted({src for _, _, src in cuts})
    design = np.zeros((len(cuts), 2 + len(names)))
    for i, (frames, before, src) in enumerate(cuts):
        design[i, 0], design[i, 1], design[i, 2 + names.index(src)] = 1.0, before, frames
    coef, *_ = np.linalg.lstsq(design, seconds, rcond=None)
    return float(coef[0]), {Path(n).name: float(c) for n, c in zip(names, coef[2:])}, float(coef[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200, help="clips in the shard (default 200)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "shard_overhead.json")
    args = parser.parse_args(argv)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    with tempfile.TemporaryDirectory(prefix="talkhead-overhead-") as tmp:
        tmp = Path(tmp)
        videos = sources(tmp)
        manifest = tmp / "manifest.csv"
        write_manifest(manifest, videos, args.clips)
        data = tmp / "data"
        cut_frames = manifest_frames(manifest)
        phases = {}
        for phase in PRE_GATE:
            cfg = section_config(params, phase).to_json()
            wall, clips, _ = run_phase(phase, manifest, data, cfg, args.clips)
            seconds = np.array(list(clips.values()))
            cuts = [cut_frames[c] for c in clips]
            # The first clip also pays the lazy model loading: fit on the others, count its excess as job cost.
            intercept, slopes, skip = fit_overhead(cuts[1:], seconds[1:])
            first, before, src = cuts[0]
            first_excess = seconds[0] - (intercept + slopes[Path(src).name] * first + skip * before)
            slope = float(np.mean(list(slopes.values())))
            job_cost = wall - seconds.sum() + first_excess
            overhead = intercept + job_cost / len(clips)
            phases[phase] = {"wall_s": round(wall, 2), "clips": len(clips), "clip_seconds_sum": round(seconds.sum(), 2),
                             "job_cost_s": round(job_cost, 2), "per_clip_intercept_s": round(float(intercept), 4),
                             "per_frame_ms": {src: round(v * 1000, 3) for src, v in slopes.items()},
                             "per_frame_before_start_ms": round(float(skip) * 1000, 3),
                             "clip_seconds": {c: round(t, 4) for c, t in clips.items()},
                             "per_clip_overhead_s": round(float(overhead), 4),
                             "meets_target": bool(overhead < TARGET_S)}
            print(f"{phase}: {wall:.1f} s for {len(clips)} clips; per clip {intercept:.3f} s fixed + "
                  f"{slope * 1000:.2f} ms/frame (mean of the sources) + {skip * 1000:.2f} ms/frame before the start; "
                  f"job cost {job_cost:.1f} s → overhead {overhead:.3f} s per clip", flush=True)
        frames_total = int(sum(f for f, _, _ in cut_frames.values()))
    results = {
        "machine": (f"{platform.machine()}, {os.cpu_count()} cores (jobs pinned to one), "
                    f"Python {platform.python_version()}"),
        "clips": args.clips, "videos": [v.name for v in videos], "frames": frames_total,
        "lengths_s": list(LENGTHS_S), "params": "params.yaml",
        "method": "one shard job per pre-gate phase (talkhead.stages.shard); per-clip seconds from the job log; "
                  "overhead = intercept of seconds ~ frames (a slope per source) + frames before the start + "
                  "(job wall − Σ clip seconds) / clips",
        "target_s": TARGET_S, "phases": phases,
        "meets_target": bool(all(p["meets_target"] for p in phases.values())),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"→ {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
