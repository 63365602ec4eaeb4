"""The gate's tables (phase `qc`): every clip's quality.json → accepted.csv, rejected.csv, measures.csv and the report.

In quality (layer 3), not data (layer 1): the table is validated with talkhead.quality.report, which data may
not import. Each clip's verdict is talkhead.quality.gate's (in its quality.json); `gate` here gathers them.

accepted.csv and rejected.csv hold one row per clip with its split, speaker, reasons ('|'-joined)
and measures; measures.csv holds all rows; segments.csv the training segments of the accepted
clips (frame ranges that never span a scene cut, `quality.segment_min_s`..`segment_max_s` long). The Great
Expectations validation of the measures table (Data Docs HTML) goes to report/, its summary to
report/validation.json. A failed expectation is reported, not fatal: the tables are the gate's decision either way.

Given shard indices, write_shard_lists writes `_shards/<shard>.csv`, each shard's accepted clips (the clip
lists of the post-gate shard jobs, talkhead.stages.feature_shard), and write_train_list (the stage's --dataset-cfg)
`train.csv`, the accepted training-split clips the learned extractors (motion statistics, 3DMM
basis, video VAE) fit on. No planning step waits for these: every shard's list is a declared output.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from talkhead.atomic import atomic_dir, atomic_path, write_json
from talkhead.config import DatasetConfig, QualityConfig
from talkhead.data.manifest import read_manifest
from talkhead.data.shards import SHARDS_DIR

log = logging.getLogger(__name__)
COLUMNS = ["clip", "speaker", "split", "emotion", "verdict", "reasons", "duration_s", "frames", "face_px",
           "face_frac", "detection_rate", "face_coverage", "faces_max", "multi_face_rate", "blur", "has_audio",
           "audio_stream", "loudness_db", "speech_fraction", "scene_cuts", "segments", "segment_frames", "av_method",
           "av_offset_frames", "av_confidence", "av_status", "av_reason", "av_offset_syncnet", "av_confidence_syncnet",
           "av_offset_corpus", "av_confidence_corpus", "av_status_corpus", "av_shift_frames", "decode_errors",
           "corrupt_frames", "audio_gaps", "damaged_frames"]
SEGMENT_COLUMNS = ["clip", "segment", "start_frame", "end_frame", "start_s", "end_s", "speaker", "split", "emotion"]
THRESHOLD_KEYS = {"min_duration_s": "min_duration_s", "min_face_px": "min_face_px", "min_blur": "min_blur",
                  "min_loudness_db": "silence_db", "min_speech_fraction": "min_speech_fraction"}


def measures_table(quality_dirs: Sequence[Path], manifest: Path | None, av_corpus: Path | None = None) -> pd.DataFrame:
    """One row per clip from each folder's quality.json, joined with the manifest's speaker/split/emotion.

    With the second A/V pass's offsets.csv, its measure joins each row, and a clip it flagged is
    rejected as av_offset (the passes disagree on its sync).
    """
    rows = {r.clip_id: r for r in read_manifest(manifest)} if manifest else {}
    corpus = _corpus_rows(av_corpus)
    records = []
    for folder in quality_dirs:
        q = json.loads((Path(folder) / "quality.json").read_text(encoding="utf-8"))
        row, second = rows.get(q["clip"]), corpus.get(q["clip"], {})
        reasons = list(q["reasons"])
        if second.get("flag") and "av_offset" not in reasons:
            reasons.append("av_offset")
        records.append({"clip": q["clip"], "speaker": row.speaker if row else "", "split": row.split if row else "",
                        "emotion": row.emotion if row else "", **q.get("measures", {}),
                        "verdict": "reject" if reasons else "accept", "reasons": "|".join(reasons),
                        **{k: second.get(k) for k in ("av_offset_corpus", "av_confidence_corpus", "av_status_corpus")}})
    table = pd.DataFrame.from_records(records, columns=COLUMNS)
    return table.sort_values("clip", kind="stable").reset_index(drop=True)


def _corpus_rows(path: Path | None) -> dict[str, dict]:
    """{clip: row} of data/av_corpus/offsets.csv ({} without one, or when the pass did not run)."""
    if path is None or not Path(path).is_file():
        return {}
    table = pd.read_csv(path, dtype={"clip": str})
    table = table.astype(object).where(table.notna(), None)
    return {r["clip"]: r for r in table.to_dict("records")}


def segments_table(quality_dirs: Sequence[Path], accepted: pd.DataFrame) -> pd.DataFrame:
    """One row per training segment of every accepted clip: frames [start_frame, end_frame), seconds too."""
    meta = accepted.set_index("clip")
    records = []
    for folder in quality_dirs:
        q = json.loads((Path(folder) / "quality.json").read_text(encoding="utf-8"))
        if q["clip"] not in meta.index:
            continue
        fps = q["measures"]["fps"]
        row = meta.loc[q["clip"]]
        for k, (start, end) in enumerate(q.get("segments", [])):
            records.append({"clip": q["clip"], "segment": k, "start_frame": start, "end_frame": end,
                            "start_s": start / fps, "end_s": end / fps, "speaker": row["speaker"],
                            "split": row["split"], "emotion": row["emotion"]})
    table = pd.DataFrame.from_records(records, columns=SEGMENT_COLUMNS)
    return table.sort_values(["clip", "segment"], kind="stable").reset_index(drop=True)


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    with atomic_path(path, suffix=".csv") as part:
        table.to_csv(part, index=False, float_format="%.4g")


def gate(quality_dirs: Sequence[Path], out: Path, cfg: QualityConfig, manifest: Path | None,
         av_corpus: Path | None = None) -> dict:
    """Write the gate's tables and validation report into `out` (each file atomically); return a summary."""
    from talkhead.quality.report import validate_measures

    table = measures_table(quality_dirs, manifest, av_corpus)
    thresholds = {k: getattr(cfg, v) for k, v in THRESHOLD_KEYS.items()}
    thresholds.update(min_face_coverage=cfg.min_face_coverage, max_abs_av_offset_frames=cfg.av_max_lag,
                      max_faces=None if cfg.multiple_faces == "keep_track" else 1)
    with atomic_dir(out / "report") as report:
        validation = validate_measures(table, thresholds, report)
    validation["report"] = str(out / "report" / "index.html")  # it was built in a temporary folder
    write_json(out / "report" / "validation.json", validation)
    _write_csv(table, out / "measures.csv")
    _write_csv(table[table.verdict != "accept"], out / "rejected.csv")
    _write_csv(segments_table(quality_dirs, table[table.verdict == "accept"]), out / "segments.csv")
    _write_csv(table[table.verdict == "accept"], out / "accepted.csv")  # last: the checkpoint's output
    accepted = int((table.verdict == "accept").sum())
    reasons = table.loc[table.verdict != "accept", "reasons"].str.split("|").explode().value_counts()
    return {"clips": len(table), "accepted": accepted, "rejected": len(table) - accepted,
            "reasons": reasons.to_dict(), "validation_success": validation["success"]}


