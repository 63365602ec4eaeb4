"""One decode of a clip's video → its face track and face statistics, with the scene cuts on the way.

In faces (layer 3), with the detectors and the tracker it drives; faces_clip's own imports (atomic, data.status,
media) are lower.

Detection runs every `stride` frames with the configured backend (a backend that can re-detect
around the last known face, like MediaPipe's, gets a second try at a probe where it found
nothing); `IdentityTracker` keeps one face, `fill_track` bridges short gaps and `smooth_track`
removes detector noise. The scene-cut detector sees every frame in the same pass. With
`faces.speaker: active` and the clip's audio, a clip showing several faces keeps the speaker's
(talkhead.faces.speaker).

`faces_clip` (the faces phase on one clip) runs `find_faces` on the normalized clip. Outputs in data/faces/{clip}/:
track.parquet (per frame: smoothed box, raw box and score at probes, faces counted), faces.json
(per-clip statistics read by the quality gate) and status.json. A clip without any face is not an
error here: the gate rejects it as `no_face`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from talkhead.atomic import atomic_dir, atomic_path, write_json
from talkhead.config import FacesConfig
from talkhead.data.status import ClipStatus, pass_on, read_status
from talkhead.faces.registry import shared_detector
from talkhead.faces.speaker import SpeakerFinder, keep_speaker
from talkhead.faces.track import IdentityTracker, fill_track, iou, significant, smooth_track
from talkhead.logs import progress
from talkhead.media.clip_video import ClipVideo
from talkhead.media.decode import DecodeReport, to_rgb
from talkhead.media.probe import MediaError
from talkhead.media.yuv import display_size, small_rgb
from talkhead.quality.shots import CutDetector
from talkhead.quality.sync import audio_features


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


def _track(probes_found: list[tuple[int, list]], min_rel_size: float) -> IdentityTracker:
    """The identity tracker run over the detections of every probe, in order."""
    tracker = IdentityTracker(min_rel_size=min_rel_size)
    for frame, found in probes_found:
        tracker.update(frame, found)
    return tracker


def _per_frame(n: int, probes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, 4) raw boxes, (T,) scores and (T,) face counts; NaN / -1 off the probes."""
    raw, scores, counts = np.full((n, 4), np.nan, np.float32), np.full(n, np.nan, np.float32), np.full(n, -1, np.int16)
    for f, chosen, count in zip(probes.frames, probes.chosen, probes.counts):
        counts[f] = count
        if chosen is not None:
            raw[f], scores[f] = chosen.box, chosen.score
    return raw, scores, counts


def _choose_speaker(finder: SpeakerFinder, probes_found: list, audio_wav: Path, n: int, fps: int,
                    cfg: FacesConfig) -> tuple[list, dict]:
    """Keep only the active speaker's face at multi-face probes; return (probes' detections, what was decided)."""
    samples, rate = sf.read(audio_wav, dtype="float32")
    scores = finder.scores(audio_features(samples, rate, fps, n), max_lag=cfg.speaker_max_lag)
    best = int(np.argmax(scores))
    decision = {"faces": len(scores), "scores": [round(x, 4) if np.isfinite(x) else None for x in scores]}
    if not np.isfinite(scores[best]):
        return probes_found, {**decision, "chosen": None}
    box = finder.slots[best].box
    return keep_speaker(probes_found, finder.slots[best]), {**decision, "chosen": best,
                                                            "box": [round(float(v), 1) for v in box]}


