"""Motion DiT generation speed and memory on CPU: long audio → (T, 70) motion, 10 Euler steps with CFG.

    python benchmarks/motion.py [--size small] [--seconds 60] [--short 10]
                                [--out benchmarks/results/motion.json]

Each measurement runs in its own process (torch threads fixed before any work): generation of
`--seconds` of audio (random log-mel features stand in for speech: the values do not change the
work) with a freshly initialised model of `--size`, segments of 80 frames with 16 overlap, 10 steps,
guidance 1.2 (conditional and unconditional in one batch of 2), Kalman smoothing and lip
modulation included; model construction and a one-segment warm-up are excluded from the time.
Speed is audio seconds / wall seconds (× real time) on one and on two threads; peak memory is the
process's ru_maxrss for the long and the short audio on one thread. The one-thread run also
reports audio seconds / process CPU seconds (what an idle core would give) and every run the
machine's load average, since other work on a small box inflates wall times (two threads on an
oversubscribed 2-core machine spin-wait; a third run sets OMP_WAIT_POLICY=PASSIVE). Target
(issue 6): ≥ 10× real time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FPS = 25


def child(size: str, seconds: float, threads: int) -> dict:
    """Generate `seconds` of motion in this process; wall time, segments and peak memory."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from talkhead.infer.motion import GenerateSettings, generate_motion, segment_starts
    from talkhead.models.layers import parameter_count
    from talkhead.models.motion_dit import MOTION_DIT_SIZES, MotionDiT

    torch.manual_seed(0)
    model = MotionDiT(MOTION_DIT_SIZES[size], 80, 4).eval()
    meta = {"n_pred": 80, "n_prev": 16, "sample_steps": 10, "cfg_scale": 1.2, "time_shift": 1.0}
    stats = {"mean": np.zeros(70, np.float32), "std": np.ones(70, np.float32)}
    settings = GenerateSettings(steps=10, cfg_scale=1.2)
    frames = int(seconds * FPS)
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(4 * frames, 80, generator=g) - 5.0  # (4T, 80) log-mel-like
    ref = np.zeros(70, np.float32)
    generate_motion(model, meta, stats, audio[:4 * 80], ref, 8, settings)  # warm-up: one segment
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    out = generate_motion(model, meta, stats, audio, ref, 8, settings)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert out.shape == (frames, 70)
    return {"size": size, "params": parameter_count(model), "threads": threads, "audio_s": seconds,
            "segments": len(segment_starts(frames, 80, 16)), "wall_s": round(wall, 3),
            "x_real_time": round(seconds / wall, 2), "cpu_s": round(cpu, 3),
            "x_real_time_cpu": round(seconds / cpu, 2), "load_avg_1min": round(load, 2),
            "peak_rss_mb_before": round(rss_before, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run_child(size: str, seconds: float, threads: int, env: dict[str, str] | None = None) -> dict:
    """`child` in a fresh process (clean peak memory, thread count fixed from the start), `env` added."""
    cmd = [sys.executable, __file__, "--child", "--size", size, "--seconds", str(seconds), "--threads", str(threads)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small")
    parser.add_argument("--seconds", type=float, default=60.0, help="long audio (default 60 s)")
    parser.add_argument("--short", type=float, default=10.0, help="short audio for the memory comparison")
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/motion.json")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.size, args.seconds, args.threads)))
        return 0
    one, two = run_child(args.size, args.seconds, 1), run_child(args.size, args.seconds, 2)
    passive = run_child(args.size, args.seconds, 2, {"OMP_WAIT_POLICY": "PASSIVE"})
    short = run_child(args.size, args.short, 1)
    result = {"what": f"motion DiT '{args.size}', {args.seconds:g} s of audio, 80-frame segments / 16 overlap, "
                      "10 Euler steps, CFG 1.2, Kalman + lip modulation",
              "params": one["params"], "segments": one["segments"],
              "x_real_time_1_thread": one["x_real_time"], "x_real_time_2_threads": two["x_real_time"],
              "x_real_time_2_threads_omp_passive": passive["x_real_time"],
              "x_real_time_1_thread_cpu_time": one["x_real_time_cpu"],
              "wall_s_1_thread": one["wall_s"], "wall_s_2_threads": two["wall_s"],
              "load_avg_1min": [one["load_avg_1min"], two["load_avg_1min"], passive["load_avg_1min"]],
              "peak_rss_mb": {f"{args.seconds:g}s": one["peak_rss_mb"], f"{args.short:g}s": short["peak_rss_mb"]},
              "peak_rss_mb_before_generation": {f"{args.seconds:g}s": one["peak_rss_mb_before"],
                                                f"{args.short:g}s": short["peak_rss_mb_before"]},
              "targets": {"x_real_time": 10}, "runs": [one, two, passive, short]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
