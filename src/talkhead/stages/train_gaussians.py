"""Stage `train_gaussians`: a per-identity GaussianTalker-style 3D-Gaussian head for one speaker (docs/gaussians.md).

Parses the arguments and runs talkhead.gaussians.train.train (one speaker's resumable run folder,
data/models/gaussians/{speaker}/) or, with --summarize, talkhead.gaussians.summary.summarize (the speakers'
metrics merged into data/models/gaussians/metrics.json and metrics.csv); their module docstrings describe the files.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import GaussiansConfig
from talkhead.gaussians.summary import summarize
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    if args.summarize:
        return summarize([Path(p) for p in args.summarize], Path(args.out) / "metrics.json",
                         Path(args.out) / "metrics.csv")
    if not args.metadata or not args.crop_dir:
        raise SystemExit("train mode needs --metadata and --crop-dir")
    from talkhead.gaussians.train import train

    m = train(Path(args.metadata), Path(args.crop_dir), GaussiansConfig.from_json(args.cfg), Path(args.out),
              args.speaker or None)
    lmd = m.get("lmd_mediapipe")
    return (f"gaussians {m['speaker']}: {m['iterations']} iterations, {m['gaussians']} Gaussians, held-out PSNR "
            f"{m['psnr_init']:.2f} → {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f}, LMD "
            f"{'n/a' if lmd is None else f'{lmd:.4f}'} in {m['train_s']:.0f} s → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.train_gaussians --metadata PARQUET --crop-dir DIR --out DIR [--speaker ID]
    [--cfg JSON] | --summarize METRICS.json... --out DIR."""
    parser = stage_parser("talkhead.stages.train_gaussians", __doc__.splitlines()[0])
    parser.add_argument("--metadata", help="data/dataset/metadata.parquet")
    parser.add_argument("--crop-dir", help="data/crop (holds {clip}/crop.mp4)")
    parser.add_argument("--speaker", default="", help="manifest speaker id (default: gaussians.speakers / train split)")
    parser.add_argument("--out", required=True, help="the speaker's model folder (or, with --summarize, the phase's)")
    parser.add_argument("--summarize", nargs="+", help="per-speaker metrics.json files to merge")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
