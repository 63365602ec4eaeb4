"""One packed file per clip: every modality under `<modality>/<tensor>`, the reference frame and the segments.

Keys: `<modality>/<name>` for each modality file's tensors (e.g. `audio_mel/mel`, `face_mesh/points`),
`reference/image` (H, W, 3) uint8 — the crop's first frame, the identity reference the video
models condition on — and `segments` (S, 2) int32 video-frame ranges [start, end) that never span
a scene cut. Metadata: clip, frames, fps, speaker, split, emotion, `modalities` (JSON: per
modality its rate_hz, extractor, version, checkpoint) and the required feature-file keys. `pack` is the pack
phase on one accepted clip: its feature files, the crop's first frame, the gate's segments, the manifest labels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from talkhead.data.featurefile import read_features, write_features
from talkhead.data.status import accepted_measures
from talkhead.media.decode import iter_frames_cfr
from talkhead.vocab import ROWS_PER_FRAME

VERSION = "pack-1"


def check_alignment(modality: str, rows: int, frames: int) -> None:
    """ValueError unless a modality with `rows` time steps is aligned to `frames` video frames."""
    want = ROWS_PER_FRAME.get(modality, 1) * frames
    if rows != want:
        raise ValueError(f"{modality}: {rows} rows, expected {want} for {frames} video frames")


def pack_clip(files: Sequence[Path], reference: np.ndarray, segments: np.ndarray, out: Path,
              info: Mapping[str, object]) -> dict[str, object]:
    """Merge modality files into `out`; `info` has clip, frames, fps, speaker, split, emotion. Returns the metadata."""
    tensors: dict[str, np.ndarray] = {"reference/image": reference, "segments": segments.astype(np.int32)}
    modalities = {}
    for path in sorted(files):
        data, meta = read_features(path)
        name = meta["modality"]
        if meta["clip"] != info["clip"] or int(meta["frames"]) != int(info["frames"]):
            raise ValueError(f"{path}: clip {meta['clip']} / {meta['frames']} frames does not match "
                             f"{info['clip']} / {info['frames']}")
        for key, value in data.items():
            if not key.startswith("clip_"):  # per-clip tensors are named clip_*; the rest are time-major
                check_alignment(name, value.shape[0], int(info["frames"]))
            tensors[f"{name}/{key}"] = value
        modalities[name] = {k: meta[k] for k in ("rate_hz", "extractor", "version", "checkpoint")}
    meta = {**{k: info[k] for k in ("clip", "frames", "fps", "speaker", "split", "emotion")},
            "modality": "packed", "rate_hz": info["fps"], "extractor": "talkhead-pack", "version": VERSION,
            "checkpoint": "", "modalities": json.dumps(modalities, sort_keys=True)}
    write_features(out, tensors, meta)
    return meta


def pack(features: list[Path], crop_dir: Path, quality_dir: Path, labels: dict[str, str], out: Path) -> dict:
    """Pack one clip; `labels` holds its speaker, split and emotion (from the manifest row)."""
    m = accepted_measures(quality_dir)
    q = json.loads((quality_dir / "quality.json").read_text(encoding="utf-8"))
    reference = next(iter_frames_cfr(crop_dir / "crop.mp4", m["fps"]))  # (H, W, 3) the crop's first frame
    segments = np.array(q.get("segments") or [[0, m["frames"]]], np.int32).reshape(-1, 2)  # (S, 2)
    info = {"clip": m["clip"], "frames": m["frames"], "fps": m["fps"], "speaker": labels["speaker"],
            "split": labels["split"], "emotion": labels["emotion"]}
    return pack_clip(features, reference, segments, out, info)
