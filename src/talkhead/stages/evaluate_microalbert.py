"""Stage `evaluate_microalbert`: MicroAlbert against its teacher on held-out text, baselines, latency, probes.

Reads data/models/microalbert, data/microalbert/targets.csv (its test rows) and data/export/microalbert;
writes data/eval/microalbert/: metrics.json (DVC metrics: per-axis Pearson r and MAE vs the teacher on all,
real and generated held-out rows, the constant baseline, probe pairs ordered), latency.json (one-thread
latency of torch and onnxruntime; timings, so not reproducible) and probes.csv (obvious affect pairs and
whether the student orders them).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import MicroalbertConfig
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    from talkhead.eval.microalbert import evaluate, summary

    m = evaluate(Path(args.model), Path(args.targets), Path(args.export) if args.export else None,
                 MicroalbertConfig.from_json(args.cfg), Path(args.out))
    return summary(m).rstrip() + f"\n→ {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.evaluate_microalbert --model DIR --targets CSV [--export DIR] --out DIR."""
    parser = stage_parser("talkhead.stages.evaluate_microalbert", __doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="data/models/microalbert")
    parser.add_argument("--targets", required=True, help="data/microalbert/targets.csv (its test rows)")
    parser.add_argument("--export", default="", help="data/export/microalbert (the ONNX graph's latency)")
    parser.add_argument("--out", required=True, help="data/eval/microalbert")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
