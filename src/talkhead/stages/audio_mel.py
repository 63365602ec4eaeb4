"""Stage `audio_mel`: an accepted clip's A/V-aligned audio → 80-bin log-mel at 100 Hz (4 rows per video frame).

Parses the arguments and runs talkhead.features.mel.audio_mel_clip, whose module docstring describes what it
reads and the data/features/{clip}/audio_mel.safetensors it writes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import AudioMelConfig
from talkhead.features.mel import audio_mel_clip
from talkhead.stages.common import run_stage, stage_parser


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
