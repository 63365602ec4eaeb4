"""Stage `video_vae`: train the offline video autoencoder on the training split's face crops.

Parses the arguments and runs talkhead.train.video_vae.video_vae_train, whose module docstring describes the
model folder data/models/video_vae/ and the resumable run beside it (data/models/.video_vae.run/).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import VideoVaeConfig
from talkhead.data.shards import listed_paths
from talkhead.stages.common import run_stage, stage_parser
from talkhead.train.video_vae import video_vae_train


def _main(args: argparse.Namespace) -> str:
    crops = [Path(c) for c in args.crops]
    if args.clips:  # data/qc/train.csv: the accepted training clips
        crops += listed_paths(args.clips, args.root)
    s = video_vae_train(crops, Path(args.out), VideoVaeConfig.from_json(args.cfg),
                        args.log_every)
    return (f"video_vae: {s['clips']} clips, {s['steps']} steps, loss {s['first_loss']:.4f} → {s['final_loss']:.4f} "
            f"in {s['seconds']:.0f} s → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.video_vae --out DIR [--cfg JSON] [--log-every N] CROP_DIR..."""
    parser = stage_parser("talkhead.stages.video_vae", __doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the model folder, data/models/video_vae")
    parser.add_argument("--log-every", type=int, default=10, help="steps per row of loss.csv (default 10)")
    parser.add_argument("--clips", default="", help="a clip list, data/qc/train.csv: adds each clip's <root>/<clip>")
    parser.add_argument("--root", default="data/crop", help="the crop folder (with --clips)")
    parser.add_argument("crops", nargs="*", help="crop folders data/crop/{clip} to train on")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
