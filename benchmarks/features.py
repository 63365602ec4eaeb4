"""Feature extractors' speed (× real time on one core) and peak memory, on real talking-head clips.

    python benchmarks/features.py [--clips FILE...] [--out benchmarks/results/features.json]

Each clip is first run through talkhead's preprocessing (`talkhead qc --keep`), so the extractors
see exactly what the pipeline gives them (the A/V-aligned audio and the crop). Then each extractor
runs in its own child process pinned to one core (benchmarks/preprocess.py's run_measured), timed
inside the child on the whole clip (imports and model loading excluded; the set-up each
extractor needs is done before the clock starts):
- face_mesh_inference: MediaPipe Face Mesh on every crop frame (the crop stage runs it; it is
  the expensive part of every face modality, so it is counted here), with a decode of the crop
  that the crop stage itself does not pay (it meshes the frame it just cut),
- audio_mel, face_mesh (gap filling + smoothing), head_pose + motion, blendshapes, face3dmm
  (basis fitted outside the timing) and video_latents (the default video VAE, decode included),
  each on the clip's inputs.
Speed is clip duration / wall time (× real time); peak memory is the child's ru_maxrss.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from preprocess import run_measured  # noqa: E402  (the sibling benchmark's pinned-child runner)

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = REPO.parent / "shared" / "fixtures" / "real" / "videos"
# The target: these together at >= 4x real time per core (face3dmm, video latents are extra).
TARGET = ("face_mesh_inference", "audio_mel", "face_mesh", "head_pose_motion", "blendshapes")
REAL = ["video-retalking__face_1.mp4", "video-retalking__face_2.mp4", "video-retalking__face_4.mp4",
        "SadTalker__ref_video_WDA_KatieHill_000.mp4", "AniPortrait__head_pose_temp_pose_ref_video.mp4"]


def preprocess(src: Path, work: Path) -> tuple[Path, Path, int]:
    """`talkhead qc --keep` on one file; (quality folder, crop folder, frames) of the accepted clip."""
    from talkhead.config import load_params
    from talkhead.stages.qc_files import run_qc

    report = run_qc([src], work, load_params(REPO / "params.yaml"), keep=True)[0]
    if report["verdict"] != "accept":
        raise RuntimeError(f"{src.name} was rejected: {report['reasons']}")
    clip = report["clip"]
    return work / ".work" / "quality" / clip, work / ".work" / "crop" / clip, int(report["measures"]["frames"])


def extractors(quality: Path, crop: Path) -> dict[str, Callable[[], Callable[[], object]]]:
    """name → a set-up function (model loading, inputs) that returns the timed callable for this clip."""
    import soundfile as sf

    from talkhead.features import blendshapes, face3dmm, mel, mesh, motion, pose
    from talkhead.quality.sync import mouth_opening  # noqa: F401  (warm import, as in the pipeline)

    samples, _ = sf.read(quality / "audio.wav", dtype="float32")
    points = np.load(crop / "landmarks.npz")["points"].astype(np.float32)
    n = len(points)
    filled, found = mesh.fill_and_smooth(points, 0.7)

    def mesh_inference() -> Callable[[], object]:
        from talkhead.faces.mediapipe_backend import FaceMesh
        from talkhead.media.decode import iter_frames_cfr

        fm = FaceMesh()  # model loading: once per clip in the crop stage, excluded like imports
        fm.landmarks(np.zeros((64, 64, 3), np.uint8))
        return lambda: [fm.landmarks(rgb) for rgb in iter_frames_cfr(crop / "crop.mp4", 25)]

    def face3dmm_job() -> Callable[[], object]:
        basis = face3dmm.basis_from_clips([("clip", filled, found)], 50)  # the basis rule's work, not timed
        return lambda: face3dmm.fit_clip(filled, found, basis)

    def video_latents() -> Callable[[], object]:
        import torch

        from talkhead.features.video_latents import VideoVAEEncoder, encode_clip
        from talkhead.models.video_vae import VideoVAE, VideoVAESpec

        torch.set_num_threads(1)
        torch.manual_seed(0)  # speed does not depend on training: an initialised model of the default size
        encoder = VideoVAEEncoder(VideoVAE(VideoVAESpec(size=64, levels=3, channels=16)), "untrained")
        return lambda: encode_clip(encoder, crop / "crop.mp4", 25, n, 16)

    return {"face_mesh_inference": mesh_inference,
            "audio_mel": lambda: lambda: mel.log_mel(samples, n),
            "face_mesh": lambda: lambda: mesh.fill_and_smooth(points, 0.7),
            "head_pose_motion": lambda: lambda: motion.motion_from_pose(filled, pose.fit_pose(filled)),
            "blendshapes": lambda: lambda: blendshapes.solve(blendshapes.raw_measures(filled),
                                                             blendshapes.calibrate(blendshapes.raw_measures(filled))),
            "face3dmm": face3dmm_job,
            "video_latents": video_latents}


def child(name: str, quality: Path, crop: Path) -> None:
    """Time one extractor in this process; print {"wall_s": ...}."""
    job = extractors(quality, crop)[name]()
    t0 = time.perf_counter()
    job()
    print(json.dumps({"wall_s": time.perf_counter() - t0}))


def measure(name: str, quality: Path, crop: Path, work: Path) -> dict:
    """One extractor in a pinned child: its own wall time (without start-up) and peak RSS."""
    out = work / f"{name}.json"
    r = run_measured([sys.executable, __file__, "--child", name, str(quality), str(crop)], stdout=out,
                     stderr=work / f"{name}.log")
    return {"wall_s": round(json.loads(out.read_text())["wall_s"], 3), "peak_mb": r["peak_mb"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "features.json")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0
    clips = args.clips or [SHARED_VIDEOS / c for c in REAL if (SHARED_VIDEOS / c).is_file()]
    if not clips:
        sys.exit("no clips: pass --clips or provide ../shared/fixtures/real")
    rows, totals = [], {}
    with tempfile.TemporaryDirectory(prefix="talkhead-feat-bench-") as tmp:
        for src in clips:
            quality, crop, frames = preprocess(src, Path(tmp) / src.stem)
            seconds = frames / 25
            row = {"clip": src.name, "frames": frames, "seconds": seconds}
            for name in extractors(quality, crop):
                r = measure(name, quality, crop, Path(tmp) / src.stem)
                r["x_real_time"] = round(seconds / r["wall_s"], 1)
                row[name] = r
                totals.setdefault(name, [0.0, 0.0])
                totals[name][0] += r["wall_s"]
                totals[name][1] += seconds
            rows.append(row)
            print(src.name, {k: v["x_real_time"] for k, v in row.items() if isinstance(v, dict)}, flush=True)
    per = {k: round(s / w, 1) for k, (w, s) in totals.items()}
    together = [k for k in per if k in TARGET]
    wall = sum(totals[k][0] for k in together)
    secs = next(iter(totals.values()))[1]
    result = {"what": "× real time on one core (clip seconds / wall seconds) and peak RSS per extractor",
              "clips": rows, "x_real_time": per, "x_real_time_together": round(secs / wall, 1),
              "together": together}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"together ({', '.join(together)}): {result['x_real_time_together']}× real time → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