def write_shard_lists(indices: Sequence[Path], accepted: pd.DataFrame, out: Path) -> int:
    """The accepted clips of each quality shard index → `out/_shards/<shard>.csv`, the post-gate jobs' clip lists.

    Columns clip, ok (1), reasons and digest (empty: the lists are tracked whole, in data/qc), speaker, split,
    emotion (talkhead.stages.feature_shard);
    every shard gets its list, an empty one when none of its clips passed. Returns the number written."""
    from talkhead.atomic import write_text
    from talkhead.data.shards import LIST_COLUMNS, read_rows, rows_text

    meta = accepted.fillna("").astype(str).set_index("clip")
    for index in indices:
        rows = [{"clip": r["clip"], "ok": "1", "reasons": "",
                 **meta.loc[r["clip"], ["speaker", "split", "emotion"]].to_dict()}
                for r in read_rows(index) if r["clip"] in meta.index]
        write_text(out / SHARDS_DIR / index.name, rows_text(rows, LIST_COLUMNS))
    return len(indices)


def write_train_list(accepted: pd.DataFrame, manifest: Path, dataset_cfg: DatasetConfig, out: Path) -> int:
    """The clips the learned extractors fit on → `out`: the accepted training-split clips (clip, split).

    Splits as the dataset stage assigns them (talkhead.data.splits.manifest_splits, over the whole
    manifest); every accepted clip when none is in the training split (the fitted files record it)."""
    from talkhead.data.splits import manifest_splits

    splits = manifest_splits(read_manifest(manifest), dataset_cfg.split_policy, dataset_cfg.val_fraction,
                             dataset_cfg.test_fraction, dataset_cfg.seed)
    clips = list(accepted["clip"])
    table = pd.DataFrame({"clip": clips, "split": [splits.get(c, "train") for c in clips]}, columns=["clip", "split"])
    train = table[table.split == "train"]
    if train.empty and not table.empty:
        log.warning("no accepted clip is in the training split: the learned extractors fit on every accepted clip")
        train = table
    _write_csv(train, out)
    return len(train)
