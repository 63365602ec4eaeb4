"""Rejections by reason, and for each reason a few sampled clips with the measures that decided it.

A clip rejected for several reasons counts under each. The sample of a reason is deterministic and
spread over the data: clips ordered by a hash of their id, the first `per_reason` taken, so the
thumbnails do not all come from the first speaker, and a report over 100,000 clips holds a bounded
number of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

# reason → the measures (data/qc/measures.csv columns) shown beside its thumbnails
REASON_MEASURES = {
    "unreadable": ("decode_errors",), "unavailable": (), "no_audio": ("has_audio", "audio_stream"),
    "silent_audio": ("loudness_db",), "no_speech": ("speech_fraction", "loudness_db"),
    "no_face": ("detection_rate", "face_coverage"), "multiple_faces": ("faces_max", "multi_face_rate"),
    "face_too_small": ("face_px", "face_frac"), "blurry": ("blur",), "too_short": ("duration_s",),
    "av_offset": ("av_offset_frames", "av_confidence", "av_offset_corpus", "av_confidence_corpus"),
    "av_uncertain": ("av_offset_frames", "av_confidence", "av_reason"), "scene_cut": ("scene_cuts",),
    "corrupt_stream": ("decode_errors", "corrupt_frames", "audio_gaps"), "stage_error": (),
}


@dataclass
class ReasonSample:
    """One rejection reason: how many clips it rejected and the sampled ones' measures (one dict per clip)."""

    reason: str
    count: int
    clips: list[dict] = field(default_factory=list)


def _order(clip: str) -> str:
    return hashlib.sha1(clip.encode("utf-8")).hexdigest()


def reason_samples(measures: pd.DataFrame, per_reason: int) -> list[ReasonSample]:
    """The rejected rows of the gate's measures grouped by reason (most frequent first), `per_reason` sampled each.

    Each sampled clip's dict holds clip, speaker, reasons and the reason's measures (None where not measured).
    """
    rejected = measures[measures["verdict"] != "accept"]
    exploded = rejected.assign(reason=rejected["reasons"].fillna("").astype(str).str.split("|")).explode("reason")
    exploded = exploded[exploded["reason"] != ""]
    counts = exploded["reason"].value_counts(sort=False)
    samples = []
    for reason in sorted(counts.index, key=lambda r: (-counts[r], r)):
        rows = exploded[exploded["reason"] == reason]
        picked = rows.assign(_order=rows["clip"].map(_order)).sort_values("_order").head(per_reason)
        columns = [c for c in REASON_MEASURES.get(reason, ()) if c in picked.columns]
        clips = [{"clip": r["clip"], "speaker": r.get("speaker", ""), "reasons": r["reasons"],
                  "measures": {c: (None if pd.isna(r[c]) else r[c]) for c in columns}}
                 for r in picked.to_dict("records")]
        samples.append(ReasonSample(reason, int(counts[reason]), clips))
    return samples
