"""Stage `qc` (the gate): every clip's quality.json → accepted.csv, rejected.csv, measures.csv and the report.

Parses the arguments and runs talkhead.quality.tables (gate, write_shard_lists, write_train_list), whose
module docstring describes the outputs in data/qc/ (the tables, report/, _shards/<shard>.csv, train.csv).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from talkhead.config import DatasetConfig, QualityConfig
from talkhead.data.shards import SHARDS_DIR, clip_folders
from talkhead.quality.tables import gate, write_shard_lists, write_train_list
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    cfg = QualityConfig.from_json(args.cfg)
    out = Path(args.out)
    s = gate(clip_folders(args.quality), out, cfg, Path(args.manifest) if args.manifest else None,
             Path(args.av_corpus) if args.av_corpus else None)
    accepted = pd.read_csv(out / "accepted.csv", dtype=str, keep_default_na=False)
    indices = [Path(p) for p in args.quality if Path(p).suffix == ".csv" and Path(p).parent.name == SHARDS_DIR]
    write_shard_lists(indices, accepted, out)
    if args.dataset_cfg and args.manifest:
        write_train_list(accepted, Path(args.manifest), DatasetConfig.from_json(args.dataset_cfg), out / "train.csv")
    why = ", ".join(f"{k} {v}" for k, v in s["reasons"].items()) or "none"
    check = "passed" if s["validation_success"] else "FAILED (see report)"
    return (f"qc: {s['accepted']} of {s['clips']} clips accepted; rejections: {why}; "
            f"validation {check}; tables and report in {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.qc --out data/qc [--manifest CSV] [--av-corpus CSV] [--cfg JSON] QUALITY_DIR..."""
    parser = stage_parser("talkhead.stages.qc", __doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder, data/qc")
    parser.add_argument("--manifest", default="", help="the manifest, for speaker/split/emotion columns")
    parser.add_argument("--dataset-cfg", default="", help="the dataset params section as JSON: writes train.csv, "
                        "the training-split clips the learned extractors fit on")
    parser.add_argument("--av-corpus", default="", help="data/av_corpus/offsets.csv of the second A/V pass")
    parser.add_argument("quality", nargs="*", help="data/quality/{clip} folders, or shard indices "
                        "data/quality/_shards/<shard>.csv")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
