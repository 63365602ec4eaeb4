"""Stage `summary`: one CSV row per clip folder of a phase, from each folder's status.json."""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path

from talkhead.atomic import atomic_path
from talkhead.data.shards import clip_folders
from talkhead.data.status import read_status
from talkhead.stages.common import run_stage, stage_parser


def write_summary(folders: Sequence[Path], out: Path) -> tuple[int, int]:
    """Write `out` (clip, stage, ok, reasons, message, details as JSON); return (clips, ok clips)."""
    statuses = sorted((read_status(f) for f in folders), key=lambda s: s.clip)
    with atomic_path(out, suffix=".csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["clip", "stage", "ok", "reasons", "message", "details"])
        for s in statuses:
            writer.writerow([s.clip, s.stage, int(s.ok), "|".join(s.reasons), s.message,
                             json.dumps(s.details, sort_keys=True)])
    return len(statuses), sum(s.ok for s in statuses)


def _main(args: argparse.Namespace) -> str:
    n, ok = write_summary(clip_folders(args.folders), Path(args.out))
    return f"summary {args.out}: {n} clips, {ok} ok, {n - ok} rejected"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.summary --out CSV FOLDER..."""
    parser = stage_parser("talkhead.stages.summary", __doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="summary CSV to write")
    parser.add_argument("folders", nargs="+", help="clip folders holding status.json, or shard indices "
                        "(<phase>/_shards/<shard>.csv)")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
