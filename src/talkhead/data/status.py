"""Per-clip status records: every per-clip stage writes `status.json` into its clip folder.

A record says whether the clip is still usable after this stage and, if not, which reason codes
(the QC vocabulary in docs/qc.md) stopped it. A later stage that finds an upstream record with
`ok: false` passes the reasons on without touching the media, so one bad clip costs nothing
downstream and never fails the run.

`write_summary` (the `summary` stage; data/normalize/summary.csv): one CSV row per clip folder of a phase,
from each folder's status.json. It is here, in data (layer 1), beside the records it reads: its other import,
talkhead.atomic, is lower.

`accepted_measures`: the gate's measures of a clip it accepted, from its data/quality/{clip}/quality.json, which
every post-gate clip function reads first (talkhead.features.*'s, data.pack's `pack`). It is here, in data
(layer 1), with the per-clip records, so that data.pack can call it; it imports nothing of talkhead.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from talkhead.atomic import atomic_path, write_json

STATUS_FILE = "status.json"

# The fixed vocabulary of rejection reasons (docs/qc.md documents each).
REASONS = (
    "unreadable", "unavailable", "no_audio", "silent_audio", "no_speech", "no_face", "multiple_faces",
    "face_too_small", "blurry", "too_short", "av_offset", "av_uncertain", "scene_cut", "corrupt_stream",
    "stage_error",
)


@dataclass
class ClipStatus:
    """What one stage concluded about one clip."""

    clip: str
    stage: str
    ok: bool
    reasons: list[str] = field(default_factory=list)
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [r for r in self.reasons if r not in REASONS]
        if unknown:
            raise ValueError(f"unknown reason code(s) {unknown}; allowed: {', '.join(REASONS)}")

    def write(self, folder: str | Path) -> Path:
        """Write `status.json` into `folder` (atomically) and return its path."""
        path = Path(folder) / STATUS_FILE
        write_json(path, asdict(self))
        return path


def read_status(folder: str | Path) -> ClipStatus:
    """Read the `status.json` of a clip folder."""
    data = json.loads((Path(folder) / STATUS_FILE).read_text(encoding="utf-8"))
    return ClipStatus(**data)


def pass_on(upstream: ClipStatus, stage: str, folder: Path) -> ClipStatus:
    """Record in `folder` that an upstream stage already rejected the clip (its reasons carried on)."""
    status = ClipStatus(upstream.clip, stage, False, upstream.reasons, f"upstream: {upstream.message}",
                        {"rejected_at": upstream.details.get("rejected_at", upstream.stage)})
    status.write(folder)
    return status


def ingested_file(ingest_dir: str | Path, status: ClipStatus) -> Path:
    """The media file an ingest record points at: the referenced original, or the copy in the clip folder.

    A referenced original must still be the file ingest checksummed: FileNotFoundError if it is gone,
    ValueError if its size or modification time changed since (re-run ingest for that clip).
    """
    details = status.details
    if not details.get("path"):
        return Path(ingest_dir) / details["file"]
    path = Path(details["path"])
    stat = path.stat()  # FileNotFoundError when the original was removed
    if stat.st_size != details.get("size_bytes") or stat.st_mtime_ns != details.get("mtime_ns", stat.st_mtime_ns):
        raise ValueError(f"{path} changed since it was ingested (size or modification time differs from the "
                         "record); re-run ingest for this clip")
    return path


def write_summary(folders: Sequence[Path], out: Path) -> tuple[int, int]:
    """Write `out` (clip, stage, ok, reasons, message, details as JSON); return (clips, ok clips)."""
    statuses = sorted((read_status(f) for f in folders), key=lambda s: s.clip)
    with atomic_path(out, suffix=".csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["clip", "stage", "ok", "reasons", "message", "details"])
        for s in statuses:
            writer.writerow([s.clip, s.stage, int(s.ok), "|".join(s.reasons), s.message,
                             json.dumps(s.details, sort_keys=True)])
    return len(statuses), sum(s.ok for s in statuses)


def accepted_measures(quality_dir: Path) -> dict:
    """The gate's measures of a clip it accepted (with `clip`); ValueError for a rejected clip.

    Feature stages run only on accepted clips (the qc checkpoint), so a rejected one here is a
    wiring error worth stopping for, not a data problem.
    """
    q = json.loads((Path(quality_dir) / "quality.json").read_text(encoding="utf-8"))
    if q["verdict"] != "accept":
        raise ValueError(f"{quality_dir}: clip {q['clip']} was rejected ({', '.join(q['reasons'])})")
    return {**q["measures"], "clip": q["clip"]}
