"""Stage `export_microalbert`: the trained MicroAlbert → one ONNX graph (ids + mask in, VAD out).

Reads data/models/microalbert; writes data/export/microalbert/ whole or not at all: microalbert.onnx
(dynamic batch and sequence length), microalbert.int8.onnx when the fp32 file is larger than
`microalbert.quantize_above_mb`, tokenizer.json and export.json (sizes, ONNX-vs-torch difference; the stage
fails above 1e-4).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import MicroalbertConfig
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    from talkhead.export.microalbert_onnx import export_microalbert

    cfg = MicroalbertConfig.from_json(args.cfg)
    r = export_microalbert(Path(args.model), Path(args.out), cfg.quantize_above_mb)
    return (f"export_microalbert: {r['size_mb']:.2f} MB, max |ONNX - torch| {r['max_abs_diff_vs_torch']:.1e}"
            + (f", int8 copy {r['int8']}" if r["int8"] else "") + f" → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.export_microalbert --model DIR --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.export_microalbert", __doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="data/models/microalbert")
    parser.add_argument("--out", required=True, help="data/export/microalbert")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
