"""The dataset's metadata: the packed clips → the rows of data/dataset/metadata.parquet with speaker-disjoint splits.

In data (layer 1), beside what it reads and calls (talkhead.data.featurefile, talkhead.data.splits); not in
talkhead.data.dataset, the training dataset that reads this table (and imports torch).

One row per packed clip: clip, file (relative to data/dataset/), speaker, split, emotion, frames,
fps, segments, max_segment (frames of its longest segment), and per modality its extractor and
version. The split follows `dataset.split_policy` (talkhead.data.splits).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from talkhead.config import DatasetConfig
from talkhead.data.featurefile import read_features
from talkhead.data.splits import assign_splits


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
