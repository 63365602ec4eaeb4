"""Stage `dataset`: the packed clips → data/dataset/metadata.parquet with speaker-disjoint splits.

Parses the arguments and writes the table of talkhead.data.metadata.metadata_table, whose module docstring
describes its rows and splits. The packed files are validated (talkhead.data.validate: alignment, NaN/Inf,
ranges, dtypes, rates) into Data Docs at --report; a failed expectation is reported, not fatal.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

from talkhead.atomic import atomic_dir, atomic_path, write_json
from talkhead.config import DatasetConfig
from talkhead.data.metadata import metadata_table
from talkhead.data.shards import packed_files
from talkhead.data.validate import validate_features
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    out = Path(args.out)
    packed = packed_files(args.packed)
    table = metadata_table(packed, out.parent, DatasetConfig.from_json(args.cfg))
    with atomic_path(out, suffix=".parquet") as part:
        table.to_parquet(part, index=False)
    if args.motion_stats:  # the training split's statistics travel with the dataset
        with atomic_path(out.parent / "motion_stats.safetensors", suffix=".safetensors") as part:
            shutil.copyfile(args.motion_stats, part)
    counts = table["split"].value_counts().to_dict() if len(table) else {}
    check = "skipped"
    if args.report:
        with atomic_dir(args.report) as tmp:
            summary = validate_features(packed, tmp)
        summary["report"] = str(Path(args.report) / "index.html")  # it was built in a temporary folder
        write_json(Path(args.report) / "validation.json", summary)
        check = "passed" if summary["success"] else f"FAILED ({len(summary['failed'])} expectations, see report)"
    return (f"dataset: {len(table)} clips ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}) → {out}; "
            f"feature validation {check}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.dataset --out data/dataset/metadata.parquet [--report DIR] [--motion-stats FILE]
    [--cfg JSON] PACKED..."""
    parser = stage_parser("talkhead.stages.dataset", __doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="data/dataset/metadata.parquet")
    parser.add_argument("--report", default="", help="folder for the validation Data Docs, data/dataset/report")
    parser.add_argument("--motion-stats", default="",
                        help="data/features/_stats/motion.safetensors, copied beside --out")
    parser.add_argument("packed", nargs="*", help="data/dataset/clips/{clip}.safetensors files, or pack shard "
                        "indices data/dataset/_shards/<shard>.csv")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
