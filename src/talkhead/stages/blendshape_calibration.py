"""Stage `blendshape_calibration`: one speaker's accepted clips → that speaker's blendshape neutral and span.

The raw geometric measures of every found mesh frame of the speaker's clips
(talkhead.features.blendshapes) give the neutral (a low percentile or the median) and the range
(a high percentile, floored); written to data/features/_calibration/{speaker_key}.json.

With --indices (the workflow: the `features` shard indices after the gate) one job calibrates every
speaker of the ok clips, speaker by speaker (memory holds one speaker's frames), into the folder --out.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from talkhead.atomic import write_json
from talkhead.config import ConfigError
from talkhead.data.featurefile import read_features
from talkhead.features import blendshapes as bs
from talkhead.stages.common import run_stage, stage_parser


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


def _main(args: argparse.Namespace) -> str:
    if args.indices:
        counts = calibrate_all([Path(p) for p in args.indices], Path(args.root), Path(args.out))
        return f"blendshape_calibration: {len(counts)} speakers, {sum(counts.values())} clips → {args.out}"
    if not args.speaker:
        raise ConfigError("blendshape_calibration: give --speaker and mesh files, or --indices")
    record = calibrate_speaker([Path(p) for p in args.meshes], args.speaker, Path(args.out))
    return f"blendshape_calibration {args.speaker}: {record['frames']} frames of {len(record['clips'])} clips"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.blendshape_calibration --speaker S --out JSON MESH..."""
    parser = stage_parser("talkhead.stages.blendshape_calibration", __doc__.splitlines()[0])
    parser.add_argument("--speaker", default="", help="the speaker id (as in the manifest)")
    parser.add_argument("--out", required=True, help="data/features/_calibration/{speaker_key}.json (with --indices: "
                        "the folder data/features/_calibration)")
    parser.add_argument("--indices", nargs="+", default=[], help="features shard indices data/features/_shards/"
                        "<shard>.csv: calibrate every speaker of their ok clips")
    parser.add_argument("--root", default="data/features", help="the features folder (with --indices)")
    parser.add_argument("meshes", nargs="*", help="the speaker's data/features/{clip}/face_mesh.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
