"""Stage `report`: the dataset report, data/report/index.html (talkhead.report.page): one offline page over the run.

    python -m talkhead.stages.report --data data --manifest data/demo/manifest.csv --out data/report \
        [--params params.yaml ...] [--curves CSV ...] [--cfg JSON] [--quality-cfg JSON] [--dataset-cfg JSON]

Reads what the pipeline wrote under --data (shard indices, data/qc, the Data Docs summaries, data/eval,
data/models); a part that is absent (no model trained yet) is left out of the page, not an error.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import DatasetConfig, QualityConfig, ReportConfig
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    from dataclasses import asdict

    from talkhead.data.manifest import read_manifest
    from talkhead.data.splits import manifest_splits
    from talkhead.report.page import duration, write_report

    cfg = ReportConfig.from_json(args.cfg)
    quality = asdict(QualityConfig.from_json(args.quality_cfg))
    splits = None
    if args.dataset_cfg:
        d = DatasetConfig.from_json(args.dataset_cfg)
        splits = manifest_splits(read_manifest(args.manifest), d.split_policy, d.val_fraction, d.test_fraction, d.seed)
    record = write_report(args.data, args.manifest, args.out, cfg, quality, splits, args.params, args.curves)
    f = record["funnel"]
    why = ", ".join(f"{k} {v}" for k, v in record["rejections"].items()) or "none"
    return (f"report {Path(args.out) / 'index.html'}: {f['accepted']} of {f['manifest']} clips accepted "
            f"({duration(f['speech_hours'])} of speech); rejections: {why}; {record['plots']} plots; "
            f"{json.dumps(record['provenance']['git_commit'])}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.report --data data --manifest CSV --out data/report [--params YAML] ..."""
    parser = stage_parser("talkhead.stages.report", __doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the data root the pipeline wrote (data)")
    parser.add_argument("--manifest", required=True, help="the manifest the run started from")
    parser.add_argument("--out", required=True, help="output folder (data/report)")
    parser.add_argument("--params", nargs="*", default=[], help="the run's params files, for the provenance's hash")
    parser.add_argument("--curves", nargs="*", default=[], help="the trainings' per-epoch CSVs to draw (first "
                        "column: epoch or step)")
    parser.add_argument("--quality-cfg", default="", help="the quality params section as JSON (thresholds marked)")
    parser.add_argument("--dataset-cfg", default="", help="the dataset params section as JSON (the assigned splits)")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
