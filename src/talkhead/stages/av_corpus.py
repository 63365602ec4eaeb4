"""Stage `av_corpus`: the corpus-level second A/V pass — a sync model fitted on the accepted clips re-measures each.

Parses the arguments and runs talkhead.quality.av_corpus_pass.run_av_corpus, whose module docstring
describes the inputs, the outputs in data/av_corpus/ (offsets.csv, summary.json) and when a clip is flagged.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from talkhead.config import AvCorpusConfig, QualityConfig
from talkhead.data.shards import clip_folders
from talkhead.quality.av_corpus_pass import run_av_corpus
from talkhead.stages.common import run_stage, stage_parser


def _main(args: argparse.Namespace) -> str:
    cfg = AvCorpusConfig.from_json(args.cfg)
    qcfg = QualityConfig.from_json(args.quality_cfg)
    s = run_av_corpus(clip_folders(args.quality), Path(args.crop_root), Path(args.normalize_root),
                      Path(args.out), cfg, qcfg, Path(args.manifest) if args.manifest else None)
    if not s["ran"]:
        return f"av_corpus: skipped — {s['reason']}"
    return (f"av_corpus: {s['clips']} clips of {s['speakers']} speakers re-measured in {s['folds']} folds; "
            f"{s['measured']} measured, {s['out_of_sync']} out of sync, {s['flagged']} flagged "
            "(disagree with the first pass)")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.av_corpus --out DIR --crop-root DIR --normalize-root DIR [--manifest CSV]
    QUALITY_DIR..."""
    parser = stage_parser("talkhead.stages.av_corpus", __doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder, data/av_corpus")
    parser.add_argument("--quality-cfg", default="", help="the quality params section as JSON")
    parser.add_argument("--crop-root", required=True, help="data/crop (landmarks.npz per clip)")
    parser.add_argument("--normalize-root", required=True, help="data/normalize (audio.wav per clip)")
    parser.add_argument("--manifest", default="", help="the manifest, for speakers (default: one speaker per clip)")
    parser.add_argument("quality", nargs="*", help="data/quality/{clip} folders, or shard indices "
                        "data/quality/_shards/<shard>.csv")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
