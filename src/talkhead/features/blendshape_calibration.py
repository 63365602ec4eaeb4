"""blendshape_calibration: one speaker's accepted clips → that speaker's blendshape neutral and span.

In features (layer 3), with the measures and the calibration it applies (talkhead.features.blendshapes), in a
module of its own: blendshapes maps arrays to arrays, this reads the speakers' mesh files and writes their files.

The raw geometric measures of every found mesh frame of the speaker's clips
(talkhead.features.blendshapes) give the neutral (a low percentile or the median) and the range
(a high percentile, floored); written to data/features/_calibration/{speaker_key}.json.

With shard indices (calibrate_all, the stage's --indices; the workflow: the `features` shard indices after the
gate) one job calibrates every speaker of the ok clips, speaker by speaker (memory holds one speaker's frames),
into one folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from talkhead.atomic import write_json
from talkhead.data.featurefile import read_features
from talkhead.features import blendshapes as bs


def calibrate_speaker(mesh_files: Sequence[Path], speaker: str, out: Path) -> dict:
    """Calibrate one speaker from its clips' face_mesh files (found frames only); write and return the JSON."""
    raws = []
    for path in mesh_files:
        tensors, _ = read_features(path, keys=["points", "found"])
        raws.append(bs.raw_measures(tensors["points"][tensors["found"].astype(bool)]))
    cal = bs.calibrate(np.concatenate(raws) if raws else np.zeros((0, len(bs.ARKIT_NAMES)), np.float32))
    record = {"speaker": speaker, "clips": [Path(p).parent.name for p in mesh_files], **cal.to_dict()}
    write_json(out, record)
    return record


def calibrate_all(indices: Sequence[Path], root: Path, out: Path) -> dict[str, int]:
    """Every speaker of the ok clips of `indices` (clip lists with a speaker column) → `out/<speaker_key>.json`.

    The folder is written atomically; a speaker's clips are taken in clip order. Returns speaker → clips."""
    from talkhead.atomic import atomic_dir
    from talkhead.data.manifest import speaker_key
    from talkhead.data.shards import LIST_COLUMNS, read_rows

    by_speaker: dict[str, list[str]] = {}
    for index in indices:
        for row in read_rows(index, LIST_COLUMNS):
            if row["ok"] == "1":
                by_speaker.setdefault(row["speaker"], []).append(row["clip"])
    with atomic_dir(out) as tmp:
        for speaker, clips in sorted(by_speaker.items()):
            meshes = [root / c / "face_mesh.safetensors" for c in sorted(clips)]
            calibrate_speaker(meshes, speaker, tmp / f"{speaker_key(speaker)}.json")
    return {s: len(c) for s, c in by_speaker.items()}
