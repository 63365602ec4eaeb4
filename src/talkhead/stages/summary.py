"""Stage `summary`: one CSV row per clip folder of a phase, from each folder's status.json.

Parses the arguments and runs talkhead.data.status.write_summary, which writes the CSV (clip, stage, ok,
reasons, message, details as JSON).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.data.shards import clip_folders
from talkhead.data.status import write_summary
from talkhead.stages.common import run_stage, stage_parser


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
