"""Stage `video_latents`: an accepted clip's face crop → per-frame video latents and the first-frame latent.

Reads data/crop/{clip}/crop.mp4, data/quality/{clip}/quality.json and (backend video_vae) the
trained data/models/video_vae/; writes data/features/{clip}/video_latents.safetensors with
`latents` (T, C, h, w) float16, one per video frame, and `clip_first_frame` (C, h, w) float16
(the `clip_` prefix marks a per-clip tensor without a time axis). The metadata's `checkpoint` is
the sha256 of the encoder's weights, so latents from different weights are never mixed up.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from talkhead.config import VideoLatentsConfig
from talkhead.data.featurefile import write_features
from talkhead.data.status import accepted_measures
from talkhead.stages.common import run_stage, stage_parser

if TYPE_CHECKING:
    from talkhead.features.video_latents import LatentEncoder


def video_latents_clip(crop_dir: Path, quality_dir: Path, model_dir: Path | None, out: Path,
                       cfg: VideoLatentsConfig, encoder: LatentEncoder | None = None) -> dict:
    """Encode one accepted clip's crop (loading the encoder unless one is given); return its metadata."""
    from talkhead.features import video_latents
    from talkhead.models.checkpoint import deterministic

    m = accepted_measures(quality_dir)
    encoder = encoder or video_latents.load_encoder(cfg, model_dir)
    with deterministic():
        latents, first = video_latents.encode_clip(encoder, crop_dir / "crop.mp4", m["fps"], m["frames"],
                                                   cfg.batch_frames)  # (T, C, h, w), (C, h, w) float16
    meta = {"clip": m["clip"], "modality": "video_latents", "rate_hz": m["fps"], "frames": m["frames"],
            "extractor": encoder.name, "version": video_latents.VERSION, "checkpoint": encoder.identity,
            "latent_shape": ",".join(map(str, latents.shape[1:])), "size": encoder.size,
            "scaling_factor": f"{encoder.scaling_factor:.6g}"}
    write_features(out, {"latents": latents, "clip_first_frame": first}, meta)
    return meta


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
