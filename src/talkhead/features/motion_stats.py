"""motion_stats: the training split's motion files → per-dimension mean and std of the 70 values.

In features (layer 3), beside the statistics it computes (talkhead.features.motion.motion_stats, on arrays), in a
module of its own: this reads the clips' motion files and writes the statistics file with what it was fitted on.

Writes data/features/_stats/motion.safetensors with `mean` (70,), `std` (70,) float32 and `frames`
(1,) int64; the metadata lists the clips it was computed on and their splits. The rule passes only
training-split clips (speaker-disjoint splits, talkhead.data.splits), so validation and test never
leak into it; only when no training clip was accepted does it fall back to every accepted clip,
and then the metadata says so (`splits` is not just "train") and a warning is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from talkhead.data.featurefile import read_features, write_features
from talkhead.features import motion as mo

log = logging.getLogger(__name__)


def motion_stats(files: Sequence[Path], out: Path, splits: dict[str, str] | None = None) -> dict:
    """Statistics over every frame of `files` (`splits`: clip → split, recorded); write and return the metadata."""
    clips, motions = [], []
    for path in sorted(files):
        tensors, meta = read_features(path, keys=["motion"])
        clips.append(meta["clip"])
        motions.append(tensors["motion"])
    stats = mo.motion_stats(motions)
    used = sorted({(splits or {}).get(c, "train") for c in clips})
    if used != ["train"]:
        log.warning("motion statistics include %s clips: no accepted training clip to fit them on", used)
    info = {"clip": "", "modality": "motion_stats", "rate_hz": "", "frames": int(stats["frames"][0]),
            "extractor": "motion-stats", "version": mo.VERSION, "checkpoint": "", "splits": ",".join(used),
            "clips": ",".join(clips), "names": ",".join(mo.NAMES)}
    write_features(out, stats, info)
    return info
