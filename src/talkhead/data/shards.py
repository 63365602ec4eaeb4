"""Shards: the manifest cut into runs of `dataset.shard_size` clips, the unit of cluster work.

Every per-clip phase runs one job per shard (talkhead.stages.shard), one process looping over the
shard's clips, instead of one process per clip. A clip's shard comes from its row position in the
manifest, `row // shard_size`, so appending rows to a manifest never moves an existing clip: the
old shards keep their members and the new rows fill the last shard and then new ones. Removing or
reordering rows does move clips; that costs only a check per moved clip, because clip outputs live
under the clip's own name (`data/<phase>/<clip>/`) and a finished clip is never redone.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

SHARD_DIGITS = 5  # shard00000 … shard99999: 20 million clips at the default 200 per shard
SHARD_PATTERN = "shard" + "[0-9]" * SHARD_DIGITS + "+"  # no braces: Snakemake constraints cannot hold them
SHARDS_DIR = "_shards"  # data/<phase>/_shards/<shard>.csv: the per-shard index of a phase
# A pre-gate shard index (talkhead.stages.shard). `digest`: sha256 of what the job wrote for the clip (its
# folder's files; post-gate, its steps' output files), so an index changes whenever a clip's outputs do
# and DVC stages can depend on a phase's `_shards/` instead of hashing every clip file (docs/architecture.md).
INDEX_COLUMNS = ("clip", "ok", "reasons", "digest")
LIST_COLUMNS = (*INDEX_COLUMNS, "speaker", "split", "emotion")  # the gate's clip lists and post-gate indices


def read_rows(path: str | Path, columns: Sequence[str] | None = None) -> list[dict[str, str]]:
    """The rows of a shard index or clip list; with `columns`, each row has exactly those keys (a missing one is '')."""
    with Path(path).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return rows if columns is None else [{c: (row.get(c) or "") for c in columns} for row in rows]


def rows_text(rows: Iterable[dict[str, object]], columns: Sequence[str]) -> str:
    """Rows as the CSV text of a shard index or clip list with `columns` (other keys left out)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def files_digest(files: Iterable[tuple[str, Path]]) -> str:
    """sha256 over (name, sha256 of the bytes) of each file, in the order given; '' when there is none."""
    outer, n = hashlib.sha256(), 0
    for name, path in files:
        with Path(path).open("rb") as fh:
            inner = hashlib.file_digest(fh, "sha256").hexdigest()
        outer.update(f"{name}\0{inner}\n".encode())
        n += 1
    return outer.hexdigest() if n else ""


def folder_digest(folder: str | Path) -> str:
    """files_digest of every file under `folder` (hidden records included), by relative path; '' when it is empty
    or absent."""
    root = Path(folder)
    if not root.is_dir():
        return ""
    return files_digest((p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*")) if p.is_file())


def shard_name(index: int) -> str:
    """The name of the `index`-th shard (0-based)."""
    if index < 0:
        raise ValueError(f"shard index must be ≥ 0, got {index}")
    return f"shard{index:0{SHARD_DIGITS}d}"


def shard_index(name: str) -> int:
    """The position of a shard from its name (ValueError for anything that is not a shard name)."""
    if not (name.startswith("shard") and name[5:].isdigit() and len(name) - 5 >= SHARD_DIGITS):
        raise ValueError(f"{name!r} is not a shard name (shard followed by {SHARD_DIGITS} or more digits)")
    return int(name[5:])


def plan_shards(clip_ids: Iterable[str], size: int) -> dict[str, list[str]]:
    """Shard name → its clip ids, in manifest row order (`clip_ids` as the manifest lists them)."""
    if size < 1:
        raise ValueError(f"shard size must be ≥ 1, got {size}")
    shards: dict[str, list[str]] = {}
    for row, clip in enumerate(clip_ids):
        shards.setdefault(shard_name(row // size), []).append(clip)
    return shards


def shard_members(clip_ids: Sequence[str], size: int, name: str) -> list[str]:
    """The clip ids of one shard (empty when the manifest has no such shard)."""
    first = shard_index(name) * size
    return list(clip_ids[first:first + size])


def clip_folders(paths: Iterable[str | Path]) -> list[Path]:
    """Clip folders from a list of clip folders and/or shard indices (`<phase>/_shards/<shard>.csv`).

    Aggregate stages (summary, av_corpus, qc) take shard indices from the workflow, which keeps
    their command lines short at any manifest size; a shard index stands for its clips' folders,
    `<phase>/<clip>`, in index order.
    """
    folders: list[Path] = []
    for path in map(Path, paths):
        if path.is_file() and path.suffix == ".csv" and path.parent.name == SHARDS_DIR:
            folders.extend(path.parent.parent / row["clip"] for row in read_rows(path))
        else:
            folders.append(path)
    return folders


def listed_clips(path: str | Path, ok_only: bool = True) -> list[str]:
    """The clip ids of a clip list or shard index (a CSV with a `clip` column; rows with ok = 0 left out)."""
    return [r["clip"] for r in read_rows(path) if not ok_only or r.get("ok", "1") != "0"]


def listed_paths(path: str | Path, root: str | Path, name: str = "") -> list[Path]:
    """`<root>/<clip>/<name>` of every clip of a clip list; a clip whose file is missing is left out with a warning.

    The learned extractors get data/qc/train.csv this way: a training clip whose feature job failed
    (recorded as stage_error in its shard index) is then not silently half-read."""
    import logging

    paths = [Path(root) / clip / name if name else Path(root) / clip for clip in listed_clips(path)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        logging.getLogger(__name__).warning("%d listed clips have no %s (their jobs failed; see the shard "
                                            "indices): %s", len(missing), name or "folder", ", ".join(missing[:20]))
    return [p for p in paths if p.exists()]


def packed_files(paths: Iterable[str | Path]) -> list[Path]:
    """Packed clip files from files and/or pack shard indices (`dataset/_shards/<shard>.csv` →
    dataset/clips/<clip>.safetensors).

    Only the clips an index marks ok: one that failed in its shard is named in the index (stage_error)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.suffix == ".csv" and path.parent.name == SHARDS_DIR:
            files.extend(path.parent.parent / "clips" / f"{clip}.safetensors" for clip in listed_clips(path))
        else:
            files.append(path)
    return files
