"""The dataset manifest: one row per clip (clip_id, source, start, end, speaker, split[, emotion]).

Validated against `schemas/manifest.schema.yaml`. Clip ids are restricted to `[A-Za-z0-9_-]+` so a
clip id can never escape its data folder; anything else is refused with the row number.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from talkhead.config import ConfigError, load_schema, validate

CLIP_ID = re.compile(r"^[A-Za-z0-9_-]+$")
YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
REQUIRED = ("clip_id", "source", "start", "end", "speaker", "split")


class ManifestError(ConfigError):
    """The manifest file is malformed; the message names the row and column."""


@dataclass(frozen=True)
class ManifestRow:
    """One clip of the manifest; `end` None means 'to the end of the source'."""

    clip_id: str
    source: str
    start: float
    end: float | None
    speaker: str
    split: str
    emotion: str

    def source_kind(self) -> str:
        """'url' for http(s), 'youtube' for YouTube ids/URLs, otherwise 'local'."""
        parsed = urlparse(self.source)
        host = (parsed.hostname or "").lower()
        if parsed.scheme in ("http", "https"):
            return "youtube" if host.endswith(("youtube.com", "youtu.be")) else "url"
        if YOUTUBE_ID.match(self.source) and not Path(self.source).suffix:
            return "youtube"
        return "local"


def _number(value: str, column: str, where: str, allow_empty: bool) -> float | None:
    if value.strip() == "" and allow_empty:
        return None
    try:
        return float(value)
    except ValueError:
        raise ManifestError(f"{where}: column '{column}' must be a number, got {value!r}") from None


def _row(raw: dict[str, str], where: str) -> ManifestRow:
    missing = [c for c in REQUIRED if c not in raw or raw[c] is None]
    if missing:
        raise ManifestError(f"{where}: missing column(s) {', '.join(missing)}")
    clip_id = raw["clip_id"].strip()
    if not CLIP_ID.match(clip_id):
        raise ManifestError(f"{where}: clip_id {clip_id!r} is not allowed; use only letters, digits, '_' and '-'")
    values = {
        "clip_id": clip_id,
        "source": raw["source"].strip(),
        "start": _number(raw["start"], "start", where, allow_empty=True) or 0.0,
        "end": _number(raw["end"], "end", where, allow_empty=True),
        "speaker": raw["speaker"].strip(),
        "split": raw["split"].strip(),
        "emotion": (raw.get("emotion") or "").strip() or "none",
    }
    try:
        checked = validate(values, load_schema("manifest.schema.yaml"), where)
    except ConfigError as exc:
        raise ManifestError(str(exc)) from None
    if checked["end"] is not None and checked["end"] <= checked["start"]:
        raise ManifestError(f"{where}: end ({checked['end']}) must be greater than start ({checked['start']})")
    return ManifestRow(**checked)


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Parse and validate a manifest CSV; raise ManifestError naming the first bad row."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        absent = [c for c in REQUIRED if c not in header]
        if absent:
            raise ManifestError(f"{path}: header lacks column(s) {', '.join(absent)} (has: {', '.join(header)})")
        rows = [_row({k.strip(): v for k, v in raw.items() if k}, f"{path}:{i + 2}") for i, raw in enumerate(reader)]
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if row.clip_id in seen:
            raise ManifestError(f"{path}:{i + 2}: duplicate clip_id {row.clip_id!r}")
        seen.add(row.clip_id)
    if not rows:
        raise ManifestError(f"{path}: manifest has no rows")
    return rows


def resolve_local_source(row: ManifestRow, manifest_path: str | Path) -> Path:
    """A local source path; relative paths are taken from the manifest's own folder."""
    src = Path(row.source).expanduser()
    return src if src.is_absolute() else (Path(manifest_path).resolve().parent / src)


def speaker_key(speaker: str) -> str:
    """A file-name-safe key for a speaker id: its safe characters plus a short hash of the full id."""
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", speaker).strip("_")[:40] or "speaker"
    return f"{safe}-{hashlib.sha1(speaker.encode('utf-8')).hexdigest()[:6]}"
