"""Atomic outputs: write to a temporary name beside the target, rename only on success.

An interrupted job (kill -9, node failure) then never leaves a file or folder that looks finished,
which is what lets Snakemake and DVC trust existing outputs on a re-run. Temporary names are
`.<target name>.partial-<random>`; whatever a killed job left under such a name is deleted when
the next job for the same target starts (one job writes one target at a time), so a resumed run
leaves exactly the files an uninterrupted one does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def partial_prefix(target: Path) -> str:
    """The name prefix of every temporary file or folder written for `target`."""
    return f".{target.name}.partial-"


def clear_partials(target: str | Path) -> None:
    """Delete temporary files or folders that an interrupted job left for `target`."""
    target = Path(target)
    if not target.parent.is_dir():
        return
    for stale in target.parent.glob(partial_prefix(target) + "*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary file path next to `target`; rename it onto `target` if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_partials(target)
    fd, tmp = tempfile.mkstemp(prefix=partial_prefix(target), suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; finished outputs get the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder next to `target`; swap it in place of `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_partials(target)
    tmp = Path(tempfile.mkdtemp(prefix=partial_prefix(target), dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_json(path: str | Path, data: Any) -> None:
    """Write `data` as indented, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def write_text(path: str | Path, text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
