"""Stage `train_lipsync`: V3 Face phase 1, the lipsync branch, on the packed dataset's training split.

Reads data/dataset/metadata.parquet and the packed clips it lists; writes data/models/v3face/lipsync/
in place (config.json, best/last/state.safetensors, state.json, metrics.csv, metrics.json), so an
interrupted run started again resumes from its last finished epoch.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import V3faceConfig
from talkhead.stages.common import run_stage, stage_parser


def summary_line(s: dict, out: str, name: str = "") -> str:
    """The one-line summary of a finished training phase (`name` defaults to "v3face <phase>")."""
    best = "n/a" if s["best_val"] is None else f"{s['best_val']:.4f} (epoch {s['best_epoch']})"
    first = "n/a" if s["first_val"] is None else f"{s['first_val']:.4f}"
    return (f"{name or 'v3face ' + s['phase']}: {s['clips']} train clips, {s['epochs']} epochs "
            f"(resumed after {s['resumed_after']}), val L1 {first} → best {best} in {s['seconds']:.0f} s → {out}")


def _main(args: argparse.Namespace) -> str:
    from talkhead.train import distributed
    from talkhead.train.v3face import train_phase

    try:  # under torchrun: leave the process group however the phase ends
        s = train_phase(Path(args.metadata), "lipsync", V3faceConfig.from_json(args.cfg), Path(args.out), None)
    finally:
        distributed.shutdown()
    return summary_line(s, args.out)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.train_lipsync --metadata PARQUET --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.train_lipsync", __doc__.splitlines()[0])
    parser.add_argument("--metadata", required=True, help="data/dataset/metadata.parquet")
    parser.add_argument("--out", required=True, help="the phase folder, data/models/v3face/lipsync")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
