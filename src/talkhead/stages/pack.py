"""Stage `pack`: an accepted clip's modalities, reference frame, segments → data/dataset/clips/{clip}.safetensors.

Parses the arguments and runs talkhead.data.pack.pack.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path


from talkhead.data.manifest import ManifestRow
from talkhead.data.pack import pack
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    row = ManifestRow(**json.loads(args.row))
    labels = {"speaker": row.speaker, "split": row.split, "emotion": row.emotion}
    meta = pack([Path(f) for f in args.features], Path(args.crop), Path(args.quality), labels, Path(args.out))
    return f"pack {meta['clip']}: {meta['frames']} frames, {', '.join(json.loads(meta['modalities']))} → {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.pack --crop DIR --quality DIR --row JSON --out FILE FEATURE_FILE..."""
    parser = stage_parser("talkhead.stages.pack", __doc__.splitlines()[0])
    parser.add_argument("--crop", required=True, help="data/crop/{clip}")
    parser.add_argument("--quality", required=True, help="data/quality/{clip}")
    parser.add_argument("--row", required=True, help="the clip's manifest row as JSON")
    parser.add_argument("--out", required=True, help="data/dataset/clips/{clip}.safetensors")
    parser.add_argument("features", nargs="+", help="data/features/{clip}/<modality>.safetensors files")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
