"""One decode of a clip's video → the stable square face crop (H.264), its face mesh and face sharpness.

In faces (layer 3), with the crop windows and the face mesh it runs; crop_clip's own imports (atomic,
data.status) are lower.

The crop windows come from talkhead.faces.crop (constant side, smoothed centre, inside the frame),
cut from the decoded 4:2:0 planes at even luma pixels so that the chroma planes crop exactly; each
cropped frame is encoded, meshed (MediaPipe, 478 points) and, every `blur_every` frames, scored for
sharpness inside the face box.

`crop_clip` (the crop phase on one clip) runs `crop_video` on the smoothed track from data/faces/{clip}/ and the
clip's video (data/normalize/{clip}/video.json); writes to data/crop/{clip}/: crop.mp4 (size × size, the
normalized fps, no audio), landmarks.npz (`points` (T, 478, 3) float16 in crop pixels, `found` (T,)
bool, `windows` (T, 3) crop centre and side in source pixels), crop.json (per-clip numbers for the
gate) and status.json. A clip whose track holds no face is passed on with reason `no_face` without
encoding anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from talkhead.atomic import atomic_dir, atomic_path, write_json
from talkhead.config import CropConfig
from talkhead.data.status import ClipStatus, pass_on, read_status
from talkhead.faces.crop import box_in_crop, crop_windows
from talkhead.faces.registry import shared_mesh
from talkhead.logs import progress
from talkhead.media.clip_video import ClipVideo
from talkhead.media.encode import VideoWriter
from talkhead.media.yuv import Planes, crop_i420, i420_to_rgb, planes_of, window_origin
from talkhead.quality.blur import face_sharpness

N_LANDMARKS = 478


def _effective(window: np.ndarray, frame_size: tuple[int, int]) -> tuple[float, float, float]:
    """The (cx, cy, side) that crop_i420 really cuts for `window`."""
    x0, y0, side = window_origin(window, frame_size)
    return x0 + side / 2, y0 + side / 2, float(side)


def crop_video(video: ClipVideo, boxes: np.ndarray, out: Path, cfg: CropConfig, name: str = "") -> dict:
    """Crop `video` around the (T, 4) track into `out`/crop.mp4 + landmarks.npz; return crop statistics."""
    n, fps = len(boxes), video.fps
    windows = crop_windows(boxes, (video.width, video.height), cfg.scale, cfg.smooth_s * fps)
    points = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
    sharpness: list[float] = []
    # The windows as actually cut: even luma pixels, so the 4:2:0 chroma planes crop exactly with them.
    windows = np.array([_effective(w_, (video.width, video.height)) for w_ in windows], np.float32)  # (T, 3)
    mesh = shared_mesh()  # one graph per process, no face tracked at the start of each clip
    written = 0
    held: tuple[object, Planes] | None = None
    with VideoWriter(out / "crop.mp4", fps=fps, size=(cfg.size, cfg.size), crf=cfg.crf, preset=cfg.preset) as writer:
        for i, frame in enumerate(progress(video.decoded(), desc=f"crop {name}", total=n, unit="frame")):
            if i >= n:
                break
            if held is None or held[0] is not frame:
                held = (frame, planes_of(frame))
            i420 = crop_i420(held[1], windows[i], cfg.size)  # (3/2·size, size)
            writer.write_i420(i420)
            written += 1
            face = i420_to_rgb(i420)  # (size, size, 3)
            lm = mesh.landmarks(face)
            if lm is not None:
                points[i] = lm
            if i % cfg.blur_every == 0 and not np.isnan(boxes[i, 0]):
                sharpness.append(face_sharpness(face, box_in_crop(boxes[i], windows[i], cfg.size)))
    found = ~np.isnan(points[:, 0, 0])
    with atomic_path(out / "landmarks.npz", suffix=".npz") as part:
        np.savez_compressed(part, points=points.astype(np.float16), found=found, windows=windows)
    sharp = np.array([s for s in sharpness if np.isfinite(s)])
    jitter = np.abs(np.diff(windows[:, :2], n=2, axis=0)).max() if n > 2 else 0.0
    return {"frames": written, "size": cfg.size, "crop_side_px": float(windows[0, 2]),
            "landmark_rate": float(found.mean()) if n else 0.0,
            "blur": float(np.median(sharp)) if sharp.size else None,
            "centre_jitter_px": float(jitter)}


def crop_clip(faces_dir: Path, normalize_dir: Path, out: Path, cfg: CropConfig) -> ClipStatus:
    """Run the crop stage for one clip, writing `out` atomically."""
    upstream = read_status(faces_dir)
    with atomic_dir(out) as tmp:
        if not upstream.ok:
            return pass_on(upstream, "crop", tmp)
        track = pd.read_parquet(faces_dir / "track.parquet")
        boxes = track[["x0", "y0", "x1", "y1"]].to_numpy(np.float32)
        if np.isnan(boxes[:, 0]).all():
            status = ClipStatus(upstream.clip, "crop", False, ["no_face"], "no face found in any frame",
                                {"rejected_at": "crop"})
            status.write(tmp)
            return status
        stats = crop_video(ClipVideo.read(normalize_dir), boxes, tmp, cfg, upstream.clip)
        write_json(tmp / "crop.json", stats)
        status = ClipStatus(upstream.clip, "crop", True, [], "", stats)
        status.write(tmp)
    return status
