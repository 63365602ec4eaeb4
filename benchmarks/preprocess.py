"""Preprocessing speed and memory: the floor, talkhead inside a shard, and the naive chain, on the same clips.

    python benchmarks/preprocess.py [--clips FILE...] [--out benchmarks/results/preprocess.json]

For each clip, each method runs in its own child process pinned to one CPU core; wall time and
peak resident memory (ru_maxrss of the child) are recorded.
- floor: the work the gate cannot avoid, in Python like the pipeline: one decode of the source at
  25 fps, the 478-point face mesh on every frame of the crop (the gate needs it on every frame), one
  crop encode (the window talkhead chose, crop.size, libx264 at crop.preset / crop.crf). Timed
  after the mesh model is loaded (`floor.in_shard_s`), as inside a shard job.
- ffmpeg floor: the ffmpeg binary decodes the source once and encodes the crop once (no mesh).
- talkhead: ingest → normalize → faces → crop → quality, the stage functions a shard job runs,
  with params.yaml (so it also computes what the floor does not: scene cuts, sharpness, VAD,
  loudness and the A/V offset). `talkhead.in_shard_s` is the clip's time after a warm-up clip
  (a 1 s cut of the same source) has loaded every model, i.e. what one more clip costs inside a
  shard job; `wall_s` is the whole child, imports and model loading included.
- Timing noise: the floor's and talkhead's children run the clip `--repeats` times (3) and the
  in-shard times are the fastest run's (as timeit does; each run's total is kept); their `wall_s`
  leaves the extra runs out, so it is what a child running the clip once takes.
- naive: what peers' scripts do — re-encode the whole frame to 25 fps with ffmpeg, detect faces
  on every frame of that file, decode it again and encode the crop (same encoder settings).

Clips: the accepted talking-head videos in ../shared/fixtures/real (if present) plus a 60 s 1080p
clip made from one of them; without ../shared, the demo clips plus a 1080p one made from those.
Every child pays a fixed start-up cost (Python, MediaPipe and torch imports, model loading: about
2 s for talkhead) that the ffmpeg floor does not, so short clips show it and the long 1080p clip
shows the per-frame cost; both are reported. `--long` adds talkhead alone on a 10-minute 1080p clip
(wall time and peak memory: frames are streamed, never held).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = REPO.parent / "shared" / "fixtures" / "real" / "videos"
REAL_SPEAKERS = ["video-retalking__face_1.mp4", "video-retalking__face_2.mp4", "video-retalking__face_4.mp4",
                 "SadTalker__ref_video_WDA_KatieHill_000.mp4", "AniPortrait__head_pose_temp_pose_ref_video.mp4"]


def ffmpeg_exe() -> str:
    """The static ffmpeg binary that imageio-ffmpeg ships."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _pin_one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def run_measured(cmd: list[str], stdout: Path | None = None, stderr: Path | None = None) -> dict:
    """Run `cmd` pinned to one core; wall seconds and peak RSS from the child's rusage (Linux: KiB)."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: pin, silence, exec
        try:
            _pin_one_core()
            os.environ.update(OMP_NUM_THREADS="1", TQDM_DISABLE="1")
            for fd, path in ((1, stdout), (2, stderr)):
                os.dup2(os.open(str(path or os.devnull), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        tail = stderr.read_text(errors="replace")[-3000:] if stderr and stderr.is_file() else ""
        raise RuntimeError(f"{' '.join(cmd[:4])} … exited {os.waitstatus_to_exitcode(status)}\n{tail}")
    return {"wall_s": round(wall, 3), "peak_mb": round(usage.ru_maxrss / 1024, 1)}


# ----------------------------------------------------------------------------- the methods
def floor(src: Path, window: tuple[int, int, int], out: Path, size: int, preset: str, crf: int,
          repeats: int = 1) -> dict:
    """Decode once, the face mesh on every crop frame, encode once (in a child; in_shard_s after the model loaded)."""
    x, y, side = window
    result = run_measured([sys.executable, __file__, "--child-floor", str(src), str(out), str(x), str(y), str(side),
                           str(size), preset, str(crf), str(repeats)], stdout=out.with_suffix(".json"),
                          stderr=out.with_suffix(".log"))
    timed = json.loads(out.with_suffix(".json").read_text())
    result["in_shard_s"], result["in_shard_runs_s"] = timed["seconds"], timed["runs"]
    result["wall_s"] = round(result["wall_s"] - timed["extra_s"], 3)  # as a child of one run
    return result


def ffmpeg_floor(src: Path, window: tuple[int, int, int], out: Path, size: int, preset: str, crf: int) -> dict:
    """ffmpeg: decode once, crop, scale, encode once (one thread each)."""
    x, y, side = window
    return run_measured([
        ffmpeg_exe(), "-nostdin", "-y", "-loglevel", "error", "-threads", "1", "-i", str(src),
        "-filter_threads", "1", "-vf", f"fps=25,crop={side}:{side}:{x}:{y},scale={size}:{size}:flags=area",
        "-an", "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-threads", "1", str(out)])


def talkhead(src: Path, work: Path, params: Path, repeats: int = 1) -> dict:
    """talkhead's preprocessing stages on one file, in a child (timings per stage on its stdout)."""
    work.mkdir(parents=True, exist_ok=True)
    result = run_measured([sys.executable, __file__, "--child-talkhead", str(src), str(work), str(params),
                           str(repeats)],
                          stdout=work / "stages.json", stderr=work / "stderr.log")
    result["stages_s"] = json.loads((work / "stages.json").read_text())
    result["in_shard_s"] = result["stages_s"].pop("in_shard_s")
    result["in_shard_runs_s"] = result["stages_s"].pop("runs_s")
    result["wall_s"] = round(result["wall_s"] - result["stages_s"].pop("extra_s"), 3)  # as a child of one run
    return result


