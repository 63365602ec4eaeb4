"""Stage `audio_hubert`: an accepted clip's A/V-aligned audio → HuBERT / wav2vec2 hidden states at 50 Hz.

Reads data/quality/{clip}/audio.wav and quality.json; writes data/features/{clip}/audio_hubert.safetensors
with `hidden` (2·T, L, D) float16 (L the kept layers). The checkpoint (`audio_hubert.checkpoint`, a
local folder or a hub id already in the local cache) is recorded in the metadata with a hash of its
weights, so features from different weights are never mixed up.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf

from talkhead.config import AudioHubertConfig, ConfigError
from talkhead.data.featurefile import write_features
from talkhead.data.status import accepted_measures
from talkhead.stages.common import run_stage, stage_parser


def audio_hubert_clip(quality_dir: Path, out: Path, cfg: AudioHubertConfig, encoder=None) -> dict:
    """Encode one accepted clip (loading the encoder unless one is given); return its metadata."""
    from talkhead.features import hubert

    if not cfg.checkpoint:
        raise ConfigError("audio_hubert.checkpoint is empty: set it to a HuBERT/wav2vec2 folder or hub id")
    m = accepted_measures(quality_dir)
    samples, rate = sf.read(quality_dir / "audio.wav", dtype="float32")
    encoder = encoder or hubert.load_audio_encoder(cfg.checkpoint, cfg.device, cfg.dtype)
    hidden = hubert.encode(encoder, samples, m["frames"], m["fps"], rate, cfg.layers or None, cfg.chunk_s,
                           cfg.overlap_s)  # (2T, L, D) float16
    meta = {"clip": m["clip"], "modality": "audio_hubert", "rate_hz": 50, "frames": m["frames"],
            "extractor": encoder.name, "version": hubert.VERSION, "checkpoint": encoder.identity,
            "layers": ",".join(map(str, cfg.layers)) or "all"}
    write_features(out, {"hidden": hidden}, meta)
    return {**meta, "shape": hidden.shape}


def _main(args: argparse.Namespace) -> str:
    meta = audio_hubert_clip(Path(args.quality), Path(args.out), AudioHubertConfig.from_json(args.cfg))
    return f"audio_hubert {meta['clip']}: {meta['shape']} from {meta['checkpoint']} → {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.audio_hubert --quality DIR --out FILE [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.audio_hubert", __doc__.splitlines()[0])
    parser.add_argument("--quality", required=True, help="the clip's quality folder, data/quality/{clip}")
    parser.add_argument("--out", required=True, help="data/features/{clip}/audio_hubert.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
