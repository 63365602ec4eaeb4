"""Stage `ingest`: bring one manifest source into data/ingest/{clip}/ and record its size and sha256.

Parses the arguments and runs talkhead.data.ingest.ingest_clip, whose module docstring describes the
sources (referenced, copied or linked local files, downloads, YouTube) and the outputs in
data/ingest/{clip}/ (status.json, raw.<ext> unless referenced).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import IngestConfig
from talkhead.data.ingest import ingest_clip
from talkhead.data.manifest import read_manifest
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    cfg = IngestConfig.from_json(args.cfg)
    rows = {r.clip_id: r for r in read_manifest(args.manifest)}
    if args.clip not in rows:
        raise SystemExit(f"clip {args.clip!r} is not in {args.manifest}")
    status = ingest_clip(rows[args.clip], Path(args.manifest), Path(args.out), cfg)
    if status.ok:
        return f"ingest {args.clip}: {status.details['file']} ({status.details['size_bytes']} bytes)"
    return f"ingest {args.clip}: unavailable — {status.message}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.ingest --manifest CSV --clip ID --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.ingest", __doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="manifest CSV")
    parser.add_argument("--clip", required=True, help="clip_id of the row to ingest")
    parser.add_argument("--out", required=True, help="output clip folder, data/ingest/{clip}")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
