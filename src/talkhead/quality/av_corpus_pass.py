"""av_corpus: the corpus-level second A/V pass — a sync model fitted on the accepted clips re-measures each.

In quality (layer 3) with the model it runs, in a module of its own so talkhead.quality.av_corpus stays the model.

Reads every clip's data/quality/{clip}/quality.json (first-pass verdict and offset),
data/crop/{clip}/landmarks.npz and data/normalize/{clip}/audio.wav (the audio as it came, before any
shift); writes data/av_corpus/: offsets.csv (one row per re-measured clip: fold, the corpus
model's offset, confidence and status beside the first pass's, and `flag` when the two passes
disagree) and summary.json (ran or why not, clips, speakers, flags). The qc gate rejects flagged
clips as av_offset. Model and decision rules: talkhead.quality.av_corpus; docs/qc.md.

A clip is flagged when the corpus model measures it (`measured`), or finds it grossly out of sync
(`out_of_sync`: the value known to ±3 frames), and (a) the first pass measured it too, further away
than `av_corpus.tolerance` (3 frames for `out_of_sync`), or (b) the first pass left its audio
unshifted (uncertain) while the corpus model puts it beyond `quality.av_tolerance`. A clip that SyncNet
judged (`quality.syncnet_path`) is re-measured and reported but never flagged: SyncNet is the standard.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from talkhead.atomic import atomic_dir, atomic_path, write_json
from talkhead.config import AvCorpusConfig, QualityConfig
from talkhead.data.manifest import read_manifest
from talkhead.quality.av_corpus import CorpusSettings, clip_features, cross_fit
from talkhead.quality.measures import offset_settings
from talkhead.quality.sync import audio_features

log = logging.getLogger(__name__)
COLUMNS = ["clip", "speaker", "fold", "first_status", "first_offset", "av_offset_corpus", "av_confidence_corpus",
           "av_status_corpus", "av_reason_corpus", "flag", "flag_reason"]


def _first_pass(quality_dir: Path) -> dict[str, Any]:
    q = json.loads((quality_dir / "quality.json").read_text(encoding="utf-8"))
    return {"clip": q["clip"], "verdict": q["verdict"], **q.get("measures", {})}


def _flag(first: dict[str, Any], offset: int | None, status: str, cfg: AvCorpusConfig,
          qcfg: QualityConfig) -> str:
    """Why the two passes disagree on one clip ('' when they do not)."""
    if status not in ("measured", "out_of_sync") or offset is None or first.get("av_method") == "syncnet":
        return ""
    # an out-of-sync verdict vouches for the direction and size, not the frame: ±3 frames of slack
    slack = cfg.tolerance if status == "measured" else max(cfg.tolerance, 3)
    if first.get("av_status") == "measured":
        if abs(offset - int(first["av_offset_frames"])) > slack:
            return f"passes disagree: first {first['av_offset_frames']:+d}, corpus {offset:+d} ({status})"
        return ""
    if abs(offset) > qcfg.av_tolerance:
        return f"first pass uncertain and left the audio as is; corpus model: {offset:+d} ({status})"
    return ""


def _should_run(accepted: list[dict], speakers: dict[str, str], cfg: AvCorpusConfig) -> str:
    """'' to run, else why the pass is skipped."""
    if cfg.enabled is False:
        return "disabled (av_corpus.enabled: false)"
    n_clips, n_speakers = len(accepted), len({speakers[a["clip"]] for a in accepted})
    if n_speakers < 2:
        return f"{n_speakers} speaker(s) accepted: a model must be fitted on other speakers than it measures"
    if cfg.enabled == "auto" and (n_clips < cfg.min_clips or n_speakers < cfg.min_speakers):
        return (f"corpus too small for auto: {n_clips} clips of {n_speakers} speakers accepted "
                f"(needs {cfg.min_clips} clips, {cfg.min_speakers} speakers)")
    return ""


def run_av_corpus(quality_dirs: Sequence[Path], crop_root: Path, normalize_root: Path, out: Path,
                  cfg: AvCorpusConfig, qcfg: QualityConfig, manifest: Path | None = None) -> dict[str, Any]:
    """Fit, cross-measure and flag; write `out` atomically; return the summary."""
    rows = {r.clip_id: r.speaker for r in read_manifest(manifest)} if manifest else {}
    firsts = [_first_pass(Path(d)) for d in quality_dirs]
    speakers = {f["clip"]: rows.get(f["clip"], f["clip"]) for f in firsts}
    accepted = [f for f in firsts if f["verdict"] == "accept" and (crop_root / f["clip"] / "landmarks.npz").is_file()]
    why_not = _should_run(accepted, speakers, cfg)
    summary: dict[str, Any] = {"ran": not why_not, "reason": why_not, "clips": len(accepted),
                               "speakers": len({speakers[a["clip"]] for a in accepted}), "flagged": 0}
    table = pd.DataFrame(columns=COLUMNS)
    if not why_not:
        table = _measure_all(accepted, speakers, crop_root, normalize_root, cfg, qcfg)
        summary.update(flagged=int((table["flag"]).sum()),
                       measured=int((table["av_status_corpus"] == "measured").sum()),
                       out_of_sync=int((table["av_status_corpus"] == "out_of_sync").sum()),
                       folds=int(table["fold"].nunique()))
    with atomic_dir(out) as tmp:
        with atomic_path(tmp / "offsets.csv", suffix=".csv") as part:
            table.to_csv(part, index=False)
        write_json(tmp / "summary.json", summary)
    return summary


def _measure_all(accepted: list[dict], speakers: dict[str, str], crop_root: Path, normalize_root: Path,
                 cfg: AvCorpusConfig, qcfg: QualityConfig) -> pd.DataFrame:
    """One row per accepted clip: the cross-fitted corpus measure next to the first pass."""
    fps = int(accepted[0]["fps"])
    cs = CorpusSettings(components=cfg.components, context=cfg.context, ridge=cfg.ridge,
                        window=max(10, int(round(cfg.window_s * fps))), gross_margin=cfg.gross_margin)
    features = {}
    for first in accepted:
        clip = first["clip"]
        points = np.load(crop_root / clip / "landmarks.npz")["points"].astype(np.float32)
        samples, rate = sf.read(normalize_root / clip / "audio.wav", dtype="float32")
        features[clip] = clip_features(points, audio_features(samples, rate, fps, len(points)), cs)
    results = cross_fit(features, {c: speakers[c] for c in features}, cfg.folds, offset_settings(qcfg, fps), cs,
                        qcfg.av_tolerance)
    records = []
    for first in accepted:
        fold, o = results[first["clip"]]
        flag = _flag(first, o.frames, o.status, cfg, qcfg)
        records.append({"clip": first["clip"], "speaker": speakers[first["clip"]], "fold": fold,
                        "first_status": first.get("av_status"), "first_offset": first.get("av_offset_frames"),
                        "av_offset_corpus": o.frames, "av_confidence_corpus": round(o.confidence, 2),
                        "av_status_corpus": o.status, "av_reason_corpus": o.reason, "flag": bool(flag),
                        "flag_reason": flag})
    return pd.DataFrame.from_records(records, columns=COLUMNS).sort_values("clip", kind="stable")
