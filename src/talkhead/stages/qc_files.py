"""`talkhead qc`: the pipeline's own stages on a handful of files, no manifest, one JSON verdict each.

Each input goes through ingest → normalize → faces → crop → quality with the same stage code and
params as the Snakemake pipeline, in a work folder under the output (kept with --keep). Anything
that goes wrong with one input becomes a verdict with a reason; the next input still runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from talkhead.atomic import write_json
from talkhead.config import section_config
from talkhead.data.ingest import ingest_clip
from talkhead.data.manifest import ManifestRow
from talkhead.data.status import ClipStatus
from talkhead.faces.crop_pass import crop_clip
from talkhead.faces.find import faces_clip
from talkhead.media.probe import MediaError
from talkhead.quality.clip import one_line, quality_clip
from talkhead.quality.normalize import normalize_clip

log = logging.getLogger(__name__)


def clip_id_for(path: Path) -> str:
    """A valid clip id for any file: its name's safe characters plus a short hash of its absolute path."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", path.name).strip("_-")[:60] or "clip"
    return f"{name}_{_path_hash(path)}"


def _path_hash(path: Path) -> str:
    return hashlib.sha1(str(path.absolute()).encode("utf-8")).hexdigest()[:6]


def report_names(files: list[Path]) -> list[str]:
    """One report file name per input that no other input shares: `<name>.json`, `<name>-<hash>.json` on a clash."""
    counts: dict[str, int] = {}
    for f in files:
        counts[f.name] = counts.get(f.name, 0) + 1
    return [f"{f.name}.json" if counts[f.name] == 1 else f"{f.name}-{_path_hash(f)}.json" for f in files]


def _report(status: ClipStatus, source: Path, quality_json: Path | None) -> dict[str, Any]:
    """The per-file JSON: verdict, reasons and the measures the quality stage took."""
    q = json.loads(quality_json.read_text(encoding="utf-8")) if quality_json and quality_json.is_file() else {}
    m = q.get("measures", {})
    return {"file": str(source), "clip": status.clip, "verdict": "accept" if status.ok else "reject",
            "reasons": status.reasons, "av_status": m.get("av_status"), "av_offset_frames": m.get("av_offset_frames"),
            "av_shift_frames": m.get("av_shift_frames", 0), "face_px": m.get("face_px"),
            "speech_fraction": m.get("speech_fraction"), "blur": m.get("blur"), "message": status.message,
            "measures": m}


def qc_file(source: Path, work: Path, params: dict[str, Any]) -> tuple[dict[str, Any], ClipStatus]:
    """Run every preprocessing stage on one file inside `work`; return (report, final status)."""
    cfg = {name: section_config(params, name) for name in ("ingest", "normalize", "faces", "crop", "quality")}
    clip = clip_id_for(source)
    source = source.absolute()  # not resolved: the ingest stage names a link loop or a directory itself
    row = ManifestRow(clip, str(source), 0.0, None, "qc", "train", "none")
    dirs = {stage: work / stage / clip for stage in ("ingest", "normalize", "faces", "crop", "quality")}
    status = ingest_clip(row, source, dirs["ingest"], cfg["ingest"])
    if status.ok:
        status = normalize_clip(dirs["ingest"], dirs["normalize"], cfg["normalize"])
    if status.ok:
        faces_clip(dirs["normalize"], dirs["faces"], cfg["faces"])
        crop_clip(dirs["faces"], dirs["normalize"], dirs["crop"], cfg["crop"])
        status = quality_clip(dirs["normalize"], dirs["faces"], dirs["crop"], dirs["quality"],
                              cfg["quality"])
    return _report(status, source, dirs["quality"] / "quality.json"), status


def run_qc(files: list[Path], out: Path, params: dict[str, Any], keep: bool = False) -> list[dict[str, Any]]:
    """QC every file; write one report per input (`report_names`) and print one line per file. Never raises for a bad
    input."""
    out.mkdir(parents=True, exist_ok=True)
    work = out / ".work"
    reports = []
    for source, name in zip(files, report_names(files)):
        try:
            report, status = qc_file(source, work, params)
            line = one_line(status)
        except Exception as exc:  # noqa: BLE001 — one file's failure is its verdict, never the run's end
            expected = isinstance(exc, (MediaError, OSError, ValueError))
            log.error("%s: %s: %s", source, type(exc).__name__, exc)
            if not expected:
                log.debug("%s: unexpected failure", source, exc_info=True)
            reason = exc.reason if isinstance(exc, MediaError) else "unreadable"
            report = {"file": str(source), "clip": clip_id_for(source), "verdict": "reject", "reasons": [reason],
                      "av_status": None, "av_offset_frames": None, "av_shift_frames": 0, "face_px": None,
                      "speech_fraction": None, "blur": None, "message": f"{type(exc).__name__}: {exc}", "measures": {}}
            line = f"{report['clip']}: reject ({reason}) — {report['message']}"
        report["report"] = name
        write_json(out / name, report)
        print(f"{source}: {line.split(': ', 1)[1]}", flush=True)
        reports.append(report)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return reports
