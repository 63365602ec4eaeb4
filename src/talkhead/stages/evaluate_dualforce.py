"""Stage `evaluate_dualforce`: DualForce generating held-out clips: fidelity, sync, long-sequence drift (DVC metrics).

Parses the arguments and runs talkhead.eval.dualforce.evaluate_dualforce, whose module docstring describes the
scores and the outputs in data/eval/dualforce/ (metrics.json, consistency.csv, plots/, samples/<clip>.mp4).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import DualforceConfig, EvaluateConfig
from talkhead.eval.dualforce import evaluate_dualforce
from talkhead.stages.common import run_stage, stage_parser


def _path(value: str) -> Path | None:
    """An optional path flag: '' → None."""
    return Path(value) if value else None


def _main(args: argparse.Namespace) -> str:
    m = evaluate_dualforce(Path(args.model), Path(args.vae), Path(args.metadata), Path(args.out),
                           EvaluateConfig.from_json(args.cfg), DualforceConfig.from_json(args.dualforce_cfg),
                           _path(args.syncnet), _path(args.crop_root), _path(args.quality_root))
    keys = ("latent_l1", "lmd_structure", "lmd_mediapipe", "consistency_landmark_shape_drift_change",
            "consistency_first_frame_psnr_change")
    shown = ", ".join(f"{k} {m[k]:.4f}" for k in keys if k in m)
    return (f"evaluate_dualforce: {m['clips']} {m['split']} clips, {m['generated_frames']} frames each; {shown}; "
            f"absent {sorted(m['absent'])} → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.evaluate_dualforce --model DIR --vae DIR --metadata FILE --out DIR ..."""
    parser = stage_parser("talkhead.stages.evaluate_dualforce", __doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="data/models/dualforce")
    parser.add_argument("--vae", required=True, help="data/models/video_vae (decodes the latents)")
    parser.add_argument("--metadata", required=True, help="data/dataset/metadata.parquet")
    parser.add_argument("--out", required=True, help="data/eval/dualforce")
    parser.add_argument("--dualforce-cfg", default="", help="the dualforce params section as JSON (eval_lengths, ...)")
    parser.add_argument("--syncnet", default="", help="data/models/syncnet (sync_*_selftrained)")
    parser.add_argument("--crop-root", default="", help="data/crop: the real crop videos (lmd_mediapipe, FID/FVD)")
    parser.add_argument("--quality-root", default="", help="data/quality: the clips' audio (sync, the sample's sound)")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