def naive(src: Path, work: Path, size: int, preset: str, crf: int) -> dict:
    """Re-encode the full frame with ffmpeg, then detect on every frame and re-encode the crop in Python."""
    full = work / "normalized.mp4"
    step1 = run_measured([
        ffmpeg_exe(), "-nostdin", "-y", "-loglevel", "error", "-threads", "1", "-i", str(src), "-filter_threads", "1",
        "-vf", "fps=25", "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-threads", "1",
        "-c:a", "pcm_s16le", "-ar", "16000", "-ac", "1", str(full)])
    step2 = run_measured([sys.executable, __file__, "--child-naive", str(full), str(work), str(size), preset, str(crf)],
                         stderr=work / "stderr.log")
    return {"wall_s": round(step1["wall_s"] + step2["wall_s"], 3), "peak_mb": max(step1["peak_mb"], step2["peak_mb"]),
            "steps_s": {"ffmpeg_normalize": step1["wall_s"], "detect_every_frame_and_crop": step2["wall_s"]}}


# ----------------------------------------------------------------------------- child bodies
def child_floor(src: Path, out: Path, x: int, y: int, side: int, size: int, preset: str, crf: int,
                repeats: int = 1) -> None:
    """Decode `src` at 25 fps, cut the window, run the face mesh on it, encode it; print the timed seconds.

    Repeated `repeats` times, each with a fresh mesh loaded before its clock starts; the fastest run counts."""
    from talkhead.faces.crop import cut_window
    from talkhead.faces.mediapipe_backend import FaceMesh
    from talkhead.media.decode import iter_frames_cfr
    from talkhead.media.encode import VideoWriter

    window = np.array([x + side / 2, y + side / 2, side], np.float32)
    runs, extra = [], 0.0  # extra: the time of the runs after the first (not part of the child's wall time)
    for r in range(repeats):
        started = time.perf_counter()
        mesh = FaceMesh()
        mesh.landmarks(np.zeros((size, size, 3), np.uint8))  # the model is loaded before the clock starts
        t0 = time.perf_counter()
        with VideoWriter(out, fps=25, size=(size, size), crf=crf, preset=preset) as writer:
            for rgb in iter_frames_cfr(src, 25):
                face = cut_window(rgb, window, size)
                mesh.landmarks(face)
                writer.write_frame(face)
        runs.append(round(time.perf_counter() - t0, 3))
        mesh.close()
        extra += (time.perf_counter() - started) if r else 0.0
    print(json.dumps({"seconds": min(runs), "runs": runs, "extra_s": round(extra, 3)}))


