"""Stage `video_latents`: an accepted clip's face crop → per-frame video latents and the first-frame latent.

Parses the arguments and runs talkhead.features.video_latents.video_latents_clip, whose module docstring
describes what it reads and writes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import VideoLatentsConfig
from talkhead.features.video_latents import video_latents_clip
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    cfg = VideoLatentsConfig.from_json(args.cfg)
    model = Path(args.model) if args.model else None
    meta = video_latents_clip(Path(args.crop), Path(args.quality), model, Path(args.out), cfg)
    return (f"video_latents {meta['clip']}: {meta['frames']} × ({meta['latent_shape']}) from {meta['extractor']} "
            f"{meta['checkpoint']} → {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.video_latents --crop DIR --quality DIR [--model DIR] --out FILE [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.video_latents", __doc__.splitlines()[0])
    parser.add_argument("--crop", required=True, help="the clip's crop folder, data/crop/{clip}")
    parser.add_argument("--quality", required=True, help="the clip's quality folder, data/quality/{clip}")
    parser.add_argument("--model", default="", help="the trained video VAE, data/models/video_vae (ignored "
                                                    "with backend autoencoder_kl, which loads cfg.checkpoint)")
    parser.add_argument("--out", required=True, help="data/features/{clip}/video_latents.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
