"""Stage `audio_hubert`: an accepted clip's A/V-aligned audio → HuBERT / wav2vec2 hidden states at 50 Hz.

Parses the arguments and runs talkhead.features.hubert.audio_hubert_clip, whose module docstring describes what
it reads, the data/features/{clip}/audio_hubert.safetensors it writes and the checkpoint recorded in it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import AudioHubertConfig
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    from talkhead.features.hubert import audio_hubert_clip  # torch: only when it runs, not for --help

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
