"""Lip-sync sanity of the features on the real fixture clips: does the mouth follow the loudness?

    python benchmarks/lipsync_sanity.py [--workdir DIR] [--out benchmarks/results/lipsync_sanity.json]

Runs the pipeline of tests/realdata/test_real_pipeline.py over every real fixture video (../shared/fixtures/real,
or TALKHEAD_REAL_FIXTURES) with the test's manifest and params (tests/realdata/pipeline_run.py), but only its
data phases (the gate with its second A/V pass, the features, the packed dataset): the models the test trains
afterwards do not change a feature. Then, per accepted clip, the test's measures: Pearson r between a mouth
measure (the blendshape `jawOpen`; the 3DMM's `jaw_pose[:, 0]`) and the log RMS loudness of the A/V-aligned
audio per frame at the best lag within ±3 frames (+ = sound after mouth), the head's yaw range, and the audio
shift the gate applied. With --workdir, a finished run there is reused (else the run is written there and
kept). docs/features.md's lip-sync table is generated from the file (`python benchmarks/docs_numbers.py`).
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.realdata.pipeline_run: the test's pipeline run and measures
from tests.conftest import REAL  # noqa: E402
from tests.realdata.pipeline_run import MAX_LAG, accepted_clips, ensure_data_phases, lipsync  # noqa: E402

OUT = REPO / "benchmarks/results/lipsync_sanity.json"


def measure(workdir: Path) -> dict:
    """Every accepted clip's measures and the audio shift the gate applied (in the manifest's order), and the
    rejected clips with their reasons."""
    order = [r["clip_id"] for r in csv.DictReader((workdir / "manifest.csv").open())]
    gate = {r["clip"]: r for r in csv.DictReader((workdir / "data/qc/accepted.csv").open())}
    measures = lipsync(workdir, accepted_clips(workdir))
    clips = []
    for clip in sorted(measures, key=order.index):
        c = {"clip": clip, **measures[clip], "av_shift_frames": int(gate[clip]["av_shift_frames"] or 0)}
        clips.append(c)
        print(f"{clip:>45}: jawOpen r {c['jaw_open_r']:.2f} ({c['jaw_open_lag']:+d}), 3DMM jaw r "
              f"{c['face3dmm_jaw_r']:.2f} ({c['face3dmm_jaw_lag']:+d}), yaw range {c['yaw_range_deg']:.1f}°, "
              f"audio shifted {c['av_shift_frames']} frames", file=sys.stderr)
    rejected = {r["clip"]: r["reasons"].split("|") for r in csv.DictReader((workdir / "data/qc/rejected.csv").open())}
    return {"clips": clips, "rejected": dict(sorted(rejected.items()))}


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="the pipeline's working folder (reused when finished; kept)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not (REAL / "expected.csv").is_file():
        raise SystemExit(f"real fixtures not found at {REAL} (set TALKHEAD_REAL_FIXTURES)")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lipsync_sanity_") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        run = ensure_data_phases(REAL, workdir)
        result = measure(workdir)
    result = {"measure": f"Pearson r of the mouth measure with log RMS loudness per frame, best lag within "
                         f"±{MAX_LAG} frames (+ = sound after mouth)", "max_lag": MAX_LAG,
              "fixtures": "../shared/fixtures/real (every row of expected.csv)",
              "params": "tests/realdata/pipeline_run.py write_run (the real-data test's)",
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, shared with other work",
              "data_phases": run, "wall_s": round(time.perf_counter() - t0, 1), **result}
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
