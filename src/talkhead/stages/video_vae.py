"""Stage `video_vae`: train the offline video autoencoder on the training split's face crops.

Reads data/crop/{clip}/crop.mp4 of every clip given; writes data/models/video_vae/ atomically:
config.json (architecture, training settings, clips, final losses, latent scaling factor),
model.safetensors (the weights) and loss.csv (step, loss, recon, kl: a DVC plot). The training checkpoints
every 100 steps in data/models/.video_vae.run/ (removed once the folder is written), so a killed job
started again goes on from its last checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path

from talkhead.atomic import atomic_dir
from talkhead.config import ConfigError, VideoVaeConfig
from talkhead.data.shards import listed_paths
from talkhead.models.video_vae import VideoVAESpec
from talkhead.stages.common import run_stage, stage_parser


def video_vae_train(crop_dirs: Sequence[Path], out: Path, cfg: VideoVaeConfig, log_every: int = 10) -> dict:
    """Train on the crops in `crop_dirs` and write the model folder `out`; return the training summary."""
    from talkhead.train.video_vae import train_video_vae
    from talkhead.models.checkpoint import deterministic

    try:
        spec = VideoVAESpec.from_dict(dataclasses.asdict(cfg))
    except ValueError as exc:
        raise ConfigError(f"video_vae: {exc}") from None
    files = [Path(d) / "crop.mp4" for d in crop_dirs]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"video_vae: crop videos not found: {', '.join(missing)}")
    run_dir = run_folder(out)  # beside the model folder: a workflow manager deletes a failed job's outputs
    with deterministic(), atomic_dir(out) as tmp:
        summary = train_video_vae(files, spec, cfg, tmp, log_every, run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)  # the model folder is complete: nothing left to resume
    return summary


def run_folder(out: Path) -> Path:
    """Where the resumable training of model folder `out` keeps its checkpoints: `.<name>.run` beside it."""
    return Path(out).parent / f".{Path(out).name}.run"


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
