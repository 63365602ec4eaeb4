"""Stage `faces`: one decode of the clip's video → face track, face statistics and scene cuts.

Detection runs every `stride` frames with the configured backend (a backend that can re-detect
around the last known face, like MediaPipe's, gets a second try at a probe where it found
nothing); `IdentityTracker` keeps one
face, `fill_track` bridges short gaps and `smooth_track` removes detector noise. The scene-cut
detector sees every frame in the same pass. Outputs in data/faces/{clip}/:
track.parquet (per frame: smoothed box, raw box and score at probes, faces counted), faces.json
(per-clip statistics read by the quality gate) and status.json. A clip without any face is not an
error here: the gate rejects it as `no_face`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from talkhead.atomic import atomic_dir, atomic_path, write_json
from talkhead.config import FacesConfig
from talkhead.data.status import ClipStatus, read_status
from talkhead.faces.registry import make_detector
from talkhead.faces.track import IdentityTracker, fill_track, iou, smooth_track
from talkhead.logs import progress
from talkhead.media.clip_video import ClipVideo
from talkhead.media.decode import to_rgb
from talkhead.media.yuv import planes_of, thumbnail_rgb
from talkhead.media.probe import MediaError
from talkhead.quality.shots import CutDetector
from talkhead.stages.common import pass_on, run_stage, stage_parser

log = logging.getLogger(__name__)


def _track_table(boxes: np.ndarray, raw: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    """The per-frame table written to track.parquet."""
    return pd.DataFrame({
        "frame": np.arange(len(boxes), dtype=np.int32),
        "x0": boxes[:, 0], "y0": boxes[:, 1], "x1": boxes[:, 2], "y1": boxes[:, 3],
        "raw_x0": raw[:, 0], "raw_y0": raw[:, 1], "raw_x1": raw[:, 2], "raw_y1": raw[:, 3],
        "score": scores, "faces": counts,
    })


def _statistics(boxes: np.ndarray, probes, frame_size: tuple[int, int], cuts: list[int], fps: int) -> dict:
    """Per-clip face statistics for the gate."""
    n = len(boxes)
    covered = ~np.isnan(boxes[:, 0])
    sizes = np.sqrt((boxes[covered, 2] - boxes[covered, 0]) * (boxes[covered, 3] - boxes[covered, 1]))
    hits = np.array([d is not None for d in probes.chosen])
    face_px = float(np.median(sizes)) if sizes.size else None
    return {
        "frames": n, "fps": fps, "width": frame_size[0], "height": frame_size[1],
        "probes": int(len(probes.frames)),
        "detection_rate": float(hits.mean()) if hits.size else 0.0,
        "face_coverage": float(covered.mean()) if n else 0.0,
        "face_px": face_px,
        "face_frac": face_px / min(frame_size) if face_px else None,
        "faces_max": int(probes.counts.max()) if probes.counts.size else 0,
        "multi_face_rate": float((probes.counts >= 2).mean()) if probes.counts.size else 0.0,
        "scene_cuts": cuts,
    }


def find_faces(video: ClipVideo, cfg: FacesConfig, name: str = "") -> tuple[pd.DataFrame, dict]:
    """Detect, track and look for cuts in one pass over `video`; return (track table, statistics)."""
    fps = video.fps
    detector = make_detector(cfg.detector, cfg.score_threshold, {
        "weights": cfg.retinaface_weights, "network": cfg.retinaface_network, "device": cfg.device})
    tracker = IdentityTracker(min_rel_size=cfg.min_rel_size)
    cuts = CutDetector(fps=fps, threshold=cfg.cut_threshold, min_shot_s=cfg.min_shot_s)
    raw: list[np.ndarray] = []
    scores: list[float] = []
    counts: list[int] = []
    size = (video.width, video.height)
    rgb_of = to_rgb()
    thumb, held = None, None
    for i, frame in enumerate(progress(video.decoded(), desc=f"faces {name}", total=video.frames, unit="frame")):
        if frame is not held:  # a repeated frame (slower source) is not converted again
            held, thumb = frame, thumbnail_rgb(planes_of(frame))
        cuts.update(thumb)  # the cut detector works on ~64 px images: a thumbnail is all it needs
        box, score, count = np.full(4, np.nan, np.float32), np.nan, -1
        if i % cfg.stride == 0:
            rgb = rgb_of(frame)  # (H, W, 3), only on probe frames
            found = detector.detect(rgb)
            if not found and tracker.last is not None and hasattr(detector, "detect_near"):
                found = [d for d in detector.detect_near(rgb, tracker.last.box) if iou(d.box, tracker.last.box) > 0.3]
            chosen = tracker.update(i, found)
            count = int(tracker.result().counts[-1])
            if chosen is not None:
                box, score = chosen.box, chosen.score
        raw.append(box)
        scores.append(score)
        counts.append(count)
    if hasattr(detector, "close"):
        detector.close()
    probes = tracker.result()
    n = len(raw)
    filled = fill_track(n, probes, max_gap=int(round(cfg.max_gap_s * fps)))
    smoothed = smooth_track(filled, cfg.smooth_s * fps)
    table = _track_table(smoothed, np.array(raw, np.float32).reshape(n, 4), np.array(scores, np.float32),
                         np.array(counts, np.int16))
    return table, _statistics(smoothed, probes, size, cuts.finish(), fps)


def faces_clip(normalize_dir: Path, out: Path, cfg: FacesConfig) -> ClipStatus:
    """Run the faces stage on one normalized clip folder, writing `out` atomically."""
    upstream = read_status(normalize_dir)
    with atomic_dir(out) as tmp:
        if not upstream.ok:
            return pass_on(upstream, "faces", tmp)
        try:
            table, stats = find_faces(ClipVideo.read(normalize_dir), cfg, upstream.clip)
        except MediaError as exc:
            status = ClipStatus(upstream.clip, "faces", False, [exc.reason], str(exc), {"rejected_at": "faces"})
            status.write(tmp)
            return status
        with atomic_path(tmp / "track.parquet") as part:
            table.to_parquet(part, index=False)
        stats["detector"] = cfg.detector
        write_json(tmp / "faces.json", stats)
        status = ClipStatus(upstream.clip, "faces", True, [], "", stats)
        status.write(tmp)
    return status


def _main(args: argparse.Namespace) -> str:
    cfg = FacesConfig.from_json(args.cfg)
    status = faces_clip(Path(args.normalize), Path(args.out), cfg)
    if not status.ok:
        return f"faces {status.clip}: rejected upstream ({', '.join(status.reasons)})"
    d = status.details
    px = f"{d['face_px']:.0f} px" if d["face_px"] else "no face"
    return (f"faces {status.clip}: {d['frames']} frames, face {px}, detected at {d['detection_rate']:.0%} of "
            f"{d['probes']} probes, coverage {d['face_coverage']:.0%}, up to {d['faces_max']} faces, "
            f"{len(d['scene_cuts'])} cuts")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.faces --normalize DIR --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.faces", __doc__.splitlines()[0])
    parser.add_argument("--normalize", required=True, help="the clip's normalize folder, data/normalize/{clip}")
    parser.add_argument("--out", required=True, help="output clip folder, data/faces/{clip}")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
