"""Stage `metrics_table`: every model's metrics in one table for `snakemake --report` (data/eval/metrics.tsv).

    python -m talkhead.stages.metrics_table --out data/eval/metrics.tsv \
        eval/v3face=data/eval/v3face/metrics.json models/motion_dit=data/models/motion_dit/metrics.json ...

One row per number (source, metric, value; nested keys joined with '.'), in the order given; the
notes and the reasons a metric is absent stay in each metrics.json (talkhead.eval.metrics.metrics_rows).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import ConfigError
from talkhead.eval.metrics import write_metrics_table
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    files = {}
    for item in args.files:
        source, sep, path = item.partition("=")
        if not sep or not source or not path:
            raise ConfigError(f"{item!r}: expected SOURCE=PATH (e.g. eval/v3face=data/eval/v3face/metrics.json)")
        files[source] = Path(path)
    rows = write_metrics_table(args.out, files)
    return f"metrics table {args.out}: {rows} numbers from {len(files)} files"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.metrics_table --out TSV SOURCE=METRICS.json..."""
    parser = stage_parser("talkhead.stages.metrics_table", __doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the TSV to write")
    parser.add_argument("files", nargs="+", help="SOURCE=PATH: a name for the table and a metrics.json")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