def child_talkhead(src: Path, work: Path, params_file: Path, repeats: int = 1) -> None:
    """The pipeline's stage functions in sequence, as a shard job runs them, after a warm-up clip; print seconds.

    The clip is run `repeats` times (fresh output folders); the stage times are those of the fastest run."""
    from talkhead.config import load_params, section_config
    from talkhead.data.ingest import ingest_clip
    from talkhead.data.manifest import ManifestRow
    from talkhead.faces.crop_pass import crop_clip
    from talkhead.faces.find import faces_clip
    from talkhead.quality.clip import quality_clip
    from talkhead.quality.normalize import normalize_clip

    params = load_params(params_file)
    cfg = {name: section_config(params, name) for name in ("ingest", "normalize", "faces", "crop", "quality")}

    def timed(times, name, fn, *args):
        t0 = time.perf_counter()
        status = fn(*args)
        times[name] = round(time.perf_counter() - t0, 3)
        return status

    # Warm-up: a 1 s cut of the same source loads every model, as the clips before it in a shard would.
    w = {stage: work / "warmup" / stage for stage in cfg}
    ingest_clip(ManifestRow("warm", str(src), 0.0, 1.0, "b", "train", "none"), src, w["ingest"], cfg["ingest"])
    normalize_clip(w["ingest"], w["normalize"], cfg["normalize"])
    faces_clip(w["normalize"], w["faces"], cfg["faces"])
    crop_clip(w["faces"], w["normalize"], w["crop"], cfg["crop"])
    quality_clip(w["normalize"], w["faces"], w["crop"], w["quality"], cfg["quality"])
    runs, extra = [], 0.0  # extra: the time of the runs after the first (not part of the child's wall time)
    for r in range(repeats):
        started = time.perf_counter()
        d = {stage: work / stage / ("clip" if r == 0 else f"clip{r}") for stage in cfg}
        times: dict = {}
        timed(times, "ingest", ingest_clip, ManifestRow("clip", str(src), 0.0, None, "b", "train", "none"), src,
              d["ingest"], cfg["ingest"])
        timed(times, "normalize", normalize_clip, d["ingest"], d["normalize"], cfg["normalize"])
        timed(times, "faces", faces_clip, d["normalize"], d["faces"], cfg["faces"])
        timed(times, "crop", crop_clip, d["faces"], d["normalize"], d["crop"], cfg["crop"])
        status = timed(times, "quality", quality_clip, d["normalize"], d["faces"], d["crop"], d["quality"],
                       cfg["quality"])
        times["in_shard_s"] = round(sum(v for k, v in times.items() if k in cfg), 3)
        times["verdict"] = "accept" if status.ok else "reject:" + "|".join(status.reasons)
        runs.append(times)
        extra += (time.perf_counter() - started) if r else 0.0
    best = min(runs, key=lambda t: t["in_shard_s"])
    best["runs_s"], best["extra_s"] = [t["in_shard_s"] for t in runs], round(extra, 3)
    print(json.dumps(best))


def child_naive(full: Path, work: Path, size: int, preset: str, crf: int) -> None:
    """Detect on every frame of the re-encoded file, then decode it again and encode the smoothed crop."""
    from scipy.ndimage import uniform_filter1d

    from talkhead.faces.crop import cut_window
    from talkhead.faces.mediapipe_backend import MediaPipeDetector
    from talkhead.media.decode import iter_frames_cfr
    from talkhead.media.encode import VideoWriter

    detector = MediaPipeDetector(0.5)
    boxes = []
    for rgb in iter_frames_cfr(full, 25):
        found = detector.detect(rgb)
        boxes.append(found[0].box if found else np.full(4, np.nan, np.float32))
        h, w = rgb.shape[:2]
    boxes = np.array(boxes)
    valid = ~np.isnan(boxes[:, 0])
    boxes[~valid] = np.nanmedian(boxes, axis=0)
    centres = uniform_filter1d(np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1), 5,
                               axis=0)
    side = min(1.8 * float(np.median(np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))), w, h)
    with VideoWriter(work / "naive_crop.mp4", fps=25, size=(size, size), crf=crf, preset=preset) as writer:
        for i, rgb in enumerate(iter_frames_cfr(full, 25)):
            cx = min(max(centres[i, 0], side / 2), w - side / 2)
            cy = min(max(centres[i, 1], side / 2), h - side / 2)
            writer.write_frame(cut_window(rgb, np.array([cx, cy, side]), size))


