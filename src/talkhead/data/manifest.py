"""The dataset manifest: one row per clip (clip_id, source, start, end, speaker, split[, emotion]).

Validated against `schemas/manifest.schema.yaml`, and every problem of the file is reported at once,
each line naming the row and the column. Clip ids start with a letter or digit and hold only
letters, digits, `_` and `-` (`^[A-Za-z0-9][A-Za-z0-9_-]*$`): an id can never escape its data folder
nor read as an option (`--clip -x`). Hyphens inside an id stay allowed (YouTube ids carry them).
Times must be finite, start ≥ 0 and start < end; a column the manifest does not know is an error
with a "did you mean" (a misspelt `emotion` column would otherwise label every row `none`).
"""

from __future__ import annotations

import csv
import difflib
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from talkhead.config import ConfigError, load_schema, validate

CLIP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com", "youtu.be",
                           "www.youtu.be", "youtube-nocookie.com", "www.youtube-nocookie.com"})
REQUIRED = ("clip_id", "source", "start", "end", "speaker", "split")
COLUMNS = (*REQUIRED, "emotion")
MAX_LISTED = 20  # problems listed in one error before "and N more"


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
            return "youtube" if host in YOUTUBE_HOSTS else "url"
        if YOUTUBE_ID.match(self.source) and not Path(self.source).suffix:
            return "youtube"
        return "local"


def _number(value: str, column: str, where: str, allow_empty: bool) -> float | None:
    if value.strip() == "" and allow_empty:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ManifestError(f"{where}: column '{column}' must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ManifestError(f"{where}: column '{column}' must be a finite number of seconds, got {value!r}")
    return number


_TYPES = {"string": (str,), "number": (int, float), "null": (type(None),)}
_KEYWORDS = {"type", "pattern", "minLength", "enum", "minimum", "exclusiveMinimum", "description"}


@functools.lru_cache(maxsize=None)
def _row_check(schema_name: str = "manifest.schema.yaml") -> Callable[[dict], bool]:
    """A plain-Python test of one row against the manifest schema (the keywords it uses), built once.

    jsonschema costs ~1 ms a row, so a 100,000-row manifest took minutes to read; this check costs
    microseconds, and a row it refuses still goes through jsonschema for the message. A schema
    keyword or type it does not know makes it refuse every row, so jsonschema stays the judge.
    """
    schema = load_schema(schema_name)
    props = schema["properties"]
    types = {name: [p["type"]] if isinstance(p.get("type"), str) else p.get("type", []) for name, p in props.items()}
    if set(schema) - {"$schema", "title", "type", "additionalProperties", "required", "properties"} or any(
            set(p) - _KEYWORDS for p in props.values()) or any(set(t) - _TYPES.keys() for t in types.values()):
        return lambda values: False
    tests = [(name, tuple(k for t in types[name] for k in _TYPES[t]),
              re.compile(p["pattern"]) if "pattern" in p else None, p.get("minLength"), p.get("enum"),
              p.get("minimum"), p.get("exclusiveMinimum")) for name, p in props.items()]
    required = set(schema.get("required", []))

    def check(values: dict) -> bool:
        if not required <= values.keys() or not values.keys() <= props.keys():
            return False
        for name, kinds, pattern, min_len, enum, minimum, exclusive in tests:
            if name not in values:
                continue
            v = values[name]
            if kinds and (not isinstance(v, kinds) or isinstance(v, bool)):
                return False
            if isinstance(v, str):
                if (pattern and not pattern.search(v)) or (min_len is not None and len(v) < min_len):
                    return False
            elif isinstance(v, (int, float)):
                if (minimum is not None and v < minimum) or (exclusive is not None and v <= exclusive):
                    return False
            if enum is not None and v not in enum:
                return False
        return True

    return check


def _row(raw: dict[str, str], where: str) -> ManifestRow:
    missing = [c for c in REQUIRED if c not in raw or raw[c] is None]
    if missing:
        raise ManifestError(f"{where}: missing value(s) in column(s) {', '.join(missing)}")
    clip_id = raw["clip_id"].strip()
    if not CLIP_ID.match(clip_id):
        raise ManifestError(f"{where}: column 'clip_id': {clip_id!r} is not allowed; start with a letter or digit "
                            "and use only letters, digits, '_' and '-'")
    values = {
        "clip_id": clip_id,
        "source": raw["source"].strip(),
        "start": _number(raw["start"], "start", where, allow_empty=True) or 0.0,
        "end": _number(raw["end"], "end", where, allow_empty=True),
        "speaker": raw["speaker"].strip(),
        "split": raw["split"].strip(),
        "emotion": (raw.get("emotion") or "").strip() or "none",
    }
    checked = values
    if not _row_check()(values):  # jsonschema only for a row that fails: it words the problem
        try:
            checked = validate(values, load_schema("manifest.schema.yaml"), where)
        except ConfigError as exc:
            raise ManifestError(str(exc)) from None
    if checked["end"] is not None and checked["end"] <= checked["start"]:
        raise ManifestError(f"{where}: column 'end' ({checked['end']}) must be greater than column 'start' "
                            f"({checked['start']})")
    return ManifestRow(**checked)


def _header_problems(path: Path, header: list[str]) -> list[str]:
    """Missing required columns, and unknown ones with the closest known name."""
    problems = []
    absent = [c for c in REQUIRED if c not in header]
    if absent:
        problems.append(f"{path}:1: header lacks column(s) {', '.join(absent)} (has: {', '.join(header)})")
    for name in header:
        if name not in COLUMNS:
            close = difflib.get_close_matches(name, COLUMNS, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(COLUMNS)})"
            problems.append(f"{path}:1: unknown column '{name}'{hint}")
    return problems


def _raise_all(path: Path, problems: list[str]) -> None:
    if problems:
        listed = problems[:MAX_LISTED]
        more = f"\n... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise ManifestError(f"{path}: {len(problems)} problem(s) in the manifest:\n" + "\n".join(listed) + more)


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Parse and validate a manifest CSV; raise ManifestError listing every bad row and column."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        _raise_all(path, _header_problems(path, header))
        rows, problems = [], []
        for i, raw in enumerate(reader):
            try:
                rows.append((i + 2, _row({k.strip(): v for k, v in raw.items() if k}, f"{path}:{i + 2}")))
            except ManifestError as exc:
                problems.append(str(exc))
    first_row: dict[str, int] = {}
    for line, row in rows:
        if row.clip_id in first_row:
            problems.append(f"{path}:{line}: column 'clip_id': duplicate {row.clip_id!r} (first at row "
                            f"{first_row[row.clip_id]})")
        first_row.setdefault(row.clip_id, line)
    _raise_all(path, problems)
    if not rows:
        raise ManifestError(f"{path}: manifest has no rows")
    return [row for _, row in rows]


def resolve_local_source(row: ManifestRow, manifest_path: str | Path) -> Path:
    """A local source path; relative paths are taken from the manifest's own folder."""
    src = Path(row.source).expanduser()
    return src if src.is_absolute() else (Path(manifest_path).resolve().parent / src)


def speaker_key(speaker: str) -> str:
    """A file-name-safe key for a speaker id: its safe characters plus a short hash of the full id."""
    import hashlib
    import re

    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", speaker).strip("_-")[:40] or "speaker"
    return f"{safe}-{hashlib.sha1(speaker.encode('utf-8')).hexdigest()[:6]}"
