"""Stage `motion_stats`: the training split's motion files → per-dimension mean and std of the 70 values.

Writes data/features/_stats/motion.safetensors with `mean` (70,), `std` (70,) float32 and `frames`
(1,) int64; the metadata lists the clips it was computed on and their splits. The rule passes only
training-split clips (speaker-disjoint splits, talkhead.data.splits), so validation and test never
leak into it; only when no training clip was accepted does it fall back to every accepted clip,
and then the metadata says so (`splits` is not just "train") and a warning is logged.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from talkhead.data.featurefile import read_features, write_features
from talkhead.data.shards import listed_paths
from talkhead.features import motion as mo
from talkhead.stages.common import run_stage, stage_parser

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


def _main(args: argparse.Namespace) -> str:
    files, splits = [Path(p) for p in args.motions], json.loads(args.splits)
    if args.clips:  # data/qc/train.csv: the accepted training clips, with their splits
        files += listed_paths(args.clips, args.root, "motion.safetensors")
        splits |= dict(pd.read_csv(args.clips, dtype=str, keep_default_na=False)[["clip", "split"]].values)
    info = motion_stats(files, Path(args.out), splits)
    return (f"motion_stats: {info['frames']} frames of {len(info['clips'].split(','))} clips ({info['splits']})"
            f" → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.motion_stats --out FILE [--splits JSON] MOTION..."""
    parser = stage_parser("talkhead.stages.motion_stats", __doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="data/features/_stats/motion.safetensors")
    parser.add_argument("--splits", default="{}", help="JSON clip → split of the manifest (recorded; default train)")
    parser.add_argument("--clips", default="", help="a clip list (clip, split), data/qc/train.csv: adds each "
                        "clip's <root>/<clip>/motion.safetensors")
    parser.add_argument("--root", default="data/features", help="the features folder (with --clips)")
    parser.add_argument("motions", nargs="*", help="data/features/{clip}/motion.safetensors of the training clips")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
