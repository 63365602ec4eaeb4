"""Stage `blendshape_calibration`: one speaker's accepted clips → that speaker's blendshape neutral and span.

The raw geometric measures of every found mesh frame of the speaker's clips
(talkhead.features.blendshapes) give the neutral (a low percentile or the median) and the range
(a high percentile, floored); written to data/features/_calibration/{speaker_key}.json.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from talkhead.atomic import write_json
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


def _main(args: argparse.Namespace) -> str:
    record = calibrate_speaker([Path(p) for p in args.meshes], args.speaker, Path(args.out))
    return f"blendshape_calibration {args.speaker}: {record['frames']} frames of {len(record['clips'])} clips"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.blendshape_calibration --speaker S --out JSON MESH..."""
    parser = stage_parser("talkhead.stages.blendshape_calibration", __doc__.splitlines()[0])
    parser.add_argument("--speaker", required=True, help="the speaker id (as in the manifest)")
    parser.add_argument("--out", required=True, help="data/features/_calibration/{speaker_key}.json")
    parser.add_argument("meshes", nargs="+", help="the speaker's data/features/{clip}/face_mesh.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
