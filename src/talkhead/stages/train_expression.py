"""Stage `train_expression`: V3 Face phase 2, the expression branch, with the lipsync branch frozen.

Reads data/dataset/metadata.parquet, the packed clips and phase 1's folder (--init, its
best.safetensors); writes data/models/v3face/expression/ in place, resumable like train_lipsync.
The lipsync channels of the result equal phase 1's bit for bit.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import V3faceConfig
from talkhead.stages.common import run_stage, stage_parser
from talkhead.stages.train_lipsync import summary_line


def _main(args: argparse.Namespace) -> str:
    from talkhead.train import distributed
    from talkhead.train.v3face import train_phase

    try:  # under torchrun: leave the process group however the phase ends
        s = train_phase(Path(args.metadata), "expression", V3faceConfig.from_json(args.cfg), Path(args.out),
                        Path(args.init))
    finally:
        distributed.shutdown()
    return summary_line(s, args.out)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.train_expression --metadata PARQUET --init DIR --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.train_expression", __doc__.splitlines()[0])
    parser.add_argument("--metadata", required=True, help="data/dataset/metadata.parquet")
    parser.add_argument("--init", required=True, help="the lipsync phase folder, data/models/v3face/lipsync")
    parser.add_argument("--out", required=True, help="the phase folder, data/models/v3face/expression")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
