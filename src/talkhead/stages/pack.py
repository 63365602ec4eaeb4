"""Stage `pack`: an accepted clip's modalities, reference frame, segments → data/dataset/clips/{clip}.safetensors."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from talkhead.data.manifest import ManifestRow
from talkhead.data.pack import pack_clip
from talkhead.media.decode import iter_frames_cfr
from talkhead.data.status import accepted_measures
from talkhead.stages.common import run_stage, stage_parser


def pack(features: list[Path], crop_dir: Path, quality_dir: Path, labels: dict[str, str], out: Path) -> dict:
    """Pack one clip; `labels` holds its speaker, split and emotion (from the manifest row)."""
    m = accepted_measures(quality_dir)
    q = json.loads((quality_dir / "quality.json").read_text(encoding="utf-8"))
    reference = next(iter_frames_cfr(crop_dir / "crop.mp4", m["fps"]))  # (H, W, 3) the crop's first frame
    segments = np.array(q.get("segments") or [[0, m["frames"]]], np.int32).reshape(-1, 2)  # (S, 2)
    info = {"clip": m["clip"], "frames": m["frames"], "fps": m["fps"], "speaker": labels["speaker"],
            "split": labels["split"], "emotion": labels["emotion"]}
    return pack_clip(features, reference, segments, out, info)


def _main(args: argparse.Namespace) -> str:
    row = ManifestRow(**json.loads(args.row))
    labels = {"speaker": row.speaker, "split": row.split, "emotion": row.emotion}
    meta = pack([Path(f) for f in args.features], Path(args.crop), Path(args.quality), labels, Path(args.out))
    return f"pack {meta['clip']}: {meta['frames']} frames, {', '.join(json.loads(meta['modalities']))} → {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.pack --crop DIR --quality DIR --row JSON --out FILE FEATURE_FILE..."""
    parser = stage_parser("talkhead.stages.pack", __doc__.splitlines()[0])
    parser.add_argument("--crop", required=True, help="data/crop/{clip}")
    parser.add_argument("--quality", required=True, help="data/quality/{clip}")
    parser.add_argument("--row", required=True, help="the clip's manifest row as JSON")
    parser.add_argument("--out", required=True, help="data/dataset/clips/{clip}.safetensors")
    parser.add_argument("features", nargs="+", help="data/features/{clip}/<modality>.safetensors files")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
