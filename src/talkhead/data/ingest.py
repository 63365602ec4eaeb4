"""Ingest: bring one manifest source into data/ingest/{clip}/ and record its size and sha256.

In data (layer 1), not media: a manifest row in, the clip's status record out (media.probe is a sideways import).

Local files are referenced in place (`ingest.local: reference`, the default: status.json records the
resolved path, size, mtime and sha256), copied, or hard-linked; http(s) files are downloaded and
YouTube ids/URLs fetched with yt-dlp, retried with exponential backoff. A source that cannot be had
becomes a status record — `unavailable` (missing, a symbolic-link loop, not readable, a failed
download) or `unreadable` (a directory) — never a failed job.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from talkhead.atomic import atomic_dir
from talkhead.config import IngestConfig
from talkhead.data.manifest import ManifestRow, resolve_local_source
from talkhead.data.status import ClipStatus
from talkhead.media.probe import MediaError, check_local_file

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def sha256sum(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_local(src: Path, dest_dir: Path, mode: str) -> Path:
    """The local source as `mode` says: the resolved original (reference), or a copy / hard link in `dest_dir`."""
    original = check_local_file(src)
    if mode == "reference":
        return original
    dest = dest_dir / ("raw" + original.suffix.lower())
    if mode == "hardlink":
        try:
            os.link(original, dest)
            return dest
        except OSError:
            log.debug("hard link failed for %s; copying", original)
    shutil.copyfile(original, dest)
    return dest


def _fetch_url(url: str, dest_dir: Path) -> Path:
    suffix = Path(url.split("?")[0]).suffix.lower()[:6] or ".bin"
    dest = dest_dir / ("raw" + suffix)
    with urllib.request.urlopen(url, timeout=60) as resp, dest.open("wb") as out:  # noqa: S310 (http(s) only)
        shutil.copyfileobj(resp, out, CHUNK)
    return dest


def _fetch_youtube(source: str, dest_dir: Path) -> Path:
    import imageio_ffmpeg
    import yt_dlp

    url = source if source.startswith("http") else f"https://www.youtube.com/watch?v={source}"
    opts = {
        "outtmpl": str(dest_dir / "raw.%(ext)s"),
        "format": "bv*[height<=1080]+ba/b",
        "merge_output_format": "mp4",
        "ffmpeg_location": imageio_ffmpeg.get_ffmpeg_exe(),
        "quiet": True,
        "noprogress": True,
    }
    with yt_dlp.YoutubeDL(opts) as ydl:
        ydl.download([url])
    found = sorted(dest_dir.glob("raw.*"))
    if not found:
        raise FileNotFoundError(f"yt-dlp wrote no file for {source}")
    return found[0]


def _with_retries(fetch: Callable[[], Path], retries: int, backoff_s: float) -> Path:
    """Call `fetch` up to retries + 1 times, doubling the wait after each failure."""
    wait = backoff_s
    for attempt in range(retries + 1):
        try:
            return fetch()
        except Exception as exc:  # network and extractor errors come in many types
            if attempt == retries:
                raise
            log.warning("attempt %d failed (%s); retrying in %.1f s", attempt + 1, exc, wait)
            time.sleep(wait)
            wait *= 2
    raise AssertionError("unreachable")


def ingest_clip(row: ManifestRow, manifest: Path, out: Path, cfg: IngestConfig) -> ClipStatus:
    """Fetch one clip's source into `out` (written atomically) and return its status record."""
    kind = row.source_kind()
    window = {"start": row.start, "end": row.end, "speaker": row.speaker, "split": row.split, "emotion": row.emotion}
    with atomic_dir(out) as tmp:
        try:
            if kind == "local":
                raw = _fetch_local(resolve_local_source(row, manifest), tmp, cfg.local)
            elif kind == "url":
                raw = _with_retries(lambda: _fetch_url(row.source, tmp), cfg.retries, cfg.backoff_s)
            else:
                raw = _with_retries(lambda: _fetch_youtube(row.source, tmp), cfg.retries, cfg.backoff_s)
        except MediaError as exc:  # a local file that is missing, a loop, a directory, unreadable
            status = ClipStatus(row.clip_id, "ingest", False, [exc.reason], str(exc),
                                {"source": row.source, "source_kind": kind, **window})
        except Exception as exc:  # one unreachable source must not stop the other clips
            status = ClipStatus(row.clip_id, "ingest", False, ["unavailable"], f"{kind} source {row.source!r}: {exc}",
                                {"source": row.source, "source_kind": kind, **window})
        else:
            referenced = kind == "local" and cfg.local == "reference"
            status = ClipStatus(row.clip_id, "ingest", True, [], "", {
                "source": row.source, "source_kind": kind, "file": raw.name,
                **({"path": str(raw), "mtime_ns": raw.stat().st_mtime_ns} if referenced else {}),
                "size_bytes": raw.stat().st_size, "sha256": sha256sum(raw), **window})
        status.write(tmp)
    return status