def find_faces(video: ClipVideo, cfg: FacesConfig, name: str = "", audio_wav: Path | None = None
               ) -> tuple[pd.DataFrame, dict]:
    """Detect, track and look for cuts in one pass over `video`; return (track table, statistics).

    With `faces.speaker: active` and the clip's audio, a clip showing several faces keeps the one
    whose mouth moves with the audio (talkhead.faces.speaker); otherwise the largest, continuing face.
    """
    fps, n = video.fps, video.frames
    detector = shared_detector(cfg.detector, cfg.score_threshold, {  # loaded once per process
        "weights": cfg.retinaface_weights, "network": cfg.retinaface_network, "device": cfg.device})
    tracker = IdentityTracker(min_rel_size=cfg.min_rel_size)
    cuts = CutDetector(fps=fps, threshold=cfg.cut_threshold, min_shot_s=cfg.min_shot_s)
    finder = SpeakerFinder() if cfg.speaker == "active" and audio_wav is not None and audio_wav.is_file() else None
    probes_found: list[tuple[int, list]] = []
    rgb_of = to_rgb()
    thumb, held = None, None
    decode = DecodeReport()

    def visit(i: int, frame, rgb: np.ndarray | None, found: list | None) -> None:
        """Frame i in order, after detection: a probe's faces (found) go to the tracker and the speaker finder."""
        if found is not None:
            tracker.update(i, found)
            probes_found.append((i, found))
            if finder is not None:
                finder.probe(i, significant(found, cfg.min_rel_size))
        if finder is not None and finder.active:  # several faces in view: every frame's mouths
            finder.frame(i, rgb if rgb is not None else rgb_of(frame))

    # Batched probes (a detector with detect_batch, faces.batch_probes > 1: RetinaFace on a GPU): probe frames are
    # gathered and detected together, then the frames are visited in order. The speaker finder needs every frame,
    # so with it the frames since the last batch are held (batch_probes × stride decoded frames at most).
    batch = cfg.batch_probes if hasattr(detector, "detect_batch") and not hasattr(detector, "detect_near") else 1
    waiting: list[tuple[int, object, np.ndarray | None]] = []  # (i, frame, probe RGB or None) not yet visited
    pending = 0  # probes in `waiting`

    def flush() -> None:
        probes = [rgb for _, _, rgb in waiting if rgb is not None]
        found = iter(detector.detect_batch(probes) if probes else [])
        for i, frame, rgb in waiting:
            visit(i, frame, rgb, next(found) if rgb is not None else None)
        waiting.clear()

    for i, frame in enumerate(progress(video.decoded(decode), desc=f"faces {name}", total=n, unit="frame")):
        if frame is not held:  # a repeated frame (slower source) is not converted again
            held, thumb = frame, small_rgb(frame, cuts.compared_size(*display_size(frame)))
        cuts.update(thumb)  # the cut detector works on ~64 px images, made by FFmpeg's scaler from the frame
        probe = i % cfg.stride == 0
        if batch > 1:
            if probe or finder is not None:
                waiting.append((i, frame, rgb_of(frame) if probe else None))
            pending += probe
            if pending == batch:
                flush()
                pending = 0
            continue
        rgb, found = None, None
        if probe:
            rgb = rgb_of(frame)  # (H, W, 3), only on probe frames
            found = detector.detect(rgb)
            if not found and tracker.last is not None and hasattr(detector, "detect_near"):
                found = [d for d in detector.detect_near(rgb, tracker.last.box) if iou(d.box, tracker.last.box) > 0.3]
        visit(i, frame, rgb, found)
    if waiting:
        flush()
    speaker = None
    counts = tracker.result().counts  # (P,) faces in view at each probe, before any choice
    if finder is not None:
        finder.close()
        if len(finder.slots) >= 2:
            probes_found, speaker = _choose_speaker(finder, probes_found, audio_wav, n, fps, cfg)
            tracker = _track(probes_found, cfg.min_rel_size)
    probes = tracker.result()
    probes.counts = counts
    filled = fill_track(n, probes, max_gap=int(round(cfg.max_gap_s * fps)))
    smoothed = smooth_track(filled, cfg.smooth_s * fps)
    table = _track_table(smoothed, *_per_frame(n, probes))
    stats = _statistics(smoothed, probes, (video.width, video.height), cuts.finish(), fps)
    stats["speaker"] = speaker
    stats["decode"] = decode.summary()
    stats["damaged_frames"] = decode.damaged_frames(fps, video.start, n)  # [[first, end)] frames built on damage
    return table, stats


def faces_clip(normalize_dir: Path, out: Path, cfg: FacesConfig) -> ClipStatus:
    """Run the faces stage on one normalized clip folder, writing `out` atomically."""
    upstream = read_status(normalize_dir)
    with atomic_dir(out) as tmp:
        if not upstream.ok:
            return pass_on(upstream, "faces", tmp)
        try:
            table, stats = find_faces(ClipVideo.read(normalize_dir), cfg, upstream.clip, normalize_dir / "audio.wav")
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
