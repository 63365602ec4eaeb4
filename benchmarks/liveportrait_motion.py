"""LivePortrait motion extractor speed: frames per second of the `liveportrait` motion backend on CPU (or a GPU).

    python benchmarks/liveportrait_motion.py [--frames 64] [--batch 32] [--device cpu]
                                             [--out benchmarks/results/liveportrait_motion.json]

Each thread count runs in its own process (torch threads fixed before any work): a freshly built
MotionExtractor (the real architecture, random weights: the values do not change the work) on
`--frames` random 512² uint8 crop frames, resized to 256² and run in batches of `--batch`, exactly
as talkhead.features.liveportrait_motion.extract_batch does; one warm-up batch is excluded. Reports
frames / wall second, and the load average (other work on a small box inflates wall times).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(frames: int, batch: int, threads: int, device: str, dtype: str) -> dict:
    """Time the extractor in this process."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from talkhead.features.liveportrait_motion import LivePortraitMotion, extract_batch
    from talkhead.features.precision import compute_dtype
    from talkhead.models.liveportrait.motion_extractor import MotionExtractor

    dev = torch.device(device)
    extractor = LivePortraitMotion(MotionExtractor().eval().to(dev), dev, compute_dtype(dtype, dev, "benchmark"),
                                   batch, "random")
    crops = np.random.default_rng(0).integers(0, 256, (frames, 512, 512, 3), dtype=np.uint8)
    extract_batch(extractor, crops[:batch])  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(0, frames, batch):
        extract_batch(extractor, crops[i:i + batch])
    if dev.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    return {"threads": threads, "device": device, "dtype": dtype, "frames": frames, "batch": batch,
            "wall_s": round(wall, 3), "frames_per_s": round(frames / wall, 2), "load_avg": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (one process each)")
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "liveportrait_motion.json")
    args = ap.parse_args(argv)
    if args.child:
        sys.stdout.write(json.dumps(child(args.frames, args.batch, args.child, args.device, args.dtype)) + "\n")
        return 0
    runs = []
    for threads in (int(t) for t in args.threads.split(",")):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        cmd = [sys.executable, __file__, "--child", str(threads), "--frames", str(args.frames), "--batch",
               str(args.batch), "--device", args.device, "--dtype", args.dtype]
        runs.append(json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout))
        sys.stderr.write(json.dumps(runs[-1]) + "\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
