"""`talkhead generate` speed and memory on CPU: motion generation (× real time), rendering (fps at 256² and
512²), and the whole path end to end on 10 s and 60 s of speech.

    python benchmarks/generate.py [--model data/models/motion_dit] [--out benchmarks/results/generate.json]
                                  [--sizes-only]

Three parts, each in its own process so that peak memory (ru_maxrss) and the thread count are its own:
- `motion`: benchmarks/motion.py's one-thread measurement (the `small` DiT, 80-frame segments with 16
  overlap, 10 Euler steps, CFG 1.2 batched, Kalman + lip modulation) on 60 s and on 10 s of audio.
- `render`: benchmarks/render.py's mesh-warp timings on one pinned core, the face's work crop 256 and 512
  px: `render` is a whole frame incl. paste-back, `video` adds H.264/AAC encoding.
- `end_to_end`: talkhead.infer.generate.generate_video — the trained model in `--model` (skipped, and said
  so, when the folder has no model: run `make demo` first), the astronaut portrait, 10 s and 60 s of
  espeak-ng speech written to a WAV — timed from the call to the finished mp4 (model load, face detection,
  mel, motion, rendering, encoding, muxing). `x_real_time` = audio seconds / wall seconds.
- `portrait_sizes`: the same on 2 s of speech from the astronaut resized to a 1024² PNG, an 8000² JPEG and
  an 8000² PNG (the big ones become 1920² videos): their time over the 1024² one's (issue 19: ≤ 3×).
Targets (issue 6): motion ≥ 10× real time, rendering ≥ 25 fps at 256², memory that does not grow with the
audio's length. The machine is shared: load averages are recorded beside every number.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TEXT = ("The quick brown fox jumps over the lazy dog. Please call Stella and ask her to bring these things "
        "with her from the store. We will meet again at the station tomorrow morning. ")


def end_to_end_child(model: str, seconds: float, side: int = 0, fmt: str = "png") -> dict:
    """One generate_video call on `seconds` of speech (this process: one torch thread); the astronaut at its own
    512² (side 0) or resized to side² (bicubic) and saved as `fmt` (png or jpg, quality 95)."""
    import numpy as np
    import soundfile as sf
    import torch
    from skimage import data

    torch.set_num_threads(1)
    from talkhead.infer.generate import GenerateRequest, generate_video, speech

    with tempfile.TemporaryDirectory() as tmp:
        samples, rate = speech(None, TEXT * 8)
        reps = int(np.ceil(seconds * rate / len(samples)))
        wav = Path(tmp) / "speech.wav"
        sf.write(wav, np.tile(samples, reps)[:int(seconds * rate)], rate)
        image = Path(tmp) / f"astronaut.{fmt}"
        import cv2

        pixels = data.astronaut()[..., ::-1]
        if side:
            pixels = cv2.resize(pixels, (side, side), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(image), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95] if fmt == "jpg" else [])
        load = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        summary = generate_video(GenerateRequest(image=image, audio=wav, out=Path(tmp) / "out.mp4", model=Path(model)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"audio_s": seconds, "portrait": f"{side or 512}² {fmt}", "video": summary["size"],
            "frames": summary["frames"], "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "x_real_time": round(seconds / wall, 2), "x_real_time_cpu": round(seconds / cpu, 2),
            "fps": round(summary["frames"] / wall, 1), "load_avg_1min": round(load, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def render_child() -> dict:
    """benchmarks/render.py's 256² and 512² cases (with video), 250 frames each, one pinned core."""
    import cv2
    import render as render_bench
    from skimage import data

    from talkhead.render.portrait import find_portrait

    render_bench.pin_one_core()
    astronaut = data.astronaut()
    native = find_portrait(astronaut).crop.side
    out = {}
    for crop in (256, 512):
        side = int(round(512 * crop / native))
        image = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_CUBIC)
        out[f"crop_{crop}"] = render_bench.time_case(image, 250, with_video=True)
    return out | {"load_avg_1min": round(os.getloadavg()[0], 2)}


def run_child(*args: str) -> dict:
    """This script with `--child ARGS` in a fresh process; its last stdout line as JSON."""
    done = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def portrait_sizes(model: str) -> dict:
    """generate_video on 2 s of speech from a 1024² PNG, an 8000² JPEG and an 8000² PNG (the astronaut, one
    thread each): issue 19's target is the 8000² portraits within 3× the 1024² one's time (video ≤ 1920 px)."""
    runs = {f"{side}_{fmt}": run_child("e2e", model, "2", str(side), fmt)
            for side, fmt in ((1024, "png"), (8000, "jpg"), (8000, "png"))}
    base = runs["1024_png"]["wall_s"]
    return {"runs": runs, "ratio_to_1024_png": {k: round(v["wall_s"] / base, 2) for k, v in runs.items()},
            "target_ratio": 3.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "data/models/motion_dit"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/generate.json")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--sizes-only", action="store_true",
                        help="only the portrait-size part (1024² PNG vs 8000² JPEG and PNG), merged into --out")
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        result = (render_child() if kind == "render"
                  else end_to_end_child(rest[0], float(rest[1]), *([int(rest[2]), rest[3]] if rest[2:] else [])))
        print(json.dumps(result))
        return 0
    if args.sizes_only:
        old = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
        old["portrait_sizes"] = portrait_sizes(args.model)
        args.out.write_text(json.dumps(old, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(old["portrait_sizes"]["ratio_to_1024_png"]))
        return 0
    import motion as motion_bench

    motion = {f"{s:g}s": motion_bench.run_child("small", s, 1) for s in (60.0, 10.0)}
    render = run_child("render")
    result = {"what": "talkhead generate on CPU: motion DiT 'small' (× real time, one thread), mesh-warp rendering "
                      "(fps, one pinned core), and generate_video end to end (one thread)",
              "machine": f"{os.uname().machine}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
              "targets": {"motion_x_real_time": 10, "render_fps_256": 25},
              "motion_x_real_time": motion["60s"]["x_real_time"],
              "motion_peak_rss_mb": {k: v["peak_rss_mb"] for k, v in motion.items()},
              "render_fps": {k: render[k]["render"]["fps"] for k in ("crop_256", "crop_512")},
              "render_with_encoding_fps": {k: render[k]["video"]["fps"] for k in ("crop_256", "crop_512")},
              "motion": motion, "render": render}
    if (Path(args.model) / "best.safetensors").is_file():
        e2e = {f"{s:g}s": run_child("e2e", args.model, str(s)) for s in (10.0, 60.0)}
        result |= {"portrait_sizes": portrait_sizes(args.model)}
        result |= {"end_to_end_x_real_time": e2e["60s"]["x_real_time"],
                   "end_to_end_peak_rss_mb": {k: v["peak_rss_mb"] for k, v in e2e.items()}, "end_to_end": e2e}
    else:
        result["end_to_end"] = f"skipped: no trained model in {args.model} (run `make demo` first)"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k not in ("motion", "render", "end_to_end")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