# ----------------------------------------------------------------------------- inputs
def make_1080p(src: Path, dest: Path, seconds: float, preset: str = "medium") -> Path:
    """A 1920×1080 H.264 + AAC clip: `src` looped, scaled to 1080 px high and pillar-boxed."""
    subprocess.run([
        ffmpeg_exe(), "-nostdin", "-y", "-loglevel", "error", "-stream_loop", "-1", "-i", str(src), "-t", str(seconds),
        "-vf", "scale=-2:1080,pad=1920:1080:(ow-iw)/2:0,fps=25", "-c:v", "libx264", "-preset", preset,
        "-crf", "20", "-c:a", "aac", "-ar", "44100", str(dest)], check=True)
    return dest


def default_clips(tmp: Path) -> list[Path]:
    """The real speaker clips (+ a 1080p one), or the demo clips (+ a 1080p one) without ../shared."""
    if SHARED_VIDEOS.is_dir():
        clips = [SHARED_VIDEOS / name for name in REAL_SPEAKERS if (SHARED_VIDEOS / name).is_file()]
    else:
        subprocess.run([sys.executable, "-m", "talkhead.cli", "demo-data", "--out", str(tmp / "demo")], check=True,
                       capture_output=True)
        clips = sorted((tmp / "demo").rglob("demo_s*.mp4"))
    return clips + [make_1080p(clips[0], tmp / "hd1080_60s.mp4", 60.0)]


def _frames_and_size(path: Path) -> tuple[int, str]:
    from talkhead.media.decode import count_frames_cfr
    from talkhead.media.probe import probe

    v = probe(path)["video"]
    return count_frames_cfr(path, 25), f"{v['width']}x{v['height']} {v['codec']}"


