"""Stage `blendshape_calibration`: one speaker's accepted clips → that speaker's blendshape neutral and span.

Parses the arguments and runs talkhead.features.blendshape_calibration (calibrate_speaker; with --indices,
calibrate_all), whose module docstring describes data/features/_calibration/{speaker_key}.json.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import ConfigError
from talkhead.features.blendshape_calibration import calibrate_all, calibrate_speaker
from talkhead.stages.common import run_stage, stage_parser


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
