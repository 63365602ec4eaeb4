"""Stage `evaluate_v3face`: V3 Face scored on the held-out speakers, beside its baselines (DVC metrics + plots).

Reads the trained model (data/models/v3face/expression), the packed dataset and, when given, the
export (data/export/v3face); writes data/eval/v3face/: `metrics.json` (val L1 on the lipsync,
expression and all channels for the model, the training-mean pose, silent audio, the model with
crisp_mouth, the streamed fp32 and int8 graphs; the int8 cost), `tracks.csv` (per-frame tracks of
the plotted channels on the first held-out clip, a DVC plot) and `plots/tracks.png`
(talkhead.eval.v3face.evaluate_v3face).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import EvaluateConfig
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    from talkhead.eval.v3face import evaluate_v3face

    m = evaluate_v3face(Path(args.model), Path(args.metadata), Path(args.export) if args.export else None,
                        Path(args.out), EvaluateConfig.from_json(args.cfg))
    base = {k: m[k]["val_l1_all"] for k in ("baseline_mean_pose", "baseline_silence") if k in m}
    return (f"evaluate_v3face: {m['clips']} {m['split']} clips, val L1 model {m['model']['val_l1_all']:.4f} "
            f"(lipsync {m['model']['val_l1_lipsync']:.4f}, expression {m['model']['val_l1_expression']:.4f}); "
            + ", ".join(f"{k} {v:.4f}" for k, v in base.items()) + f" → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.evaluate_v3face --model DIR --metadata FILE [--export DIR] --out DIR."""
    parser = stage_parser("talkhead.stages.evaluate_v3face", __doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="data/models/v3face/expression")
    parser.add_argument("--metadata", required=True, help="data/dataset/metadata.parquet")
    parser.add_argument("--export", default="", help="data/export/v3face (scores the streamed ONNX graphs too)")
    parser.add_argument("--out", required=True, help="data/eval/v3face")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