def bench_clip(src: Path, tmp: Path, params_file: Path, crop: dict, repeats: int = 1) -> dict:
    """All three methods on one clip."""
    work = tmp / src.stem
    work.mkdir(parents=True, exist_ok=True)
    frames, desc = _frames_and_size(src)
    row = {"clip": src.name, "source": desc, "frames": frames}
    row["talkhead"] = talkhead(src, work / "talkhead", params_file, repeats)
    windows = np.load(work / "talkhead" / "crop" / "clip" / "landmarks.npz")["windows"]
    cx, cy, side = np.median(windows, axis=0)
    window = (int(cx - side / 2) // 2 * 2, int(cy - side / 2) // 2 * 2, int(side) // 2 * 2)
    row["floor"] = floor(src, window, work / "floor.mp4", crop["size"], crop["preset"], crop["crf"], repeats)
    row["ffmpeg_floor"] = ffmpeg_floor(src, window, work / "ffmpeg_floor.mp4", crop["size"], crop["preset"],
                                       crop["crf"])
    (work / "naive").mkdir(exist_ok=True)
    row["naive"] = naive(src, work / "naive", crop["size"], crop["preset"], crop["crf"])
    for method in ("floor", "ffmpeg_floor", "talkhead", "naive"):
        row[method]["fps"] = round(frames / row[method]["wall_s"], 1)
    row["in_shard_over_floor"] = round(row["talkhead"]["in_shard_s"] / row["floor"]["in_shard_s"], 2)
    row["naive_over_in_shard"] = round(row["naive"]["wall_s"] / row["talkhead"]["in_shard_s"], 2)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", type=Path, help="videos to measure (default: see the module docstring)")
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "preprocess.json")
    parser.add_argument("--long", action="store_true", help="also run talkhead on a 10-minute 1080p clip")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the clip inside the floor's and talkhead's "
                        "children (in-shard times: the fastest; wall times: the whole child)")
    parser.add_argument("--child-talkhead", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-naive", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", nargs=9, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_talkhead:
        src, work, params_file, repeats = args.child_talkhead
        child_talkhead(Path(src), Path(work), Path(params_file), int(repeats))
        return 0
    if args.child_floor:
        src, out, x, y, side, size, preset, crf, repeats = args.child_floor
        child_floor(Path(src), Path(out), int(x), int(y), int(side), int(size), preset, int(crf), int(repeats))
        return 0
    if args.child_naive:
        full, work, size, preset, crf = args.child_naive
        child_naive(Path(full), Path(work), int(size), preset, int(crf))
        return 0

    from talkhead.config import load_params, section_config

    crop = json.loads(section_config(load_params(args.params), "crop").to_json())
    with tempfile.TemporaryDirectory(prefix="talkhead-bench-") as tmp_name:
        tmp = Path(tmp_name)
        clips = args.clips or default_clips(tmp)
        rows = []
        for src in clips:
            row = bench_clip(src, tmp, args.params, crop, args.repeats)
            rows.append(row)
            print(f"{row['clip']:<48} {row['frames']:>4} fr  floor {row['floor']['in_shard_s']:6.2f}s  "
                  f"talkhead in a shard {row['talkhead']['in_shard_s']:6.2f}s ({row['in_shard_over_floor']}× floor; "
                  f"whole process {row['talkhead']['wall_s']:.2f}s, {row['talkhead']['peak_mb']:.0f} MB)  "
                  f"naive {row['naive']['wall_s']:6.2f}s", flush=True)
        long_run = None
        if args.long:
            long_src = make_1080p(clips[0], tmp / "hd1080_10min.mp4", 600.0, preset="ultrafast")
            frames, desc = _frames_and_size(long_src)
            long_run = {"clip": long_src.name, "source": desc, "frames": frames,
                        "talkhead": talkhead(long_src, tmp / "long", args.params)}  # one run: wall time, memory
            long_run["talkhead"]["fps"] = round(frames / long_run["talkhead"]["wall_s"], 1)
            print(f"10 min 1080p: talkhead {long_run['talkhead']['wall_s']:.1f} s, "
                  f"peak {long_run['talkhead']['peak_mb']:.0f} MB", flush=True)
    total = {m: round(sum(r[m]["wall_s"] for r in rows), 2) for m in ("floor", "ffmpeg_floor", "talkhead", "naive")}
    total["floor_in_shard"] = round(sum(r["floor"]["in_shard_s"] for r in rows), 2)
    total["talkhead_in_shard"] = round(sum(r["talkhead"]["in_shard_s"] for r in rows), 2)
    hd = [r for r in rows if r["source"].startswith("1920x1080")]
    result = {
        "what": "seconds per method on the same clips, each child pinned to one core",
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                    "cores_used": 1},
        "settings": {"crop_size": crop["size"], "preset": crop["preset"], "crf": crop["crf"], "fps": 25,
                     "repeats": args.repeats},
        "clips": rows,
        "total_s": total,
        "talkhead_over_floor": round(total["talkhead"] / total["floor"], 2),
        "in_shard_over_floor_by_clip": {r["clip"]: r["in_shard_over_floor"] for r in rows},
        "naive_over_in_shard_by_clip": {r["clip"]: r["naive_over_in_shard"] for r in rows},
        "naive_over_talkhead": round(total["naive"] / total["talkhead"], 2),
        "peak_mb_1080p": {m: hd[0][m]["peak_mb"] for m in ("floor", "talkhead", "naive")} if hd else None,
        "ms_per_frame_1080p": {m: round(1000 * hd[0][m]["wall_s"] / hd[0]["frames"], 2)
                               for m in ("floor", "talkhead", "naive")} if hd else None,
        "long_1080p": long_run,
    }
    if hd:
        result["talkhead_over_floor_1080p"] = round(hd[0]["talkhead"]["wall_s"] / hd[0]["floor"]["wall_s"], 2)
        result["naive_over_talkhead_1080p"] = round(hd[0]["naive"]["wall_s"] / hd[0]["talkhead"]["wall_s"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"total: floor {total['floor']} s, talkhead {total['talkhead']} s "
          f"({result['talkhead_over_floor']}× the floor), naive {total['naive']} s "
          f"({result['naive_over_talkhead']}× talkhead) → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
