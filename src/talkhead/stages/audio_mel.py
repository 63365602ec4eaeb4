"""Stage `audio_mel`: an accepted clip's A/V-aligned audio → 80-bin log-mel at 100 Hz (4 rows per video frame).

Reads data/quality/{clip}/ (audio.wav, shifted when the gate corrected an offset; quality.json for
the frame count); writes data/features/{clip}/audio_mel.safetensors with `mel` (4·T, 80) float32.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf

from talkhead.config import AudioMelConfig
from talkhead.data.featurefile import write_features
from talkhead.features import mel
from talkhead.data.status import accepted_measures
from talkhead.stages.common import run_stage, stage_parser


def audio_mel_clip(quality_dir: Path, out: Path, cfg: AudioMelConfig) -> dict:
    """Compute and write the log-mel of one accepted clip; return its metadata."""
    m = accepted_measures(quality_dir)
    samples, rate = sf.read(quality_dir / "audio.wav", dtype="float32")
    if rate != mel.SAMPLE_RATE:
        raise ValueError(f"{quality_dir / 'audio.wav'}: {rate} Hz, log-mel needs {mel.SAMPLE_RATE}")
    feats = mel.log_mel(samples, m["frames"], m["fps"], cfg.backend)  # (4T, 80)
    meta = {"clip": m["clip"], "modality": "audio_mel", "rate_hz": 100, "frames": m["frames"],
            "extractor": "log-mel", "version": mel.VERSION, "checkpoint": ""}
    write_features(out, {"mel": feats}, meta)
    return meta


def _main(args: argparse.Namespace) -> str:
    meta = audio_mel_clip(Path(args.quality), Path(args.out), AudioMelConfig.from_json(args.cfg))
    return f"audio_mel {meta['clip']}: {4 * meta['frames']} × 80 log-mel → {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.audio_mel --quality DIR --out FILE [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.audio_mel", __doc__.splitlines()[0])
    parser.add_argument("--quality", required=True, help="the clip's quality folder, data/quality/{clip}")
    parser.add_argument("--out", required=True, help="data/features/{clip}/audio_mel.safetensors")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
