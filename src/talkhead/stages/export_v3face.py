"""Stage `export_v3face`: the trained V3 Face model + its calibrated streaming crisp_mouth → one ONNX graph.

Parses the arguments and runs talkhead.export.v3face.export_v3face, whose module docstring describes the
calibration and the outputs in data/export/v3face/ (v3face.onnx, v3face.int8.onnx, export.json).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import V3faceExportConfig
from talkhead.export.v3face import export_v3face
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    r = export_v3face(Path(args.model), Path(args.metadata), Path(args.out), V3faceExportConfig.from_json(args.cfg))
    return (f"export_v3face: {r['onnx']['file']} {r['onnx']['mb']} MB "
            f"(max diff {r['onnx']['max_abs_diff_vs_torch']:.1e})"
            f", streaming crisp ε {r['streaming_crisp']['mean_abs_error_vs_offline']:.4f} → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.export_v3face --model DIR --metadata FILE --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.export_v3face", __doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="data/models/v3face/expression")
    parser.add_argument("--metadata", required=True, help="data/dataset/metadata.parquet (calibration clips)")
    parser.add_argument("--out", required=True, help="data/export/v3face")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
