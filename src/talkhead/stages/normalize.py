"""Stage `normalize`: one clip → its constant-frame-rate video plan, mono 16-bit PCM audio, and probe.json.

Parses the arguments and runs talkhead.quality.normalize.normalize_clip, whose docstring describes the
outputs in data/normalize/{clip}/ (video.json, audio.wav, probe.json, status.json).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import NormalizeConfig
from talkhead.quality.normalize import normalize_clip
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    cfg = NormalizeConfig.from_json(args.cfg)
    status = normalize_clip(Path(args.ingest), Path(args.out), cfg)
    if not status.ok:
        return f"normalize {status.clip}: rejected ({', '.join(status.reasons)}) — {status.message}"
    d = status.details
    if not d["has_audio"]:
        return (f"normalize {status.clip}: {d['frames']} frames {d['width']}x{d['height']} @ {d['fps']} fps, "
                "no audio stream")
    return (f"normalize {status.clip}: {d['frames']} frames {d['width']}x{d['height']} @ {d['fps']} fps, "
            f"audio {d['sample_rate']} Hz")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.normalize --ingest DIR --out DIR [--cfg JSON]."""
    parser = stage_parser("talkhead.stages.normalize", __doc__.splitlines()[0])
    parser.add_argument("--ingest", required=True, help="the clip's ingest folder, data/ingest/{clip}")
    parser.add_argument("--out", required=True, help="output clip folder, data/normalize/{clip}")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
