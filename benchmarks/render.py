"""Mesh-warp renderer speed on one core: frames per second at 256² and 512² face crops, and per photo size.

    python benchmarks/render.py [--frames 250] [--out benchmarks/results/render.json]

The portrait is skimage's astronaut, resized so that the renderer's work crop (twice the face's
extent) is exactly 256 or 512 pixels at the photo's own resolution (no resampling of the crop),
plus a 3500-px upscale (work crop capped at 512, paste-back at full resolution). The motion is
10 s of speech-like movement: the jaw opening at 3 Hz, the head swaying (pitch ±4°, yaw ±6°,
roll ±3°) and scheduled blinks, so every frame moves the whole face. Measured, after one warm-up
pass, in this process pinned to one core (OpenCV and BLAS single-threaded):
- `field`: the work-crop part per frame (motion → mesh → dense backward field → mouth patch);
- `render`: a full frame (the field + paste-back into the full-size photo), what `render()` yields;
- `video`: render + H.264/AAC encoding (talkhead.render.video.render_video, audio decoded
  and muxed) per frame, for the two face-crop sizes;
- `prepare_s`: detection + mesh + precomputation, once per portrait.
Each rate is given by wall clock (`fps`) and by the process's CPU time (`cpu_fps`): on a shared
machine other work stretches the wall clock of the pinned core, not the CPU time.
The issue's target is ≥ 25 fps for `render` at 256².
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("benchmarks.render")


def pin_one_core() -> None:
    """Pin this process to one core and keep the libraries single-threaded."""
    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2

    cv2.setNumThreads(1)


def speech_motion(base: np.ndarray, frames: int, fps: int = 25) -> np.ndarray:
    """(frames, 70): the portrait's own motion with a 3 Hz jaw and a swaying head."""
    from talkhead.render.deform import keypoint_slot

    t = np.arange(frames) / fps
    motion = np.repeat(base[None].astype(np.float64), frames, 0)
    jaw = 0.14 * np.clip(np.sin(2 * np.pi * 3.0 * t) * 0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t), 0, None)
    for index, share in ((14, 1.0), (17, 1.0), (152, 1.0), (172, 0.45), (397, 0.45)):
        motion[:, 3 * keypoint_slot(index) + 1] += jaw * share
    motion[:, 67] += 4 * np.sin(2 * np.pi * 0.31 * t)
    motion[:, 68] += 6 * np.sin(2 * np.pi * 0.23 * t)
    motion[:, 69] += 3 * np.sin(2 * np.pi * 0.17 * t)
    return motion


def rates(frames: int, wall: float, cpu: float) -> dict:
    """Frames per second and ms per frame by wall clock and by this process's CPU time."""
    return {"fps": round(frames / wall, 1), "ms_per_frame": round(1000 * wall / frames, 2),
            "cpu_fps": round(frames / cpu, 1), "cpu_ms_per_frame": round(1000 * cpu / frames, 2)}


def time_case(image: np.ndarray, frames: int, with_video: bool) -> dict:
    """Timings for one portrait."""
    from talkhead.render import make_renderer, render_video
    from talkhead.render.mouth import render_mouth
    from talkhead.render.warpfield import warp_field

    renderer = make_renderer("mesh_warp", blink="schedule")
    t0, c0 = time.perf_counter(), time.process_time()
    source = renderer.prepare(image)
    prepare_s, prepare_cpu = time.perf_counter() - t0, time.process_time() - c0
    motion = speech_motion(source.motion, frames)
    pts = renderer.frame_points(source, motion)
    src = source.face.points[:, :2]

    def field_pass() -> None:
        """The work-crop part of every frame."""
        for dst in pts:
            warp_field(source.mesh, dst)
            render_mouth(dst[:, :2], src, source.look, source.mesh.size)

    def render_pass() -> None:
        """Whole frames, as render() yields them."""
        for _ in renderer.render(source, motion):
            pass

    result = {"photo_px": list(image.shape[:2]), "crop_px": round(source.portrait.crop.side, 1),
              "work_px": source.portrait.crop.size, "prepare_s": round(prepare_s, 3)}
    for name, run in (("field", field_pass), ("render", render_pass)):
        run()  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        result[name] = rates(frames, time.perf_counter() - t0, time.process_time() - c0)
    if with_video:
        rate = 16000
        audio = (0.2 * np.sin(2 * np.pi * 200 * np.arange(frames * rate // 25) / rate)).astype(np.float32)
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), time.process_time()
            render_video(renderer, image, motion, (audio, rate), Path(tmp) / "out.mp4")
            # prepare() runs again inside: subtract its first measurement, count frames only
            wall, cpu = time.perf_counter() - t0 - prepare_s, time.process_time() - c0 - prepare_cpu
        result["video"] = rates(frames, wall, cpu) | {"note": "render + x264 veryfast crf 18 + AAC"}
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the cases and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "render.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pin_one_core()
    import cv2
    from skimage import data

    from talkhead.render.portrait import CROP_FACTOR, find_portrait

    astronaut = data.astronaut()
    native = find_portrait(astronaut).crop.side  # the work crop's side at 512 px (CROP_FACTOR × face)
    cases = {}
    for crop in (256, 512):
        side = int(round(512 * crop / native))
        image = cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_CUBIC)
        cases[f"crop_{crop}"] = time_case(image, args.frames, with_video=True)
        log.info("crop %d: %s", crop, cases[f"crop_{crop}"])
    big = cv2.resize(astronaut, (3500, 3500), interpolation=cv2.INTER_CUBIC)
    cases["photo_3500"] = time_case(big, args.frames // 2, with_video=False)
    log.info("3500 px photo: %s", cases["photo_3500"])
    result = {"what": "mesh-warp renderer, frames per second on one pinned core (see benchmarks/render.py)",
              "target": "render fps >= 25 at a 256 px face crop",
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
              "load_average_after": [round(x, 2) for x in os.getloadavg()],  # a shared machine: other work slows it
              "frames": args.frames, "crop_factor": CROP_FACTOR, "cases": cases}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
