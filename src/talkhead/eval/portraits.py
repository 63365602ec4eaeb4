"""The generator on portraits and recordings it never saw: does the mouth open and close like a speaker's?

For every portrait (an image file, or every image in a folder) and every recording (an audio file,
or every audio file in a folder), `talkhead generate`'s path (talkhead.infer.generate.generate_video,
the mouth driver included) makes a video, and talkhead.eval.speaking scores it: the inner-lip gap's
std and p95 − p5 range and its best-lag correlation with the loudness. A portrait the renderer
refuses (no face, several faces) is recorded with the reason and skipped, not fatal.

Metrics (`speaking_*`, flat, for metrics.json): videos scored, portraits skipped, the min and median
gap std and r, the median range, and the fraction of videos meeting issue 19's target (gap std ≥
TARGET_STD and r ≥ TARGET_R, inside the range of real talking clips: 0.046–0.069 and −0.07–0.58).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from talkhead.eval.speaking import speaking_measures, video_tracks

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac"})
TARGET_STD, TARGET_R = 0.025, 0.25


def files(path: str | Path, suffixes: frozenset[str]) -> list[Path]:
    """`path` itself when it is a file, else the files in the folder with one of `suffixes`, sorted."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not found:
        raise FileNotFoundError(f"{path}: no {'/'.join(sorted(suffixes))} file in it")
    return found


def _finite(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def score_portraits(model: Path, images: list[Path], speech: list[Path], work: Path, mouth: str = "auto",
                    on_video: Callable[[Path, np.ndarray, np.ndarray, dict], None] | None = None) -> list[dict]:
    """One row per (portrait, recording): the measures and whether it meets the target, or why it was skipped.

    Videos are written to `work` (named portrait__recording.mp4); `on_video(path, gap, loudness, row)` is
    called for each (figures, say)."""
    from talkhead.infer.generate import GenerateRequest, generate_video, load_models
    from talkhead.render import MultipleFacesError, NoFaceError

    models = load_models(Path(model), mouth)  # once for every video
    rows = []
    for image in images:
        for audio in speech:
            out = Path(work) / f"{image.stem}__{audio.stem}.mp4"
            try:
                summary = generate_video(GenerateRequest(image, out, audio=audio, model=Path(model), mouth=mouth),
                                         models)
            except (NoFaceError, MultipleFacesError) as exc:
                log.info("%s skipped: %s", image.name, exc)
                rows.append({"portrait": image.name, "speech": "", "skipped": str(exc)})
                break  # the same portrait fails the same way with every recording
            gap, loudness = video_tracks(out)
            m = speaking_measures(gap, loudness)
            row = {"portrait": image.name, "speech": audio.name, "mouth": summary["mouth"], "frames": len(gap),
                   **{k: _finite(m[k]) for k in ("gap_std", "gap_range", "r_loudness")}, "lag": int(m["lag"])}
            row["meets_target"] = bool((row["gap_std"] or 0) >= TARGET_STD and (row["r_loudness"] or -1) >= TARGET_R)
            log.info("%s × %s: gap std %s, range %s, r %s", image.name, audio.name, row["gap_std"],
                     row["gap_range"], row["r_loudness"])
            if on_video is not None:
                on_video(out, gap, loudness, row)
            rows.append(row)
    return rows


def summary_metrics(rows: list[dict]) -> dict[str, float | int]:
    """The `speaking_*` metrics of score_portraits' rows (only the counts when nothing could be scored)."""
    scored = [r for r in rows if "skipped" not in r]
    out: dict[str, float | int] = {"speaking_videos": len(scored),
                                   "speaking_skipped_portraits": sum("skipped" in r for r in rows)}
    if not scored:
        return out
    for name, key in (("gap_std", "gap_std"), ("r_loudness", "r_loudness")):
        values = np.array([r[key] for r in scored if r[key] is not None], np.float64)
        if len(values):
            out[f"speaking_{name}_min"] = round(float(values.min()), 4)
            out[f"speaking_{name}_median"] = round(float(np.median(values)), 4)
    ranges = [r["gap_range"] for r in scored if r["gap_range"] is not None]
    if ranges:
        out["speaking_gap_range_median"] = round(float(np.median(ranges)), 4)
    out["speaking_meets_target"] = round(sum(r["meets_target"] for r in scored) / len(scored), 4)
    return out
