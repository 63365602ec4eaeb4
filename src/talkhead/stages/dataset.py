"""Stage `dataset`: the packed clips → data/dataset/metadata.parquet with speaker-disjoint splits.

One row per packed clip: clip, file (relative to data/dataset/), speaker, split, emotion, frames,
fps, segments, max_segment (frames of its longest segment), and per modality its extractor and
version. The split follows `dataset.split_policy` (talkhead.data.splits). The packed files are
validated (talkhead.data.validate: alignment, NaN/Inf, ranges, dtypes, rates) into Data Docs at
--report; a failed expectation is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from talkhead.atomic import atomic_dir, atomic_path, write_json
from talkhead.config import DatasetConfig
from talkhead.data.featurefile import read_features
from talkhead.data.shards import packed_files
from talkhead.data.splits import assign_splits
from talkhead.data.validate import validate_features
from talkhead.stages.common import run_stage, stage_parser


def metadata_table(packed: Sequence[Path], root: Path, cfg: DatasetConfig) -> pd.DataFrame:
    """The metadata rows of the packed files (paths relative to `root`), sorted by clip."""
    rows = []
    for path in packed:
        tensors, meta = read_features(path, keys=["segments"])
        seg = tensors["segments"]
        modalities = json.loads(meta["modalities"])
        rows.append({"clip": meta["clip"], "file": str(Path(path).resolve().relative_to(root.resolve())),
                     "speaker": meta["speaker"], "split": meta["split"], "emotion": meta["emotion"],
                     "frames": int(meta["frames"]), "fps": int(meta["fps"]), "segments": len(seg),
                     "max_segment": int((seg[:, 1] - seg[:, 0]).max()) if len(seg) else 0,
                     **{f"{m}_extractor": f"{v['extractor']}/{v['version']}" for m, v in modalities.items()}})
    table = pd.DataFrame(rows, columns=None if rows else ["clip", "file", "speaker", "split", "emotion", "frames",
                                                          "fps", "segments", "max_segment"])
    table = table.sort_values("clip", kind="stable").reset_index(drop=True)
    if len(table):
        table["split"] = assign_splits(table, cfg.split_policy, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    return table


def _main(args: argparse.Namespace) -> str:
    out = Path(args.out)
    packed = packed_files(args.packed)
    table = metadata_table(packed, out.parent, DatasetConfig.from_json(args.cfg))
    with atomic_path(out, suffix=".parquet") as part:
        table.to_parquet(part, index=False)
    if args.motion_stats:  # the training split's statistics travel with the dataset
        with atomic_path(out.parent / "motion_stats.safetensors", suffix=".safetensors") as part:
            shutil.copyfile(args.motion_stats, part)
    counts = table["split"].value_counts().to_dict() if len(table) else {}
    check = "skipped"
    if args.report:
        with atomic_dir(args.report) as tmp:
            summary = validate_features(packed, tmp)
        summary["report"] = str(Path(args.report) / "index.html")  # it was built in a temporary folder
        write_json(Path(args.report) / "validation.json", summary)
        check = "passed" if summary["success"] else f"FAILED ({len(summary['failed'])} expectations, see report)"
    return (f"dataset: {len(table)} clips ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}) → {out}; "
            f"feature validation {check}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m talkhead.stages.dataset --out data/dataset/metadata.parquet [--report DIR] [--motion-stats FILE]
    [--cfg JSON] PACKED..."""
    parser = stage_parser("talkhead.stages.dataset", __doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="data/dataset/metadata.parquet")
    parser.add_argument("--report", default="", help="folder for the validation Data Docs, data/dataset/report")
    parser.add_argument("--motion-stats", default="",
                        help="data/features/_stats/motion.safetensors, copied beside --out")
    parser.add_argument("packed", nargs="*", help="data/dataset/clips/{clip}.safetensors files, or pack shard "
                        "indices data/dataset/_shards/<shard>.csv")
    return run_stage(_main, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
